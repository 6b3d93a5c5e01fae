#!/usr/bin/env bash
# Downloads Tiny Shakespeare (about 1.1 MB of plain text, from karpathy/char-rnn) to
# data/tinyshakespeare.txt. Then: ./train --input data/tinyshakespeare.txt
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/download.sh"
url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
out="$here/tinyshakespeare.txt"

download "$url" "$out"
