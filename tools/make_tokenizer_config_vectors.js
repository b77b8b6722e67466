#!/usr/bin/env node
// make_tokenizer_config_vectors.js — dev tool (not used by `make test`): the
// pipeline components that no shipped tokenizer uses (Lowercase, NFD/NFKC,
// Strip, Replace-by-regex, Split behaviors and invert, Digits, Whitespace,
// WhitespaceSplit, Metaspace split/always, added-token lstrip/rstrip/
// single_word/normalized, unk + fuse_unk without byte fallback, ByteLevel
// trim_offsets/add_prefix_space), checked against Hugging Face tokenizers.
// Each config is a real tokenizer.json (GPT-2 or Llama 2) with some fields
// replaced; tests/test_tokenizer_configs.c applies the same patch.
//
//   NODE_PATH=/tmp/node_modules node tools/make_tokenizer_config_vectors.js [SHARED_DIR [OUT_FILE [N_RANDOM]]]
// writes tests/fixtures/tokenizer/configs.jsonl: one {"config", "base", "patch"}
// line per config, then {"config", "text", "add_special", "ids", "offsets"
// (bytes), "decoded", "decoded_skip"} lines.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const shared = process.argv[2] || path.join(__dirname, '..', '..', 'shared');
// Optional: OUT_FILE and a count of extra random strings (seeded), for differential runs.
const outFile = process.argv[3] || path.join(__dirname, '..', 'tests', 'fixtures', 'tokenizer', 'configs.jsonl');
const nRandom = parseInt(process.argv[4] || '0', 10);
let seed = 99;
function rnd() { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 4294967296; }
const RPIECES = [' ', '  ', '\n', '\t', 'a', 'Hello', 'WORLD', 'hello', ' and', '[MASK]', 'Zürich', 'ß', 'İ', 'ﬁ', '12', '345', '①',
  '.', '-', '...', '(', '$', '東京', 'Москва', '\u0301', 'e\u0301', 'A\u030a', 'h\u0308\u0301', '😀', '<s>', '</s>', '<unk>',
  '\u2581', '\u00a0', '\u3000', 'ＦＵＬＬ', "'s", 'aeiou'];
function randomText() { let s = ''; const k = 1 + Math.floor(rnd() * 10); for (let i = 0; i < k; i++) s += RPIECES[Math.floor(rnd() * RPIECES.length)]; return s; }
const BASES = {
  gpt2: 'assets/tokenizers/hf/gpt2/tokenizer.json',
  llama2: 'assets/tokenizers/hf/llama2/tokenizer.json',
};
const BL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false };
const seq = (...p) => ({ type: 'Sequence', pretokenizers: [...p, BL] });
const split = (pattern, behavior, invert = false) => ({ type: 'Split', pattern, behavior, invert });
const added = (id, content, o) => Object.assign({ id, content, single_word: false, lstrip: false, rstrip: false,
                                                  normalized: false, special: false }, o);

const CONFIGS = [
  { config: 'lower-nfkc-split-removed', base: 'gpt2', patch: {
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
      pre_tokenizer: seq(split({ Regex: '\\s+' }, 'Removed')) } },
  { config: 'nfd-strip-merged-prev', base: 'gpt2', patch: {
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'Strip', strip_left: true, strip_right: true }] },
      pre_tokenizer: seq(split({ String: ' ' }, 'MergedWithPrevious')) } },
  { config: 'punct-merged-next-digits', base: 'gpt2', patch: {
      pre_tokenizer: seq(split({ Regex: '\\p{P}' }, 'MergedWithNext'), { type: 'Digits', individual_digits: false }) } },
  { config: 'vowels-contiguous-invert-digits1', base: 'gpt2', patch: {
      pre_tokenizer: seq(split({ Regex: '[aeiou]' }, 'Contiguous', true), { type: 'Digits', individual_digits: true }) } },
  { config: 'whitespace', base: 'gpt2', patch: { pre_tokenizer: seq({ type: 'Whitespace' }) } },
  { config: 'whitespace-split-replace', base: 'gpt2', patch: {
      normalizer: { type: 'Replace', pattern: { Regex: '[0-9]+' }, content: '#' },
      pre_tokenizer: seq({ type: 'WhitespaceSplit' }) } },
  { config: 'bytelevel-prefix-trim', base: 'gpt2', patch: {
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true } } },
  { config: 'added-strip-single-word', base: 'gpt2', patch: {
      normalizer: { type: 'Lowercase' },
      post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      added_tokens_extra: [
        added(50257, '[MASK]', { lstrip: true, rstrip: true, special: true }),
        added(50258, 'hello', { single_word: true, normalized: true }),
        added(50259, 'WORLD', { normalized: true }),
        added(50260, ' and', { normalized: false, rstrip: true }),
      ] } },
  { config: 'metaspace-split-always', base: 'llama2', patch: {
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
      decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true } } },
  { config: 'falcon-punct-digits', base: 'gpt2', patch: {
      pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Punctuation', behavior: 'Contiguous' },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
        { type: 'Digits', individual_digits: false },
        split({ Regex: '[0-9][0-9][0-9]' }, 'Isolated')] } } },
  { config: 'bert-pretok-strip-accents', base: 'gpt2', patch: {
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }] },
      pre_tokenizer: seq({ type: 'BertPreTokenizer' }) } },
  { config: 'unk-fuse-no-fallback', base: 'llama2', patch: { model: { byte_fallback: false, fuse_unk: true } } },
  { config: 'template-bos-eos', base: 'llama2', patch: {
      post_processor: { type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
        pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } } } } },
];

const TEXTS = [
  'Hello world', '  Hello   World  ', 'HELLO, World! hello-world', 'say hello [MASK] to the WORLD and more',
  'x [MASK]y', 'helloworld hello', 'Zürich and São Paulo', 'Cafe\u0301 ﬁne ①②', 'ＦＵＬＬ width', '東京 😀 ok',
  'a1b22c333d4444', 'v2.0.1-rc3; (yes).', 'tabs\tand\nnewlines\r\n', '', ' ', 'aeiou xyz', "don't stop",
  'and and', '...', 'a--b!!c ¿qué? «x» 12345678 $5+3=8', 'Ünïcödé àccents ñ', 'C: Juan was written in the Spanish language. Q: The language Juan was written in is A:',
];

function byteIndex(text) {
  const idx = [0];
  let b = 0;
  for (const ch of text) { b += Buffer.byteLength(ch, 'utf8'); idx.push(b); }
  return idx;
}

function build(base, patch) {
  const j = JSON.parse(fs.readFileSync(path.join(shared, BASES[base]), 'utf8'));
  for (const [k, v] of Object.entries(patch)) {
    if (k === 'model') Object.assign(j.model, v);
    else if (k === 'added_tokens_extra') j.added_tokens = j.added_tokens.concat(v);
    else j[k] = v;
  }
  return j;
}

(async () => {
  const lines = [];
  const tmp = path.join(os.tmpdir(), `tok-config-${process.pid}.json`);
  for (const c of CONFIGS) {
    fs.writeFileSync(tmp, JSON.stringify(build(c.base, c.patch)));
    const tok = Tokenizer.fromFile(tmp);
    lines.push(JSON.stringify(c));
    const extra = [];
    for (let i = 0; i < nRandom; i++) extra.push(randomText());
    for (const text of TEXTS.concat(extra)) {
      const bi = byteIndex(text);
      for (const addSpecial of [false, true]) {
        const enc = await tok.encode(text, null, { addSpecialTokens: addSpecial });
        const ids = enc.getIds();
        lines.push(JSON.stringify({ config: c.config, text, add_special: addSpecial, ids, tokens: enc.getTokens(),
          offsets: enc.getOffsets().map(([s, e]) => [bi[s], bi[e]]),
          decoded: await tok.decode(ids, false), decoded_skip: await tok.decode(ids, true) }));
      }
    }
  }
  fs.unlinkSync(tmp);
  fs.writeFileSync(outFile, lines.join('\n') + '\n');
  console.log(`${CONFIGS.length} configs, ${lines.length - CONFIGS.length} encodings -> ${outFile}`);
})();
