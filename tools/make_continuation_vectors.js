// Expected ids for tests/test_continuation.c, from Hugging Face tokenizers (npm).
// Usage: cd /tmp && npm install tokenizers; NODE_PATH=/tmp/node_modules node tools/make_continuation_vectors.js ../shared
// For each tokenizer: the ids of prompt + " " + answer after the prompt's own ids.
const { Tokenizer } = require("tokenizers");
const shared = process.argv[2] || "../shared";
const prompt = "C: Juan was written in the Spanish language. Q: The language Juan was written in is A:";
const words = ["Spanish", "Sveriges Radio", "Zürich"];
(async () => {
  for (const name of ["gpt2", "llama2", "llama3", "mistral-7b-v0.1", "qwen2.5", "gpt-neox-20b"]) {
    const tk = Tokenizer.fromFile(`${shared}/assets/tokenizers/hf/${name}/tokenizer.json`);
    const p = (await tk.encode(prompt)).getIds();
    for (const w of words) {
      const j = (await tk.encode(prompt + " " + w)).getIds();
      const prefix = p.every((v, i) => j[i] === v);
      console.log(JSON.stringify({ tokenizer: name, word: w, prefix, ids: j.slice(p.length) }));
    }
  }
})();
