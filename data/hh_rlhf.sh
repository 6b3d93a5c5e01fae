#!/usr/bin/env bash
# Downloads Anthropic's HH-RLHF preference pairs (Bai et al. 2022; JSON Lines, gzip, one
# {"chosen": ..., "rejected": ...} object per line) from the Hugging Face hub to data/hh-rlhf/.
# Usage: data/hh_rlhf.sh [SUBSET]   SUBSET: harmless-base (default), helpful-base,
#        helpful-online, helpful-rejection-sampled. Fetches the subset's train and test files.
# Then: ./train --dpo data/hh-rlhf/harmless-base-test.jsonl.gz
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
subset="${1:-harmless-base}"
case "$subset" in
    harmless-base | helpful-base | helpful-online | helpful-rejection-sampled) ;;
    *) echo "usage: $0 [harmless-base|helpful-base|helpful-online|helpful-rejection-sampled]" >&2; exit 2 ;;
esac
command -v curl > /dev/null || { echo "error: curl not found; install it" >&2; exit 1; }
mkdir -p "$here/hh-rlhf"
for split in test train; do
    url="https://huggingface.co/datasets/Anthropic/hh-rlhf/resolve/main/$subset/$split.jsonl.gz"
    out="$here/hh-rlhf/$subset-$split.jsonl.gz"
    if [ -s "$out" ]; then
        echo "already there: $out ($(wc -c < "$out") bytes)"
        continue
    fi
    tmp="$out.part.$$"
    trap 'rm -f "$tmp"' EXIT
    if ! curl -fL --retry 2 --connect-timeout 15 -sS -o "$tmp" "$url"; then
        echo "error: could not download $url (no network?). Fetch it elsewhere and put it at $out" >&2
        exit 1
    fi
    if ! gzip -t "$tmp" 2> /dev/null; then
        echo "error: $url is not a valid gzip file; nothing written to $out" >&2
        exit 1
    fi
    mv "$tmp" "$out"
    echo "downloaded $url -> $out ($(wc -c < "$out") bytes)"
done
