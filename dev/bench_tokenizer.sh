#!/usr/bin/env bash
# Tokenizer speed side by side with sentencepiece (Debian's spm_train / spm_encode), same file,
# same vocabulary size, BPE both:
#   - training time to a 4096-token vocabulary (ours is single-threaded; spm_train is timed with
#     one thread and with its default thread count)
#   - encoding throughput (MB/s) and bytes per token
#
#   bash dev/bench_tokenizer.sh [TEXT] [VOCAB]     defaults: ../shared/data/tinyshakespeare.txt 4096
set -euo pipefail
cd "$(dirname "$0")/.."
text=${1:-../shared/data/tinyshakespeare.txt}
vocab=${2:-4096}
if [ ! -f "$text" ]; then
    echo "skip tokenizer bench: $text not found (data/tinyshakespeare.sh downloads it)"
    exit 0
fi
for tool in spm_train spm_encode; do
    command -v $tool >/dev/null 2>&1 || { echo "skip tokenizer bench: $tool not found (apt install sentencepiece)"; exit 0; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s dev/tok_cli >/dev/null
cp dev/tok_cli "$tmp/tok_cli"

calc() { awk "BEGIN { print $1 }"; } # float arithmetic without bc
# timed OUT CMD...: runs CMD with stdout to OUT; prints "wall cpu" seconds (cpu = user + sys:
# the machine may be shared, and then wall time overstates what either tool costs)
timed() {
    local out=$1 TIMEFORMAT='%R %U %S' t
    shift
    t=$( { time "$@" > "$out" 2>/dev/null; } 2>&1 )
    echo "$t" | awk '{ print $1, $2 + $3 }'
}
bytes=$(stat -c %s "$text")
echo "tokenizer bench: $text ($bytes bytes), vocab $vocab, BPE"

read -r ours_train_wall ours_train_cpu < <(timed "$tmp/train.out" "$tmp/tok_cli" train "$text" "$vocab" "$tmp/tokenizer.json")
ours_train=$(cat "$tmp/train.out")
ours_enc=$("$tmp/tok_cli" encode "$tmp/tokenizer.json" "$text")
read -r ours_ids_wall ours_ids_cpu < <(timed "$tmp/ours.ids" "$tmp/tok_cli" ids "$tmp/tokenizer.json" "$text")

spm_args=(--input="$text" --model_prefix="$tmp/spm" --vocab_size="$vocab" --model_type=bpe --minloglevel=2)
read -r spm_train1 spm_train1_cpu < <(timed /dev/null spm_train "${spm_args[@]}" --num_threads=1)
read -r spm_trainN spm_trainN_cpu < <(timed /dev/null spm_train "${spm_args[@]}")
read -r spm_enc_wall spm_enc_cpu < <(timed "$tmp/spm.ids" spm_encode --model="$tmp/spm.model" --output_format=id --input="$text")
spm_tokens=$(wc -w < "$tmp/spm.ids")

ours_train_s=$(echo "$ours_train" | awk '{print $2}')
ours_mbs=$(echo "$ours_enc" | awk '{print $4}')
ours_tokens=$(echo "$ours_enc" | awk '{print $6}')
ours_bpt=$(echo "$ours_enc" | awk '{print $8}')
printf "%-34s %14s %14s\n" "" "forgetful" "sentencepiece"
printf "%-34s %14.3f %14.3f\n" "train wall s (1 thread)" "$ours_train_wall" "$spm_train1"
printf "%-34s %14.3f %14.3f\n" "train CPU s (1 thread)" "$ours_train_cpu" "$spm_train1_cpu"
printf "%-34s %14s %14.3f\n" "train wall s (spm default threads)" "-" "$spm_trainN"
printf "%-34s %14.3f %14s\n" "  merges only, in-process wall s" "$ours_train_s" "-"
printf "%-34s %14.1f %14s\n" "encode MB/s in-process (wall)" "$ours_mbs" "-"
printf "%-34s %14.1f %14s\n" "encode MB/s in-process (CPU)" "$(echo "$ours_enc" | awk '{print $10}')" "-"
printf "%-34s %14.1f %14.1f\n" "encode MB/s CLI, ids out (CPU)" "$(calc "$bytes / $ours_ids_cpu / 1000000")" \
    "$(calc "$bytes / $spm_enc_cpu / 1000000")"
printf "%-34s %14d %14d\n" "tokens" "$ours_tokens" "$spm_tokens"
printf "%-34s %14.3f %14.3f\n" "bytes per token" "$ours_bpt" "$(calc "$bytes / $spm_tokens")"
printf "train time ratio spm_train/forgetful: %.1fx wall, %.1fx CPU (1 thread); %.1fx wall (spm default threads)\n" \
    "$(calc "$spm_train1 / $ours_train_wall")" "$(calc "$spm_train1_cpu / $ours_train_cpu")" \
    "$(calc "$spm_trainN / $ours_train_wall")"
echo "(spm_encode reads lines: its count has no newline tokens; sentencepiece also normalizes (NFKC).)"
