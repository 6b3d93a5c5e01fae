#!/usr/bin/env bash
# dev/kill_resume.sh [KILLS]: crash safety of ./train, end to end.
#
#  1. kill/resume: a tiny model trains with a checkpoint after every step (--save-every 1, so kills
#     often land in the middle of a save); it is killed with SIGKILL at random moments KILLS times
#     (default 10). After each kill the checkpoint folder must load (./train --init DIR/pretrain
#     --dry-run) and --resume must continue. The chain's final weights must equal, bit for bit, those
#     of an uninterrupted run with the same thread count, and so must every logged loss.
#  2. SIGINT and SIGTERM: each saves, exits 0 and says how to resume; the resumed run ends
#     bit-identical too.
#  5. the DPO chain: a run with a DPO stage after pre-training, killed with SIGKILL at random
#     moments (most in the DPO stage; --save-every 1) and once with SIGTERM in the middle of DPO,
#     resumed each time: dpo/, dpo.csv and probes.csv equal an uninterrupted run's, bit for bit.
#  6. two writers: while a run writes its folder, a --resume of it and a new run with --out there
#     (even with --overwrite) are refused naming the running one; the first run ends unharmed
#     (bit-identical to the reference).
#  3. full disk: a save that cannot be written (file-size limit, and a small tmpfs when run as root)
#     prints an error, exits 1, and keeps the last good checkpoint intact.
#  4. numerical fault: an absurd --lr stops the run naming the step and the first bad tensor,
#     keeping the last good checkpoint (which holds only finite values: it loads).
#
# Environment: TRAIN_BIN (default ./train), KILL_SEED (seed of the kill delays, default 1),
# TMPDIR (where runs go; a real disk makes saves slow enough to be hit often).
# Exit status 0 when every check passes. Takes about a minute on two cores.
set -uo pipefail
cd "$(dirname "$0")/.."
KILLS=${1:-10}
TRAIN=${TRAIN_BIN:-./train}
RANDOM=${KILL_SEED:-1}
[ -x "$TRAIN" ] || { echo "kill_resume: $TRAIN not built (run make)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/forgetful-kill.XXXXXX")
mounted=""
cleanup() {
    [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
failures=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

# the tiny run: one thread, so the reference and the chain share the thread count
ARGS=(-L 2 -C 32 -H 2 -T 32 -B 4 --steps 1000 --threads 1 --eval-every 50 --sample-len 4 --seed 5)

# Columns of train.csv that must match exactly: step, stage, loss, val_loss, lr, grad_norm.
losses() { cut -d, -f1-6 "$1/train.csv"; }

# Checks that DIR/pretrain loads as a model folder; prints why not.
loads() { "$TRAIN" --init "$1/pretrain" --dry-run --out "$work/dry" >"$work/dry.log" 2>&1 || cat "$work/dry.log"; }

echo "== reference: uninterrupted run"
"$TRAIN" "${ARGS[@]}" --save-every 0 --out "$work/ref" >"$work/ref.log" 2>&1 || { cat "$work/ref.log"; exit 1; }
ref_loss=$(tail -1 "$work/ref/train.csv" | cut -d, -f4)
echo "     final val loss $ref_loss"

echo "== kill/resume: $KILLS kills with SIGKILL at random moments (--save-every 1)"
run=$work/run
kills=0 resumes=0 fresh=0 mid_save=0 bad_loads=0
start() { # starts the run (fresh, or --resume once a state exists) in the background
    if [ -f "$run/train_state.bin" ]; then
        "$TRAIN" --resume "$run" >>"$work/run.log" 2>&1 &
        resumes=$((resumes + 1))
    else
        rm -rf "$run"
        "$TRAIN" "${ARGS[@]}" --save-every 1 --out "$run" >>"$work/run.log" 2>&1 &
        pid=$!
        fresh=$((fresh + 1))
        # every kill is to be followed by a resume: wait for the first checkpoint
        while [ ! -f "$run/train_state.bin" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
    fi
    pid=$!
}
start
while [ $kills -lt "$KILLS" ]; do
    # a random delay of 0.1 .. 1.1 s
    sleep "$(printf '0.%03d' $((RANDOM % 1000)))"
    sleep 0.1
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        echo "     the run finished after $kills kills (raise --steps in ARGS)"
        fail "kill/resume: only $kills of $KILLS kills happened"
        break
    fi
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    kills=$((kills + 1))
    # a temporary file left behind means the kill landed while a checkpoint was being written;
    # the next ./train on the folder removes it (checked at the end)
    tmps=$(find "$run" -name '*.tmp.*' 2>/dev/null | wc -l)
    [ "$tmps" -gt 0 ] && mid_save=$((mid_save + 1))
    step="no checkpoint yet, 0"
    if [ -f "$run/train_state.bin" ]; then
        why=$(loads "$run")
        if [ -n "$why" ]; then
            bad_loads=$((bad_loads + 1))
            echo "     kill $kills: $run/pretrain does not load: $why"
        fi
        step=$(grep -c ',pretrain,' "$run/train.csv" 2>/dev/null)
    fi
    echo "     kill $kills: $([ "$tmps" -gt 0 ] && echo "mid-save" || echo "between saves"), $step rows logged"
    start
done
wait "$pid"
rc=$?
[ $rc -eq 0 ] || fail "kill/resume: the last resume exited with $rc (see $work/run.log)"
[ $bad_loads -eq 0 ] && pass "kill/resume: the checkpoint loaded after every kill ($kills kills, $mid_save mid-save)" \
    || fail "kill/resume: $bad_loads checkpoints did not load"
if cmp -s "$work/ref/pretrain/model.safetensors" "$run/pretrain/model.safetensors"; then
    pass "kill/resume: final weights bit-identical to the uninterrupted run ($resumes resumes, $fresh fresh starts)"
else
    fail "kill/resume: final weights differ from the uninterrupted run"
fi
if diff <(losses "$work/ref") <(losses "$run") >"$work/diff.txt"; then
    pass "kill/resume: all $(($(wc -l <"$work/ref/train.csv") - 1)) logged losses equal (final val loss $ref_loss, max diff 0)"
else
    fail "kill/resume: logged losses differ: $(head -4 "$work/diff.txt" | tr '\n' ' ')"
fi
echo "     kills: $kills, mid-save: $mid_save, resumes: $resumes, fresh starts: $fresh (the first run waits for its first checkpoint before it can be killed)"
left=$(find "$run" -name '*.tmp.*' | wc -l)
[ "$left" -eq 0 ] && pass "kill/resume: no temporary file left in the folder (the resumes removed those of the $mid_save mid-save kills)" \
    || fail "kill/resume: $left temporary files left in $run"

# Sends signal $1 to a run once 20 steps are logged (well before the end; earlier, the handler may
# not be installed yet, and a background job of a script ignores SIGINT until it is), then resumes:
# exit 0, the message naming --resume, and a resumed run bit-identical to the uninterrupted one.
signal_check() {
    local name=$1 sig=$work/$1
    echo "== $name: saves, says how to resume, and the resumed run ends identical"
    "$TRAIN" "${ARGS[@]}" --save-every 0 --out "$sig" >"$work/$name.log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null && [ "$(cat "$sig/train.csv" 2>/dev/null | grep -c ',pretrain,')" -lt 20 ]; do
        sleep 0.01
    done
    kill "-${name#SIG}" "$pid"
    wait "$pid"
    rc=$?
    if [ $rc -eq 0 ] && grep -q -- "--resume $sig" "$work/$name.log" && [ -f "$sig/train_state.bin" ]; then
        pass "$name: exit 0, checkpoint saved, message: $(grep -- 'after step' "$work/$name.log" | head -1)"
    else
        fail "$name: exit $rc; log: $(tail -2 "$work/$name.log" | tr '\n' ' ')"
    fi
    "$TRAIN" --resume "$sig" >>"$work/$name.log" 2>&1
    cmp -s "$work/ref/pretrain/model.safetensors" "$sig/pretrain/model.safetensors" &&
        pass "$name: resumed run bit-identical to the uninterrupted run" ||
        fail "$name: resumed run differs from the uninterrupted run"
}
signal_check SIGINT
signal_check SIGTERM

echo "== two writers: a second ./train on a folder in use is refused, the first ends unharmed"
two=$work/two
"$TRAIN" "${ARGS[@]}" --save-every 0 --out "$two" >"$work/two.log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null && [ "$(cat "$two/train.csv" 2>/dev/null | grep -c ',pretrain,')" -lt 10 ]; do
    sleep 0.01
done
"$TRAIN" --resume "$two" >"$work/two_a.log" 2>&1
rc_a=$?
"$TRAIN" "${ARGS[@]}" --out "$two" --overwrite >"$work/two_b.log" 2>&1
rc_b=$?
running=$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)
wait "$pid"
rc=$?
if [ $rc_a -eq 1 ] && [ $rc_b -eq 1 ] && [ "$running" = yes ] && grep -q "in use by another ./train (pid $pid)" "$work/two_a.log" &&
    grep -q "in use by another" "$work/two_b.log"; then
    pass "two writers: --resume and --out --overwrite refused while pid $pid ran: $(grep -m1 error "$work/two_a.log")"
else
    fail "two writers: exits $rc_a, $rc_b (want 1, 1), first still running: $running; $(tail -1 "$work/two_a.log")"
fi
[ $rc -eq 0 ] && cmp -s "$work/ref/pretrain/model.safetensors" "$two/pretrain/model.safetensors" &&
    pass "two writers: the first run finished (exit 0), bit-identical to the uninterrupted run" ||
    fail "two writers: the first run exit $rc or its weights differ"

echo "== the DPO chain: SIGKILL (mostly in DPO) and SIGTERM in DPO, resumed, against an uninterrupted run"
# a short pre-training, then 150 DPO steps on the built-in pairs
DARGS=(-L 2 -C 32 -H 2 -T 32 -B 4 --steps 30 --threads 1 --eval-every 50 --sample-len 4 --seed 5 --dpo-steps 150
    --dpo-batch 4 --dpo-pairs 200 --dpo-prompts 4 --dpo-eval-every 25 --peak-gflops 1)
"$TRAIN" "${DARGS[@]}" --save-every 0 --out "$work/dref" >"$work/dref.log" 2>&1 || { fail "DPO reference run failed"; tail -3 "$work/dref.log"; }
dchain=$work/dchain dkills=0 dresumes=0 in_dpo=0
rows() { local n; n=$(grep -c . "$dchain/$1" 2>/dev/null) || n=0; echo "$n"; }
# waits while the run is alive until $dchain/$1 has $2 lines
wait_rows() { while kill -0 "$pid" 2>/dev/null && [ "$(rows "$1")" -lt "$2" ]; do sleep 0.01; done; }
"$TRAIN" "${DARGS[@]}" --save-every 1 --out "$dchain" >"$work/dchain.log" 2>&1 &
pid=$!
while [ $dkills -lt 6 ] && kill -0 "$pid" 2>/dev/null; do
    # the first kill in pre-training, the others once DPO has taken 3 more steps, at a random moment
    if [ $dkills -eq 0 ]; then wait_rows train.csv 10; else wait_rows dpo.csv $(($(rows dpo.csv) + 3)); fi
    sleep "$(printf '0.%03d' $((RANDOM % 150)))"
    kill -0 "$pid" 2>/dev/null || break
    if [ $dkills -eq 3 ]; then # once: SIGTERM, which saves and exits 0
        kill -TERM "$pid"
        wait "$pid"
        rc=$?
        [ $rc -eq 0 ] || fail "DPO chain: SIGTERM exit $rc"
        grep -q "terminated (SIGTERM)" "$work/dchain.log" || fail "DPO chain: SIGTERM printed no message"
    else
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null
    fi
    dkills=$((dkills + 1))
    [ -f "$dchain/dpo_state.bin" ] && in_dpo=$((in_dpo + 1))
    if [ -f "$dchain/train_state.bin" ]; then
        "$TRAIN" --resume "$dchain" >>"$work/dchain.log" 2>&1 &
        dresumes=$((dresumes + 1))
    else # killed before the first checkpoint
        rm -rf "$dchain"
        "$TRAIN" "${DARGS[@]}" --save-every 1 --out "$dchain" >>"$work/dchain.log" 2>&1 &
    fi
    pid=$!
done
wait "$pid"
rc=$?
same=1
for f in dpo/model.safetensors dpo.csv probes.csv pretrain/model.safetensors; do
    cmp -s "$work/dref/$f" "$dchain/$f" || { same=0; echo "     differs: $f"; }
done
if [ $rc -eq 0 ] && [ $same -eq 1 ] && [ $in_dpo -ge 2 ]; then
    pass "DPO chain: $dkills kills ($in_dpo in the DPO stage, one SIGTERM), $dresumes resumes: dpo/, dpo.csv, probes.csv bit-identical"
else
    fail "DPO chain: exit $rc, identical $same, $in_dpo of $dkills kills in DPO (want >= 2); see $work/dchain.log"
fi
"$TRAIN" --resume "$dchain" >"$work/dchain_done.log" 2>&1
grep -q "nothing to resume" "$work/dchain_done.log" && pass "DPO chain: a further --resume: $(head -1 "$work/dchain_done.log")" ||
    fail "DPO chain: a further --resume: $(tail -1 "$work/dchain_done.log")"

# A run paused with a checkpoint, then resumed where saving fails. $1: name, rest: how to run.
full_disk() {
    local name=$1 dir=$2
    shift 2
    cp "$dir/train_state.bin" "$work/state.before"
    cp "$dir/pretrain/model.safetensors" "$work/model.before"
    "$@" >"$work/$name.log" 2>&1
    local rc=$?
    local msg
    msg=$(grep -m1 'error' "$work/$name.log")
    if [ $rc -eq 1 ] && [ -n "$msg" ] && cmp -s "$dir/train_state.bin" "$work/state.before" &&
        cmp -s "$dir/pretrain/model.safetensors" "$work/model.before" && [ -z "$(loads "$dir")" ] &&
        [ -z "$(find "$dir" -name '*.tmp.*')" ]; then
        pass "$name: exit 1, last good checkpoint kept and loadable, no temporary left: $msg"
    else
        fail "$name: exit $rc; $(tail -2 "$work/$name.log" | tr '\n' ' ')"
    fi
}

echo "== full disk"
fd=$work/fsize
"$TRAIN" "${ARGS[@]}" --save-every 10 --pause-at 20 --out "$fd" >"$work/fd0.log" 2>&1 || fail "pause-at run failed"
# a file-size limit below the state's size: writes fail with EFBIG (SIGXFSZ ignored, as a full disk)
limit_kb=$(($(stat -c %s "$fd/pretrain/model.safetensors") / 1024 / 2))
full_disk "file-size limit ${limit_kb} KiB" "$fd" bash -c "trap '' XFSZ; ulimit -f $limit_kb; exec $TRAIN --resume $fd"
# a tmpfs that holds the run folder with one checkpoint, plus half a model: the next save's
# temporary model file (written before the rename) runs out of space
model_kb=$(($(stat -c %s "$fd/pretrain/model.safetensors") / 1024))
tmpfs_kb=$(($(du -sk "$fd" | cut -f1) + model_kb / 2))
if [ "$(id -u)" = 0 ] && mkdir -p "$work/tmpfs" && mount -t tmpfs -o size=${tmpfs_kb}k tmpfs "$work/tmpfs" 2>/dev/null; then
    mounted=$work/tmpfs
    tf=$work/tmpfs/run
    "$TRAIN" "${ARGS[@]}" --save-every 10 --pause-at 20 --out "$tf" >"$work/tf0.log" 2>&1
    if [ -f "$tf/train_state.bin" ]; then
        full_disk "tmpfs of $tmpfs_kb KiB" "$tf" "$TRAIN" --resume "$tf"
    else
        fail "tmpfs: the first checkpoint did not fit ($(tail -1 "$work/tf0.log"))"
    fi
else
    echo "skip tmpfs: needs root and mount -t tmpfs"
fi

echo "== numerical fault: --lr 1e9"
nf=$work/nan
"$TRAIN" "${ARGS[@]}" --lr 1e9 --warmup 0 --save-every 1 --out "$nf" >"$work/nan.log" 2>&1
rc=$?
msg=$(grep -m1 'not finite' "$work/nan.log")
if [ $rc -eq 1 ] && echo "$msg" | grep -q 'step [0-9]*:.*first in [a-z_.0-9]*' && { [ ! -d "$nf/pretrain" ] || [ -z "$(loads "$nf")" ]; }; then
    pass "numerical fault: exit 1: $msg"
else
    fail "numerical fault: exit $rc; $(tail -2 "$work/nan.log" | tr '\n' ' ')"
fi

echo "== $failures failed"
[ $failures -eq 0 ]
