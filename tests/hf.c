// tests/hf.c: a model folder as Hugging Face tools see it. config.json's bos/eos ids and dropout
// fields, generation_config.json, tokenizer_config.json and special_tokens_map.json; the folder
// read by the tokenizers' JS port (dev/hf_check.js, SKIP without dev/node_modules); "<|endoftext|>"
// in text as the special token (encode and training); a folder laid out exactly as the hub's gpt2
// (unprefixed names, h.N.attn.bias buffers, vocab.json + merges.txt, the hub's config fields); F16
// and BF16 weights; and configs that ask for what we do not compute, refused with the field named.
#include "test.h"

#define HF_NODE_MODULE "dev/node_modules/@huggingface/tokenizers/package.json"

// A small model folder: L2 C32 H2 n_positions 16 on a tokenizer trained from the tokenizer
// fixture text (vocab 300), saved as ./train saves one.
typedef struct {
    char dir[64];       // the temporary folder
    char model[128];    // dir/model: our folder
    GPT m;
    Tokenizer* tok;
    char* text;         // the tokenizer fixture text
    size_t tlen;
} HfFixture;

static int hf_fixture(HfFixture* f) {
    char err[1024];
    snprintf(f->dir, sizeof f->dir, "/tmp/forgetful_hf_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->model, sizeof f->model, "%s/model", f->dir);
    f->text = read_file("data/fixtures/tokenizer_text.txt", &f->tlen, err, sizeof err);
    f->tok = f->text ? tok_train(f->text, f->tlen, 300, err, sizeof err) : NULL;
    if (!f->tok) return -1;
    gpt_build(&f->m, (GPTConfig){16, tok_vocab_size(f->tok), 2, 2, 32}, 7);
    if (gpt_save(&f->m, f->model, tok_eot(f->tok), err, sizeof err) != 0 ||
        tok_save_hf(f->tok, f->model, 16, err, sizeof err) != 0) {
        printf("     %s\n", err);
        return -1;
    }
    return 0;
}

// The JSON file dir/name parsed into *root (0), or -1.
static int hf_read_json(const char* dir, const char* name, JsonValue* root) {
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len = 0;
    char* text = read_file(path, &len, err, sizeof err);
    int rc = text ? json_parse(root, text, len, err, sizeof err) : -1;
    free(text);
    return rc;
}

// Whether root[key] is the string want.
static int hf_is_string(const JsonValue* root, const char* key, const char* want) {
    const JsonValue* v = json_get(root, key);
    return v && v->type == JSON_STRING && strcmp(v->str, want) == 0;
}

// config.json, generation_config.json, tokenizer_config.json and special_tokens_map.json carry
// what Hugging Face needs: the end-of-text id as bos/eos (inside the vocabulary), dropout 0, the
// context length, <|endoftext|> as bos/eos/unk.
static void hf_check_files(const HfFixture* f) {
    JsonValue c, g, t, m;
    int ok_c = hf_read_json(f->model, "config.json", &c) == 0, ok_g = hf_read_json(f->model, "generation_config.json", &g) == 0;
    int ok_t = hf_read_json(f->model, "tokenizer_config.json", &t) == 0;
    int ok_m = hf_read_json(f->model, "special_tokens_map.json", &m) == 0;
    long long bos = -1, eos = -1, gbos = -1, geos = -1, maxlen = -1;
    int eot = tok_eot(f->tok), dropout0 = 1;
    if (ok_c) {
        json_get_int(&c, "bos_token_id", &bos);
        json_get_int(&c, "eos_token_id", &eos);
        static const char* drops[] = {"resid_pdrop", "embd_pdrop", "attn_pdrop"};
        for (int k = 0; k < 3; k++) {
            const JsonValue* d = json_get(&c, drops[k]);
            dropout0 &= d && d->type == JSON_NUMBER && d->number == 0.0;
        }
    }
    check(ok_c && bos == eot && eos == eot && eot == f->m.config.vocab_size - 1 && dropout0,
          "hf files: config.json bos_token_id %lld, eos_token_id %lld (<|endoftext|> = %d, inside V = %d), dropout "
          "fields 0: %s", bos, eos, eot, f->m.config.vocab_size, dropout0 ? "yes" : "no");
    if (ok_g) {
        json_get_int(&g, "bos_token_id", &gbos);
        json_get_int(&g, "eos_token_id", &geos);
    }
    check(ok_g && gbos == eot && geos == eot, "hf files: generation_config.json bos/eos %lld/%lld", gbos, geos);
    if (ok_t) json_get_int(&t, "model_max_length", &maxlen);
    int roles = ok_t && ok_m;
    static const char* names[] = {"bos_token", "eos_token", "unk_token"};
    for (int k = 0; k < 3 && roles; k++)
        roles = hf_is_string(&t, names[k], "<|endoftext|>") && hf_is_string(&m, names[k], "<|endoftext|>");
    check(ok_t && maxlen == 16 && roles && hf_is_string(&t, "tokenizer_class", "GPT2Tokenizer"),
          "hf files: tokenizer_config.json model_max_length %lld (n_positions 16), GPT2Tokenizer; <|endoftext|> is "
          "bos/eos/unk there and in special_tokens_map.json: %s", maxlen, roles ? "yes" : "no");
    if (ok_c) json_free(&c);
    if (ok_g) json_free(&g);
    if (ok_t) json_free(&t);
    if (ok_m) json_free(&m);
}

// A text with <|endoftext|> in several places (start, middle, twice in a row, a cut-off one at the
// end), written to path.
static const char HF_EOT_TEXT[] = "<|endoftext|>Once upon a time.<|endoftext|>The end. <|endoftext|><|endoftext|>"
                                  "x <|endoftext";

// tok_encode_special: each <|endoftext|> is the one token, the rest encoded as tok_encode encodes
// the pieces between (a closed form); tok_encode keeps it as text. Training with it as the special
// token learns no merge from its bytes, plain training does.
static void hf_check_special(const HfFixture* f) {
    size_t n = 0, np = 0;
    int* ids = tok_encode_special(f->tok, HF_EOT_TEXT, strlen(HF_EOT_TEXT), &n);
    // the reference: the pieces between the four full occurrences, encoded alone
    const char* pieces[] = {"", "Once upon a time.", "The end. ", "", "x <|endoftext"};
    int ref[256], nr = 0, eot = tok_eot(f->tok);
    for (int k = 0; k < 5; k++) {
        size_t m = 0;
        int* p = tok_encode(f->tok, pieces[k], strlen(pieces[k]), &m);
        for (size_t i = 0; i < m && nr < 255; i++) ref[nr++] = p[i];
        free(p);
        if (k < 4) ref[nr++] = eot;
    }
    int same = (int)n == nr;
    for (int i = 0; same && i < nr; i++) same = ids[i] == ref[i];
    int* plain = tok_encode(f->tok, HF_EOT_TEXT, strlen(HF_EOT_TEXT), &np);
    int plain_eot = 0;
    for (size_t i = 0; i < np; i++) plain_eot += plain[i] == eot;
    check(same && plain_eot == 0, "hf special: tok_encode_special gives 4 x <|endoftext|> (id %d) among the pieces' ids "
          "(%zu ids, want %d); tok_encode reads it as text (%d eot ids)", eot, n, nr, plain_eot);
    free(ids);
    free(plain);
    // training: a text that is mostly <|endoftext|>
    char text[4096];
    size_t len = 0;
    for (int k = 0; k < 100; k++) len += (size_t)snprintf(text + len, sizeof text - len, "word %d<|endoftext|>", k % 7);
    char err[512];
    Tokenizer* a = tok_train(text, len, 300, err, sizeof err);
    Tokenizer* b = tok_train_special(text, len, 300, err, sizeof err);
    int in_a = 0, in_b = 0;
    // the learned tokens: 256 .. V-2 (V-1 is <|endoftext|>; a text out of pairs stops below 300)
    for (int id = 256; a && id < tok_vocab_size(a) - 1; id++) {
        size_t l = 0;
        const unsigned char* s = tok_token_bytes(a, id, &l);
        in_a += s && memmem(s, l, "ndof", 4) != NULL;
    }
    for (int id = 256; b && id < tok_vocab_size(b) - 1; id++) {
        size_t l = 0;
        const unsigned char* s = tok_token_bytes(b, id, &l);
        in_b += s && (memchr(s, '<', l) || memchr(s, '|', l) || memmem(s, l, "ndof", 4));
    }
    check(a && b && in_a > 0 && in_b == 0,
          "hf special: plain training learns %d tokens from <|endoftext|>'s bytes, special training %d", in_a, in_b);
    tok_free(a);
    tok_free(b);
}

// The folder read by @huggingface/tokenizers (dev/hf_check.js): our ids with special tokens split
// out, an exact round trip, <|endoftext|> an added special token whose id config.json and
// generation_config.json name as bos/eos/pad, model_max_length = n_positions.
static void hf_check_js(const HfFixture* f) {
    if (access(HF_NODE_MODULE, R_OK) != 0) {
        skip("hf JS: the folder read by @huggingface/tokenizers because %s is absent (bash "
             "dev/tokenizer_fixture.sh --install-only installs it with npm)", HF_NODE_MODULE);
        return;
    }
    char path[300], cmd[1024];
    snprintf(path, sizeof path, "%s/eot.txt", f->dir);
    // the fixture text (scripts, emoji, spaces) with <|endoftext|> between its halves
    size_t half = f->tlen / 2;
    while (half < f->tlen && (f->text[half] & 0xC0) == 0x80) half++;
    char* text = malloc_check(f->tlen + sizeof HF_EOT_TEXT + 16);
    memcpy(text, f->text, half);
    size_t len = half + (size_t)sprintf(text + half, "%s", HF_EOT_TEXT);
    memcpy(text + len, f->text + half, f->tlen - half);
    len += f->tlen - half;
    write_bytes(path, text, len);
    snprintf(cmd, sizeof cmd, "node dev/hf_check.js %s %s 2>&1", f->model, path);
    size_t outcap = 1 << 20;
    char* out = malloc_check(outcap);
    int rc = run_capture(cmd, out, outcap);
    JsonValue r;
    char err[512];
    int parsed = rc == 0 && json_parse(&r, out, strlen(out), err, sizeof err) == 0;
    size_t n = 0;
    int* ours = tok_encode_special(f->tok, text, len, &n);
    const JsonValue* ids = parsed ? json_get(&r, "ids") : NULL;
    size_t differ = ids ? (ids->len > n ? ids->len - n : n - ids->len) : n;
    for (size_t i = 0; ids && i < ids->len && i < n; i++) differ += ids->items[i].number != ours[i];
    check(ids && differ == 0 && json_get(&r, "roundtrip")->type == JSON_TRUE,
          "hf JS: @huggingface/tokenizers on our folder: %zu ids of text with <|endoftext|> x4, %zu differ from "
          "tok_encode_special, exact round trip %s", n, differ, parsed ? "" : out);
    long long eot = -2, bos = -2, eos = -2, gen = -2, pad = -2, maxlen = -2;
    if (parsed) {
        json_get_int(&r, "eot", &eot);
        json_get_int(&r, "config_bos", &bos);
        json_get_int(&r, "config_eos", &eos);
        json_get_int(&r, "gen_eos", &gen);
        json_get_int(&r, "gen_pad", &pad);
        json_get_int(&r, "model_max_length", &maxlen);
    }
    check(parsed && eot == tok_eot(f->tok) && json_get(&r, "eot_special")->type == JSON_TRUE && bos == eot &&
              eos == eot && gen == eot && pad == eot && maxlen == 16 && hf_is_string(&r, "eos_token", "<|endoftext|>"),
          "hf JS: <|endoftext|> is special id %lld there; config bos/eos %lld/%lld, generation eos/pad %lld/%lld, "
          "model_max_length %lld", eot, bos, eos, gen, pad, maxlen);
    if (parsed) json_free(&r);
    free(ours);
    free(out);
    free(text);
}

// ----------------------------------------------------------------------------
// safetensors written by hand: the hub's layout and dtypes

// IEEE half of a float that is exactly representable as a normal half or zero.
static uint16_t hf_half_exact(float x) {
    uint32_t b;
    memcpy(&b, &x, 4);
    if ((b & 0x7FFFFFFF) == 0) return (uint16_t)(b >> 16);
    uint32_t sign = b >> 31, e = (b >> 23) & 0xFF, m = b & 0x7FFFFF;
    return (uint16_t)(sign << 15 | (e - 112) << 10 | m >> 13);
}

typedef enum { HF_F32, HF_F16, HF_BF16 } HfDtype;

// Writes path as a safetensors file of m's parameters in hub gpt2's layout: unprefixed names in
// sorted order, with the h.N.attn.bias causal-mask buffers ([1, 1, T, T] F32) that the hub's file
// carries, parameters in dtype (F16/BF16 values must be exact). 0 or -1.
static int hf_write_hub_safetensors(const GPT* m, const char* path, HfDtype dtype) {
    const GPTConfig* c = &m->config;
    int L = c->num_layers, T = c->max_seq_len;
    int width = dtype == HF_F32 ? 4 : 2;
    static const char* dnames[] = {"F32", "F16", "BF16"};
    // entries: the parameters (i, l) and the L mask buffers (i = -1)
    int nent = 4 + 12 * L + L;
    char(*names)[96] = malloc_check((size_t)nent * sizeof *names);
    int* ti = malloc_check((size_t)nent * sizeof(int));
    int* tl = malloc_check((size_t)nent * sizeof(int));
    size_t (*shapes)[2] = malloc_check((size_t)nent * sizeof *shapes);
    int* nd = malloc_check((size_t)nent * sizeof(int));
    int k = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++)
        for (int l = 0; l < (gpt_is_layer_tensor(i) ? L : 1); l++, k++) {
            nd[k] = gpt_tensor_name(c, i, l, names[k], sizeof names[k], shapes[k]);
            ti[k] = i, tl[k] = l;
        }
    for (int l = 0; l < L; l++, k++) {
        snprintf(names[k], sizeof names[k], "h.%d.attn.bias", l);
        ti[k] = -1, tl[k] = l, nd[k] = 4, shapes[k][0] = shapes[k][1] = (size_t)T;
    }
    // sorted by name, as the hub's header is
    int* order = malloc_check((size_t)nent * sizeof(int));
    for (int a = 0; a < nent; a++) order[a] = a;
    for (int a = 1; a < nent; a++)
        for (int b = a; b > 0 && strcmp(names[order[b - 1]], names[order[b]]) > 0; b--) {
            int t = order[b];
            order[b] = order[b - 1], order[b - 1] = t;
        }
    char* hdr = malloc_check(64 * 1024);
    size_t hl = (size_t)sprintf(hdr, "{\"__metadata__\":{\"format\":\"pt\"}"), pos = 0;
    size_t* offs = malloc_check((size_t)nent * sizeof(size_t));
    for (int a = 0; a < nent; a++) {
        int e = order[a];
        size_t count = nd[e] == 4 ? (size_t)T * T : nd[e] == 2 ? shapes[e][0] * shapes[e][1] : shapes[e][0];
        size_t bytes = count * (ti[e] < 0 ? 4 : (size_t)width);
        offs[e] = pos;
        if (nd[e] == 4)
            hl += (size_t)sprintf(hdr + hl, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[1,1,%d,%d],\"data_offsets\":[%zu,%zu]}",
                                  names[e], T, T, pos, pos + bytes);
        else if (nd[e] == 2)
            hl += (size_t)sprintf(hdr + hl, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%zu,%zu],\"data_offsets\":[%zu,%zu]}",
                                  names[e], dnames[dtype], shapes[e][0], shapes[e][1], pos, pos + bytes);
        else
            hl += (size_t)sprintf(hdr + hl, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}",
                                  names[e], dnames[dtype], shapes[e][0], pos, pos + bytes);
        pos += bytes;
    }
    hl += (size_t)sprintf(hdr + hl, "}");
    FILE* out = fopen(path, "wb");
    int ok = out != NULL;
    unsigned char lenb[8];
    for (int b = 0; b < 8; b++) lenb[b] = (unsigned char)((uint64_t)hl >> (8 * b));
    ok = ok && fwrite(lenb, 1, 8, out) == 8 && fwrite(hdr, 1, hl, out) == hl;
    for (int a = 0; a < nent && ok; a++) {
        int e = order[a];
        if (ti[e] < 0) { // the causal mask: 1 on and below the diagonal
            for (int r = 0; r < T && ok; r++)
                for (int q = 0; q < T && ok; q++) {
                    float v = q <= r ? 1.0f : 0.0f;
                    ok = fwrite(&v, 4, 1, out) == 1;
                }
            continue;
        }
        size_t off = 0;
        for (int i = 0; i < ti[e]; i++) off += m->param_sizes[i];
        size_t count = nd[e] == 2 ? shapes[e][0] * shapes[e][1] : shapes[e][0];
        if (gpt_is_layer_tensor(ti[e])) off += (size_t)tl[e] * count;
        const float* src = m->params_memory + off;
        for (size_t j = 0; j < count && ok; j++) {
            uint32_t b;
            memcpy(&b, &src[j], 4);
            uint16_t h = dtype == HF_F16 ? hf_half_exact(src[j]) : (uint16_t)(b >> 16);
            ok = dtype == HF_F32 ? fwrite(&src[j], 4, 1, out) == 1 : fwrite(&h, 2, 1, out) == 1;
        }
    }
    if (out && fclose(out) != 0) ok = 0;
    free(names), free(ti), free(tl), free(shapes), free(nd), free(order), free(hdr), free(offs);
    return ok ? 0 : -1;
}

// The hub gpt2's config.json for shape c (its extra fields included: dropout 0.1, the summary_*
// fields of the double-heads model, task_specific_params).
static int hf_write_hub_config(const char* path, const GPTConfig* c, int eot) {
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "{\n  \"activation_function\": \"gelu_new\",\n  \"architectures\": [\"GPT2LMHeadModel\"],\n"
                     "  \"attn_pdrop\": 0.1,\n  \"bos_token_id\": %d,\n  \"embd_pdrop\": 0.1,\n  \"eos_token_id\": %d,\n"
                     "  \"initializer_range\": 0.02,\n  \"layer_norm_epsilon\": 1e-05,\n  \"model_type\": \"gpt2\",\n"
                     "  \"n_ctx\": %d,\n  \"n_embd\": %d,\n  \"n_head\": %d,\n  \"n_layer\": %d,\n  \"n_positions\": %d,\n"
                     "  \"resid_pdrop\": 0.1,\n  \"summary_activation\": null,\n  \"summary_first_dropout\": 0.1,\n"
                     "  \"summary_proj_to_labels\": true,\n  \"summary_type\": \"cls_index\",\n  \"summary_use_proj\": true,\n"
                     "  \"task_specific_params\": {\"text-generation\": {\"do_sample\": true, \"max_length\": 50}},\n"
                     "  \"vocab_size\": %d\n}\n",
                     eot, eot, c->max_seq_len, c->channels, c->num_heads, c->num_layers, c->max_seq_len, c->vocab_size);
    return write_bytes(path, text, (size_t)n);
}

// Max |logit difference| of two models on the same tokens (B1, T = 16).
static double hf_logit_diff(GPT* a, GPT* b, const int* toks) {
    size_t n = 16 * (size_t)a->config.vocab_size;
    gpt_forward(a, toks, NULL, 1, 16);
    float* la = malloc_check(n * sizeof(float));
    memcpy(la, a->acts.logits, n * sizeof(float));
    gpt_forward(b, toks, NULL, 1, 16);
    double d = max_abs_diff(la, b->acts.logits, n);
    free(la);
    return d;
}

// A folder as the hub's gpt2: config.json with the hub's fields, model.safetensors with unprefixed
// names and h.N.attn.bias buffers, vocab.json + merges.txt and no tokenizer.json. It loads to the
// same weights and ids; ./train --sample and --eval run on it.
static void hf_check_hub_folder(HfFixture* f) {
    char hub[128], path[300], tj[300], err[1024];
    snprintf(hub, sizeof hub, "%s/gpt2", f->dir);
    snprintf(tj, sizeof tj, "%s/tokenizer.json", f->model);
    int ok = make_dirs(hub, err, sizeof err) == 0;
    snprintf(path, sizeof path, "%s/config.json", hub);
    ok = ok && hf_write_hub_config(path, &f->m.config, tok_eot(f->tok)) == 0;
    snprintf(path, sizeof path, "%s/model.safetensors", hub);
    ok = ok && hf_write_hub_safetensors(&f->m, path, HF_F32) == 0;
    char vj[300], mt[300];
    snprintf(vj, sizeof vj, "%s/vocab.json", hub);
    snprintf(mt, sizeof mt, "%s/merges.txt", hub);
    ok = ok && tok_write_gpt2_files(tj, vj, mt) == 0;
    if (!ok) {
        check(0, "hf hub folder: could not write it in %s", hub);
        return;
    }
    GPT l;
    int rc = gpt_load(&l, hub, err, sizeof err);
    int toks[16];
    for (int i = 0; i < 16; i++) toks[i] = (i * 37 + 5) % f->m.config.vocab_size;
    double d = rc == 0 ? hf_logit_diff(&f->m, &l, toks) : -1.0;
    check(rc == 0 && d == 0.0, "hf hub folder: unprefixed names + h.N.attn.bias buffers + the hub's config load "
          "bit-exact (max logit diff %g) %s", d, rc ? err : "");
    if (rc == 0) gpt_free(&l);
    Tokenizer* t = tok_load_dir(hub, NULL, NULL, err, sizeof err);
    size_t na = 0, nb = 0, differ = 0;
    int* a = t ? tok_encode_special(t, f->text, f->tlen, &na) : NULL;
    int* b = tok_encode_special(f->tok, f->text, f->tlen, &nb);
    for (size_t i = 0; a && i < na && i < nb; i++) differ += a[i] != b[i];
    check(t && na == nb && differ == 0 && tok_eot(t) == tok_eot(f->tok),
          "hf hub folder: vocab.json + merges.txt (no tokenizer.json) load to the same %zu ids (%zu differ), eot %d %s",
          nb, differ, t ? tok_eot(t) : -1, t ? "" : err);
    free(a);
    free(b);
    tok_free(t);
    // the CLI on it: sample (greedy, twice the same) and evaluate
    char args[1024], out[8192];
    snprintf(args, sizeof args, "--sample --init %s --prompt 'Once upon' --temperature 0 --sample-len 8 --num-samples 2 "
             "--threads 1", hub);
    int src = train_cli(f->dir, args, err, sizeof err);
    snprintf(path, sizeof path, "%s/out.txt", f->dir);
    size_t ol = 0;
    char* o = slurp(path, &ol);
    snprintf(out, sizeof out, "%s", o ? o : "");
    free(o);
    const char* s1 = strstr(out, "---- sample 1/2\nOnce upon");
    const char* s2 = strstr(out, "---- sample 2/2\nOnce upon");
    int same = s1 && s2 && strncmp(s1 + 16, s2 + 16, (size_t)(s2 - s1) - 16) == 0;
    check(src == 0 && s1 && s2 && same, "hf hub folder: ./train --sample --init on it prints 2 greedy samples that start "
          "with the prompt and agree (exit %d) %s", src, err);
    char text_path[4096], eval_args[4400];
    if (!realpath("data/fixtures/tokenizer_text.txt", text_path)) snprintf(text_path, sizeof text_path, "missing");
    snprintf(eval_args, sizeof eval_args, "--eval --init %s --input %s --probe-every 0 --threads 1", hub, text_path);
    int erc = train_cli(f->dir, eval_args, err, sizeof err);
    o = slurp(path, &ol);
    double ce = NAN;
    const char* line = o ? strstr(o, "text       cross-entropy ") : NULL;
    if (line) ce = strtod(line + strlen("text       cross-entropy "), NULL);
    // an untrained model: near ln V
    check(erc == 0 && fabs(ce - log((double)f->m.config.vocab_size)) < 0.5,
          "hf hub folder: ./train --eval --init on it: exit %d, cross-entropy %.4f (an untrained model: ln V = %.4f) %s",
          erc, ce, log((double)f->m.config.vocab_size), err);
    free(o);
}

// F16 and BF16 weights load converted to F32: weights rounded to values both can hold exactly
// (multiples of 2^-6 in [-2, 2]) come back bit for bit; an infinity in F16 is refused.
static void hf_check_dtypes(HfFixture* f) {
    char dir[128], path[300], err[1024];
    GPT q;
    gpt_build(&q, f->m.config, 7);
    for (size_t i = 0; i < q.num_parameters; i++) {
        float v = roundf(q.params_memory[i] * 64.0f) / 64.0f;
        q.params_memory[i] = fminf(2.0f, fmaxf(-2.0f, v));
    }
    static const char* names[] = {"F32", "F16", "BF16"};
    for (int d = HF_F16; d <= HF_BF16; d++) {
        snprintf(dir, sizeof dir, "%s/%s", f->dir, names[d]);
        int ok = make_dirs(dir, err, sizeof err) == 0;
        snprintf(path, sizeof path, "%s/config.json", dir);
        ok = ok && hf_write_hub_config(path, &q.config, tok_eot(f->tok)) == 0;
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        ok = ok && hf_write_hub_safetensors(&q, path, (HfDtype)d) == 0;
        GPT l;
        int rc = ok ? gpt_load(&l, dir, err, sizeof err) : -1;
        size_t differ = 0;
        for (size_t i = 0; rc == 0 && i < q.num_parameters; i++)
            differ += memcmp(&l.params_memory[i], &q.params_memory[i], 4) != 0;
        check(rc == 0 && differ == 0, "hf dtypes: a %s model.safetensors loads as F32, %zu of %zu values differ %s",
              names[d], differ, q.num_parameters, rc ? err : "");
        if (rc == 0) gpt_free(&l);
    }
    // an F16 infinity: the half 0x7C00 where wte[0][0] is (the first tensor in sorted order is h.0.attn.bias)
    snprintf(path, sizeof path, "%s/F16/model.safetensors", f->dir);
    size_t len = 0;
    char* st = read_file(path, &len, err, sizeof err);
    char* at = st ? strstr(st + 8, "\"wte.weight\":{\"dtype\":\"F16\"") : NULL;
    char* offs = at ? strstr(at, "data_offsets\":[") : NULL;
    if (offs) {
        uint64_t hl = 0;
        for (int b = 0; b < 8; b++) hl |= (uint64_t)(unsigned char)st[b] << (8 * b);
        size_t begin = (size_t)strtoull(offs + strlen("data_offsets\":["), NULL, 10);
        st[8 + hl + begin] = 0x00, st[8 + hl + begin + 1] = 0x7C;
        write_bytes(path, st, len);
        snprintf(dir, sizeof dir, "%s/F16", f->dir);
        GPT l;
        int rc = gpt_load(&l, dir, err, sizeof err);
        check(rc != 0 && strstr(err, "non-finite") && strstr(err, "wte.weight"), "hf dtypes: an F16 infinity is "
              "refused: \"%s\"", rc ? err : "(loaded!)");
        if (rc == 0) gpt_free(&l);
    } else {
        check(0, "hf dtypes: no wte.weight entry in %s", path);
    }
    free(st);
    gpt_free(&q);
}

// json (config.json as gpt_save writes it: one member a line) without the member named key, into
// out (n bytes): the line is dropped, and the comma before it too when it was the last member.
static void hf_without_member(const char* json, const char* key, char* out, size_t n) {
    char needle[128];
    snprintf(needle, sizeof needle, "\"%s\":", key);
    const char* at = strstr(json, needle);
    if (!at) {
        snprintf(out, n, "%s", json);
        return;
    }
    const char* start = at;
    while (start > json && start[-1] != '\n') start--;
    const char* end = strchr(at, '\n');
    end = end ? end + 1 : at + strlen(at);
    int last = end - start < 2 || end[-2] != ',';
    size_t head = (size_t)(start - json);
    if (last) // the member before becomes the last: drop its comma
        while (head > 0 && json[head - 1] != ',') head--;
    snprintf(out, n, "%.*s%s%s", (int)(last && head ? head - 1 : head), json, last && head ? "\n" : "", end);
}

// Configs asking for what this GPT does not compute are refused, the field named in the error.
static void hf_check_refusals(HfFixture* f) {
    static const struct {
        const char *field, *value;
    } cases[] = {
        {"scale_attn_by_inverse_layer_idx", "true"}, {"reorder_and_upcast_attn", "true"},
        {"activation_function", "\"relu\""},         {"model_type", "\"llama\""},
        {"scale_attn_weights", "false"},             {"n_inner", "100"},
        {"tie_word_embeddings", "false"},            {"layer_norm_epsilon", "1e-06"},
    };
    char path[300], err[1024], cfg[2048];
    snprintf(path, sizeof path, "%s/config.json", f->model);
    size_t len = 0;
    char* good = read_file(path, &len, err, sizeof err);
    if (!good) {
        check(0, "hf refusals: %s", err);
        return;
    }
    int refused = 0;
    char example[1024] = "";
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        // the field replaced (a repeated key is refused as such, before any field is looked at)
        char rest[1024];
        hf_without_member(good, cases[k].field, rest, sizeof rest);
        int n = snprintf(cfg, sizeof cfg, "{\"%s\": %s,%s", cases[k].field, cases[k].value, rest + 1);
        write_bytes(path, cfg, (size_t)n);
        GPT l;
        int rc = gpt_load(&l, f->model, err, sizeof err);
        int named = rc != 0 && strstr(err, cases[k].field) && strstr(err, "not supported");
        refused += named;
        if (k == 0) snprintf(example, sizeof example, "%s", err);
        if (!named) printf("     %s = %s: %s\n", cases[k].field, cases[k].value, rc ? err : "(loaded!)");
        if (rc == 0) gpt_free(&l);
    }
    write_bytes(path, good, len);
    check(refused == (int)(sizeof cases / sizeof cases[0]), "hf refusals: %d of %zu unsupported config fields refused "
          "with the field named, e.g. \"%s\"", refused, sizeof cases / sizeof cases[0], example);
    free(good);
}

void test_hf(void) {
    HfFixture f;
    memset(&f, 0, sizeof f);
    if (hf_fixture(&f) != 0) {
        check(0, "hf: could not build the fixture folder in %s", f.dir);
    } else {
        hf_check_files(&f);
        hf_check_special(&f);
        hf_check_js(&f);
        hf_check_hub_folder(&f);
        hf_check_dtypes(&f);
        hf_check_refusals(&f);
        gpt_free(&f.m);
    }
    tok_free(f.tok);
    free(f.text);
    if (f.dir[0] == '/' && strstr(f.dir, "XXXXXX") == NULL) rm_tree(f.dir);
}
