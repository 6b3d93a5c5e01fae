#!/usr/bin/env bash
# dev/experiments/run.sh NAME [--short]: the experiments of docs/experiments.md, one command each.
#
#   scale        depth at equal width (L1, L2, L4, L8 at C=64) and a width ladder (C=32, 64, 128 at L=2) on
#                the built-in corpus, SEEDS training seeds each; after pre-training, DPO on the built-in
#                pairs (I(pref;Z) before and after, with its null; val accuracy, margin, positive rate).
#                Its summaries: scale, two phases on the corpus, the back-off picture, preference.
#   shakespeare  the same three depths at C=64 pre-trained on Tiny Shakespeare for 1600 steps (the val
#                loss nearly flat at the end): two phases on real text, the back-off picture.
#   long         L1C64 and L2C64 on Tiny Shakespeare for 6400 steps (4x shakespeare's, its own cosine
#                schedule): does I(X;Z) turn down once the val loss has flattened for longer?
#   hh           DPO on the real HH-RLHF pairs from every scale and shakespeare checkpoint (run those
#                first): I(pref;Z) before and after on held-out pairs, against the DPO outcome.
#   all          scale, shakespeare, long, then hh (with --short: the pipeline check CI runs, a few minutes).
#   summary      only (re)write the summary CSVs and figures from the runs already there.
#
# --short (or SHORT=1): a few steps, few probe sequences, 3 sizes (both ladders drawn): checks the pipeline end to end in
# a few minutes (its numbers mean nothing); it writes its summaries beside its runs, never into
# docs/results/. The full runs write docs/results/NAME_*.csv and .svg (dev/experiments/summarize.py).
#
# Environment: SEEDS (training seeds 1..SEEDS; default 3, --short 2), JOBS (runs at once; default 2),
# THREADS (per run; default 1), NICE (default 0), EXP_DIR (run folders; default runs/experiments),
# RESULTS (summaries of the full runs; default docs/results), HH (the pairs; default
# ../shared/data/hh-rlhf-harmless-base-test.jsonl.gz), TS (Tiny Shakespeare; default data/ or
# ../shared/data/tinyshakespeare.txt). A run whose folder holds a finished log is not run again,
# so an interrupted experiment continues where it stopped; delete the folder to redo one.
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { echo "usage: dev/experiments/run.sh scale|shakespeare|long|hh|all|summary [--short]" >&2; exit 2; }
[ $# -ge 1 ] || usage
NAME=$1
SHORT=${SHORT:-0}
[ "${2:-}" = --short ] && SHORT=1
[ $# -le 2 ] && { [ $# -lt 2 ] || [ "$2" = --short ]; } || usage
case "$NAME" in scale | shakespeare | long | hh | summary) ;; all)
    # the pipeline check: every summary and figure written, every size with all its seeds; the
    # experiments whose data is missing are skipped with a line saying so
    res=${RESULTS:-docs/results}
    [ "$SHORT" = 1 ] && res=${EXP_DIR:-runs/experiments}/results-short
    seeds=${SEEDS:-$([ "$SHORT" = 1 ] && echo 2 || echo 3)}
    want=(scale.csv scale_runs.csv scale_order.csv scale_backoff.csv scale_phases.csv scale_trajectory.csv dpo_change.csv
        pref_runs.csv pref.csv pref_corr.csv scale.svg scale_backoff.svg scale_phases.svg pref.svg)
    SHORT=$SHORT bash dev/experiments/run.sh scale
    if [ -f "${TS:-data/tinyshakespeare.txt}" ] || [ -f ../shared/data/tinyshakespeare.txt ]; then
        SHORT=$SHORT bash dev/experiments/run.sh shakespeare
        SHORT=$SHORT bash dev/experiments/run.sh long
        want+=(shakespeare.csv shakespeare_phases.csv shakespeare_phases.svg shakespeare_backoff.svg long_phases.csv
            long_trajectory.csv long_phases.svg)
    else
        echo "run.sh all: SKIP shakespeare: no Tiny Shakespeare (data/tinyshakespeare.sh downloads it)"
    fi
    hh=0
    if [ -f "${HH:-../shared/data/hh-rlhf-harmless-base-test.jsonl.gz}" ]; then
        SHORT=$SHORT bash dev/experiments/run.sh hh
        hh=1
    else
        echo "run.sh all: SKIP hh: no HH-RLHF pairs (set HH=FILE)"
    fi
    for f in "${want[@]}"; do
        [ -s "$res/$f" ] || { echo "run.sh all: $res/$f missing or empty" >&2; exit 1; }
    done
    bad=$(awk -F, -v s="$seeds" 'NR > 1 && $7 == "val_loss" && $10 != s { print $2 " has n=" $10 }' "$res/scale.csv")
    [ -z "$bad" ] || { echo "run.sh all: scale.csv: $bad, not $seeds seeds" >&2; exit 1; }
    if [ "$hh" = 1 ] && ! grep -q '^hh,' "$res/pref_runs.csv"; then
        echo "run.sh all: no HH-RLHF rows in $res/pref_runs.csv" >&2; exit 1
    fi
    echo "run.sh all: every summary written ($res/), $seeds seeds per size"
    exit 0 ;;
*) usage ;; esac
SEEDS=${SEEDS:-$([ "$SHORT" = 1 ] && echo 2 || echo 3)}
JOBS=${JOBS:-2}
THREADS=${THREADS:-1}
NICE=${NICE:-0}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
SUFFIX=$([ "$SHORT" = 1 ] && echo -short || true)
ROOT=${EXP_DIR:-runs/experiments}
RESULTS=${RESULTS:-docs/results}
[ "$SHORT" = 1 ] && RESULTS=$ROOT/results$SUFFIX
HH=${HH:-../shared/data/hh-rlhf-harmless-base-test.jsonl.gz}
PY=/usr/bin/python3
T0=$(date +%s)
say() { echo "run.sh $NAME$SUFFIX: $*"; }
[[ "$SEEDS" =~ ^[1-9][0-9]*$ ]] || { echo "SEEDS must be a positive integer, not '$SEEDS'" >&2; exit 2; }
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "JOBS must be a positive integer, not '$JOBS'" >&2; exit 2; }
[ -x "$PY" ] && "$PY" -c 'import numpy, scipy' 2>/dev/null ||
    { echo "run.sh: the summaries need $PY with numpy and scipy (Debian python3-numpy python3-scipy)" >&2; exit 1; }
make -s train >/dev/null

tiny_shakespeare() {
    local f
    for f in "${TS:-}" data/tinyshakespeare.txt ../shared/data/tinyshakespeare.txt; do
        [ -n "$f" ] && [ -f "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}

# Sizes "tag L C H": depth at C=64 (L1, L2, L4, L8) and width at L=2 (C=32, 64, 128) share L2C64; head
# size 32 throughout; the largest first, so that the two slots finish together.
SIZES=("L2C128 2 128 4" "L8C64 8 64 2" "L4C64 4 64 2" "L2C64 2 64 2" "L1C64 1 64 2" "L2C32 2 32 1")
TS_SIZES=("L4C64 4 64 2" "L2C64 2 64 2" "L1C64 1 64 2") # longest first: two slots finish together
LONG_SIZES=("L2C64 2 64 2" "L1C64 1 64 2")
[ "$SHORT" = 1 ] && SIZES=("L1C64 1 64 2" "L2C64 2 64 2" "L2C32 2 32 1") && TS_SIZES=("L1C64 1 64 2") &&
    LONG_SIZES=("L1C64 1 64 2")
# every probe averages 3 draws of the reference points (their sd is the *_sd columns)
if [ "$SHORT" = 1 ]; then
    PROBE=(--probe-seqs 8 --probe-final-seqs 16 --probe-seeds 2)
    DPO=(--dpo-steps 4 --dpo-eval-every 2)
    PROMPTS=8
    STEPS_SCALE=40 STEPS_TS=40 STEPS_LONG=80 EVERY=20 EVERY_LONG=20
else
    PROBE=(--probe-seqs 64 --probe-final-seqs 448 --probe-seeds 3)
    DPO=(--dpo-steps 60 --dpo-eval-every 20)
    PROMPTS=64
    STEPS_SCALE=800 STEPS_TS=1600 STEPS_LONG=6400 EVERY=100 EVERY_LONG=200
fi
COMMON=(-B 16 -T 64 --threads "$THREADS" --save-every 0 --sample-every 0 --peak-gflops 1 "${PROBE[@]}")

# job DIR FLAGS...: one ./train run into DIR (log DIR.log, wall seconds in DIR.wall), queued in $QUEUE.
QUEUE=""
job() {
    local dir=$1
    shift
    printf '%q ' "$dir" "$@" >> "$QUEUE"
    echo >> "$QUEUE"
}
# one queued line: skip a finished run, otherwise run it from scratch (a half-written folder is removed).
one() {
    local dir=$1
    shift
    if [ -f "$dir.wall" ]; then echo "  done already: $dir"; return 0; fi
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    local t=$(date +%s)
    echo "  start $dir: ./train $*"
    if nice -n "$NICE" ./train "$@" --out "$dir" > "$dir.log" 2>&1; then
        echo $(( $(date +%s) - t )) > "$dir.wall"
        echo "  done $dir ($(cat "$dir.wall") s)"
    else
        echo "  FAILED $dir (exit $?): tail of $dir.log:" >&2
        tail -n 5 "$dir.log" >&2
        return 1
    fi
}
export -f one
export NICE
# run the queue, JOBS at once; any failure fails the experiment (after the others finish)
run_queue() {
    say "$(wc -l < "$QUEUE") runs, $JOBS at a time, $THREADS thread(s) each"
    local rc=0
    xargs -P "$JOBS" -d '\n' -n 1 bash -c 'eval "one $1"' _ < "$QUEUE" || rc=$?
    rm -f "$QUEUE"
    [ "$rc" = 0 ] || { say "some runs failed"; exit 1; }
}

OUT=$ROOT/$NAME$SUFFIX
mkdir -p "$ROOT" "$RESULTS"
QUEUE=$(mktemp "$ROOT/.queue.XXXXXX")
case "$NAME" in
scale)
    # seed-major order: an experiment stopped early still has every size at the first seeds
    for s in $(seq 1 "$SEEDS"); do
        for z in "${SIZES[@]}"; do
            set -- $z
            job "$OUT/$1-s$s" -L "$2" -C "$3" -H "$4" --seed "$s" --steps "$STEPS_SCALE" --probe-every "$EVERY" \
                --eval-every "$EVERY" "${COMMON[@]}" "${DPO[@]}" --dpo-prompts "$PROMPTS"
        done
    done
    run_queue ;;
shakespeare | long)
    # Tiny Shakespeare without DPO: shakespeare 1600 steps, long 6400 with probes half as often
    ts=$(tiny_shakespeare) || { say "no Tiny Shakespeare (data/tinyshakespeare.sh downloads it)"; exit 1; }
    if [ "$NAME" = long ]; then sizes=("${LONG_SIZES[@]}") steps=$STEPS_LONG every=$EVERY_LONG
    else sizes=("${TS_SIZES[@]}") steps=$STEPS_TS every=$EVERY; fi
    for s in $(seq 1 "$SEEDS"); do
        for z in "${sizes[@]}"; do
            set -- $z
            job "$OUT/$1-s$s" --input "$ts" -L "$2" -C "$3" -H "$4" --seed "$s" --steps "$steps" \
                --probe-every "$every" --eval-every "$every" "${COMMON[@]}" --dpo-steps 0
        done
    done
    run_queue ;;
hh)
    [ -f "$HH" ] || { say "no HH-RLHF pairs at $HH (set HH=FILE)"; exit 1; }
    n=0
    for e in scale shakespeare; do
        for d in "$ROOT/$e$SUFFIX"/*-s*/; do
            d=${d%/}
            [ -f "$d.wall" ] && [ -f "$d/pretrain/model.safetensors" ] || continue
            n=$((n + 1))
            job "$OUT/$e-$(basename "$d")" --init "$d/pretrain" \
                --dpo "$HH" --seed 1 \
                --threads "$THREADS" --peak-gflops 1 "${PROBE[@]}" "${DPO[@]}" --dpo-prompts 0 # the sentiment rate is the corpus's
        done
    done
    [ "$n" -gt 0 ] || { say "no finished scale or shakespeare runs under $ROOT: run those first"; exit 1; }
    run_queue ;;
summary) rm -f "$QUEUE" ;;
esac

"$PY" dev/experiments/summarize.py --runs "$ROOT" --suffix="$SUFFIX" --out "$RESULTS"
say "finished in $(( $(date +%s) - T0 )) s; summaries in $RESULTS/"
