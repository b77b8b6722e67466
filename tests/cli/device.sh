#!/bin/sh
# --device on logits, trace and run: without a CUDA build (or without a GPU)
# `--device cuda` fails at once, before loading the model, with one line,
# a non-zero exit and no output file; bad device names likewise; --device cpu
# is the default's numbers.  (On a CUDA build with a GPU the cuda cases are
# tests/cuda/cli_cuda.sh's, not this script's.)
BIN=${CTRACE_BIN:-build/ctrace}
M=${CTRACE_FIXTURES:-build/fixtures}/hf-tiny/gpt2
[ -f "$M/config.json" ] || { echo "FAIL: fixture $M missing (make fixtures)"; echo "device.sh: 0 checks passed, 1 failed"; exit 1; }
IDS=1,200,13,77,511,0,5,5,42
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail=0; n=0
ok() { n=$((n + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
one_line_no_file() {   # what, rc, file
    [ "$2" -ne 0 ] && ok || bad "$1: exit 0"
    [ "$(wc -l <"$D/err")" -eq 1 ] && ok || bad "$1: not one line: $(cat "$D/err")"
    [ ! -e "$3" ] && ok || bad "$1: left $3"
}
has_gpu=0
if "$BIN" logits --model_name "$M" --token_ids $IDS --out "$D/probe.st" --device cuda >/dev/null 2>"$D/err"; then has_gpu=1; fi
rm -f "$D/probe.st"
if [ "$has_gpu" = 0 ]; then
    "$BIN" logits --model_name "$M" --token_ids $IDS --out "$D/l.st" --device cuda >/dev/null 2>"$D/err"
    one_line_no_file "logits --device cuda" $? "$D/l.st"
    grep -Eq "built without CUDA|GPU" "$D/err" && ok || bad "logits --device cuda: message does not say why: $(cat "$D/err")"
    # at once: before the model is read (a missing model is not what it reports)
    "$BIN" logits --model_name "$D/nonexistent" --token_ids $IDS --out "$D/l.st" --device cuda:1 >/dev/null 2>"$D/err"
    grep -q "nonexistent" "$D/err" && bad "logits --device cuda:1 loaded the model first: $(cat "$D/err")" || ok
    "$BIN" trace --model_name "$M" --token_ids $IDS --target 5:7 --answer_ids 492 --kind hidden --samples 2 \
        --threads 1 --out "$D/t.bin" --device cuda >/dev/null 2>"$D/err"
    one_line_no_file "trace --device cuda" $? "$D/t.bin"
    "$BIN" run --model_name models/demo --data_path data/demo.jsonl --output_dir "$D/run" --max_datapoints 1 \
        --samples 2 --device cuda >/dev/null 2>"$D/err"
    one_line_no_file "run --device cuda" $? "$D/run/run.json"
    grep -Eq "built without CUDA|GPU" "$D/err" && ok || bad "run --device cuda: message does not say why: $(cat "$D/err")"
    # Python: ctrace.Model(..., device="cuda") raises ctrace.Error before loading
    LIBSO="$(dirname "$BIN")/libctrace.so"
    PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
    if nm -D "$LIBSO" 2>/dev/null | grep -q " U __asan_" || ldd "$LIBSO" 2>/dev/null | grep -q libasan; then
        # a sanitizer build: Python loads it only with the runtime preloaded (python.sh does that)
        echo "note: $LIBSO is a sanitizer build; the Python check is left to python.sh"
    elif [ -f "$LIBSO" ] && "$PY" -c "import numpy" 2>/dev/null; then
        out=$(CTRACE_LIB="$(cd "$(dirname "$LIBSO")" && pwd)/libctrace.so" PYTHONPATH=python "$PY" -c "
import ctrace
try:
    ctrace.Model('$M', device='cuda')
    print('no error')
except ctrace.Error as e:
    print('error:', e)
" 2>&1)
        echo "$out" | grep -Eq "^error:.*(built without CUDA|GPU)" && ok || bad "python device='cuda': $out"
    fi
else
    echo "device.sh: a CUDA build with a GPU: the failure cases are skipped"
fi
for dev in tpu cuda:x cuda:-1 cudax; do
    "$BIN" logits --model_name "$M" --token_ids $IDS --out "$D/x.st" --device $dev >/dev/null 2>"$D/err"
    one_line_no_file "logits --device $dev" $? "$D/x.st"
done
"$BIN" logits --model_name "$M" --token_ids $IDS --out "$D/c.st" --device cpu 2>"$D/err" >/dev/null || bad "--device cpu: $(cat "$D/err")"
"$BIN" logits --model_name "$M" --token_ids $IDS --out "$D/d.st" 2>"$D/err" >/dev/null || bad "default: $(cat "$D/err")"
cmp -s "$D/c.st" "$D/d.st" && ok || bad "--device cpu differs from the default"
"$BIN" logits --model_name "$M" --token_ids $IDS --out "$D/x.st" --device cuda --backend openblas >/dev/null 2>"$D/err"
one_line_no_file "--device cuda --backend openblas" $? "$D/x.st"
# run.json records the device asked for
"$BIN" run --model_name models/demo --data_path data/demo.jsonl --output_dir "$D/runcpu" --max_datapoints 1 \
    --samples 2 --device cpu >/dev/null 2>"$D/err" || bad "run --device cpu: $(cat "$D/err")"
grep -q '"device":[[:space:]]*"cpu"' "$D/runcpu/run.json" 2>/dev/null && ok || bad "run.json does not record the device"
echo "device.sh: $n checks passed, $fail failed"
[ "$fail" -eq 0 ]
