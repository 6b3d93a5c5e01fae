// hf_check.js: reads a model folder as Hugging Face's tokenizers do (the JS port,
// @huggingface/tokenizers, installed by dev/tokenizer_fixture.sh) and prints what the C tests
// compare against (tests/hf.c):
//
//   node dev/hf_check.js DIR TEXT_FILE
//
// prints one line of JSON: the ids of the text (special tokens split out, as the tokenizers do by
// default), whether decoding them gives the text back, the id of <|endoftext|>, whether it is an
// added special token, and the eos/bos/unk tokens and model_max_length of DIR/tokenizer_config.json
// beside config.json's and generation_config.json's bos/eos ids.
"use strict";
const fs = require("fs");
const path = require("path");

async function main() {
  const [dir, textFile] = process.argv.slice(2);
  if (!dir || !textFile) throw new Error("usage: node dev/hf_check.js DIR TEXT_FILE");
  const { Tokenizer } = await import("@huggingface/tokenizers");
  const read = (name) => JSON.parse(fs.readFileSync(path.join(dir, name), "utf8"));
  const tcfg = read("tokenizer_config.json");
  const tok = new Tokenizer(read("tokenizer.json"), tcfg);
  const text = fs.readFileSync(textFile, "utf8");
  const ids = tok.encode(text, { add_special_tokens: false }).ids;
  const back = tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  const eot = tok.token_to_id("<|endoftext|>");
  const added = tok.get_added_tokens_decoder().get(eot);
  const cfg = read("config.json"), gen = read("generation_config.json"), map = read("special_tokens_map.json");
  console.log(JSON.stringify({
    ids, roundtrip: back === text, eot: eot === undefined ? -1 : eot, eot_special: !!(added && added.special),
    bos_token: tcfg.bos_token, eos_token: tcfg.eos_token, unk_token: tcfg.unk_token,
    map_eos: map.eos_token, model_max_length: tcfg.model_max_length,
    config_bos: cfg.bos_token_id, config_eos: cfg.eos_token_id, gen_eos: gen.eos_token_id, gen_pad: gen.pad_token_id,
    n_positions: cfg.n_positions,
  }));
}

main().catch((e) => {
  console.error("error: " + e.message);
  process.exit(1);
});
