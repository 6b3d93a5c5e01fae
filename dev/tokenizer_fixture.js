// tokenizer_fixture.js: writes the committed tokenizer fixtures (run by dev/tokenizer_fixture.sh).
//
//   data/fixtures/tokenizer_text.txt       ~12 kB of varied text: accents, Greek, Cyrillic, CJK,
//                                          Hangul, Arabic, Hebrew, Devanagari (combining marks),
//                                          emoji (ZWJ, skin tones), numbers in several scripts,
//                                          contractions, runs of spaces/tabs/newlines, NBSP...
//   data/fixtures/tokenizer_gpt2_ids.txt   GPT-2's ids for it from gpt-3-encoder (one per line)
//   data/fixtures/tokenizer_small_ids.txt  ids that @huggingface/tokenizers gives for the text with
//                                          data/fixtures/tokenizer_small.json (a tokenizer trained
//                                          by our C code, path given as argv[2])
//
// gpt-3-encoder is itself checked against @huggingface/tokenizers running GPT-2's vocabulary
// (built here as a tokenizer.json), so a quirk of either shows up as a disagreement.
//
// Characters avoided in the text because references disagree on them: U+0085 and U+FEFF (\s in
// JavaScript includes U+FEFF but not U+0085; Unicode White_Space, which GPT-2's Python regex and
// our C code use, is the other way round), U+001C..U+001F (Python's str.isspace() counts them),
// code points assigned after Unicode 15.0 (our table's version), and "<|endoftext|>" (special
// in tokenizer.json).
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");
const fixtures = path.join(root, "data", "fixtures");

const pieces = [
  "It's a truth universally acknowledged, they'd say, that we've all heard it; I'm sure you'll agree it isn't new.",
  "Don't panic! DON'T PANIC. She's here, he's there, and they're everywhere: rock'n'roll, o'clock, y'all'd've.",
  "Le cœur a ses raisons que la raison ne connaît point. Où est la bibliothèque ? À bientôt, naïve façade, déjà vu.",
  "Größenwahn auf der Straße: übermäßig schöne Bäume, Äpfel und Öl. Fußgänger überqueren die Brücke.",
  "¿Dónde está el niño? ¡Olé! Mañana será otro día, señor Muñoz; la acción comenzó a las 9:45.",
  "Καλημέρα κόσμε! Η γλώσσα είναι ελληνική, και ο λόγος σου ρέει σαν νερό.",
  "Съешь же ещё этих мягких французских булок, да выпей чаю. Москва — столица; Ёлка и ёжик.",
  "我能吞下玻璃而不伤身体。今天天气很好，我们去公园散步吧！",
  "日本語のテキスト：ひらがなとカタカナ、そして漢字。東京タワーは333メートルです。",
  "한국어 문장도 있습니다. 안녕하세요, 세계! 서울의 인구는 약 9,700,000명입니다.",
  "مرحبا بالعالم، هذه جملة عربية مع أرقام ٣٤٥ و 678.",
  "שלום עולם, זה משפט בעברית עם מספרים 2024.",
  "नमस्ते दुनिया, यह हिन्दी का वाक्य है और संख्या ४२ है।",
  "Emoji time 🙂 👍🏽 🚀✨ and a family 👨‍👩‍👧 plus flags 🇫🇷🇯🇵; hearts ❤️💙💚!!",
  "Numbers: 3.14159, 2,718,281, 1e-9, -42, 0x1F, 007, 1234567890, ½ ¾ ² ³, Ⅻ, ⅷ, ①②③, ９８７.",
  "Code: for (int i = 0; i < n; i++) { x[i] += y[i] * 2; } // done\n    return x;",
  "Paths like /usr/share/unicode/UnicodeData.txt and URLs https://example.org/a?b=c&d=e#f.",
  "Mixed scripts: naïveテスト123abc, Δx=5m, αβγ123, ЖЖЖ!!!, 東京2020, Ω≈ç√∫.",
  "Quotes: “curly” ‘single’ «guillemets» „German“ — dashes – and… ellipses; it’s (curly apostrophe).",
  "Spaces\u00a0non-breaking, thin\u2009space, em\u2003space, ideographic\u3000space, narrow\u202fno-break.",
  "Tabs\tand\t\ttabs, trailing spaces   \nnew lines\n\n\nthree of them, then   four spaces    end.",
  "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX! the quick... brown? fox;",
  "Math: ∀x∈ℝ, x² ≥ 0; ∑ᵢ aᵢ = ∞? 2+2=4, 10/3≈3.333, 5% of $1,000.00 is $50.",
  "Vietnamese: Tiếng Việt có dấu, ngày mai trời sẽ nắng. Thai: ภาษาไทยง่ายนิดเดียว.",
  "Shakespeare: To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer.",
  "Symbols @#$%^&*()_+-=[]{}|;:',.<>/?`~ and backslash \\ and quote \" mixed in.",
  // words longer than 64 bytes (tokenizer.c's other BPE path): a compound, CJK without punctuation,
  // a letter run, long runs of punctuation and of spaces
  "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft ist lang.",
  "我们今天在图书馆里读了很多关于历史和文化的书籍然后一起去吃饭再回家休息明天继续学习新的知识",
  "a" + "ab".repeat(60) + " " + "z".repeat(150) + " " + "!?".repeat(50) + " " + " ".repeat(120) + "end",
];
const seps = [" ", "  ", "\n", "\n\n", "\t", " \n", "   ", "\n  ", ". ", "\r\n", " \u00a0"];

// Deterministic LCG so the text is reproducible.
let state = 12345;
function rnd(n) {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state % n;
}

function buildText() {
  let out = pieces.join("\n") + "\n";
  while (Buffer.byteLength(out, "utf8") < 12000) {
    out += pieces[rnd(pieces.length)] + seps[rnd(seps.length)];
  }
  return out + "\n  \n";
}

function writeIds(file, ids) {
  fs.writeFileSync(file, ids.join("\n") + "\n");
}

async function main() {
  const enc = require("gpt-3-encoder");
  const { Tokenizer } = await import("@huggingface/tokenizers");
  fs.mkdirSync(fixtures, { recursive: true });
  const text = buildText();
  fs.writeFileSync(path.join(fixtures, "tokenizer_text.txt"), text);

  // GPT-2 ids from gpt-3-encoder, and the same vocabulary run by @huggingface/tokenizers
  const ids = enc.encode(text);
  if (enc.decode(ids) !== text) throw new Error("gpt-3-encoder does not round-trip the fixture text");
  const gdir = path.join(__dirname, "node_modules", "gpt-3-encoder");
  const encoder = JSON.parse(fs.readFileSync(path.join(gdir, "encoder.json"), "utf8"));
  const merges = fs.readFileSync(path.join(gdir, "vocab.bpe"), "utf8").split("\n").slice(1).filter((l) => l.length);
  const gpt2Json = {
    version: "1.0",
    added_tokens: [{ id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false,
                     normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
             fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: encoder, merges: merges },
  };
  const hfGpt2 = new Tokenizer(gpt2Json, {});
  const hfIds = hfGpt2.encode(text, { add_special_tokens: false }).ids;
  let firstDiff = -1;
  for (let i = 0; i < Math.max(ids.length, hfIds.length); i++) {
    if (ids[i] !== hfIds[i]) { firstDiff = i; break; }
  }
  if (firstDiff >= 0) {
    throw new Error(`gpt-3-encoder and @huggingface/tokenizers disagree on GPT-2 ids at token ${firstDiff}: ` +
                    `${ids.slice(firstDiff, firstDiff + 5)} vs ${hfIds.slice(firstDiff, firstDiff + 5)}`);
  }
  writeIds(path.join(fixtures, "tokenizer_gpt2_ids.txt"), ids);
  console.log(`tokenizer_text.txt: ${Buffer.byteLength(text)} bytes; GPT-2: ${ids.length} tokens ` +
              `(gpt-3-encoder == @huggingface/tokenizers)`);

  // our tokenizer.json, read by @huggingface/tokenizers
  const small = process.argv[2];
  if (small) {
    const tj = JSON.parse(fs.readFileSync(small, "utf8"));
    const hf = new Tokenizer(tj, {});
    const sids = hf.encode(text, { add_special_tokens: false }).ids;
    if (hf.decode(sids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) !== text)
      throw new Error("@huggingface/tokenizers does not round-trip the text with " + small);
    writeIds(path.join(fixtures, "tokenizer_small_ids.txt"), sids);
    console.log(`tokenizer_small_ids.txt: ${sids.length} tokens from ${path.basename(small)}`);
  }
}

main().catch((e) => {
  console.error("error: " + e.message);
  process.exit(1);
});
