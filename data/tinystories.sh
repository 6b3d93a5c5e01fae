#!/usr/bin/env bash
# Downloads TinyStories (Eldan & Li 2023, GPT-4 generated short stories) from the Hugging Face hub
# to data/. Usage: data/tinystories.sh [valid|train]
#   valid (default): TinyStoriesV2-GPT4-valid.txt, about 22 MB
#   train:           TinyStoriesV2-GPT4-train.txt, about 2.2 GB
# Stories are separated by "<|endoftext|>" lines. Then: ./train --input data/TinyStoriesV2-GPT4-valid.txt
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/download.sh"
split="${1:-valid}"
case "$split" in
    valid | train) ;;
    *) echo "usage: $0 [valid|train]" >&2; exit 2 ;;
esac
name="TinyStoriesV2-GPT4-$split.txt"
url="https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main/$name"
out="$here/$name"

download "$url" "$out"
