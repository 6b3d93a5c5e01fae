# data/download.sh: sourced by the corpus download scripts beside it.
# download URL OUT [CHECK]: fetches URL to OUT through a temporary file, so OUT is either absent or
# whole; an existing non-empty OUT is kept. CHECK (optional) is a command run on the temporary file
# that must succeed (e.g. "gzip -t"). Prints where the file went; on failure one line on stderr and
# exit status 1.
download() {
    local url=$1 out=$2 check=${3:-}
    if [ -s "$out" ]; then
        echo "already there: $out ($(wc -c < "$out") bytes)"
        return 0
    fi
    command -v curl > /dev/null || { echo "error: curl not found; install it or fetch $url to $out yourself" >&2; exit 1; }
    local tmp="$out.part.$$"
    trap 'rm -f "'"$tmp"'"' EXIT
    if ! curl -fL --retry 2 --connect-timeout 15 -sS -o "$tmp" "$url"; then
        echo "error: could not download $url (no network?). Fetch it elsewhere and put it at $out" >&2
        exit 1
    fi
    if [ ! -s "$tmp" ]; then
        echo "error: $url gave an empty file; nothing written to $out" >&2
        exit 1
    fi
    if [ -n "$check" ] && ! $check "$tmp" 2> /dev/null; then
        echo "error: $url failed the check '$check'; nothing written to $out" >&2
        exit 1
    fi
    mv "$tmp" "$out"
    echo "downloaded $url -> $out ($(wc -c < "$out") bytes)"
}
