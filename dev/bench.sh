#!/usr/bin/env bash
# dev/bench.sh (make bench): training speed of ./train against PyTorch on the same GPT, and our
# SGEMM against OpenBLAS, on this machine.
#
#   1. builds ./train and dev/bench_matmul (the latter linked with OpenBLAS when it is installed:
#      OpenBLAS is a yardstick here, never a dependency of the product);
#   2. measures SGEMM 2048^3 (OpenBLAS, and ours) for the MFU denominator, then our GEMM against
#      OpenBLAS at the model's matrix shapes (forward, dinp and dW of every layer, LM head);
#   3. for `small` (L6 C384 H6 T256, V 8192, B8) and `gpt2` (L12 C768 H12, V 50257, T64, B4)
#      alternates ROUNDS times: STEPS steps of ./train, then STEPS steps of dev/bench_torch.py
#      (same shape, same thread count), and prints medians: ms/step, tokens/s, GFLOP/s, MFU, the
#      ratio, and the peak memory of both;
#   4. single-threaded CPU time per step of both (robust to the load of a shared machine);
#   5. generation tokens/s, batch 1, with and without a KV cache, ours and PyTorch's;
#   6. runs dev/bench_tokenizer.sh when it exists.
#
# FLOPs/step = (6 N' + 12 L C T) B T with N' the parameters without wpe (the usual count: 6 per
# parameter per token for forward + backward, plus attention's 12 L C T).
# The text is a synthetic file of random words (awk, fixed seed), so that BPE reaches the
# vocabulary sizes of the issue; its content does not change the cost of a step.
#
# Environment: THREADS (2), STEPS (timed steps per run, 5; one more is run and dropped as
# warm-up), ROUNDS (3), CONFIGS ("small gpt2"), CPU1 (1: also single-thread CPU time per step,
# CPU_STEPS of them, 3). The machine is shared: the load average is printed before and after;
# compare wall-clock figures taken when it is low, CPU times at any load.
set -u
cd "$(dirname "$0")/.." || exit 1

THREADS=${THREADS:-2}
STEPS=${STEPS:-5}
ROUNDS=${ROUNDS:-3}
CONFIGS=${CONFIGS:-small gpt2}
CPU1=${CPU1:-1}
CPU_STEPS=${CPU_STEPS:-3}
PY=/usr/bin/python3
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
# Waiting OpenMP threads sleep instead of spinning (both sides: PyTorch runs on libgomp too). On
# a machine shared with other processes a spinning thread burns the core its partner needs:
# measured here at load ~2.5, ./train small went from 4.0 to 2.0 s/step and PyTorch from 7.2 to
# 4.4 s/step. Set OMP_WAIT_POLICY=active to measure with spinning.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

TMP=$(mktemp -d /tmp/forgetful_bench.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT

median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "== forgetful bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, threads $THREADS"
grep -m1 'model name' /proc/cpuinfo | sed 's/^.*: /cpu: /'
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); OMP_WAIT_POLICY=$OMP_WAIT_POLICY"

make train >/dev/null || { echo "bench: make train failed" >&2; exit 1; }
# probes off when this ./train has them
PROBE_OFF=
if ./train --help 2>&1 | grep -q -- '--probe-every'; then PROBE_OFF="--probe-every 0"; fi

# ---------------------------------------------------------------------------- GEMM
CC=${CC:-cc}
BLAS=no
if $CC -O3 -march=native -fopenmp -std=gnu11 -I. dev/bench_matmul.c lib/gemm.c -o dev/bench_matmul -lopenblas -lm 2>/dev/null; then
    BLAS=yes
    # OpenBLAS 0.3.21 (Debian 12) does not know newer CPU models and falls back to its generic
    # "Prescott" kernels on them (4x slower): ask for its AVX-512 kernels when the CPU has AVX-512.
    if grep -q avx512f /proc/cpuinfo && [ -z "${OPENBLAS_CORETYPE:-}" ]; then export OPENBLAS_CORETYPE=SkylakeX; fi
    echo "OpenBLAS: yes (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto})"
else
    $CC -O3 -march=native -fopenmp -std=gnu11 -DNO_OPENBLAS -I. dev/bench_matmul.c lib/gemm.c -o dev/bench_matmul -lm ||
        { echo "bench: cannot build dev/bench_matmul" >&2; exit 1; }
    echo "OpenBLAS: not installed (libopenblas-dev): only our GEMM is measured"
fi
# OpenBLAS's worker threads spin for about 2^28 cycles after each call (OPENBLAS_THREAD_TIMEOUT,
# default 28): our product timed right after an OpenBLAS call then shares both cores with them. Here
# that made the same shape read anywhere from 0.45 to 0.85 of OpenBLAS from run to run; with a
# timeout of 2^4 cycles the threads sleep at once and three runs agree within a few percent. Only
# the GEMM comparison gets it (PyTorch below keeps OpenBLAS's defaults).
gemm_run() { OPENBLAS_THREAD_TIMEOUT=4 "$@"; }
SQ=$(BENCH_BEST=1 gemm_run ./dev/bench_matmul square 7 | tee /dev/stderr | grep "^sgemm 2048")
OURS_SQ=$(echo "$SQ" | sed -n 's/.*ours \([0-9.]*\) GFLOP.*/\1/p')
BLAS_SQ=$(echo "$SQ" | sed -n 's/.*OpenBLAS \([0-9.]*\) GFLOP.*/\1/p')
# the machine's matmul limit for MFU: the best SGEMM measured (fastest of 7 runs each)
PEAK=$(awk -v a="$OURS_SQ" -v b="$BLAS_SQ" 'BEGIN {p = a; if (b != "nan" && b + 0 > p + 0) p = b; print p}')
echo "SGEMM limit for MFU: $PEAK GFLOP/s (2048^3, best of ours $OURS_SQ and OpenBLAS $BLAS_SQ)"
for cfg in $CONFIGS; do gemm_run ./dev/bench_matmul "$cfg" 5; done

# ---------------------------------------------------------------------------- training steps
# synthetic text: random words from a fixed 60000-word list, 700000 words
awk 'BEGIN {
    srand(1); n = 60000
    for (i = 0; i < n; i++) { len = 2 + int(rand() * 8); w = ""; for (j = 0; j < len; j++) w = w sprintf("%c", 97 + int(rand() * 26)); words[i] = w }
    for (i = 0; i < 700000; i++) printf "%s%s", words[int(rand() * n)], (i % 12 == 11) ? "\n" : " "
}' >"$TMP/text.txt"

HAVE_TORCH=yes
if ! $PY -c 'import torch' 2>/dev/null; then
    HAVE_TORCH=no
    echo "PyTorch: skipped because $PY cannot import torch (Debian package python3-torch)"
fi

# The two configurations of the issue: sets L C H T B V, and P N (prompt and new tokens of the
# generation benchmark).
shape_of() {
    case $1 in
    small) L=6 C=384 H=6 T=256 B=8 V=8192 P=16 N=128 ;;
    gpt2) L=12 C=768 H=12 T=64 B=4 V=50257 P=16 N=48 ;;
    *) echo "bench: unknown config $1 (small, gpt2)" >&2; exit 2 ;;
    esac
}

for cfg in $CONFIGS; do
    shape_of "$cfg"
    NPRIME=$((V * C + L * (12 * C * C + 13 * C) + 2 * C))
    FLOPS=$(((6 * NPRIME + 12 * L * C * T) * B * T))
    echo
    echo "== $cfg: L$L C$C H$H T$T B$B V$V, N' = $NPRIME, $(awk -v f=$FLOPS 'BEGIN {printf "%.1f", f / 1e9}') GFLOP/step"
    : >"$TMP/ours.txt"
    : >"$TMP/torch.txt"
    for r in $(seq 1 "$ROUNDS"); do
        rm -rf "$TMP/run"
        if ! /usr/bin/time -f '%M' -o "$TMP/rss_ours" ./train --input "$TMP/text.txt" --vocab $V --model $cfg \
            -L $L -C $C -H $H -T $T -B $B --steps $((STEPS + 1)) --threads $THREADS --eval-every 0 \
            --sample-every 0 --sample-len 1 --eval-batches 1 --save-every 0 $PROBE_OFF --out "$TMP/run" >"$TMP/train_out.txt" 2>&1; then
            echo "bench: ./train failed:" >&2
            tail -5 "$TMP/train_out.txt" >&2
            exit 1
        fi
        GOTV=$(sed -n 's/.*(BPE, V=\([0-9]*\)).*/\1/p' "$TMP/train_out.txt" | head -1)
        [ "$GOTV" = "$V" ] || echo "note: the data gave V=$GOTV, not $V"
        # step rows of train.csv (the first is the warm-up), column ms_per_step
        MS=$(awk -F, 'NR > 2 && $7 != "" {print $7}' "$TMP/run/train.csv" | median)
        echo "$MS" >>"$TMP/ours.txt"
        line="round $r: ours $MS ms/step (peak RSS $(awk '{printf "%.2f", $1 / 1048576}' "$TMP/rss_ours") GiB;"
        line="$line $(grep -m1 "^memory" "$TMP/train_out.txt" | sed "s/^memory *//; s/ (.*//"))"
        if [ $HAVE_TORCH = yes ]; then
            /usr/bin/time -f '%M' -o "$TMP/rss_torch" $PY dev/bench_torch.py -L $L -C $C -H $H -V $V -B $B -T $T \
                --steps $STEPS --threads $THREADS >"$TMP/torch_out.txt" 2>&1 ||
                { echo "bench: bench_torch.py failed:" >&2; tail -5 "$TMP/torch_out.txt" >&2; exit 1; }
            TMS=$(sed -n 's/.*median \([0-9.]*\) ms\/step.*/\1/p' "$TMP/torch_out.txt")
            echo "$TMS" >>"$TMP/torch.txt"
            line="$line, torch $TMS ms/step (peak RSS $(awk '{printf "%.2f", $1 / 1048576}' "$TMP/rss_torch") GiB)"
        fi
        echo "$line, load $(cut -d' ' -f1 /proc/loadavg)"
    done
    OMS=$(median <"$TMP/ours.txt")
    awk -v ms="$OMS" -v f=$FLOPS -v tok=$((B * T)) -v peak="$PEAK" -v name="ours " 'BEGIN {
        printf "%s  %8.1f ms/step  %8.0f tokens/s  %6.1f GFLOP/s  MFU %4.1f%%\n", name, ms, tok / ms * 1e3,
               f / ms * 1e-6, 100 * f / ms * 1e-6 / peak }'
    if [ $HAVE_TORCH = yes ]; then
        TMS=$(median <"$TMP/torch.txt")
        awk -v ms="$TMS" -v f=$FLOPS -v tok=$((B * T)) -v peak="$PEAK" -v name="torch" 'BEGIN {
            printf "%s  %8.1f ms/step  %8.0f tokens/s  %6.1f GFLOP/s  MFU %4.1f%%\n", name, ms, tok / ms * 1e3,
                   f / ms * 1e-6, 100 * f / ms * 1e-6 / peak }'
        awk -v a="$OMS" -v b="$TMS" -v c=$cfg 'BEGIN {printf "%s: tokens/s ratio ours / torch = %.2f (median of rounds)\n", c, b / a}'
    fi
done

# ---------------------------------------------------------------------------- CPU time, 1 thread
# On a shared machine wall-clock figures move with everyone else's load; the on-CPU time of a
# single-threaded step does not (no waiting threads, no spinning). Ours: the difference of the
# CPU time of two runs (2 and 2 + CPU_STEPS steps); PyTorch: time.process_time() per step.
if [ "$CPU1" = 1 ]; then
    echo
    echo "== single-thread CPU time per step (CPU1=1, $CPU_STEPS steps; robust to other processes)"
    for cfg in $CONFIGS; do
        shape_of "$cfg"
        cpu_of() { # steps -> user+sys seconds of a single-threaded ./train run
            rm -rf "$TMP/run1"
            OMP_NUM_THREADS=1 /usr/bin/time -f '%U %S' -o "$TMP/cpu" ./train --input "$TMP/text.txt" --vocab $V \
                --model $cfg -L $L -C $C -H $H -T $T -B $B --steps "$1" --threads 1 --eval-every 0 \
                --sample-every 0 --sample-len 1 --eval-batches 1 --save-every 0 $PROBE_OFF --out "$TMP/run1" \
                >/dev/null 2>&1 || { echo "bench: ./train failed" >&2; exit 1; }
            awk '{print $1 + $2}' "$TMP/cpu"
        }
        A=$(cpu_of 2)
        Z=$(cpu_of $((2 + CPU_STEPS)))
        OCPU=$(awk -v a="$A" -v z="$Z" -v n="$CPU_STEPS" 'BEGIN {printf "%.1f", (z - a) / n * 1e3}')
        line="$cfg: ours $OCPU CPU-ms/step"
        if [ $HAVE_TORCH = yes ]; then
            TCPU=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $PY dev/bench_torch.py -L $L -C $C -H $H -V $V -B $B -T $T \
                --steps "$CPU_STEPS" --threads 1 2>&1 | sed -n 's/.*CPU median \([0-9.]*\) ms\/step.*/\1/p')
            line="$line, torch $TCPU CPU-ms/step, ratio $(awk -v a="$OCPU" -v b="$TCPU" 'BEGIN {printf "%.2f", b / a}')"
        fi
        echo "$line (load $(cut -d' ' -f1 /proc/loadavg))"
    done
fi

# ---------------------------------------------------------------------------- generation
# Greedy decoding, batch 1, of a random model of each shape: ours (dev/bench_generate.c: a full
# gpt_forward over the prefix per token, then gpt_kv_prefill + gpt_kv_decode) and PyTorch
# (dev/bench_torch.py --generate: the whole prefix per token, then a past_key_values-style cache
# of k/v tensors concatenated per step), alternating, medians of ROUNDS.
echo
echo "== generation, batch 1, greedy (tokens/s, medians of $ROUNDS alternating rounds)"
make -s dev/bench_generate >/dev/null || { echo "bench: cannot build dev/bench_generate" >&2; exit 1; }
for cfg in $CONFIGS; do
    shape_of "$cfg"
    : >"$TMP/g_ours"
    : >"$TMP/g_torch"
    for r in $(seq 1 "$ROUNDS"); do
        ./dev/bench_generate -L $L -C $C -H $H -V $V -T $T -P $P -N $N >"$TMP/g_out" ||
            { echo "bench: bench_generate failed:" >&2; cat "$TMP/g_out" >&2; exit 1; }
        sed -n 's/.*no cache \([0-9.]*\) tokens\/s, KV cache \([0-9.]*\) tokens.*/\1 \2/p' "$TMP/g_out" >>"$TMP/g_ours"
        if [ $HAVE_TORCH = yes ]; then
            $PY dev/bench_torch.py -L $L -C $C -H $H -V $V -T $T --prompt $P --generate $N --threads $THREADS \
                >"$TMP/g_out" 2>&1 || { echo "bench: bench_torch.py --generate failed:" >&2; tail -5 "$TMP/g_out" >&2; exit 1; }
            sed -n 's/.*no cache \([0-9.]*\) tokens\/s, KV cache \([0-9.]*\) tokens.*/\1 \2/p' "$TMP/g_out" >>"$TMP/g_torch"
        fi
    done
    ON=$(cut -d' ' -f1 "$TMP/g_ours" | median)
    OK=$(cut -d' ' -f2 "$TMP/g_ours" | median)
    line="$cfg (L$L C$C H$H V$V, prompt $P, $N new tokens): ours no cache $ON, KV cache $OK tokens/s"
    if [ $HAVE_TORCH = yes ]; then
        TN=$(cut -d' ' -f1 "$TMP/g_torch" | median)
        TK=$(cut -d' ' -f2 "$TMP/g_torch" | median)
        line="$line; torch no cache $TN, KV cache $TK tokens/s; ratio with cache $(awk -v a="$OK" -v b="$TK" 'BEGIN {printf "%.2f", a / b}')"
    fi
    echo "$line (load $(cut -d' ' -f1 /proc/loadavg))"
done

if [ -x dev/bench_tokenizer.sh ] || [ -f dev/bench_tokenizer.sh ]; then
    echo
    echo "== tokenizer (dev/bench_tokenizer.sh)"
    bash dev/bench_tokenizer.sh
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
