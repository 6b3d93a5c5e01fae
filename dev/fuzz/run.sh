#!/usr/bin/env bash
# dev/fuzz/run.sh SECONDS NAME...: runs each built harness dev/fuzz/out/fuzz_NAME for SECONDS from its
# seed corpus (dev/fuzz/corpus/NAME/, read only; new inputs go to dev/fuzz/out/corpus/NAME/), then
# prints one line per harness with libFuzzer's final stats. Exit status 1 if any harness reported
# a crash, leak, timeout, out-of-memory or sanitizer error (its input is saved as
# dev/fuzz/out/crash-NAME-*; reproduce with `dev/fuzz/out/fuzz_NAME dev/fuzz/out/crash-NAME-...`).
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=$1
shift
failed=0
# the harnesses write each input to a file: a RAM-backed folder keeps that from dominating
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
summary=""
for name in "$@"; do
    bin=dev/fuzz/out/fuzz_$name
    work=dev/fuzz/out/corpus/$name
    log=dev/fuzz/out/$name.log
    mkdir -p "$work"
    dict=()
    case $name in # JSON tokens and the names the loaders look for
    json | safetensors | config | tokenizer_json | gpt2_bpe | prefs) dict=(-dict=dev/fuzz/json.dict) ;;
    esac
    echo "fuzz $name: ${secs}s"
    # -rss_limit_mb also caps single mallocs (malloc_limit_mb defaults to it): a parser that
    # allocates what a header claims before checking it is reported as out-of-memory.
    "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="dev/fuzz/out/crash-$name-" "${dict[@]}" "$work" "dev/fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    corpus=$(ls "$work" | wc -l)
    if [ $rc -ne 0 ]; then
        failed=1
        echo "---- $name FAILED (exit $rc); end of $log:"
        grep -v '^#[0-9]' "$log" | tail -40
        line=$(printf '%-15s FAILED   %10s execs  (see %s)' "$name" "${execs:-?}" "$log")
    else
        line=$(printf '%-15s ok       %10s execs  %6s/s  cov %5s  corpus %5s' "$name" "${execs:-?}" "${rate:-?}" \
            "${cov:-?}" "$corpus")
    fi
    summary+="$line"$'\n'
done
echo "---- fuzz summary (${secs}s each)"
printf '%s' "$summary"
exit $failed
