#!/bin/sh
# `ctrace run` end to end; called by tests/test_run.c with a tiny random
# GPT-2-layout model directory (real GPT-2 tokenizer.json) and a work folder:
#   sh tests/run_e2e.sh MODEL_DIR WORK_DIR
# Uses real rows of the seed project's peq-both datasets.  Prints FAIL lines
# and a last summary line; exits non-zero on any failure.
set -u
M=$1
W=$2
BIN=${CTRACE_BIN:-build/ctrace}
DATA=${CTRACE_FIXTURES:-build/fixtures}/datasets/peq-both
[ -f "$DATA/P17.jsonl" ] || { echo "FAIL: fixture $DATA/P17.jsonl missing (make fixtures)"; echo "run_e2e.sh: 1 checks, 1 failed"; exit 1; }
mkdir -p "$W"
fails=0; checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }
check() { if eval "$1"; then ok; else bad "$2"; fi; }
count() { ls "$1" 2>/dev/null | grep -c "$2"; }
# the JSON header of a safetensors file, read with od/dd (not ctrace's reader)
st_header() { n=$(od -An -tu8 -N8 "$1" | tr -d ' '); dd if="$1" bs=1 skip=8 count="$n" 2>/dev/null; }
# its tensor bytes (the header also records timings)
st_data() { n=$(od -An -tu8 -N8 "$1" | tr -d ' '); tail -c +$((9 + n)) "$1"; }

# 1. The seed's command line, unchanged but for the program name (no subcommand).
O1=$W/exp1
"$BIN" --model_name "$M" --experiment_type 1 --data_path "$DATA/P17.jsonl" --output_dir "$O1" \
    --samples 2 --window 2 --max_datapoints 3 >"$W/out1" 2>"$W/err1"; rc=$?
check '[ $rc -eq 0 ]' "seed command line exited $rc: $(cat "$W/err1")"
check 'tail -n 1 "$W/out1" | grep -q "3 rows: 3 succeeded, 0 skipped; 9 cases traced"' "final line: $(tail -n 1 "$W/out1")"
check '[ "$(count "$O1/cases" "\.bin$")" -eq 9 ]' "9 case files: $(ls "$O1/cases" | tr '\n' ' ')"
for k in hidden mlp attention; do
    check '[ -s "$O1/cases/0_${k}_Australia.bin" ] && [ -s "$O1/cases/1_${k}_United-States-of-America.bin" ]' "case names for $k"
    check '[ "$(head -c 5 "$O1/pdfs/Australia_0_$k.pdf")" = "%PDF-" ] && [ -s "$O1/pdfs/United States of America_1_$k.pdf" ]' "PDF names for $k"
done
check '[ "$(wc -l <"$O1/summary.jsonl")" -eq 9 ] && [ ! -s "$O1/errors.jsonl" ]' "summary has 9 lines, no errors"
check 'grep -q "\"rows\":.*" "$O1/run.json" && grep -q "\"experiment_type\":[[:space:]]*1" "$O1/run.json" && grep -q "\"ctrace_version\"" "$O1/run.json" && grep -q "\"samples\":[[:space:]]*2" "$O1/run.json"' "run.json settings"
# The case file is safetensors with the engine's tensors and the case description.
# P17 row 0 with GPT-2: "C", ":", " Mount", " St", "rom", "lo", " is", ... " Australia" (12), ".":
# subject = tokens [2, 6), object = [12, 13), relation = [6, 12) and [13, 14).
H=$(st_header "$O1/cases/0_hidden_Australia.bin")
check 'echo "$H" | grep -q "\"ie\":{\"dtype\":\"F32\",\"shape\":\[28,3\]"' "ie [28, 3] in the header: $(echo "$H" | head -c 300)"
check 'echo "$H" | grep -q "target_ranges"' "target_ranges tensor"
check 'echo "$H" | grep -q "\\\\\"subject\\\\\":\[2,6\],\\\\\"object\\\\\":\[12,13\],\\\\\"relation\\\\\":\[\[6,12\],\[13,14\]\]"' "spans in the metadata: $(echo "$H" | grep -o 'spans[^}]*' | head -c 300)"
if command -v pdftoppm >/dev/null; then
    pdftoppm -png -r 40 "$O1/pdfs/Australia_0_mlp.pdf" "$W/fig" 2>/dev/null
    check '[ "$(head -c 4 "$W/fig-1.png" | tail -c 3)" = "PNG" ]' "pdftoppm renders the figure"
fi

# 2. Rerun: everything skipped, quickly, summary rebuilt the same.
cp "$O1/summary.jsonl" "$W/summary1"
"$BIN" run --model_name "$M" --experiment_type 1 --data_path "$DATA/P17.jsonl" --output_dir "$O1" \
    --samples 2 --window 2 --max_datapoints 3 >"$W/out2" 2>&1
check 'tail -n 1 "$W/out2" | grep -q "0 cases traced, skipped 9 finished cases"' "rerun: $(tail -n 1 "$W/out2")"
check 'cmp -s "$W/summary1" "$O1/summary.jsonl"' "summary.jsonl differs after a rerun"

# 3. Experiments 2 and 3 (--flag=value form), another relation, other plot format.
"$BIN" run --model_name="$M" --experiment_type=2 --data_path="$DATA/P17.jsonl" --output_dir="$W/exp2" \
    --samples=2 --window=2 --max_datapoints=2 --kinds=hidden,mlp --cf_context=1 --max_cf=1 >"$W/out3" 2>&1
check 'tail -n 1 "$W/out3" | grep -q "2 rows: 2 succeeded, 0 skipped; 8 cases traced"' "exp 2 + cf_context: $(tail -n 1 "$W/out3")"
CF=$(ls "$W/exp2/cases" | grep "^0_hidden_" | grep -v "_Australia.bin")
check '[ -n "$CF" ] && st_header "$W/exp2/cases/$CF" | grep -q "\\\\\"cf\\\\\":\\\\\""' "counterfactual-context case: $CF"
check 'st_header "$W/exp2/cases/0_mlp_Australia.bin" | grep -q "\\\\\"experiment\\\\\":2"' "experiment 2 recorded"
# (every one of the seed's eleven flags, spelled out at their defaults where the test allows)
"$BIN" run --model_name "$M" --experiment_type 3 --data_path "$DATA/P36.jsonl" --output_dir "$W/exp3" \
    --samples 2 --window 2 --max_datapoints 2 --plot_format png --quiet --prompt_format "C: {context} Q: {prompt} A:" \
    --max_cf 3 --replace 0 --reverse_patching 0 >"$W/out4" 2>&1
check 'tail -n 1 "$W/out4" | grep -q "2 rows: 2 succeeded, 0 skipped; 6 cases traced"' "exp 3 on P36: $(cat "$W/out4")"
check '[ "$(count "$W/exp3/pdfs" "\.png$")" -eq 6 ]' "6 PNG figures"
check 'st_header "$W/exp3/cases/$(ls "$W/exp3/cases" | head -n 1)" | grep -q "\"target_ranges\":{\"dtype\":\"I32\",\"shape\":\[[23],2\]"' "relation = 2 or 3 target ranges"
# the same directory with another experiment: refused, not silently mixed
"$BIN" run --model_name "$M" --experiment_type 2 --data_path "$DATA/P17.jsonl" --output_dir "$O1" \
    --samples 2 --window 2 --max_datapoints 1 >"$W/out5" 2>"$W/err5"; rc=$?
check '[ $rc -ne 0 ] && grep -q "finished case from another run" "$W/err5"' "mixing experiments in one dir: rc $rc $(cat "$W/err5")"
"$BIN" run --model_name "$M" --data_path "$DATA/P17.jsonl" --output_dir "$O1" --samples 3 --window 2 --max_datapoints 1 >"$W/out5" 2>"$W/err5"; rc=$?
check '[ $rc -ne 0 ] && grep -q "finished case from another run (samples 2; this run: 3)" "$W/err5"' "mixing --samples in one dir: rc $rc $(cat "$W/err5")"

# 3a. The head kind by name: its cases are written and resumed, summarised with
# layer and head, drawn as layer x head maps, and `ctrace average` leaves them out.
"$BIN" run --model_name "$M" --experiment_type 2 --data_path "$DATA/P17.jsonl" --output_dir "$W/heads" \
    --samples 2 --max_datapoints 2 --kinds hidden,head >"$W/outh" 2>&1
check 'tail -n 1 "$W/outh" | grep -q "2 rows: 2 succeeded, 0 skipped; 4 cases traced"' "--kinds hidden,head: $(tail -n 1 "$W/outh")"
check '[ "$(grep -c "\"kind\":\"head\".*\"top_ie\":{\"token\":[0-9]*,\"layer\":[0-9]*,.*\"head\":[0-9]" "$W/heads/summary.jsonl")" -eq 2 ]' \
    "head summary lines: $(grep head "$W/heads/summary.jsonl" | head -c 300)"
check '[ "$(count "$W/heads/pdfs" "_head\.pdf$")" -eq 2 ] && [ "$(count "$W/heads/pdfs" "_hidden\.pdf$")" -eq 2 ]' \
    "a figure per case, head cases included: $(ls "$W/heads/pdfs" | head -c 300)"
rm "$W/heads/pdfs/"*_head.pdf
cp "$W/heads/summary.jsonl" "$W/summaryh"
"$BIN" run --model_name "$M" --experiment_type 2 --data_path "$DATA/P17.jsonl" --output_dir "$W/heads" \
    --samples 2 --max_datapoints 2 --kinds hidden,head >"$W/outh2" 2>&1
check 'tail -n 1 "$W/outh2" | grep -q "0 cases traced, skipped 4 finished cases" && cmp -s "$W/summaryh" "$W/heads/summary.jsonl"' \
    "head rerun: $(tail -n 1 "$W/outh2")"
check '[ "$(count "$W/heads/pdfs" "_head\.pdf$")" -eq 2 ]' "head figures drawn again from finished cases"
"$BIN" average "$W/heads" >"$W/outh3" 2>&1
check 'grep -q "averaged 4 cases (hidden 2, mlp 0, attention 0, head 2) from 1 run dir(s); 0 skipped" "$W/outh3" && [ -s "$W/heads/average/average_heads.pdf" ] && [ "$(grep -c "^head,case_mean,rome_last," "$W/heads/average/average_heads.csv")" -gt 0 ]' "average with head cases: $(cat "$W/outh3")"

# 3a'. --attribute 1: one attribution file per context (the row's passage and each counterfactual
# passage), answer against the passage's counterfactual, clean and corrupted; a rerun keeps them.
"$BIN" run --model_name "$M" --experiment_type 2 --data_path "$DATA/P17.jsonl" --output_dir "$W/attr" \
    --samples 2 --max_datapoints 2 --kinds hidden --attribute 1 --cf_context 1 --max_cf 1 --plot_format none >"$W/outa" 2>&1
check 'tail -n 1 "$W/outa" | grep -q "2 rows: 2 succeeded, 0 skipped" && [ "$(count "$W/attr/attributions" "_attribution_")" -eq 4 ]' \
    "--attribute 1: $(tail -n 1 "$W/outa"); $(ls "$W/attr/attributions" 2>&1 | head -c 300)"
A0=$(ls "$W/attr/attributions" | head -n 1)
check 'st_header "$W/attr/attributions/$A0" | grep -q "\"corrupted_heads\":{\"dtype\":\"F32\",\"shape\":\[3,2\]"' \
    "attribution file: $(st_header "$W/attr/attributions/$A0" | head -c 300)"
cp "$W/attr/attributions/$A0" "$W/attr0"
"$BIN" run --model_name "$M" --experiment_type 2 --data_path "$DATA/P17.jsonl" --output_dir "$W/attr" \
    --samples 2 --max_datapoints 2 --kinds hidden --attribute 1 --cf_context 1 --max_cf 1 --plot_format none >"$W/outa2" 2>&1
check 'cmp -s "$W/attr0" "$W/attr/attributions/$A0" && tail -n 1 "$W/outa2" | grep -q "0 cases traced"' "attribution rerun: $(tail -n 1 "$W/outa2")"

# 3b. The seed's argparse default format (no {context}): the question stands in
# for the passage.  GPT-2 tokens of "question: Which country is Mount Stromlo
# located in? answer: <extra_id_0>": "question", ":", " Which", " country",
# " is", " Mount", " St", "rom", "lo", " located", " in", "?", ...: question =
# [2, 12), subject = [5, 9), no object tokens, relation = [2, 5) and [9, 12).
SEEDFMT="question: {question} answer: <extra_id_0>"
"$BIN" run --model_name "$M" --experiment_type 1 --data_path "$DATA/P17.jsonl" --output_dir "$W/q1" \
    --samples 2 --window 2 --max_datapoints 2 --kinds hidden --prompt_format "$SEEDFMT" >"$W/outq1" 2>&1; rc=$?
check '[ $rc -eq 0 ] && tail -n 1 "$W/outq1" | grep -q "2 rows: 2 succeeded, 0 skipped; 2 cases traced"' "seed format, exp 1: rc $rc $(cat "$W/outq1")"
check '[ -s "$W/q1/cases/0_hidden_Australia.bin" ] && [ -s "$W/q1/cases/1_hidden_United-States-of-America.bin" ] && [ ! -s "$W/q1/errors.jsonl" ]' "seed format case files: $(ls "$W/q1/cases" | tr '\n' ' ')"
HQ=$(st_header "$W/q1/cases/0_hidden_Australia.bin")
check 'echo "$HQ" | grep -q "\\\\\"passage\\\\\":\[2,12\],\\\\\"prompt\\\\\":\[2,12\],\\\\\"subject\\\\\":\[5,9\],\\\\\"object\\\\\":\[0,0\],\\\\\"relation\\\\\":\[\[2,5\],\[9,12\]\]"' "seed format spans: $(echo "$HQ" | grep -o 'spans[^}]*' | head -c 300)"
"$BIN" average "$W/q1" --out "$W/q1avg" >"$W/outqa" 2>&1; rc=$?
check '[ $rc -eq 0 ] && [ -s "$W/q1avg/$(ls "$W/q1avg" | grep "\.csv$" | head -n 1)" ]' "average over seed-format cases: rc $rc $(cat "$W/outqa")"
"$BIN" run --model_name "$M" --experiment_type 2 --data_path "$DATA/P17.jsonl" --output_dir "$W/q2" \
    --samples 2 --window 2 --max_datapoints 2 --kinds hidden --prompt_format "$SEEDFMT" >"$W/outq2" 2>&1; rc=$?
check 'tail -n 1 "$W/outq2" | grep -q "2 rows: 0 succeeded, 2 skipped"' "seed format, exp 2: rc $rc $(cat "$W/outq2")"
check '[ "$(grep -c "object \\\\\"Australia\\\\\" not found in the question (the prompt format has no {context})" "$W/q2/errors.jsonl")" -eq 1 ] && [ "$(wc -l <"$W/q2/errors.jsonl")" -eq 2 ]' "exp 2 errors: $(cat "$W/q2/errors.jsonl")"

# 4. kill -9 in the middle, then resume.
O4=$W/killed
"$BIN" run --model_name "$M" --data_path "$DATA/P407.jsonl" --output_dir "$O4" --samples 2 --window 2 \
    --max_datapoints 6 --quiet >/dev/null 2>&1 &
pid=$!
i=0
while [ "$(count "$O4/cases" "\.bin$")" -lt 2 ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i + 1)); done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
n_done=$(count "$O4/cases" "\.bin$")
check '[ "$n_done" -ge 2 ] && [ "$n_done" -lt 18 ]' "killed mid-run with $n_done of 18 cases"
check '[ ! -e "$O4/summary.jsonl" ]' "a killed first run leaves no summary.jsonl"
"$BIN" run --model_name "$M" --data_path "$DATA/P407.jsonl" --output_dir "$O4" --samples 2 --window 2 \
    --max_datapoints 6 >"$W/out6" 2>&1
check 'tail -n 1 "$W/out6" | grep -q "6 rows: 6 succeeded, 0 skipped; $((18 - n_done)) cases traced, skipped $n_done finished cases"' "resume: $(tail -n 1 "$W/out6") (had $n_done)"
check '[ "$(count "$O4/cases" "\.bin$")" -eq 18 ] && [ "$(ls "$O4/cases" | grep -c tmp)" -eq 0 ] && [ "$(wc -l <"$O4/summary.jsonl")" -eq 18 ]' "18 cases, 18 summary lines, no temp files"

# 5. Bad rows: skipped with reasons, the run goes on.
B=$W/bad.jsonl
head -n 1 "$DATA/P17.jsonl" >"$B"
echo '{"question": "broken", "answers": ["x"' >>"$B"
echo '{"answers": ["Paris"], "obj": "Paris", "passages": [{"text": "Paris is nice."}], "prompt_wo_ctx": "x is in"}' >>"$B"
echo '{"answers": [""], "subj": "Bob", "obj": "Paris", "passages": [{"text": "Bob lives in Paris."}], "prompt_wo_ctx": "Bob lives in"}' >>"$B"
echo '{"answers": ["Paris"], "subj": "Alice", "obj": "Paris", "passages": [{"text": "Bob lives in Paris."}], "prompt_wo_ctx": "Alice lives in"}' >>"$B"
long=$(i=0; while [ $i -lt 300 ]; do printf 'word '; i=$((i + 1)); done)
echo "{\"answers\": [\"Paris\"], \"subj\": \"Bob\", \"obj\": \"Paris\", \"passages\": [{\"text\": \"Bob lives in Paris. $long\"}], \"prompt_wo_ctx\": \"Bob lives in\"}" >>"$B"
echo '' >>"$B"
sed -n 2p "$DATA/P17.jsonl" >>"$B"
"$BIN" run --model_name "$M" --data_path "$B" --output_dir "$W/bad" --samples 2 --window 2 --kinds hidden >"$W/out7" 2>"$W/err7"; rc=$?
check '[ $rc -eq 0 ]' "bad rows: rc $rc $(cat "$W/err7")"
check 'tail -n 1 "$W/out7" | grep -q "7 rows: 2 succeeded, 5 skipped (reasons in .*errors.jsonl); 2 cases traced"' "bad rows: $(tail -n 1 "$W/out7")"
E=$W/bad/errors.jsonl
check '[ "$(wc -l <"$E")" -eq 5 ]' "5 error lines: $(cat "$E")"
check 'grep -q "\"row\":1,\"line\":2,.*malformed JSON" "$E"' "malformed line: $(sed -n 1p "$E")"
check 'grep -q "\"row\":2,.*missing field .*subj" "$E"' "missing field: $(sed -n 2p "$E")"
check 'grep -q "\"row\":3,.*empty answer" "$E"' "empty answer: $(sed -n 3p "$E")"
check 'grep -q "\"row\":4,.*subject .*Alice.* not found" "$E"' "span not found: $(sed -n 4p "$E")"
check 'grep -q "\"row\":5,\"line\":6,.*max positions" "$E"' "too long: $(sed -n 5p "$E")"
check '[ -s "$W/bad/cases/0_hidden_Australia.bin" ] && [ -s "$W/bad/cases/6_hidden_United-States-of-America.bin" ]' "good rows traced (row 6 after a blank line)"

# 6. Shards: 0/2 and 1/2 together = the unsharded run, and `average` merges them.
for k in 0 1; do
    "$BIN" run --model_name "$M" --data_path "$DATA/P17.jsonl" --output_dir "$W/shards/s$k" --samples 2 --window 2 \
        --max_datapoints 3 --shard $k/2 --plot_format none >"$W/out8$k" 2>&1
done
check 'tail -n 1 "$W/out80" | grep -q "2 rows: 2 succeeded" && tail -n 1 "$W/out81" | grep -q "1 rows: 1 succeeded"' "shard sizes: $(tail -n 1 "$W/out80"); $(tail -n 1 "$W/out81")"
same=1
for f in "$O1"/cases/*.bin; do
    b=$(basename "$f"); r=${b%%_*}
    g="$W/shards/s$((r % 2))/cases/$b"
    st_data "$f" >"$W/d1"; st_data "$g" >"$W/d2" 2>/dev/null
    if [ ! -s "$W/d1" ] || ! cmp -s "$W/d1" "$W/d2"; then same=0; echo "  differs: $b"; fi
done
check '[ $same -eq 1 ] && [ "$(ls "$W"/shards/s*/cases | grep -c "\.bin$")" -eq 9 ]' "shard case files: tensors byte-identical to the unsharded run's"
"$BIN" average "$W/shards/s0" "$W/shards/s1" --out "$W/avg" >"$W/out9" 2>&1
check 'tail -n 1 "$W/out9" | grep -q "^averaged 9 cases (hidden 3, mlp 3, attention 3) from 2 run dir(s)" && [ -s "$W/avg/average_all.pdf" ] && [ -s "$W/avg/average.csv" ]' "average over shards: $(tail -n 1 "$W/out9")"

# 6b. The progress line: on a terminal only, not with --quiet (script(1) gives a terminal).
if command -v script >/dev/null; then
    script -qc "'$BIN' run --model_name '$M' --data_path '$DATA/P17.jsonl' --output_dir '$O1' --samples 2 --window 2 --max_datapoints 3" /dev/null >"$W/tty1" 2>&1
    script -qc "'$BIN' run --model_name '$M' --data_path '$DATA/P17.jsonl' --output_dir '$O1' --samples 2 --window 2 --max_datapoints 3 --quiet" /dev/null >"$W/tty2" 2>&1
    check 'grep -q "ctrace: run: 3/3 rows, 9 cases (9 reused)" "$W/tty1" && ! grep -q "ctrace: run: " "$W/tty2" && grep -q "skipped 9 finished" "$W/tty2"' "progress line: $(tr '\r' '\n' <"$W/tty1" | tail -n 3)"
    check '! grep -q "ctrace: run: [0-9]" "$W/out2"' "no progress line when stderr is not a terminal"
fi

# 7. Bad paths and flags fail at once, with one line, creating nothing.
t0=$(date +%s)
"$BIN" run --model_name "$W/nomodel" --data_path "$DATA/P17.jsonl" --output_dir "$W/e1" >/dev/null 2>"$W/e"; rc=$?
check '[ $rc -ne 0 ] && [ "$(wc -l <"$W/e")" -eq 1 ] && grep -q "^ctrace: model: .*nomodel" "$W/e" && [ ! -e "$W/e1" ]' "missing model: rc $rc $(cat "$W/e")"
"$BIN" run --model_name "$M" --data_path "$W/nodata.jsonl" --output_dir "$W/e2" >/dev/null 2>"$W/e"; rc=$?
check '[ $rc -ne 0 ] && grep -q "^ctrace: .*nodata.jsonl: cannot open dataset" "$W/e" && [ ! -e "$W/e2" ]' "missing data: rc $rc $(cat "$W/e")"
mkdir -p "$W/notok" && cp "$M/config.json" "$M/model.safetensors" "$W/notok/"
"$BIN" run --model_name "$W/notok" --data_path "$DATA/P17.jsonl" --output_dir "$W/e3" >/dev/null 2>"$W/e"; rc=$?
check '[ $rc -ne 0 ] && grep -q "^ctrace: tokenizer: " "$W/e" && [ ! -e "$W/e3" ]' "model without tokenizer.json: rc $rc $(cat "$W/e")"
"$BIN" run --model_name "$M" --data_path "$DATA/P17.jsonl" --output_dir "$W/e4" --experiment_type 4 >/dev/null 2>"$W/e"; rc=$?
check '[ $rc -eq 2 ] && grep -q "experiment_type" "$W/e" && [ ! -e "$W/e4" ]' "bad experiment type: rc $rc $(cat "$W/e")"
"$BIN" run --model_name "$M" --data_path "$DATA/P17.jsonl" --output_dir "$W/e5" --shard 2/2 >/dev/null 2>"$W/e"; rc=$?
check '[ $rc -eq 2 ] && grep -q "shard" "$W/e"' "bad shard: rc $rc $(cat "$W/e")"
"$BIN" run --model_name "$M" --data_path "$DATA/P17.jsonl" --output_dir "$W/e6" --prompt_format "question: {question} answer: <extra_id_0>" --cf_context 1 >/dev/null 2>"$W/e"; rc=$?
check '[ $rc -eq 1 ] && grep -q "cf_context 1 .*has no {context}" "$W/e" && [ ! -e "$W/e6" ]' "seed argparse prompt format with --cf_context 1: rc $rc $(cat "$W/e")"
"$BIN" run --model_name "$M" --data_path "$DATA/P17.jsonl" --output_dir "$W/e7" --prompt_format "{context} {answer}" >/dev/null 2>"$W/e"; rc=$?
check '[ $rc -eq 1 ] && grep -q "unknown placeholder {answer}" "$W/e" && [ ! -e "$W/e7" ]' "unknown placeholder: rc $rc $(cat "$W/e")"
"$BIN" --model_name "$M" --bogus 1 >/dev/null 2>"$W/e"; rc=$?
check '[ $rc -eq 2 ] && grep -q "unknown flag --bogus" "$W/e"' "unknown flag: rc $rc $(cat "$W/e")"
check '[ $(($(date +%s) - t0)) -le 3 ]' "bad paths took more than 3 s"

# Out of memory stops the run with its reason instead of reporting every row as bad:
# --samples 100000 needs gigabytes for the corrupted runs, more than the address-space limit.
if nm "$BIN" 2>/dev/null | grep -q " __asan_init"; then
    # AddressSanitizer reserves terabytes of shadow address space: no run under ulimit -v
    echo "run_e2e.sh: the out-of-memory check needs a build without AddressSanitizer (it runs in make test)"
else
( ulimit -v 700000; "$BIN" run --model_name "$M" --data_path "$DATA/P17.jsonl" --output_dir "$W/oom" --kinds hidden \
    --samples 100000 --max_datapoints 3 >"$W/oom.out" 2>"$W/e" ); rc=$?
check '[ $rc -eq 1 ] && grep -q "^ctrace: line 1: hidden: .*out of memory" "$W/e" && [ ! -s "$W/oom/errors.jsonl" ] && ! grep -q "3 rows" "$W/oom.out"' \
    "out of memory in a trace: rc $rc $(cat "$W/e") $(cat "$W/oom/errors.jsonl.tmp" "$W/oom/errors.jsonl" 2>/dev/null | head -c 300)"
fi

echo "run_e2e.sh: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
