#!/usr/bin/env bash
# Downloads TinyStories (Eldan & Li 2023, GPT-4 generated short stories) from the Hugging Face hub
# to data/. Usage: data/tinystories.sh [valid|train]
#   valid (default): TinyStoriesV2-GPT4-valid.txt, about 22 MB
#   train:           TinyStoriesV2-GPT4-train.txt, about 2.2 GB
# Stories are separated by "<|endoftext|>" lines. Then: ./train --input data/TinyStoriesV2-GPT4-valid.txt
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
split="${1:-valid}"
case "$split" in
    valid | train) ;;
    *) echo "usage: $0 [valid|train]" >&2; exit 2 ;;
esac
name="TinyStoriesV2-GPT4-$split.txt"
url="https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main/$name"
out="$here/$name"

if [ -s "$out" ]; then
    echo "already there: $out ($(wc -c < "$out") bytes)"
    exit 0
fi
command -v curl > /dev/null || { echo "error: curl not found; install it or fetch $url to $out yourself" >&2; exit 1; }
tmp="$out.part.$$"
trap 'rm -f "$tmp"' EXIT
if ! curl -fL --retry 2 --connect-timeout 15 -sS -o "$tmp" "$url"; then
    echo "error: could not download $url (no network?). Fetch it elsewhere and put it at $out" >&2
    exit 1
fi
if [ ! -s "$tmp" ]; then
    echo "error: $url gave an empty file; nothing written to $out" >&2
    exit 1
fi
mv "$tmp" "$out"
echo "downloaded $url -> $out ($(wc -c < "$out") bytes)"
