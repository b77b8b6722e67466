#!/bin/sh
# tokenize.sh — `ctrace tokenize` / `ctrace detokenize` end to end.  Expected
# ids/tokens/offsets are Hugging Face tokenizers 0.23.2 output (copied from
# tests/fixtures/tokenizer/*.jsonl, which tools/make_tokenizer_vectors.js made).
B=${CTRACE_BIN:-build/ctrace}
T=${CTRACE_FIXTURES:-build/fixtures}/hf-tokenizers
[ -f "$T/gpt2/tokenizer.json" ] || { echo "FAIL: fixture $T/gpt2/tokenizer.json missing (make fixtures)"; echo "tokenize.sh: 0 passed, 1 failed"; exit 1; }
TMP=${TMPDIR:-/tmp}/ctrace-tokenize-$$
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
check() {  # name, got, want
    if [ "$2" = "$3" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); printf 'FAIL %s\n  got:  %s\n  want: %s\n' "$1" "$2" "$3"; fi
}
fails() {  # name, command...: must exit non-zero with one "ctrace: " line on stderr
    name=$1; shift
    if "$@" >"$TMP/out" 2>"$TMP/err"; then fail=$((fail + 1)); echo "FAIL $name: exit 0"; return; fi
    if grep -q '^ctrace: ' "$TMP/err"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $name: stderr: $(cat "$TMP/err")"; fi
}

check "llama3 Zürich (BOS)" "$($B tokenize --tokenizer "$T/llama3" --text 'Zürich')" \
  '{"ids":[128000,57,5297,718],"tokens":["<|begin_of_text|>","Z","Ã¼r","ich"],"offsets":[[0,0],[0,1],[1,4],[4,7]]}'
check "gpt2 Zürich, --flag=value" "$($B tokenize --tokenizer="$T/gpt2/tokenizer.json" --text=Zürich --add_special_tokens=1)" \
  '{"ids":[57,9116,7527],"tokens":["Z","Ã¼","rich"],"offsets":[[0,1],[1,3],[3,7]]}'
check "mistral --model_name" "$($B tokenize --model_name "$T/mistral-7b-v0.1" --text 'François Hollande was born in Rouen.')" \
  '{"ids":[1,21976,14767,5224,403,5381,297,17257,269,28723],"tokens":["<s>","▁François","▁Holl","ande","▁was","▁born","▁in","▁Rou","en","."],"offsets":[[0,0],[0,9],[9,14],[14,18],[18,22],[22,27],[27,30],[30,34],[34,36],[36,37]]}'
printf '%s\n' '{"text": "Zürich", "add_special_tokens": false}' '' '{"text": "Zürich"}' > "$TMP/in.jsonl"
check "qwen --input" "$($B tokenize --tokenizer "$T/qwen2.5" --input "$TMP/in.jsonl" | tr '\n' '|')" \
  '{"ids":[57,5186,713],"tokens":["Z","Ã¼r","ich"],"offsets":[[0,1],[1,4],[4,7]]}|{"ids":[57,5186,713],"tokens":["Z","Ã¼r","ich"],"offsets":[[0,1],[1,4],[4,7]]}|'
check "llama3 no specials" "$($B tokenize --tokenizer "$T/llama3" --text 'Zürich' --add_special_tokens 0)" \
  '{"ids":[57,5297,718],"tokens":["Z","Ã¼r","ich"],"offsets":[[0,1],[1,4],[4,7]]}'
check "detokenize mistral" "$($B detokenize --tokenizer "$T/mistral-7b-v0.1" --ids 1,21976,14767,5224,403,5381,297,17257,269,28723)" \
  '<s> François Hollande was born in Rouen.'
check "detokenize skip special" "$($B detokenize --tokenizer "$T/mistral-7b-v0.1" --ids 1,21976,14767,5224 --skip_special_tokens 1)" \
  'François Hollande'
printf '%s\n' '{"ids": [128000, 57, 5297, 718]}' > "$TMP/ids.jsonl"
check "detokenize --input" "$($B detokenize --tokenizer "$T/llama3" --input "$TMP/ids.jsonl")" '{"text":"<|begin_of_text|>Zürich"}'

fails "invalid UTF-8 text" $B tokenize --tokenizer "$T/gpt2" --text "$(printf 'ab\377')"
printf '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}' > "$TMP/bad-merge.json"
fails "merge not in vocab" $B tokenize --tokenizer "$TMP/bad-merge.json" --text a
printf '{"model": {"vocab": {' > "$TMP/trunc.json"
fails "truncated json" $B tokenize --tokenizer "$TMP/trunc.json" --text a
printf '{"model": {"type": "WordPiece", "vocab": {}}}' > "$TMP/wp.json"
fails "WordPiece refused" $B tokenize --tokenizer "$TMP/wp.json" --text a
fails "missing tokenizer" $B tokenize --tokenizer "$TMP/nope" --text a
fails "bad id" $B detokenize --tokenizer "$T/gpt2" --ids 99999999
fails "bad input row" sh -c "printf '{\"txt\": 1}\n' > '$TMP/x.jsonl'; $B tokenize --tokenizer '$T/gpt2' --input '$TMP/x.jsonl'"
fails "no text" $B tokenize --tokenizer "$T/gpt2"
printf '{"text": "ok"}\n{"text": "bad \377 byte"}\n' > "$TMP/badutf8.jsonl"
fails "invalid UTF-8 in an input row" $B tokenize --tokenizer "$T/gpt2" --input "$TMP/badutf8.jsonl"
grep -q 'badutf8.jsonl:2' "$TMP/err" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: error does not name row 2: $(cat "$TMP/err")"; }
printf '{"text": "lone \\udc00 surrogate"}\n' > "$TMP/surrogate.jsonl"
fails "lone surrogate escape" $B tokenize --tokenizer "$T/gpt2" --input "$TMP/surrogate.jsonl"
fails "unknown flag" $B tokenize --tokenizer "$T/gpt2" --text a --bogus 1
fails "bad add_special_tokens" $B tokenize --tokenizer "$T/gpt2" --text a --add_special_tokens maybe

echo "tokenize.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
