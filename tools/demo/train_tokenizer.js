#!/usr/bin/env node
// Trains the demo model's byte-level BPE tokenizer (GPT-2 layout) with Hugging
// Face's `tokenizers` (the npm binding of the Rust library), then encodes the
// training corpus with it.  A dev tool, never needed to build or test ctrace.
//
//   cd /tmp && npm install tokenizers          # v0.23.2 was used
//   NODE_PATH=/tmp/node_modules node tools/demo/train_tokenizer.js \
//       build/demo models/demo 4096
//
// reads  build/demo/tokenizer_corpus.txt, build/demo/corpus.jsonl
// writes models/demo/tokenizer.json, models/demo/tokenizer_config.json,
//        build/demo/tokens.bin  (per example: int32 n, int32 loss_from_token,
//                                n × int32 ids)
// or, with `build/demo models/demo --encode corpus2.jsonl tokens2.bin`, only
// encodes another corpus with the existing tokenizer.
//
// The npm binding trains with the default BPE trainer only (no vocab-size or
// alphabet options), so this script trains without a limit and then keeps the
// first merges: BPE merges are ranked, and any prefix of the merge list is a
// valid, smaller BPE whose tokens are the 256 byte symbols plus one token per
// kept merge.  The vocab is laid out as ids 0-255 = the byte-level symbols of
// bytes 0-255, then one id per merge in rank order, then <|endoftext|> last.
"use strict";
const fs = require("fs");
const path = require("path");
const { Tokenizer, BPE, byteLevelPreTokenizer } = require("tokenizers");

const [workDir = "build/demo", modelDir = "models/demo", vocabArg = "4096", encIn, encOut] = process.argv.slice(2);
const VOCAB = parseInt(vocabArg, 10);
const EOS = "<|endoftext|>";

// GPT-2's reversible map from bytes to printable unicode symbols.
function bytesToUnicode() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); n++; }
  }
  const m = new Array(256);
  bs.forEach((b, i) => { m[b] = String.fromCodePoint(cs[i]); });
  return m;
}

async function main() {
  if (vocabArg === "--encode") {   // encode-only: an extra corpus with the existing tokenizer
    const tk = Tokenizer.fromFile(path.join(modelDir, "tokenizer.json"));
    await encodeCorpus(tk, tk.tokenToId(EOS), path.join(workDir, encIn), path.join(workDir, encOut));
    return;
  }
  fs.mkdirSync(modelDir, { recursive: true });
  const corpusTxt = path.join(workDir, "tokenizer_corpus.txt");

  // 1. Unlimited training, only to rank the merges.
  const trainer = new Tokenizer(BPE.empty());
  trainer.setPreTokenizer(byteLevelPreTokenizer(false, true));
  trainer.train([corpusTxt]);
  const trained = JSON.parse(saveAndRead(trainer));
  const merges = trained.model.merges.map((m) => (Array.isArray(m) ? m : m.split(" ")));

  // 2. The truncated GPT-2-style tokenizer.
  const byteSyms = bytesToUnicode();
  const vocab = {};
  byteSyms.forEach((s, i) => { vocab[s] = i; });
  const kept = [];
  for (const [a, b] of merges) {
    if (Object.keys(vocab).length >= VOCAB - 1) break;
    if (!(a in vocab) || !(b in vocab)) continue; // needs a symbol outside the kept alphabet
    if ((a + b) in vocab) continue;
    vocab[a + b] = Object.keys(vocab).length;
    kept.push([a, b]);
  }
  const eosId = Object.keys(vocab).length;
  vocab[EOS] = eosId;
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [{ id: eosId, content: EOS, single_word: false, lstrip: false, rstrip: false,
                     normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "",
             end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, ignore_merges: false,
             vocab, merges: kept },
  };
  // Round trip through the library so that the file is exactly as HF writes it.
  const tok = Tokenizer.fromString(JSON.stringify(tokJson));
  const outJson = path.join(modelDir, "tokenizer.json");
  tok.save(outJson, false);
  const cfg = {
    add_bos_token: false, add_eos_token: false, add_prefix_space: false,
    bos_token: EOS, eos_token: EOS, unk_token: EOS, model_max_length: 512,
    clean_up_tokenization_spaces: false, tokenizer_class: "GPT2Tokenizer",
  };
  fs.writeFileSync(path.join(modelDir, "tokenizer_config.json"), JSON.stringify(cfg, null, 2) + "\n");

  // 3. Encode the corpus with the saved file (what every user of it gets).
  const tk = Tokenizer.fromFile(outJson);
  await encodeCorpus(tk, eosId, path.join(workDir, "corpus.jsonl"), path.join(workDir, "tokens.bin"));
  console.log(`train_tokenizer: ${merges.length} merges trained, ${kept.length} kept, vocab ${eosId + 1}`);
}

async function encodeCorpus(tk, eosId, inPath, outPath) {
  const lines = fs.readFileSync(inPath, "utf8").split("\n").filter(Boolean);
  const chunks = [];
  let nTok = 0, maxLen = 0;
  const B = 2000;
  for (let i = 0; i < lines.length; i += B) {
    const rows = lines.slice(i, i + B).map((l) => JSON.parse(l));
    const encs = await tk.encodeBatch(rows.map((r) => r.text), { addSpecialTokens: false });
    encs.forEach((e, j) => {
      const ids = e.getIds();
      const offs = e.getOffsets();
      let lf = 0;
      if (rows[j].loss_from > 0) {
        lf = offs.findIndex((o) => o[1] > rows[j].loss_from);
        if (lf < 0) throw new Error(`example ${i + j}: no token after loss_from`);
      }
      const buf = new Int32Array(ids.length + 3);
      buf[0] = ids.length + 1; buf[1] = lf;
      buf.set(ids, 2);
      buf[ids.length + 2] = eosId; // every example ends with <|endoftext|>
      chunks.push(Buffer.from(buf.buffer));
      nTok += ids.length + 1; maxLen = Math.max(maxLen, ids.length + 1);
    });
  }
  fs.writeFileSync(outPath, Buffer.concat(chunks));
  console.log(`encode: ${inPath}: ${lines.length} examples, ${nTok} tokens (max ${maxLen}) -> ${outPath}`);
}

function saveAndRead(t) {
  const p = path.join(require("os").tmpdir(), `demo-tok-${process.pid}.json`);
  t.save(p, false);
  const s = fs.readFileSync(p, "utf8");
  fs.unlinkSync(p);
  return s;
}

main().catch((e) => { console.error(`train_tokenizer: ${e.message}`); process.exit(1); });
