#!/usr/bin/env bash
# Downloads Anthropic's HH-RLHF preference pairs (Bai et al. 2022; JSON Lines, gzip, one
# {"chosen": ..., "rejected": ...} object per line) from the Hugging Face hub to data/hh-rlhf/.
# Usage: data/hh_rlhf.sh [SUBSET]   SUBSET: harmless-base (default), helpful-base,
#        helpful-online, helpful-rejection-sampled. Fetches the subset's train and test files.
# Then: ./train --dpo data/hh-rlhf/harmless-base-test.jsonl.gz
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/download.sh"
subset="${1:-harmless-base}"
case "$subset" in
    harmless-base | helpful-base | helpful-online | helpful-rejection-sampled) ;;
    *) echo "usage: $0 [harmless-base|helpful-base|helpful-online|helpful-rejection-sampled]" >&2; exit 2 ;;
esac
mkdir -p "$here/hh-rlhf"
for split in test train; do
    download "https://huggingface.co/datasets/Anthropic/hh-rlhf/resolve/main/$subset/$split.jsonl.gz" \
        "$here/hh-rlhf/$subset-$split.jsonl.gz" "gzip -t"
done
