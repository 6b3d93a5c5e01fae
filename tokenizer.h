// tokenizer.h: byte-level BPE as GPT-2 does it (train, encode, decode, tokenizer.json, GPT-2 files).
#ifndef TOKENIZER_H
#define TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

// Opaque to callers; its layout is in lib/tok_internal.h, shared by the tokenizer's parts only.
typedef struct Tokenizer Tokenizer;

// Largest vocabulary tok_train builds or a file may declare: a sanity bound (GPT-2 has 50257,
// the largest public BPE vocabularies about 256k), which also keeps bad files from allocating.
#define TOK_MAX_VOCAB (1 << 20)

// Learns merges from text (len bytes) until the vocabulary (256 bytes + merges + <|endoftext|>)
// has vocab_size entries (fewer if the text runs out of pairs to merge: see tok_vocab_size).
// Merge ties go to the smaller (left id, right id). Deterministic. Returns NULL with err filled
// when vocab_size is outside [257, TOK_MAX_VOCAB].
Tokenizer* tok_train(const char* text, size_t len, int vocab_size, char* err, size_t errlen);
// The same, with "<|endoftext|>" in the text as the special token: no word spans one, and its
// bytes are not counted (Hugging Face's trainer with it among the special tokens).
Tokenizer* tok_train_special(const char* text, size_t len, int vocab_size, char* err, size_t errlen);

// Loads a Hugging Face tokenizer.json (BPE, ByteLevel; merges as "a b" or ["a", "b"]).
// NULL with "file: byte offset N: ..." on error (N locates the part of the file at fault).
Tokenizer* tok_load_json(const char* path, char* err, size_t errlen);
// Loads GPT-2's encoder.json + vocab.bpe, giving GPT-2's exact ids (<|endoftext|> = 50256).
// NULL on error with "encoder.json: byte offset N: ..." or "vocab.bpe: line N: ...".
Tokenizer* tok_load_gpt2(const char* encoder_json, const char* vocab_bpe, char* err, size_t errlen);
// Writes tokenizer.json atomically. 0 or -1 with err filled.
int tok_save_json(const Tokenizer* tok, const char* path, char* err, size_t errlen);
// The tokenizer of a model folder: DIR/tokenizer.json, or else GPT-2's DIR/vocab.json +
// DIR/merges.txt (the hub's slow-tokenizer files). NULL with err filled (naming both when neither
// is there). *files, if not NULL, gets the malloc'd bytes of the file(s) read, their identity in a
// cache key, with the length in *files_len.
Tokenizer* tok_load_dir(const char* dir, char** files, size_t* files_len, char* err, size_t errlen);
// Writes a model folder's tokenizer files, each atomically: tokenizer.json, tokenizer_config.json
// (GPT2Tokenizer, model_max_length, <|endoftext|> as bos/eos/unk like the hub's gpt2) and
// special_tokens_map.json. 0 or -1 with err filled.
int tok_save_hf(const Tokenizer* tok, const char* dir, int model_max_length, char* err, size_t errlen);

int tok_vocab_size(const Tokenizer* tok);
int tok_eot(const Tokenizer* tok); // id of <|endoftext|>, -1 if none

// Encodes text (len bytes, any bytes) to ids; "<|endoftext|>" in the text is NOT special here.
// Pre-tokenization is GPT-2's regex over UTF-8 (a byte that is not valid UTF-8 counts as one
// "other" character), then BPE per word. Thread-safe (the word cache lives in the call).
// Returns a malloc'd array and sets *n.
int* tok_encode(const Tokenizer* tok, const char* text, size_t len, size_t* n);
// The same, except that each "<|endoftext|>" in the text is the end-of-text token (one id), as the
// Hugging Face tokenizers treat a special added token by default; the text between them is
// encoded as by tok_encode. A tokenizer without <|endoftext|> encodes as tok_encode.
int* tok_encode_special(const Tokenizer* tok, const char* text, size_t len, size_t* n);
// The text of <|endoftext|>, and whether text[0..len) contains it.
#define TOK_EOT_TEXT "<|endoftext|>"
int tok_has_eot_text(const char* text, size_t len);
// Decodes ids to bytes; returns a malloc'd NUL-terminated buffer and sets *len. Unknown ids are
// skipped; <|endoftext|> decodes to its text. decode(encode(x)) == x for every byte string x.
char* tok_decode(const Tokenizer* tok, const int* ids, size_t n, size_t* len);
// The bytes of one token (not NUL-terminated), length in *len; NULL for an unknown id.
const unsigned char* tok_token_bytes(const Tokenizer* tok, int id, size_t* len);

// GPT-2's pre-tokenizer alone: the end (exclusive) of the word that starts at text[i], i < len.
// Words tile the text; tok_encode applies BPE to each.
size_t tok_pretok_next(const char* text, size_t len, size_t i);

void tok_free(Tokenizer* tok);

#endif // TOKENIZER_H
