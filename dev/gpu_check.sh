#!/usr/bin/env bash
# dev/gpu_check.sh: the GPU build's check, to run on a machine with an NVIDIA GPU, nvcc and cuBLAS.
#
#   1. builds ./train (CPU), ./train_gpu and ./test_gpt_gpu (make train_gpu test_gpt_gpu);
#   2. stops with "gpu_check: no CUDA device ..." (exit 1) when the GPU binary finds no device;
#   3. runs the whole test suite with the GPU backend (the CLI tests drive ./train_gpu), then the
#      gpu section again against the CPU ./train (checkpoint interchange between the builds);
#   4. benchmarks training steps of the `small` and `gpt2` shapes of dev/bench.sh (small: L6 C384
#      H6 T256 B8 V8192; gpt2: L12 C768 H12 T64 B4 V50257), fp32 and TF32, against the same model in
#      PyTorch on the GPU (dev/bench_torch.py --device cuda), and prints ms/step, tokens/s and the
#      ratio.
#
# Environment: STEPS (timed steps per run, 10; one more runs first and is dropped), CONFIGS
# ("small gpt2"), NVCCFLAGS (default "-O3 -arch=native": SASS for the GPU at hand; "-O3" when
# nvidia-smi sees no GPU).
set -u
cd "$(dirname "$0")/.." || exit 1

STEPS=${STEPS:-10}
CONFIGS=${CONFIGS:-small gpt2}
PY=/usr/bin/python3
# SASS for the GPU at hand when nvidia-smi sees one (-arch=native needs a visible GPU)
if nvidia-smi -L >/dev/null 2>&1; then export NVCCFLAGS=${NVCCFLAGS:--O3 -arch=native}; else export NVCCFLAGS=${NVCCFLAGS:--O3}; fi
fail() {
    echo "gpu_check: $*" >&2
    exit 1
}

command -v "${NVCC:-nvcc}" >/dev/null || fail "no nvcc on PATH (install the CUDA toolkit, or set NVCC)"
make train >/dev/null || fail "make train (CPU build) failed"
rm -f gpu.o # rebuilt with this NVCCFLAGS
make train_gpu test_gpt_gpu || fail "make train_gpu test_gpt_gpu failed"

TMP=$(mktemp -d /tmp/forgetful_gpu_check.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT

# the binary says whether there is a device: --dry-run needs no data beyond the built-in corpus
if ! ./train_gpu --dry-run --out "$TMP/dry" >"$TMP/dry.txt" 2>&1; then
    cat "$TMP/dry.txt" >&2
    fail "no CUDA device usable by ./train_gpu (see the line above); nothing else to check here"
fi
DEVICE=$(sed -n 's/^device *//p' "$TMP/dry.txt" | head -1)
echo "== gpu_check: $(date -u '+%Y-%m-%d %H:%M UTC'), device $DEVICE"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null

echo
echo "== tests: the whole suite on the GPU backend"
TRAIN_BIN=./train_gpu ./test_gpt_gpu >"$TMP/tests.txt" 2>&1
TESTS_RC=$?
grep -E "^(FAIL|SKIP)" "$TMP/tests.txt"
TESTS_SUMMARY=$(tail -1 "$TMP/tests.txt")
echo "$TESTS_SUMMARY"
echo "== tests: gpu section against the CPU build's ./train (checkpoint interchange)"
./test_gpt_gpu gpu >"$TMP/gpu.txt" 2>&1
GPU_RC=$?
grep -E "^(FAIL|SKIP)" "$TMP/gpu.txt"
GPU_SUMMARY=$(tail -1 "$TMP/gpu.txt")
echo "$GPU_SUMMARY"

# ---------------------------------------------------------------------------- speed
# the same synthetic text as dev/bench.sh (random words, fixed seed), so BPE reaches V
awk 'BEGIN {
    srand(1); n = 60000
    for (i = 0; i < n; i++) { len = 2 + int(rand() * 8); w = ""; for (j = 0; j < len; j++) w = w sprintf("%c", 97 + int(rand() * 26)); words[i] = w }
    for (i = 0; i < 700000; i++) printf "%s%s", words[int(rand() * n)], (i % 12 == 11) ? "\n" : " "
}' >"$TMP/text.txt"
median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
HAVE_TORCH=yes
$PY -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null ||
    { HAVE_TORCH=no; echo "PyTorch on CUDA: not available to $PY; only ./train_gpu is timed"; }

SUMMARY="$TMP/summary.txt"
printf "%-6s %-5s %12s %12s %12s %12s %8s\n" config math "ours ms" "ours tok/s" "torch ms" "torch tok/s" "ratio" >"$SUMMARY"
for cfg in $CONFIGS; do
    case $cfg in
    small) L=6 C=384 H=6 T=256 B=8 V=8192 ;;
    gpt2) L=12 C=768 H=12 T=64 B=4 V=50257 ;;
    *) fail "unknown config $cfg (small, gpt2)" ;;
    esac
    for math in fp32 tf32; do
        flag=
        [ $math = tf32 ] && flag=--tf32
        rm -rf "$TMP/run"
        ./train_gpu --input "$TMP/text.txt" --vocab $V --model $cfg -L $L -C $C -H $H -T $T -B $B \
            --steps $((STEPS + 1)) --eval-every 0 --sample-every 0 --sample-len 1 --eval-batches 1 --save-every 0 \
            --probe-every 0 --dpo-steps 0 $flag --out "$TMP/run" >"$TMP/train_out.txt" 2>&1 ||
            { tail -5 "$TMP/train_out.txt" >&2; fail "./train_gpu $cfg $math failed"; }
        MS=$(awk -F, 'NR > 2 && $7 != "" {print $7}' "$TMP/run/train.csv" | median)
        TMS=nan
        if [ $HAVE_TORCH = yes ]; then
            $PY dev/bench_torch.py --device cuda $flag -L $L -C $C -H $H -V $V -B $B -T $T --steps $STEPS \
                >"$TMP/torch_out.txt" 2>&1 || { tail -5 "$TMP/torch_out.txt" >&2; fail "bench_torch.py $cfg $math failed"; }
            TMS=$(sed -n 's/.*median \([0-9.]*\) ms\/step.*/\1/p' "$TMP/torch_out.txt")
        fi
        awk -v c=$cfg -v m=$math -v a="$MS" -v b="$TMS" -v bt=$((B * T)) 'BEGIN {
            ta = a > 0 ? bt * 1000 / a : 0; tb = b > 0 ? bt * 1000 / b : 0
            printf "%-6s %-5s %12.2f %12.0f %12s %12s %8s\n", c, m, a, ta, (b == "nan" ? "-" : sprintf("%.2f", b)),
                (b == "nan" ? "-" : sprintf("%.0f", tb)), (b == "nan" ? "-" : sprintf("%.2fx", a / b)) }' >>"$SUMMARY"
    done
done

echo
echo "== summary ($DEVICE; ratio = our ms/step / PyTorch ms/step, > 1 means slower)"
cat "$SUMMARY"
echo "tests: $TESTS_SUMMARY; gpu section vs CPU ./train: $GPU_SUMMARY"
[ $TESTS_RC -eq 0 ] && [ $GPU_RC -eq 0 ] || fail "tests failed (see above)"
