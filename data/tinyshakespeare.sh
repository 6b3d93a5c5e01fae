#!/usr/bin/env bash
# Downloads Tiny Shakespeare (about 1.1 MB of plain text, from karpathy/char-rnn) to
# data/tinyshakespeare.txt. Then: ./train --input data/tinyshakespeare.txt
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
out="$here/tinyshakespeare.txt"

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
