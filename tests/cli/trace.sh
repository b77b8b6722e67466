#!/bin/sh
# ctrace trace end to end on the hf-tiny gpt2 fixture: the printed clean and
# corrupted scores are ROME's (tests/fixtures/MANIFEST.md: 0.277139425 and
# 0.272158176), --kind all writes three files, both flag forms work, and bad
# input fails with a one-line message and no output file.
BIN=${CTRACE_BIN:-build/ctrace}
M=${CTRACE_FIXTURES:-build/fixtures}/hf-tiny/gpt2
[ -f "$M/config.json" ] || { echo "FAIL: fixture $M missing (make fixtures)"; echo "trace.sh: 0 checks passed, 1 failed"; exit 1; }
IDS=1,200,13,77,511,0,5,5,42,300,128,9,77,401,256,33,2,460,101
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail=0; n=0
ok() { n=$((n + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

out=$("$BIN" trace --model_name "$M" --token_ids $IDS --target 5:9 --answer_ids 492 --kind hidden \
      --samples 3 --window=4 --threads 1 --out "$D/a.bin" 2>"$D/err") || bad "trace exited $?: $(cat "$D/err")"
echo "$out" | grep -q "high 0.277139, low 0.272158" && ok || bad "scores not ROME's: $out"
[ -s "$D/a.bin" ] && ok || bad "no case file"

"$BIN" trace --model_name="$M" --token_ids=$IDS --target=5:9 --answer_ids=492 --kind=all --samples=3 --window=4 \
      --engine=naive --threads=1 --out="$D/b.bin" >/dev/null 2>"$D/err" || bad "--kind all exited $?: $(cat "$D/err")"
for k in hidden mlp attention; do [ -s "$D/b.$k.bin" ] && ok || bad "no b.$k.bin"; done
[ -e "$D/b.head.bin" ] && bad "--kind all wrote a head trace" || ok

# --kind head: one layer per cell, [T, L, H] = [19, 4, 4] cells, the same clean/corrupted scores
out=$("$BIN" trace --model_name "$M" --token_ids $IDS --target 5:9 --answer_ids 492 --kind head \
      --samples 3 --threads 1 --out "$D/h.bin" 2>"$D/err") || bad "--kind head exited $?: $(cat "$D/err")"
echo "$out" | grep -q "head, T=19 L=4 H=4 S=3, high 0.277139, low 0.272158" && ok || bad "head trace: $out"
grep -aq '"ie":{"dtype":"F32","shape":\[19,4,4\]' "$D/h.bin" && ok || bad "head case file's ie is not [19, 4, 4]"
out=$("$BIN" plot "$D/h.bin" --out "$D/h.png" 2>"$D/err") && [ -s "$D/h.png" ] && [ "$out" = "$D/h.png" ] && ok \
    || bad "plot of a head trace: $out $(cat "$D/err")"

expect_fail() {   # expect_fail "message part" args...
    msg=$1; shift
    if "$BIN" trace "$@" >/dev/null 2>"$D/err"; then bad "succeeded: $*"; return; fi
    grep -q "^ctrace: .*$msg" "$D/err" && [ "$(wc -l <"$D/err")" -eq 1 ] && ok || bad "message for '$*': $(cat "$D/err")"
}
expect_fail "needs --token_ids or --prompt" --model_name "$M" --target 5:9 --answer_ids 492 --out "$D/c.bin"
# hf-tiny has no tokenizer.json: --prompt must say so
expect_fail "tokenizer.json" --model_name "$M" --prompt "hello" --target 5:9 --answer_ids 492 --out "$D/c.bin"
expect_fail "not both" --model_name "$M" --token_ids $IDS --prompt "x" --target 5:9 --answer_ids 492 --out "$D/c.bin"
expect_fail "outside the prompt" --model_name "$M" --token_ids $IDS --target 9:25 --answer_ids 492 --out "$D/c.bin"
expect_fail "empty" --model_name "$M" --token_ids $IDS --target 9:5 --answer_ids 492 --out "$D/c.bin"
expect_fail "B:E" --model_name "$M" --token_ids $IDS --target 5-9 --answer_ids 492 --out "$D/c.bin"
expect_fail "vocabulary" --model_name "$M" --token_ids $IDS --target 5:9 --answer_ids 99999 --out "$D/c.bin"
expect_fail "kind" --model_name "$M" --token_ids $IDS --target 5:9 --answer_ids 492 --kind foo --out "$D/c.bin"
expect_fail "noise_level" --model_name "$M" --token_ids $IDS --target 5:9 --answer_ids 492 --noise_level x1 --out "$D/c.bin"
expect_fail "logratio" --model_name "$M" --token_ids $IDS --target 5:9 --answer_ids 492 --metric logratio --out "$D/c.bin"
expect_fail "unknown flag" --model_name "$M" --token_ids $IDS --target 5:9 --answer_ids 492 --bogus 1 --out "$D/c.bin"
[ -e "$D/c.bin" ] && bad "a failed run left $D/c.bin" || ok
ls "$D" | grep -q tmp && bad "temporary file left: $(ls "$D")" || ok

echo "trace.sh: $n checks passed, $fail failed"
[ "$fail" -eq 0 ]
