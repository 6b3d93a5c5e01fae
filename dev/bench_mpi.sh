#!/usr/bin/env bash
# dev/bench_mpi.sh (the last part of make bench): data parallelism on this machine. Tokens/s of
# `mpirun -np 2 --bind-to core ./train_mpi --threads 1` (two ranks of one thread, each on its own
# core, each taking half of every batch) against one process of ./train with 2 threads, on the
# same shapes and global batch, alternating, ROUNDS times; prints the medians, their ratio (the
# goal is >= 0.9: summing the gradients must not eat what the second rank gains) and the
# all-reduce's share of a step as rank 0 measures it (waiting for the other rank included).
#
# The shapes are those of dev/bench.sh's `small` (L6 C384 H6 T256, B8) on the built-in corpus and
# its default BPE (V 1024, not 8192: the corpus's language has too few words for more merges):
# 11.2M parameters, 151 GFLOP and 45 MB of gradients per step.
#
# Environment: STEPS (timed steps per run, 6; one more is run and dropped as warm-up), ROUNDS (3),
# NP (2 ranks; the single process gets NP threads). Needs mpicc and mpirun (Debian:
# openmpi-bin libopenmpi-dev); prints SKIP and exits 0 without them.
set -u
cd "$(dirname "$0")/.." || exit 1

STEPS=${STEPS:-6}
ROUNDS=${ROUNDS:-3}
NP=${NP:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

echo "== data parallelism: $NP ranks x 1 thread (mpirun --bind-to core) vs 1 process x $NP threads"
if ! command -v mpicc >/dev/null || ! command -v mpirun >/dev/null; then
    echo "SKIP: mpicc/mpirun not installed (Debian: openmpi-bin libopenmpi-dev)"
    exit 0
fi
make train train_mpi test_dist_mpi >/dev/null || { echo "bench_mpi: make train train_mpi test_dist_mpi failed" >&2; exit 1; }
TMP=$(mktemp -d /tmp/forgetful_bench_mpi.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
ROOT_FLAG=
[ "$(id -u)" = 0 ] && ROOT_FLAG=--allow-run-as-root

# one step more than timed: the summary drops the first step of a run as warm-up; no evaluation,
# sample, probes, checkpoints or DPO on the way, and no SGEMM timing at the end (--peak-gflops)
RUN="-L 6 -C 384 -H 6 -T 256 -B 8 --steps $((STEPS + 1)) --eval-every 0 --eval-batches 1
     --sample-every 0 --sample-len 1 --save-every 0 --probe-every 0 --dpo-steps 0 --peak-gflops 1"
# the tokenizer and token cache once, outside the timings (.cache/ in the working directory)
./train $RUN --dry-run >/dev/null || { echo "bench_mpi: ./train --dry-run failed" >&2; exit 1; }

median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
# "throughput 1093.2 ms/step, 1873 tokens/s, ..." and "all-reduce 40.1 ms/step (3.7% of a step): ..."
field() { sed -n "s|.*$1 \([0-9.]*\) $2.*|\1|p" "$3" | head -1; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); OMP_WAIT_POLICY=$OMP_WAIT_POLICY, $(mpirun --version | head -1)"
for r in $(seq 1 "$ROUNDS"); do
    ./train $RUN --threads "$NP" --out "$TMP/one-$r" >"$TMP/one.log" 2>&1 || { cat "$TMP/one.log"; exit 1; }
    mpirun -np "$NP" --bind-to core $ROOT_FLAG ./train_mpi $RUN --threads 1 --out "$TMP/mpi-$r" >"$TMP/mpi.log" 2>&1 ||
        { cat "$TMP/mpi.log"; exit 1; }
    one_ms=$(field throughput ms/step "$TMP/one.log"); one_tok=$(field "ms/step," tokens/s "$TMP/one.log")
    mpi_ms=$(field throughput ms/step "$TMP/mpi.log"); mpi_tok=$(field "ms/step," tokens/s "$TMP/mpi.log")
    ar_ms=$(field all-reduce ms/step "$TMP/mpi.log"); ar_pct=$(sed -n 's|.*ms/step (\([0-9.]*\)% of a step).*|\1|p' "$TMP/mpi.log")
    echo "round $r: 1 process x $NP threads $one_ms ms/step $one_tok tok/s | $NP ranks $mpi_ms ms/step $mpi_tok tok/s," \
         "all-reduce $ar_ms ms/step ($ar_pct%)"
    echo "$one_tok" >>"$TMP/one_tok"; echo "$mpi_tok" >>"$TMP/mpi_tok"; echo "$ar_pct" >>"$TMP/ar_pct"
    echo "$one_ms" >>"$TMP/one_ms"; echo "$mpi_ms" >>"$TMP/mpi_ms"; echo "$ar_ms" >>"$TMP/ar_ms"
done
grep -m1 "all-reduce" "$TMP/mpi.log" | sed 's/^ */last run: /'
# the sum alone, every rank starting it together: what the step's figure is above that is waiting
PARAMS=$(sed -n 's|.*: \([0-9.]*\) MB of gradients.*|\1|p' "$TMP/mpi.log" | head -1)
mpirun -np "$NP" --bind-to core $ROOT_FLAG ./test_dist_mpi time "$(awk -v mb="$PARAMS" 'BEGIN {printf "%d", mb * 1e6 / 4}')" |
    sed 's/^/alone:     /'
ONE=$(median <"$TMP/one_tok"); MPI=$(median <"$TMP/mpi_tok")
echo "medians: 1 process $(median <"$TMP/one_ms") ms/step, $ONE tok/s; $NP ranks $(median <"$TMP/mpi_ms") ms/step," \
     "$MPI tok/s; all-reduce $(median <"$TMP/ar_ms") ms/step, $(median <"$TMP/ar_pct")% of a step"
awk -v a="$MPI" -v b="$ONE" -v n="$NP" 'BEGIN {printf "ratio      %s ranks / 1 process (tokens/s): %.2f (goal >= 0.9)\n", n, a / b}'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
