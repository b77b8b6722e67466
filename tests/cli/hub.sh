#!/bin/sh
# hub.sh — hub ids on the command line: a fake Hugging Face cache made from
# repository fixtures, laid out as huggingface_hub writes it (refs/main,
# snapshots/<commit>/ with relative symlinks into blobs/), and `ctrace info`,
# `logits`, `tokenize`, `trace` and `run` given "org/name[@revision]": the same
# output as with the folder itself, the id and the snapshot recorded, and a
# missing id failing with one line that says where it looked.
BIN=${CTRACE_BIN:-build/ctrace}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac   # one check runs from another folder
FIX=${CTRACE_FIXTURES:-build/fixtures}
[ -f "$FIX/hf-tiny/llama_gqa/config.json" ] || { echo "FAIL: fixture $FIX/hf-tiny/llama_gqa missing (make fixtures)"; echo "hub.sh: 0 checks passed, 1 failed"; exit 1; }
T=$(mktemp -d /tmp/ctrace-cli-hub.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0; bad=0
ok() { n=$((n + 1)); }
fail() { n=$((n + 1)); bad=$((bad + 1)); echo "FAIL: $*"; }

A=0123456789abcdef0123456789abcdef01234567
B=89abcdef0123456789abcdef0123456789abcdef
# repo ORG--NAME COMMIT SRC_DIR FILE...: blobs named by their sha256, as the hub names them
repo() {
    r=$T/cache/models--$1; c=$2; src=$3; shift 3
    mkdir -p "$r/blobs" "$r/refs" "$r/snapshots/$c"
    for f in "$@"; do
        h=$(sha256sum "$src/$f" | cut -d' ' -f1)
        cp "$src/$f" "$r/blobs/$h"
        ln -s "../../blobs/$h" "$r/snapshots/$c/$f"
    done
}
repo org--tiny $A "$FIX/hf-tiny/llama_gqa" config.json model.safetensors
printf '%s' $A >"$T/cache/models--org--tiny/refs/main"
repo org--tiny $B "$FIX/hf-tiny/gpt2" config.json model.safetensors
printf '%s\n' $B >"$T/cache/models--org--tiny/refs/gpt2"
repo gpt2 $A "$FIX/hf-tokenizers/gpt2" tokenizer.json tokenizer_config.json
printf '%s' $A >"$T/cache/models--gpt2/refs/main"
repo org--demo $A models/demo config.json model.safetensors tokenizer.json
printf '%s' $A >"$T/cache/models--org--demo/refs/main"
export HF_HUB_CACHE="$T/cache"

# info: the same summary as the folder's, plus the snapshot it read
"$BIN" info --model_name org/tiny >"$T/info" 2>"$T/err" && ok || fail "info org/tiny: $(cat "$T/err")"
"$BIN" info --model_name "$FIX/hf-tiny/llama_gqa" >"$T/info_dir" && ok || fail "info on the folder"
grep -q "^model: *org/tiny$" "$T/info" && grep -q "^snapshot: *$T/cache/models--org--tiny/snapshots/$A$" "$T/info" && ok \
    || fail "info lacks the id and snapshot: $(head -n 2 "$T/info")"
[ "$(grep -v '^model:\|^snapshot:' "$T/info")" = "$(grep -v '^model:' "$T/info_dir")" ] && ok || fail "info differs from the folder's"
"$BIN" info --model_name org/tiny@gpt2 | grep -q "gpt2" && ok || fail "info org/tiny@gpt2 (a named revision)"
"$BIN" info --model_name org/tiny@$B | grep -q "gpt2" && ok || fail "info org/tiny@<commit>"

# logits: byte-identical to the folder's
"$BIN" logits --model_name org/tiny --token_ids 1,17,250 --out "$T/hub.st" 2>"$T/err" && ok || fail "logits org/tiny: $(cat "$T/err")"
"$BIN" logits --model_name "$FIX/hf-tiny/llama_gqa" --token_ids 1,17,250 --out "$T/dir.st" && ok || fail "logits on the folder"
cmp -s "$T/hub.st" "$T/dir.st" && ok || fail "logits through the hub id differ from the folder's"

# tokenize: an id without an org, as "gpt2"
want='{"ids":[57,9116,7527],"tokens":["Z","Ã¼","rich"],"offsets":[[0,1],[1,3],[3,7]]}'
[ "$("$BIN" tokenize --tokenizer gpt2 --text Zürich 2>"$T/err")" = "$want" ] && ok || fail "tokenize --tokenizer gpt2: $(cat "$T/err")"

# trace: the case file records the snapshot as "model" and the id as "model_id"
"$BIN" trace --model_name org/tiny --token_ids 1,200,13,77,511,0,5,5,42 --target 5:9 --answer_ids 431 --kind hidden \
    --samples 2 --out "$T/case.bin" >/dev/null 2>"$T/err" && ok || fail "trace org/tiny: $(cat "$T/err")"
head -c 6000 "$T/case.bin" | grep -q "model_id[^a-z]*org/tiny" && ok || fail "case file lacks model_id"
head -c 6000 "$T/case.bin" | grep -q "snapshots/$A" && ok || fail "case file lacks the snapshot path"

# run: run.json and the case files record both
"$BIN" run --model_name org/demo --data_path data/demo.jsonl --output_dir "$T/run" --max_datapoints 1 --kinds hidden \
    --samples 2 --window 2 --plot_format none --quiet >"$T/out" 2>"$T/err" && ok || fail "run org/demo: $(cat "$T/err")"
grep -q '"model_name":[[:space:]]*"org/demo"' "$T/run/run.json" && grep -q "\"model_dir\":[[:space:]]*\"$T/cache/models--org--demo/snapshots/$A\"" "$T/run/run.json" \
    && ok || fail "run.json lacks the id or the snapshot: $(grep model "$T/run/run.json")"
c=$(ls "$T/run/cases" 2>/dev/null | head -n 1)
[ -n "$c" ] && head -c 8000 "$T/run/cases/$c" | grep -q "model_id[^a-z]*org/demo" && ok || fail "run's case file lacks model_id"

# a directory that exists wins over the id
mkdir -p "$T/wd/org" && cp -r "$FIX/hf-tiny/gpt2" "$T/wd/org/tiny"
(cd "$T/wd" && "$BIN" info --model_name org/tiny) | grep -q "^model_type: *gpt2" && ok || fail "existing folder org/tiny not preferred"

# not there: exit 1, one line naming the cache folder and saying nothing is downloaded
for args in "info --model_name org/nothere" "logits --model_name org/nothere --token_ids 1 --out $T/x.st" \
            "info --model_name org/tiny@v9" "tokenize --tokenizer org/nothere --text a" \
            "run --model_name org/nothere --data_path data/demo.jsonl --output_dir $T/norun"; do
    "$BIN" $args >/dev/null 2>"$T/err"; rc=$?
    if [ $rc -ne 1 ] || [ "$(wc -l <"$T/err")" -ne 1 ] || ! grep -q "^ctrace: .*$T/cache/models--org--.*does not download" "$T/err"; then
        fail "$args: rc $rc: $(cat "$T/err")"
    else ok; fi
done
[ ! -e "$T/x.st" ] && [ ! -e "$T/norun" ] && ok || fail "a missing id left output behind"
HF_HUB_CACHE= HF_HOME="$T/none" "$BIN" info --model_name org/tiny 2>"$T/err" >/dev/null
grep -q "$T/none/hub/models--org--tiny.*HF_HOME" "$T/err" && ok || fail "HF_HOME fallback not named: $(cat "$T/err")"

echo "hub.sh: $((n - bad)) checks passed, $bad failed"
[ "$bad" -eq 0 ]
