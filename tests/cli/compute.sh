#!/bin/sh
# --backend and --dtype end to end: `ctrace info` names the kernels; `trace`
# with --dtype bf16 writes a case file recording "compute":"BF16" whose clean
# score is close to, but not the same as, float32's; --backend openblas gives
# ROME's scores as the default does; bad values fail with one line and no file;
# `ctrace run` records the backend in run.json and refuses to resume float32
# cases with --dtype bf16 (and the reverse).
BIN=${CTRACE_BIN:-build/ctrace}
M=${CTRACE_FIXTURES:-build/fixtures}/hf-tiny/gpt2
[ -f "$M/config.json" ] || { echo "FAIL: fixture $M missing (make fixtures)"; echo "compute.sh: 0 checks passed, 1 failed"; exit 1; }
IDS=1,200,13,77,511,0,5,5,42,300,128,9,77,401,256,33,2,460,101
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail=0; n=0
ok() { n=$((n + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
trace() { "$BIN" trace --model_name "$M" --token_ids $IDS --target 5:9 --answer_ids 492 --kind hidden \
          --samples 3 --threads 1 "$@"; }

info=$("$BIN" info --model_name "$M" 2>&1) || bad "info exited $?"
if grep -q 'DNNL *?= *\$(if' Makefile 2>/dev/null && [ -f /usr/include/oneapi/dnnl/dnnl.h ]; then
    echo "$info" | grep -q "^backend: *cpu: oneDNN [0-9.]* dnnl_sgemm, float32 products" && ok || bad "info: $info"
fi

# float32 (ROME's scores, tests/fixtures/MANIFEST.md), OpenBLAS the same, bf16 close but not equal
f=$(trace --out "$D/f.bin" 2>"$D/err") || bad "f32 trace exited $?: $(cat "$D/err")"
echo "$f" | grep -q "high 0.277139, low 0.272158" && ok || bad "f32 scores not ROME's: $f"
o=$(trace --backend openblas --out "$D/o.bin" 2>"$D/err") || bad "openblas trace exited $?: $(cat "$D/err")"
echo "$o" | grep -q "high 0.277139, low 0.272158" && ok || bad "openblas scores not ROME's: $o"
b=$(trace --dtype bf16 --out "$D/b.bin" 2>"$D/err") || bad "bf16 trace exited $?: $(cat "$D/err")"
hf=$(echo "$f" | sed 's/.*high \([0-9.]*\),.*/\1/'); hb=$(echo "$b" | sed 's/.*high \([0-9.]*\),.*/\1/')
awk -v a="$hf" -v b="$hb" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d > 0 && d < 0.01) }' && ok ||
    bad "bf16 clean score $hb vs float32 $hf: expected close but different"
grep -aq 'compute\\":\\"BF16\\"' "$D/b.bin" && ok || bad "bf16 case file does not record its compute dtype"
grep -aq 'compute\\":\\"F32\\"' "$D/f.bin" && ok || bad "f32 case file does not record its compute dtype"

# bad values: one line, exit 2, no file
for args in "--dtype f16" "--dtype" "--backend tpu" "--backend openblas --dtype bf16"; do
    # shellcheck disable=SC2086
    trace $args --out "$D/x.bin" >/dev/null 2>"$D/err"; rc=$?
    [ $rc -ne 0 ] && [ "$(wc -l <"$D/err")" -eq 1 ] && [ ! -e "$D/x.bin" ] && ok ||
        bad "$args: rc $rc, $(wc -l <"$D/err") lines: $(cat "$D/err")"
done
grep -q "cannot compute in BF16" "$D/err" && ok || bad "openblas bf16 message: $(cat "$D/err")"

# run: run.json records it; resume refuses another dtype
R="$D/run"
"$BIN" run --model_name models/demo --data_path data/demo.jsonl --output_dir "$R" --max_datapoints 1 --samples 2 \
    --window 2 --kinds hidden --plot_format none --quiet >/dev/null 2>"$D/err" || bad "run exited $?: $(cat "$D/err")"
grep -q '"dtype":[[:space:]]*"f32"' "$R/run.json" && grep -q '"backend_description":[[:space:]]*"cpu: ' "$R/run.json" && ok ||
    bad "run.json lacks the backend: $(grep -i backend "$R/run.json")"
"$BIN" run --model_name models/demo --data_path data/demo.jsonl --output_dir "$R" --max_datapoints 1 --samples 2 \
    --window 2 --kinds hidden --plot_format none --quiet --dtype bf16 >/dev/null 2>"$D/err"; rc=$?
[ $rc -ne 0 ] && grep -q "compute dtype (--dtype) F32; this run: BF16" "$D/err" && ok ||
    bad "resume with --dtype bf16 over f32 cases: rc $rc: $(cat "$D/err")"
R2="$D/run2"
"$BIN" run --model_name models/demo --data_path data/demo.jsonl --output_dir "$R2" --max_datapoints 1 --samples 2 \
    --window 2 --kinds hidden --plot_format none --quiet --dtype bf16 >/dev/null 2>"$D/err" || bad "bf16 run exited $?: $(cat "$D/err")"
grep -q '"dtype":[[:space:]]*"bf16"' "$R2/run.json" && ok || bad "run.json of a bf16 run: $(grep dtype "$R2/run.json")"
"$BIN" run --model_name models/demo --data_path data/demo.jsonl --output_dir "$R2" --max_datapoints 1 --samples 2 \
    --window 2 --kinds hidden --plot_format none --quiet --dtype bf16 >/dev/null 2>"$D/err" && ok ||
    bad "resuming a bf16 run with bf16: $(cat "$D/err")"
grep -q '"reused":[[:space:]]*[1-9]' "$R2/run.json" && ok || bad "bf16 resume reused nothing: $(grep cases "$R2/run.json")"

echo "compute.sh: $n checks passed, $fail failed"
[ $fail -eq 0 ]
