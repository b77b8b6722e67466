#!/bin/sh
# `ctrace attribute` from the command line: the file's tensors and shapes, the
# total against the logit difference `ctrace logits` writes (read back with od,
# not with ctrace's reader), and errors.  The parts themselves are checked
# against an independent reference in tests/test_trace_heads.c.
BIN=${CTRACE_BIN:-build/ctrace}
FIX=${CTRACE_FIXTURES:-build/fixtures}/hf-tiny
[ -f "$FIX/gpt2/config.json" ] || { echo "FAIL: fixture $FIX/gpt2 missing (make fixtures)"; echo "attribute.sh: 0 checks passed, 1 failed"; exit 1; }
T=$(mktemp -d /tmp/ctrace-cli-attribute.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0; bad=0
ok() { n=$((n + 1)); }
fail() { n=$((n + 1)); bad=$((bad + 1)); echo "FAIL: $*"; }

# f32 element I of tensor NAME in safetensors file F
hdrlen() { od -An -tu8 -N8 "$1" | tr -d ' '; }
f32_at() {  # f32_at FILE NAME INDEX
    h=$(hdrlen "$1")
    off=$(dd if="$1" bs=1 skip=8 count="$h" 2>/dev/null | sed -n "s/.*\"$2\":{[^}]*\"data_offsets\":\[\([0-9]*\),.*/\1/p")
    od -An -tf4 -j $((8 + h + off + 4 * $3)) -N4 "$1" | tr -d ' '
}

IDS=1,200,13,77,511,0,5,5,42
for m in gpt2 llama_gqa gpt_neox phi; do
    out=$("$BIN" attribute --model_name "$FIX/$m" --token_ids $IDS --answer_ids 431 --cf_ids 7 --out "$T/$m.st" 2>"$T/err") \
        || { fail "attribute $m exited non-zero: $(cat "$T/err")"; continue; }
    echo "$out" | grep -q "logit(431) - logit(7) = " && ok || fail "attribute $m printed: $out"
    hdr=$(dd if="$T/$m.st" bs=1 skip=8 count="$(hdrlen "$T/$m.st")" 2>/dev/null)
    echo "$hdr" | grep -q '"heads":{"dtype":"F32","shape":\[4,4\]' && echo "$hdr" | grep -q '"mlp":{"dtype":"F32","shape":\[4\]' \
        && echo "$hdr" | grep -q '"total":{"dtype":"F32","shape":\[\]' && ok || fail "$m: tensors and shapes: $hdr"
    "$BIN" logits --model_name "$FIX/$m" --token_ids $IDS --out "$T/$m.logits" >/dev/null || { fail "logits $m"; continue; }
    la=$(f32_at "$T/$m.logits" logits $((8 * 512 + 431)))
    lc=$(f32_at "$T/$m.logits" logits $((8 * 512 + 7)))
    tot=$(f32_at "$T/$m.st" total 0)
    awk -v a="$la" -v c="$lc" -v t="$tot" 'BEGIN { d = a - c - t; exit !(d < 1e-4 && d > -1e-4) }' && ok \
        || fail "$m: total $tot, ctrace logits' difference $la - $lc"
done

# --target: the corrupted run's attribution beside the clean one (its numbers: test_trace_heads.c)
out=$("$BIN" attribute --model_name "$FIX/gpt2" --token_ids $IDS --answer_ids 431 --cf_ids 7 --target 3:6 --samples 3 \
      --out "$T/c.st" 2>"$T/err") && echo "$out" | grep -q "corrupted (3 samples): logit(431) - logit(7) = " && ok \
    || fail "attribute --target: $out $(cat "$T/err")"
hdr=$(dd if="$T/c.st" bs=1 skip=8 count="$(hdrlen "$T/c.st")" 2>/dev/null)
echo "$hdr" | grep -q '"corrupted_heads":{"dtype":"F32","shape":\[4,4\]' && echo "$hdr" | grep -q '"target_ranges":{"dtype":"I32","shape":\[1,2\]' \
    && echo "$hdr" | grep -q 'samples\\":3,' && ok || fail "corrupted tensors: $hdr"
[ "$(f32_at "$T/c.st" total 0)" = "$(f32_at "$T/gpt2.st" total 0)" ] && ok || fail "the clean total changed with --target"

# the figure: F.st -> F.pdf by default (the map and bars of both runs), --plot PATH (PNG here), --plot none
[ -s "$T/c.pdf" ] && head -c 5 "$T/c.pdf" | grep -q '%PDF-' && tail -c 8 "$T/c.pdf" | grep -q 'EOF' && ok || fail "no figure c.pdf beside c.st"
out=$("$BIN" attribute --model_name "$FIX/gpt2" --token_ids $IDS --answer_ids 431 --cf_ids 7 --out "$T/p.st" --plot "$T/fig.png" 2>"$T/err") \
    && echo "$out" | tail -n 1 | grep -q "fig.png$" && [ "$(od -An -c -N4 "$T/fig.png" | tr -d ' ')" = "211PNG" ] && [ ! -e "$T/p.pdf" ] && ok \
    || fail "--plot fig.png: $out $(cat "$T/err")"
"$BIN" attribute --model_name "$FIX/gpt2" --token_ids $IDS --answer_ids 431 --cf_ids 7 --out "$T/n.st" --plot none >/dev/null 2>&1 \
    && [ -s "$T/n.st" ] && [ ! -e "$T/n.pdf" ] && ok || fail "--plot none drew a figure"
"$BIN" plot "$T/c.st" --out "$T/replot.svg" >/dev/null 2>"$T/err" && grep -q '</svg>' "$T/replot.svg" && ok || fail "ctrace plot of an attribution file: $(cat "$T/err")"

expect_err() {  # expect_err NEEDLE ARGS...
    needle=$1; shift
    rm -f "$T/out.st"
    if "$BIN" "$@" 2>"$T/err" >/dev/null; then fail "succeeded: $*"; return; fi
    [ "$(wc -l <"$T/err")" -eq 1 ] || { fail "not one line: $(cat "$T/err")"; return; }
    grep -q "^ctrace: .*$needle" "$T/err" || { fail "message lacks '$needle': $(cat "$T/err")"; return; }
    [ ! -e "$T/out.st" ] || { fail "partial output left for: $*"; return; }
    ok
}
expect_err "one token each" attribute --model_name "$FIX/gpt2" --token_ids $IDS --answer_ids 431,3 --cf_ids 7 --out "$T/out.st"
expect_err "needs --model_name" attribute --model_name "$FIX/gpt2" --token_ids $IDS --answer_ids 431 --out "$T/out.st"
expect_err "vocabulary" attribute --model_name "$FIX/gpt2" --token_ids $IDS --answer_ids 99999 --cf_ids 7 --out "$T/out.st"
expect_err "B:E" attribute --model_name "$FIX/gpt2" --token_ids $IDS --answer_ids 431 --cf_ids 7 --target 3-6 --out "$T/out.st"
expect_err "outside the prompt" attribute --model_name "$FIX/gpt2" --token_ids $IDS --answer_ids 431 --cf_ids 7 --target 3:60 --out "$T/out.st"
expect_err "must end in .pdf" attribute --model_name "$FIX/gpt2" --token_ids $IDS --answer_ids 431 --cf_ids 7 --out "$T/out.st" --plot "$T/x.jpg"
expect_err "tokenizer.json" attribute --model_name "$FIX/gpt2" --prompt "hello" --answer_ids 431 --cf_ids 7 --out "$T/out.st"

echo "attribute.sh: $n checks passed, $bad failed"
[ "$bad" -eq 0 ]
