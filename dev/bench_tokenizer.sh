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
CC=${CC:-cc}
OMP=$(echo 'int main(void){return 0;}' | $CC -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp || true)
$CC -O3 -march=native -std=gnu11 $OMP -o "$tmp/tok_cli" dev/tok_cli.c tokenizer.c ${TOK_CLI_SRCS:-model.c} -lm

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; } # float arithmetic without bc
bytes=$(stat -c %s "$text")
echo "tokenizer bench: $text ($bytes bytes), vocab $vocab, BPE"

t0=$(now)
ours_train=$("$tmp/tok_cli" train "$text" "$vocab" "$tmp/tokenizer.json")
t1=$(now)
ours_train_wall=$(calc "$t1 - $t0")
ours_enc=$("$tmp/tok_cli" encode "$tmp/tokenizer.json" "$text")
t0=$(now)
"$tmp/tok_cli" ids "$tmp/tokenizer.json" "$text" > "$tmp/ours.ids"
t1=$(now)
ours_ids_wall=$(calc "$t1 - $t0")

spm_args=(--input="$text" --model_prefix="$tmp/spm" --vocab_size="$vocab" --model_type=bpe --minloglevel=2)
t0=$(now)
spm_train "${spm_args[@]}" --num_threads=1 >/dev/null 2>&1
t1=$(now)
spm_train1=$(calc "$t1 - $t0")
t0=$(now)
spm_train "${spm_args[@]}" >/dev/null 2>&1
t1=$(now)
spm_trainN=$(calc "$t1 - $t0")
t0=$(now)
spm_encode --model="$tmp/spm.model" --output_format=id < "$text" > "$tmp/spm.ids"
t1=$(now)
spm_enc_wall=$(calc "$t1 - $t0")
spm_tokens=$(wc -w < "$tmp/spm.ids")

ours_train_s=$(echo "$ours_train" | awk '{print $2}')
ours_mbs=$(echo "$ours_enc" | awk '{print $4}')
ours_tokens=$(echo "$ours_enc" | awk '{print $6}')
ours_bpt=$(echo "$ours_enc" | awk '{print $8}')
printf "%-28s %14s %14s\n" "" "forgetful" "sentencepiece"
printf "%-28s %14.3f %14.3f\n" "train seconds (1 thread)" "$ours_train_wall" "$spm_train1"
printf "%-28s %14s %14.3f\n" "train seconds (default)" "-" "$spm_trainN"
printf "%-28s %14.3f %14s\n" "  of which merges (in-proc)" "$ours_train_s" "-"
printf "%-28s %14.1f %14s\n" "encode MB/s (in-process)" "$ours_mbs" "-"
printf "%-28s %14.1f %14.1f\n" "encode MB/s (CLI, ids out)" "$(calc "$bytes / $ours_ids_wall / 1000000")" \
    "$(calc "$bytes / $spm_enc_wall / 1000000")"
printf "%-28s %14d %14d\n" "tokens" "$ours_tokens" "$spm_tokens"
printf "%-28s %14.3f %14.3f\n" "bytes per token" "$ours_bpt" "$(calc "$bytes / $spm_tokens")"
printf "train time ratio spm_train/forgetful: %.1fx (1 thread), %.1fx (spm default threads)\n" \
    "$(calc "$spm_train1 / $ours_train_wall")" "$(calc "$spm_trainN / $ours_train_wall")"
