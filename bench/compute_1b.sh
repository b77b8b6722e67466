#!/bin/sh
# bench/compute_1b.sh [T] [S] — float32 against bf16 compute (--dtype bf16) on
# the 0.9B-parameter random Llama-layout bf16 checkpoint of bench/memory.sh
# (written under ${CTRACE_BENCH_DIR:-/tmp/ctrace-bench} unless it is there):
#   forward: `ctrace logits` of 1 and 256 tokens per dtype (after one run that
#            brings the file into the page cache), tokens/s from the difference
#            (load time cancels);
#   trace:   `ctrace trace --kind all`, T tokens (default 16), span [2, 5),
#            S samples (default 5), window 10, per dtype: wall time, and the
#            bf16 grids' deviation from float32's (max |dp| over every cell of
#            the three kinds, and whether the top |IE| cell is the same).
# Interleaved: f32 then bf16 for each measurement, on the same machine state.
set -u
T=${1:-16}
S=${2:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
make -s -C "$ROOT" build/ctrace build/tools/make_checkpoint >/dev/null || exit 1
DIR=${CTRACE_BENCH_DIR:-/tmp/ctrace-bench}/llama-1b-bf16
mkdir -p "$(dirname "$DIR")"
[ -f "$DIR/model.safetensors" ] || "$ROOT/build/tools/make_checkpoint" 1b "$DIR" bf16 || exit 1
BIN="$ROOT/build/ctrace"
TMP=$(mktemp -d /tmp/ctrace-1b-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
ids() { seq 1 "$1" | awk '{ printf "%s%d", (NR > 1 ? "," : ""), ($1 * 7919 + 11) % 32000 }'; }
secs() { /usr/bin/time -f "%e" -o "$TMP/t" "$@" >"$TMP/out" 2>"$TMP/err" || { echo "failed: $(tail -n 1 "$TMP/err")" >&2; exit 1; }; cat "$TMP/t"; }
echo "$("$BIN" info --model_name "$DIR" | grep -E '^(model|backend):' | head -2)"
echo "forward (ctrace logits):"
secs "$BIN" logits --model_name "$DIR" --token_ids "$(ids 1)" --out "$TMP/l0" >/dev/null   # the file into the page cache
for dt in f32 bf16; do
    a=$(secs "$BIN" logits --model_name "$DIR" --token_ids "$(ids 1)" --dtype $dt --out "$TMP/l1")
    b=$(secs "$BIN" logits --model_name "$DIR" --token_ids "$(ids 256)" --dtype $dt --out "$TMP/l256")
    awk -v a="$a" -v b="$b" -v d=$dt 'BEGIN { printf "  %-5s 1 token %.2f s, 256 tokens %.2f s: %.1f tokens/s\n", d, a, b, 255 / (b - a) }'
done
echo "trace --kind all, $T tokens, S=$S, window 10:"
for dt in f32 bf16; do
    w=$(secs "$BIN" trace --model_name "$DIR" --token_ids "$(ids "$T")" --target 2:5 --answer_ids 1234 --kind all \
        --samples "$S" --window 10 --dtype $dt --out "$TMP/$dt.bin")
    echo "  $dt: $w s"
done
/usr/bin/python3 - "$TMP" <<'EOF'
import json, struct, sys
import numpy as np
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__" or v["dtype"] != "F32":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], np.float32).reshape(v["shape"])
    return out
d, dr, agree = 0.0, 0.0, 0
for k in ("hidden", "mlp", "attention"):
    a, b = load(f"{sys.argv[1]}/f32.{k}.bin"), load(f"{sys.argv[1]}/bf16.{k}.bin")
    d = max(d, float(np.max(np.abs(a["scores"] - b["scores"]))))
    same = np.argmax(np.abs(a["ie"])) == np.argmax(np.abs(b["ie"]))
    agree += int(same)
    dk = float(np.max(np.abs(a["scores"] - b["scores"])))
    rel = dk / float(np.max(np.abs(a["scores"])))
    dr = max(dr, rel)
    print(f"  {k:9s} p_clean f32 {float(a['high_score']):.6g} bf16 {float(b['high_score']):.6g}; "
          f"max |dp| {dk:.3g} ({rel:.2%} of the largest p); top |IE| cell {'same' if same else 'moved'}")
print(f"  bf16 vs f32 over the three kinds: max |dp| {d:.3g} ({dr:.2%} of the largest p); top cell the same in {agree} of 3")
EOF
