#!/usr/bin/env node
// make_tokenizer_vectors.js — dev tool (not used by `make test`): writes the
// expected encodings of tests/fixtures/tokenizer/*.jsonl with Hugging Face's
// own `tokenizers` library (Node binding, Rust core).
//
//   cd /tmp && npm install tokenizers
//   NODE_PATH=/tmp/node_modules node tools/make_tokenizer_vectors.js [SHARED_DIR]
//
// HF's Node binding reports offsets in chars (Unicode code points); ctrace uses
// byte offsets, so every offset is converted here through the UTF-8 length of
// each code point.  One line per (text, add_special_tokens):
//   {"text", "add_special", "ids", "tokens", "offsets" (bytes), "decoded", "decoded_skip"}
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const shared = process.argv[2] || path.join(__dirname, '..', '..', 'shared');
const outDir = path.join(__dirname, '..', 'tests', 'fixtures', 'tokenizer');

const TOKENIZERS = {
  'gpt2': 'assets/tokenizers/hf/gpt2/tokenizer.json',
  'gpt-neox-20b': 'assets/tokenizers/hf/gpt-neox-20b/tokenizer.json',
  'llama2': 'assets/tokenizers/hf/llama2/tokenizer.json',
  'mistral-7b-v0.1': 'assets/tokenizers/hf/mistral-7b-v0.1/tokenizer.json',
  'llama3': 'assets/tokenizers/hf/llama3/tokenizer.json',
  'qwen2.5': 'assets/tokenizers/hf/qwen2.5/tokenizer.json',
};

// Hand-written strings: what a causal-tracing prompt can hold, and the corners
// of the pipeline (normalizers, added tokens, byte fallback, offsets).
const HAND = [
  'Hello world', ' Hello world', 'Hello  world', '   three leading', 'trailing   ',
  'Zürich', 'São Paulo', 'Antonín Dvořák', 'Anders Ångström', 'Nguyễn Phú Trọng', 'Łódź',
  'François Hollande was born in Rouen.', 'Björk Guðmundsdóttir', 'Ὀδυσσεύς', 'Москва — столица России.',
  'Café', 'Cafe\u0301', 'e\u0301e\u0301', 'ﬁnance ① ㎏', 'Å vs A\u030a',
  '東京は日本の首都です。', '北京大学', '서울특별시', 'こんにちは世界', 'नमस्ते दुनिया', 'العربية', 'ព្រះរាជាណាចក្រកម្ពុជា',
  '👍', '👍🏽 ok', '👨‍👩‍👧‍👦 family', '🇫🇷🇩🇪', 'smile 😀😀', '∑ ∫ √ ∞',
  'a  b   c    d', '\n', '\n\n\n', 'line1\nline2\r\nline3', ' \t \n ', '\t\tindent', 'end.\n\n', '    ', 'x\u00a0y', 'u\u2028v', 'bell\u0007char',
  '3', '33', '333', '3333', '1234567890', '3.14159', 'In 1999, 1,000,000 people', 'v2.0.1-rc3', '٣٤٥ ١٢',
  "I'M here", "don't", "WE'LL see", "they've", "y'all", "O'Neill's",
  'def f(x):\n    return x**2\n', '{"key": [1, 2]}', 'https://example.com/a?b=c', 'C++ & C#',
  '<|endoftext|>', 'a<|endoftext|>b', '<s>Hello</s>', ' <s> x </s> ', '<|begin_of_text|>Hi<|eot_id|>',
  '<|im_start|>user\nHi<|im_end|>', '<tool_call>x</tool_call>', '<unk>', '<0x41>',
  '                        24 spaces', 'tab\tand  two', '\u3000ideographic space',
  'C: Juan was written in the Spanish language. Q: The language Juan was written in is A:',
  'C: Mount Stromlo is located in the country of Australia. The country where Mount Stromlo is located is',
  ' Spanish', ' United States of America', '',
];

function datasetStrings() {
  const dir = path.join(shared, 'assets/datasets/peq-both');
  const out = [];
  const files = fs.readdirSync(dir).filter(f => f.endsWith('.jsonl')).sort();
  for (const f of files) {
    const rows = fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l));
    const pick = [rows[0]];
    const nonAscii = rows.find(r => /[^\x00-\x7f]/.test(r.prompt_with_ctx));   // a diacritic/CJK entity
    if (nonAscii) pick.push(nonAscii);
    for (const r of pick) {
      const ctx = r.passages && r.passages[0] ? r.passages[0].text : '';
      out.push(r.prompt_with_ctx);
      out.push(`C: ${ctx} Q: ${r.prompt_wo_ctx} A:`);
      out.push(' ' + r.obj);
    }
  }
  return out;
}

// char (code point) offset -> byte offset table for text
function byteIndex(text) {
  const idx = [0];
  let b = 0;
  for (const ch of text) { b += Buffer.byteLength(ch, 'utf8'); idx.push(b); }
  return idx;
}

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const texts = HAND.concat(datasetStrings());
  for (const [name, rel] of Object.entries(TOKENIZERS)) {
    const tok = Tokenizer.fromFile(path.join(shared, rel));
    const lines = [];
    for (const text of texts) {
      const bi = byteIndex(text);
      for (const addSpecial of [false, true]) {
        const enc = await tok.encode(text, null, { addSpecialTokens: addSpecial });
        const ids = enc.getIds();
        const offsets = enc.getOffsets().map(([s, e]) => [bi[s], bi[e]]);
        const decoded = await tok.decode(ids, false);
        const decodedSkip = await tok.decode(ids, true);
        lines.push(JSON.stringify({ text, add_special: addSpecial, ids, tokens: enc.getTokens(), offsets,
                                    decoded, decoded_skip: decodedSkip }));
      }
    }
    fs.writeFileSync(path.join(outDir, name + '.jsonl'), lines.join('\n') + '\n');
    console.log(`${name}: ${lines.length} encodings`);
  }
})();
