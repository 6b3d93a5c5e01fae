#!/usr/bin/env python3
"""Writes data/fixtures/pretok_bytes.bin and data/fixtures/pretok_ends.txt: random byte strings
(valid UTF-8 of many classes mixed with invalid bytes, NULs, apostrophes, whitespace runs) and
where GPT-2's own pre-tokenization regex ends each word, one byte offset per line.

    python3 dev/pretok_fixture.py        (needs the `regex` module GPT-2 uses: pip install regex)

The reference is GPT-2's encoder.py pattern run by the `regex` module. Bytes that are not valid
UTF-8 are decoded with "surrogateescape" (each becomes a lone surrogate U+DC80..U+DCFF, category
Cs, i.e. neither letter, number nor space): exactly lib/pretok.c's rule that an invalid byte is one
"other" character. Pieces are encoded back the same way, so offsets are byte offsets.
"""
import os
import random
import sys

try:
    import regex
except ImportError:
    sys.exit("error: the `regex` module is missing (pip install regex); GPT-2's pattern needs it")

PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

BITS = ["é", "中", "🙂", "٣", "\u3000", "\u00a0", "\u0085", "\u2028", "\u0301", "Ⅻ", "½", "ß", "Ж",
        "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'", " ", "  ", "\n", "\t", "\r\n", "\x0b",
        "ab", "Z9", "!?", "..", "42"]
BITS = [b.encode("utf-8") for b in BITS] + [b"\x80", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                                            b"\xe0\x80\xaf", b"\xe4\xb8", b"\xf0\x9f\x99", b"\x00", b"\xc0\xaf"]


def main():
    rng = random.Random(20240601)
    data = bytearray()
    while len(data) < 16000:
        if rng.random() < 0.2:
            data.append(rng.randrange(256))
        else:
            data += BITS[rng.randrange(len(BITS))]
    data = bytes(data)
    text = data.decode("utf-8", errors="surrogateescape")
    ends, pos = [], 0
    for piece in PAT.findall(text):
        pos += len(piece.encode("utf-8", errors="surrogateescape"))
        ends.append(pos)
    assert pos == len(data), "the regex must cover the whole text"
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "fixtures")
    with open(os.path.join(root, "pretok_bytes.bin"), "wb") as f:
        f.write(data)
    with open(os.path.join(root, "pretok_ends.txt"), "w") as f:
        f.write("".join("%d\n" % e for e in ends))
    print("pretok_bytes.bin: %d bytes, %d words (regex %s)" % (len(data), len(ends), regex.__version__))


if __name__ == "__main__":
    main()
