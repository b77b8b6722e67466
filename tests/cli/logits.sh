#!/bin/sh
# `ctrace info` and `ctrace logits` from the command line: flags in both forms,
# the output file's tensors, and errors (one line naming the problem,
# non-zero exit, no output file).  Numeric agreement with transformers is
# checked by tests/test_cli_logits.c on the same binary.
BIN=${CTRACE_BIN:-build/ctrace}
FIX=${CTRACE_FIXTURES:-build/fixtures}/hf-tiny
[ -f "$FIX/gpt2/config.json" ] || { echo "FAIL: fixture $FIX/gpt2 missing (make fixtures)"; echo "logits.sh: 0 checks passed, 1 failed"; exit 1; }
T=$(mktemp -d /tmp/ctrace-cli-logits.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0; bad=0
ok() { n=$((n + 1)); }
fail() { n=$((n + 1)); bad=$((bad + 1)); echo "FAIL: $*"; }

# info shows the family's layout
for m in llama_gqa gpt2 gptj gpt_neox phi; do
    out=$("$BIN" info --model_name "$FIX/$m") || { fail "info $m exited non-zero"; continue; }
    echo "$out" | grep -q "^block:" && echo "$out" | grep -q "^rotary:" && ok || fail "info $m lacks block/rotary lines"
done
"$BIN" info --model_name="$FIX/gpt_neox" | grep -q "parallel: out = x + attn(norm1(x)) + mlp(norm2(x))" && ok || fail "neox layout"
"$BIN" info --model_name "$FIX/gptj" | grep -q "interleaved" && ok || fail "gptj rotary style"
"$BIN" info --model_name "$FIX/llama3_tied" | grep -q "llama3 scaling" && ok || fail "llama3 rope scaling shown"

# logits: both flag forms, header lists the two tensors with their shapes
"$BIN" logits --model_name "$FIX/llama_gqa" --token_ids 1,17,250 --out "$T/a.st" && ok || fail "logits (space form)"
"$BIN" logits --model_name="$FIX/llama_gqa" --token_ids=1,17,250 --out="$T/b.st" --threads=1 && ok || fail "logits (= form)"
cmp -s "$T/a.st" "$T/b.st" && ok || fail "1 and 2 threads give different files"
head -c 400 "$T/a.st" | grep -q '"logits":{"dtype":"F32","shape":\[3,512\]' && ok || fail "logits shape in header"
head -c 400 "$T/a.st" | grep -q '"resid":{"dtype":"F32","shape":\[5,3,64\]' && ok || fail "resid shape in header"

# errors: exit non-zero, one line "ctrace: ...", no output file
expect_err() {  # expect_err NEEDLE ARGS...
    needle=$1; shift
    rm -f "$T/out.st"
    if "$BIN" "$@" 2>"$T/err" >/dev/null; then fail "succeeded: $*"; return; fi
    [ "$(wc -l <"$T/err")" -eq 1 ] || { fail "not one line: $(cat "$T/err")"; return; }
    grep -q "^ctrace: .*$needle" "$T/err" || { fail "message lacks '$needle': $(cat "$T/err")"; return; }
    [ ! -e "$T/out.st" ] || { fail "partial output left for: $*"; return; }
    ok
}
mkdir -p "$T/bad"
cp "$FIX/gpt2/config.json" "$T/bad/"
head -c 5000 "$FIX/gpt2/model.safetensors" >"$T/bad/model.safetensors"
expect_err "model.safetensors" logits --model_name "$T/bad" --token_ids 1,2 --out "$T/out.st"
printf '{"model_type": "gpt2",' >"$T/bad/config.json"
expect_err "config.json: malformed JSON" logits --model_name "$T/bad" --token_ids 1,2 --out "$T/out.st"
printf '{"model_type": "rwkv"}' >"$T/bad/config.json"
expect_err 'unknown model_type "rwkv"' logits --model_name "$T/bad" --token_ids 1,2 --out "$T/out.st"
expect_err "config.json: cannot open" logits --model_name "$T/nowhere" --token_ids 1,2 --out "$T/out.st"
expect_err "token id 512 at position 1 is outside the vocabulary" logits --model_name "$FIX/gpt2" --token_ids 1,512 --out "$T/out.st"
expect_err "token_ids must be comma-separated" logits --model_name "$FIX/gpt2" --token_ids 1,x --out "$T/out.st"
expect_err "token_ids" logits --model_name "$FIX/gpt2" --token_ids 1, --out "$T/out.st"
expect_err "needs --model_name" logits --token_ids 1 --out "$T/out.st"
expect_err "threads" logits --model_name "$FIX/gpt2" --token_ids 1 --out "$T/out.st" --threads 0
expect_err "unknown flag --bogus" logits --model_name "$FIX/gpt2" --token_ids 1 --out "$T/out.st" --bogus 1
expect_err "cannot write" logits --model_name "$FIX/gpt2" --token_ids 1 --out "$T/no/such/dir/out.st"
expect_err "config.json: cannot open" info --model_name "$T/nowhere"

echo "logits.sh: $((n - bad)) checks passed, $bad failed"
[ "$bad" -eq 0 ]
