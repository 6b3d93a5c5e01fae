// lib/pretok.h: GPT-2's pre-tokenizer (the regex that splits text into words before BPE) and the
// UTF-8 decoding it rests on.
#ifndef PRETOK_H
#define PRETOK_H

#include <stddef.h>
#include <stdint.h>

// Decodes one UTF-8 sequence at s[0..n): returns its length (1..4) and the code point, or 0 when
// s[0] does not start a valid, shortest-form, non-surrogate sequence.
int utf8_decode(const unsigned char* s, size_t n, uint32_t* cp);

// End (exclusive) of the pre-token that starts at s[i] (i < n): the regex's alternatives in
// order, the first that matches wins, each as greedy as the regex would be. Words tile the text.
size_t pretok_next(const unsigned char* s, size_t n, size_t i);

#endif // PRETOK_H
