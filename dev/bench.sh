#!/usr/bin/env bash
# dev/bench.sh (make bench): training speed of ./train against PyTorch on the same GPT, and our
# SGEMM against OpenBLAS, on this machine, each side at its best documented setting.
#
#   1. matmul limits, before anything is timed: SGEMM 2048^3 of ours and of the yardstick BLAS
#      (dev/bench_matmul, OpenBLAS loaded at run time), and PyTorch's own torch.mm 2048^3 in fp32
#      and bf16 under each of its settings (dev/bench_torch.py --matmul-check). Prints which BLAS
#      each side uses. Refuses to compare when PyTorch's fp32 matmul is under a third of the
#      machine's SGEMM limit (e.g. Debian's reference libblas.so.3 instead of OpenBLAS: a "34x"
#      that measures the BLAS, not the trainer);
#   2. our GEMM against OpenBLAS at the model's matrix shapes (forward, dinp and dW of every layer,
#      LM head);
#   3. for `small` (L6 C384 H6 T256, V 8192, B8) and `gpt2` (L12 C768 H12, V 50257, T64, B4),
#      ROUNDS rounds, each running every variant once in turn (so that a burst of load from other
#      processes hits all of them alike): ./train in each precision under each of OURS_ENVS, and
#      dev/bench_torch.py in fp32 and in bf16 autocast under each of TORCH_ENVS, STEPS steps
#      each. Prints every variant's median ms/step, then each peer at its best setting (the
#      variant with the lowest median): ms/step, tokens/s, GFLOP/s, the share of OpenBLAS's SGEMM
#      2048^3 throughput, peak memory, and the tokens/s ratios;
#   4. single-threaded CPU time per step of both in fp32 (robust to the load of a shared machine);
#   5. generation tokens/s, batch 1, with and without a KV cache, ours and PyTorch's;
#   6. runs dev/bench_tokenizer.sh when it exists.
#
# The settings (documented ones only):
#   ours:    OMP_WAIT_POLICY=PASSIVE, as the README advises on a shared machine (waiting OpenMP
#            threads sleep instead of spinning on the core a working thread needs);
#   PyTorch: OMP_WAIT_POLICY=PASSIVE alone, and with OPENBLAS_THREAD_TIMEOUT=4: PyTorch runs its
#            own OpenMP threads and calls a pthreads OpenBLAS (Debian's), whose idle threads spin
#            for 2^26-2^28 cycles after each call; OpenBLAS's FAQ ("Using OpenBLAS with OpenMP")
#            recommends both settings for exactly this case, so that the two thread pools do not
#            spin against each other at every handover.
# Every run starts from the same clean environment (OMP_NUM_THREADS and OPENBLAS_NUM_THREADS =
# THREADS; inherited OMP_*, GOMP_*, KMP_*, OPENBLAS_*, MKL_* settings removed) plus its variant's
# setting, so nothing set for one peer leaks into the other. OPENBLAS_CORETYPE is set only when
# OpenBLAS itself reports its generic Prescott kernels on a CPU with AVX2 (a CPU model too new for
# the installed OpenBLAS): then Haswell (AVX2) or SkylakeX (AVX-512) kernels, for the yardstick and
# PyTorch alike, and the line says so. (OpenBLAS 0.3.21 detects Zen 4 as Cooperlake by itself.)
#
# bf16: ./train --precision bf16 (AVX512-BF16 products; without those instructions the emulated
# path, fp32 speed: see README). PyTorch's bf16 autocast is timed only when its bf16 matmul reaches
# a third of its fp32 one: without native bf16 (AVX512-BF16/AMX) oneDNN's fallback runs a small
# step for minutes; TORCH_BF16=1 times it anyway.
#
# FLOPs/step = (6 N' + 12 L C T) B T with N' the parameters without wpe (the usual count: 6 per
# parameter per token for forward + backward, plus attention's 12 L C T).
# The text is a synthetic file of random words (awk, fixed seed), so that BPE reaches the
# vocabulary sizes of the issue; its content does not change the cost of a step.
#
# Environment: THREADS (2), STEPS (timed steps per run, 5; one more is run and dropped as
# warm-up), ROUNDS (3), CONFIGS ("small gpt2"), PRECISIONS ("fp32 bf16"), OURS_ENVS and
# TORCH_ENVS (settings separated by ";", each a list of VAR=value; "-" = none), TORCH_BF16,
# CPU1 (1: also single-thread CPU time per step, CPU_STEPS of them, 3), GEN (1: generation), TOK
# (1: the tokenizer benchmark).
# The machine may be shared: the load average is printed before and after and with every round.
set -u
cd "$(dirname "$0")/.." || exit 1

THREADS=${THREADS:-2}
STEPS=${STEPS:-5}
ROUNDS=${ROUNDS:-3}
CONFIGS=${CONFIGS:-small gpt2}
PRECISIONS=${PRECISIONS:-fp32 bf16}
OURS_ENVS=${OURS_ENVS:-OMP_WAIT_POLICY=PASSIVE}
TORCH_ENVS=${TORCH_ENVS:-OMP_WAIT_POLICY=PASSIVE;OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4}
TORCH_BF16=${TORCH_BF16:-0}
CPU1=${CPU1:-1}
CPU_STEPS=${CPU_STEPS:-3}
GEN=${GEN:-1}
TOK=${TOK:-1}
PY=/usr/bin/python3

# the clean environment every run starts from
for v in $(env | sed -n 's/^\(\(OMP\|GOMP\|KMP\|OPENBLAS\|GOTO\|MKL\)_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
# runs "$@" with the setting $1 ("VAR=value ..." or "-") added to the clean environment
with_env() {
    local setting=$1
    shift
    if [ "$setting" = "-" ]; then "$@"; else env $setting "$@"; fi
}

TMP=$(mktemp -d /tmp/forgetful_bench.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT

median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
load() { cut -d' ' -f1 /proc/loadavg; }

echo "== forgetful bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, threads $THREADS"
grep -m1 'model name' /proc/cpuinfo | sed 's/^.*: /cpu: /'
echo "cpu flags: $(grep -m1 -o -w -E 'avx2|fma|avx512f|avx512_bf16|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

make train dev/bench_matmul >/dev/null || { echo "bench: make train dev/bench_matmul failed" >&2; exit 1; }
# probes off when this ./train has them
PROBE_OFF=
if ./train --help 2>&1 | grep -q -- '--probe-every'; then PROBE_OFF="--probe-every 0"; fi
HAVE_BF16_FLAG=no
if ./train --help 2>&1 | grep -q -- '--precision'; then HAVE_BF16_FLAG=yes; fi

HAVE_TORCH=yes
if ! $PY -c 'import torch' 2>/dev/null; then
    HAVE_TORCH=no
    echo "PyTorch: skipped because $PY cannot import torch (Debian package python3-torch)"
fi

# ---------------------------------------------------------------------------- matmul limits
# OpenBLAS's worker threads spin after each call (OPENBLAS_THREAD_TIMEOUT): our product timed right
# after an OpenBLAS call would share both cores with them, so the GEMM comparison always runs with
# the shortest timeout.
gemm_run() { OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4 "$@"; }
echo
echo "== matmul limits (2048^3, fastest of 7 runs each)"
SQ_OUT=$(BENCH_BEST=1 gemm_run ./dev/bench_matmul square 7)
BLAS_LINE=$(echo "$SQ_OUT" | sed -n 's/^blas: //p')
if echo "$BLAS_LINE" | grep -q "kernels Prescott" && grep -q -w avx2 /proc/cpuinfo; then
    if grep -q -w avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; else export OPENBLAS_CORETYPE=Haswell; fi
    echo "OpenBLAS chose its generic Prescott kernels on this CPU: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE from here on (yardstick and PyTorch)"
    SQ_OUT=$(BENCH_BEST=1 gemm_run ./dev/bench_matmul square 7)
    BLAS_LINE=$(echo "$SQ_OUT" | sed -n 's/^blas: //p')
fi
SQ=$(echo "$SQ_OUT" | grep "^sgemm 2048")
OURS_SQ=$(echo "$SQ" | sed -n 's/.*ours \([0-9.]*\) GFLOP.*/\1/p')
BLAS_SQ=$(echo "$SQ" | sed -n 's/.*OpenBLAS \([0-9.na]*\) GFLOP.*/\1/p')
KERNEL=$(echo "$SQ_OUT" | sed -n 's/^kernel: //p')
echo "ours:      forgetful's own SGEMM (lib/gemm.c, $KERNEL kernel; no BLAS library): $OURS_SQ GFLOP/s"
echo "yardstick: $BLAS_LINE: $BLAS_SQ GFLOP/s"
# the machine's SGEMM limit: the best of ours and of the yardstick when it is OpenBLAS
PEAK=$OURS_SQ
if echo "$BLAS_LINE" | grep -q "OpenBLAS"; then
    PEAK=$(awk -v a="$OURS_SQ" -v b="$BLAS_SQ" 'BEGIN {print (b + 0 > a + 0) ? b : a}')
    BLAS_REF=$BLAS_SQ
else
    BLAS_REF=nan
    echo "note: the yardstick is not OpenBLAS; the limit is our own SGEMM, and no share of OpenBLAS is printed"
fi
echo "SGEMM limit: $PEAK GFLOP/s (load $(load))"

TORCH_BF16_OK=no
if [ $HAVE_TORCH = yes ]; then
    IFS=';' read -r -a TENVS <<<"$TORCH_ENVS"
    BEST_TF32=0
    for te in "${TENVS[@]}"; do
        for try in 1 2; do # once more before refusing: a burst of load can halve one measurement
            MC=$(with_env "$te" $PY dev/bench_torch.py --matmul-check --threads $THREADS 2>&1) ||
                { echo "bench: bench_torch.py --matmul-check failed: $MC" >&2; exit 1; }
            TF32=$(echo "$MC" | sed -n 's/.*fp32 \([0-9.]*\) GFLOP.*/\1/p')
            TBF16=$(echo "$MC" | sed -n 's/.*bf16 \([0-9.]*\) GFLOP.*/\1/p')
            awk -v t="$TF32" -v p="$PEAK" 'BEGIN {exit !(3 * t >= p)}' && break
        done
        echo "torch [$te]: $(echo "$MC" | sed -n 's/^torch blas: //p')"
        echo "torch [$te]: torch.mm 2048^3 fp32 $TF32 GFLOP/s ($(awk -v t="$TF32" -v p="$PEAK" 'BEGIN {printf "%.0f", 100 * t / p}')% of the limit), bf16 $TBF16 GFLOP/s (load $(load))"
        BEST_TF32=$(awk -v a="$BEST_TF32" -v b="$TF32" 'BEGIN {print (b + 0 > a + 0) ? b : a}')
        awk -v f="$TF32" -v b="$TBF16" 'BEGIN {exit !(3 * b >= f)}' && TORCH_BF16_OK=yes
    done
    if ! awk -v t="$BEST_TF32" -v p="$PEAK" 'BEGIN {exit !(3 * t >= p)}'; then
        echo "bench: refusing to compare: PyTorch's fp32 matmul reaches $BEST_TF32 GFLOP/s, under a third of this" >&2
        echo "bench: machine's SGEMM limit ($PEAK GFLOP/s): its BLAS (above) is no fair peer (Debian's reference" >&2
        echo "bench: libblas.so.3?). Install OpenBLAS (apt-get install libopenblas0-pthread) so that libblas.so.3" >&2
        echo "bench: points at it (update-alternatives --display libblas.so.3-x86_64-linux-gnu), and run again." >&2
        exit 1
    fi
    if [ $TORCH_BF16_OK = no ] && [ "$TORCH_BF16" != 1 ]; then
        echo "torch bf16 autocast: not timed: its bf16 matmul is under a third of its fp32 one (no native bf16 on"
        echo "  this CPU: $(grep -q -w avx512_bf16 /proc/cpuinfo && echo "AVX512-BF16 present, but slow here" || echo "no AVX512-BF16, no AMX"); a small step then takes minutes). TORCH_BF16=1 times it anyway."
    fi
fi

echo
echo "== GEMM at the model's shapes"
for cfg in $CONFIGS; do gemm_run ./dev/bench_matmul "$cfg" 5 | grep -v -E "^(blas|kernel):"; done

# ---------------------------------------------------------------------------- training steps
# synthetic text: random words from a fixed 60000-word list, 700000 words
awk 'BEGIN {
    srand(1); n = 60000
    for (i = 0; i < n; i++) { len = 2 + int(rand() * 8); w = ""; for (j = 0; j < len; j++) w = w sprintf("%c", 97 + int(rand() * 26)); words[i] = w }
    for (i = 0; i < 700000; i++) printf "%s%s", words[int(rand() * n)], (i % 12 == 11) ? "\n" : " "
}' >"$TMP/text.txt"

# The two configurations of the issue: sets L C H T B V, and P N (prompt and new tokens of the
# generation benchmark).
shape_of() {
    case $1 in
    small) L=6 C=384 H=6 T=256 B=8 V=8192 P=16 N=128 ;;
    gpt2) L=12 C=768 H=12 T=64 B=4 V=50257 P=16 N=48 ;;
    *) echo "bench: unknown config $1 (small, gpt2)" >&2; exit 2 ;;
    esac
}

# The variants of a round: "peer|precision|setting".
VARIANTS=()
IFS=';' read -r -a OENVS <<<"$OURS_ENVS"
for prec in $PRECISIONS; do
    [ "$prec" = bf16 ] && [ $HAVE_BF16_FLAG = no ] && { echo "note: this ./train has no --precision: ours bf16 skipped"; continue; }
    for oe in "${OENVS[@]}"; do VARIANTS+=("ours|$prec|$oe"); done
done
if [ $HAVE_TORCH = yes ]; then
    for prec in $PRECISIONS; do
        [ "$prec" = bf16 ] && [ $TORCH_BF16_OK = no ] && [ "$TORCH_BF16" != 1 ] && continue
        for te in "${TENVS[@]}"; do VARIANTS+=("torch|$prec|$te"); done
    done
fi

# one timed run of variant $1 for the current shape: prints "ms rss_gib"
run_variant() {
    local peer prec setting
    IFS='|' read -r peer prec setting <<<"$1"
    if [ "$peer" = ours ]; then
        local pflag=
        [ "$prec" = bf16 ] && pflag="--precision bf16"
        rm -rf "$TMP/run"
        if ! with_env "$setting" /usr/bin/time -f '%M' -o "$TMP/rss" ./train --input "$TMP/text.txt" --vocab $V \
            --model $cfg -L $L -C $C -H $H -T $T -B $B --steps $((STEPS + 1)) --threads $THREADS --eval-every 0 \
            --sample-every 0 --sample-len 1 --eval-batches 1 --save-every 0 $PROBE_OFF $pflag \
            --peak-gflops "$PEAK" --out "$TMP/run" >"$TMP/out.txt" 2>&1; then
            echo "bench: ./train failed:" >&2
            tail -5 "$TMP/out.txt" >&2
            exit 1
        fi
        local gotv
        gotv=$(sed -n 's/.*(BPE, V=\([0-9]*\)).*/\1/p' "$TMP/out.txt" | head -1)
        [ "$gotv" = "$V" ] || echo "note: the data gave V=$gotv, not $V" >&2
        # step rows of train.csv (the first is the warm-up), column ms_per_step
        echo "$(awk -F, 'NR > 2 && $7 != "" {print $7}' "$TMP/run/train.csv" | median) $(awk '{printf "%.2f", $1 / 1048576}' "$TMP/rss")"
    else
        local aflag=
        [ "$prec" = bf16 ] && aflag="--autocast bf16"
        with_env "$setting" /usr/bin/time -f '%M' -o "$TMP/rss" $PY dev/bench_torch.py -L $L -C $C -H $H -V $V -B $B \
            -T $T --steps $STEPS --threads $THREADS $aflag >"$TMP/out.txt" 2>&1 ||
            { echo "bench: bench_torch.py failed:" >&2; tail -5 "$TMP/out.txt" >&2; exit 1; }
        echo "$(sed -n 's/.*median \([0-9.]*\) ms\/step.*/\1/p' "$TMP/out.txt") $(awk '{printf "%.2f", $1 / 1048576}' "$TMP/rss")"
    fi
}

for cfg in $CONFIGS; do
    shape_of "$cfg"
    NPRIME=$((V * C + L * (12 * C * C + 13 * C) + 2 * C))
    FLOPS=$(((6 * NPRIME + 12 * L * C * T) * B * T))
    echo
    echo "== $cfg: L$L C$C H$H T$T B$B V$V, N' = $NPRIME, $(awk -v f=$FLOPS 'BEGIN {printf "%.1f", f / 1e9}') GFLOP/step, $ROUNDS rounds of ${#VARIANTS[@]} variants"
    for i in "${!VARIANTS[@]}"; do : >"$TMP/ms.$i"; : >"$TMP/rss.$i"; done
    for r in $(seq 1 "$ROUNDS"); do
        line="round $r:"
        for i in "${!VARIANTS[@]}"; do
            res=$(run_variant "${VARIANTS[$i]}") || exit 1
            echo "${res% *}" >>"$TMP/ms.$i"
            echo "${res#* }" >>"$TMP/rss.$i"
            line="$line ${VARIANTS[$i]%%|*} ${res% *}"
        done
        echo "$line ms/step (load $(load))"
    done
    # every variant's median, then the best setting of each peer and precision
    : >"$TMP/summary"
    for i in "${!VARIANTS[@]}"; do
        IFS='|' read -r peer prec setting <<<"${VARIANTS[$i]}"
        ms=$(median <"$TMP/ms.$i")
        printf "  %-5s %s [%s]: median %s ms/step (rounds: %s)\n" "$peer" "$prec" "$setting" "$ms" "$(tr '\n' ' ' <"$TMP/ms.$i")"
        echo "$peer $prec $ms $(sort -g "$TMP/rss.$i" | tail -1) $setting" >>"$TMP/summary"
    done
    echo "each at its best setting (lowest median):"
    for pp in "ours fp32" "ours bf16" "torch fp32" "torch bf16"; do
        best=$(grep "^$pp " "$TMP/summary" | sort -k3,3g | head -1)
        [ -n "$best" ] || continue
        echo "$best" | awk -v f=$FLOPS -v tok=$((B * T)) -v blas="$BLAS_REF" '{
            s = ""; for (i = 5; i <= NF; i++) s = s (i > 5 ? " " : "") $i
            name = ($1 == "torch" && $2 == "bf16") ? "torch bf16 autocast" : $1 " " $2
            share = blas == "nan" ? "" : sprintf(", %4.1f%% of OpenBLAS SGEMM", 100 * f / $3 * 1e-6 / blas)
            printf "  %-19s %8.1f ms/step %7.0f tokens/s %6.1f GFLOP/s%s, peak RSS %s GiB [%s]\n", name, $3,
                   tok / $3 * 1e3, f / $3 * 1e-6, share, $4, s }'
        echo "$pp $(echo "$best" | cut -d' ' -f3)" >>"$TMP/best.$cfg"
    done
    # tokens/s ratios: ours (each precision) over each PyTorch variant at its best
    for o in fp32 bf16; do
        oms=$(sed -n "s/^ours $o //p" "$TMP/best.$cfg" 2>/dev/null)
        [ -n "$oms" ] || continue
        for t in fp32 bf16; do
            tms=$(sed -n "s/^torch $t //p" "$TMP/best.$cfg" 2>/dev/null)
            [ -n "$tms" ] || continue
            awk -v a="$oms" -v b="$tms" -v c=$cfg -v o=$o -v t=$t 'BEGIN {
                printf "%s: tokens/s ratio ours %s / torch %s = %.2f\n", c, o, (t == "bf16" ? "bf16 autocast" : t), b / a }'
        done
    done
done

# ---------------------------------------------------------------------------- CPU time, 1 thread
# On a shared machine wall-clock figures move with everyone else's load; the on-CPU time of a
# single-threaded step does not (no waiting threads, no spinning). Ours: the difference of the
# CPU time of two runs (2 and 2 + CPU_STEPS steps); PyTorch: time.process_time() per step.
if [ "$CPU1" = 1 ]; then
    echo
    echo "== single-thread CPU time per step, fp32 (CPU1=1, $CPU_STEPS steps; robust to other processes)"
    for cfg in $CONFIGS; do
        shape_of "$cfg"
        cpu_of() { # steps -> user+sys seconds of a single-threaded ./train run
            rm -rf "$TMP/run1"
            OMP_NUM_THREADS=1 /usr/bin/time -f '%U %S' -o "$TMP/cpu" ./train --input "$TMP/text.txt" --vocab $V \
                --model $cfg -L $L -C $C -H $H -T $T -B $B --steps "$1" --threads 1 --eval-every 0 \
                --sample-every 0 --sample-len 1 --eval-batches 1 --save-every 0 $PROBE_OFF --peak-gflops "$PEAK" \
                --out "$TMP/run1" >/dev/null 2>&1 || { echo "bench: ./train failed" >&2; exit 1; }
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
        echo "$line (load $(load))"
    done
fi

# ---------------------------------------------------------------------------- generation
# Greedy decoding, batch 1, of a random model of each shape: ours (dev/bench_generate.c: a full
# gpt_forward over the prefix per token, then gpt_kv_prefill + gpt_kv_decode) and PyTorch
# (dev/bench_torch.py --generate: the whole prefix per token, then a past_key_values-style cache
# of k/v tensors concatenated per step), alternating, medians of ROUNDS; the first settings of
# OURS_ENVS and TORCH_ENVS.
if [ "$GEN" = 1 ]; then
    echo
    echo "== generation, batch 1, greedy (tokens/s, medians of $ROUNDS alternating rounds)"
    make -s dev/bench_generate >/dev/null || { echo "bench: cannot build dev/bench_generate" >&2; exit 1; }
    for cfg in $CONFIGS; do
        shape_of "$cfg"
        : >"$TMP/g_ours"
        : >"$TMP/g_torch"
        for r in $(seq 1 "$ROUNDS"); do
            with_env "${OENVS[0]}" ./dev/bench_generate -L $L -C $C -H $H -V $V -T $T -P $P -N $N >"$TMP/g_out" ||
                { echo "bench: bench_generate failed:" >&2; cat "$TMP/g_out" >&2; exit 1; }
            sed -n 's/.*no cache \([0-9.]*\) tokens\/s, KV cache \([0-9.]*\) tokens.*/\1 \2/p' "$TMP/g_out" >>"$TMP/g_ours"
            if [ $HAVE_TORCH = yes ]; then
                with_env "${TENVS[0]}" $PY dev/bench_torch.py -L $L -C $C -H $H -V $V -T $T --prompt $P --generate $N \
                    --threads $THREADS >"$TMP/g_out" 2>&1 ||
                    { echo "bench: bench_torch.py --generate failed:" >&2; tail -5 "$TMP/g_out" >&2; exit 1; }
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
        echo "$line (load $(load))"
    done
fi

if [ "$TOK" = 1 ] && [ -f dev/bench_tokenizer.sh ]; then
    echo
    echo "== tokenizer (dev/bench_tokenizer.sh)"
    bash dev/bench_tokenizer.sh
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
