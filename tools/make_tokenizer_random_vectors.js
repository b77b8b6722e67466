#!/usr/bin/env node
// make_tokenizer_random_vectors.js — dev tool (not used by `make test`):
// differential testing against Hugging Face tokenizers.  Makes N random
// strings (seeded) from a mix of scripts, whitespace runs, digits,
// punctuation, combining marks, emoji and added-token fragments, and writes
// HF's encodings in the fixture format of make_tokenizer_vectors.js.
//
//   NODE_PATH=/tmp/node_modules node tools/make_tokenizer_random_vectors.js SHARED OUTDIR N SEED
//   (OUTDIR = DIR/tokenizer/random in a copy DIR of build/fixtures)
//   CTRACE_FIXTURES=DIR build/tests/test_tokenizer_hf      # compares ctrace with them
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const [shared, outDir, nArg, seedArg] = process.argv.slice(2);
const N = parseInt(nArg || '1000', 10);
let seed = parseInt(seedArg || '1', 10) >>> 0;
function rnd() {            // xorshift32
  seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
}
const pick = a => a[Math.floor(rnd() * a.length)];

const PIECES = [
  ' ', '  ', '   ', '\n', '\n\n', '\t', '\r\n', ' \n ', '\u00a0', '\u3000', '\u2028',
  'a', 'e', 'Hello', 'world', 'THE', "'s", "'LL", "n't", 'ing', 'Zürich', 'São', 'Dvořák', 'ß', 'İ', 'ﬁ',
  '0', '7', '12', '345', '6789', '٣', '①', '½',
  '.', ',', '!', '?', '-', '--', '...', '(', ')', '"', "'", '$', '%', '&', '#', '@', '`', '~', '^', '|', '\\', '/',
  '東京', '日本語', '中', '서울', 'こんにちは', 'Москва', 'नमस्ते', 'العربية', 'ព្រះ', 'Ὀδυσσεύς',
  '\u0301', '\u0308', 'e\u0301', 'A\u030a', '\u200d', '\ufe0f',
  '😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '🤖',
  '<s>', '</s>', '<unk>', '<|endoftext|>', '<|begin_of_text|>', '<|im_start|>', '<|im_end|>', '<|eot_id|>', '<0x41>', '<|', '|>', '<',
  '\u2581', 'Ġ', 'Ċ', '\u0007', '\u001f', '\u007f', '\u0080', '\u00ad', '\ufffd', '\uffff', '𝔘', '\u{10ffff}',
];

function randomText() {
  const k = 1 + Math.floor(rnd() * 12);
  let s = '';
  for (let i = 0; i < k; i++) s += pick(PIECES);
  return s;
}

const TOKENIZERS = ['gpt2', 'gpt-neox-20b', 'llama2', 'mistral-7b-v0.1', 'llama3', 'qwen2.5'];

function byteIndex(text) {
  const idx = [0];
  let b = 0;
  for (const ch of text) { b += Buffer.byteLength(ch, 'utf8'); idx.push(b); }
  return idx;
}

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const texts = [];
  for (let i = 0; i < N; i++) texts.push(randomText());
  for (const name of TOKENIZERS) {
    const tok = Tokenizer.fromFile(path.join(shared, 'assets/tokenizers/hf', name, 'tokenizer.json'));
    const lines = [];
    for (const text of texts) {
      const bi = byteIndex(text);
      const addSpecial = rnd() < 0.5;
      const enc = await tok.encode(text, null, { addSpecialTokens: addSpecial });
      const ids = enc.getIds();
      lines.push(JSON.stringify({ text, add_special: addSpecial, ids, tokens: enc.getTokens(),
        offsets: enc.getOffsets().map(([s, e]) => [bi[s], bi[e]]),
        decoded: await tok.decode(ids, false), decoded_skip: await tok.decode(ids, true) }));
    }
    fs.writeFileSync(path.join(outDir, name + '.jsonl'), lines.join('\n') + '\n');
  }
  console.log(`${N} random strings x ${TOKENIZERS.length} tokenizers -> ${outDir}`);
})();
