#!/bin/sh
# The seed tool's designs at the command line (docs/seed-designs.md), on the
# demo model: --contexts original|cf|all (and the seed's --cf_context 0|1)
# give the right set of case files; --noise_source cf_embeddings and
# --patch_source cf_passage skip, with one line naming the row and the
# counterfactual, a row whose counterfactual does not fit (another token
# count); a rerun refuses finished cases traced with another noise or patch
# source.  (The numbers themselves: tests/test_seed_designs.c against
# tools/demo/seed_designs.py.)
cd "$(dirname "$0")/../.." || exit 1
BIN=${CTRACE_BIN:-build/ctrace}
T=$(mktemp -d /tmp/ctrace-cli-seed-designs.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0; bad=0
check() { n=$((n + 1)); if eval "$1"; then :; else bad=$((bad + 1)); echo "FAIL: $2"; fi; }
cases() { ls "$1/cases" 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//'; }

head -n 1 data/demo.jsonl >"$T/one.jsonl"      # Lorimel; obj_cf Nestrel, Kelvar, Istrem (one token each)
run() { out=$1; shift; "$BIN" run --model_name models/demo --experiment_type 2 --kinds hidden --samples 2 --max_cf 2 \
         --plot_format none --quiet --threads 1 --output_dir "$out" "$@" >"$out.out" 2>"$out.err"; }

# --- which contexts: case files {i}_{kind}_{obj} (own passage), {i}_{kind}_{cf} (cf passages)
run "$T/orig" --data_path "$T/one.jsonl" --contexts original; rc=$?
check '[ $rc -eq 0 ] && [ "$(cases "$T/orig")" = "0_hidden_Lorimel.bin" ]' "--contexts original: rc $rc, cases '$(cases "$T/orig")' $(cat "$T/orig.err")"
run "$T/cf" --data_path "$T/one.jsonl" --contexts cf; rc=$?
check '[ $rc -eq 0 ] && [ "$(cases "$T/cf")" = "0_hidden_Kelvar.bin 0_hidden_Nestrel.bin" ]' "--contexts cf: rc $rc, cases '$(cases "$T/cf")' $(cat "$T/cf.err")"
run "$T/all" --data_path "$T/one.jsonl" --contexts all; rc=$?
check '[ $rc -eq 0 ] && [ "$(cases "$T/all")" = "0_hidden_Kelvar.bin 0_hidden_Lorimel.bin 0_hidden_Nestrel.bin" ]' "--contexts all: rc $rc, cases '$(cases "$T/all")'"
run "$T/cf1" --data_path "$T/one.jsonl" --cf_context 1; rc=$?
check '[ $rc -eq 0 ] && [ "$(cases "$T/cf1")" = "$(cases "$T/all")" ]' "--cf_context 1 is --contexts all: rc $rc, cases '$(cases "$T/cf1")'"
run "$T/cf0" --data_path "$T/one.jsonl" --cf_context 0; rc=$?
check '[ $rc -eq 0 ] && [ "$(cases "$T/cf0")" = "$(cases "$T/orig")" ]' "--cf_context 0 is --contexts original: rc $rc, cases '$(cases "$T/cf0")'"
check 'grep -q "\"contexts\":[[:space:]]*\"cf\"" "$T/cf/run.json" && grep -q "\"contexts\":[[:space:]]*\"all\"" "$T/cf1/run.json"' "run.json records the contexts"
# a cf passage is the same case whichever option traced it (its summary line: p_clean, p_corrupt, te, top_ie)
check '[ "$(grep "\"cf\":\"Kelvar\"" "$T/cf/summary.jsonl")" = "$(grep "\"cf\":\"Kelvar\"" "$T/all/summary.jsonl")" ] && grep -q "\"cf\":\"Kelvar\"" "$T/cf/summary.jsonl"' \
    "--contexts cf and all trace the same Kelvar case"
run "$T/both" --data_path "$T/one.jsonl" --contexts cf --cf_context 1; rc=$?
check '[ $rc -eq 2 ] && grep -q "not both" "$T/both.err"' "--contexts with --cf_context: rc $rc $(cat "$T/both.err")"
run "$T/badc" --data_path "$T/one.jsonl" --contexts both; rc=$?
check '[ $rc -eq 2 ] && grep -q "original, cf or all" "$T/badc.err"' "--contexts both: rc $rc $(cat "$T/badc.err")"

# --- a counterfactual of another token count: that row skipped, with one line naming it
# (row 1's obj_cf[1] "Kelvar" becomes "Zorbax Quill": 6 tokens for the one-token object)
sed -n 1,2p data/demo.jsonl | awk 'NR == 2 { sub(/"Kelvar"/, "\"Zorbax Quill\"") } { print }' >"$T/two.jsonl"
run "$T/emb" --data_path "$T/two.jsonl" --noise_source cf_embeddings --metric logratio; rc=$?
check '[ $rc -eq 0 ] && grep -q "1 succeeded, 1 skipped" "$T/emb.out"' "cf_embeddings with a 6-token cf: rc $rc $(cat "$T/emb.out" "$T/emb.err")"
check '[ "$(cases "$T/emb")" = "0_hidden_Lorimel.bin" ]' "cf_embeddings: cases '$(cases "$T/emb")'"
check '[ "$(wc -l <"$T/emb/errors.jsonl")" -eq 1 ] && grep -q "line 2: --noise_source cf_embeddings: obj_cf\[1\] \\\\\"Zorbax Quill\\\\\" is 6 tokens, the corrupted object 1" "$T/emb/errors.jsonl"' \
    "cf_embeddings: errors.jsonl $(cat "$T/emb/errors.jsonl")"
run "$T/pas" --data_path "$T/two.jsonl" --noise_source cf_embeddings --patch_source cf_passage --reverse_patching 1; rc=$?
check '[ $rc -eq 0 ] && grep -q "1 succeeded, 1 skipped" "$T/pas.out" && [ "$(wc -l <"$T/pas/errors.jsonl")" -eq 1 ] && grep -q "line 2: --noise_source cf_embeddings: obj_cf\[1\]" "$T/pas/errors.jsonl"' \
    "cf_passage + cf_embeddings with a 6-token cf: rc $rc $(cat "$T/pas.out") $(cat "$T/pas/errors.jsonl")"
# the passage alone (Gaussian noise on the subject): the cf passage is 5 tokens longer
run "$T/pas1" --data_path "$T/two.jsonl" --experiment_type 1 --patch_source cf_passage --reverse_patching 1; rc=$?
check '[ $rc -eq 0 ] && grep -q "1 succeeded, 1 skipped" "$T/pas1.out" && grep -q "line 2: --patch_source cf_passage: the prompt with obj_cf\[1\] \\\\\"Zorbax Quill\\\\\" in the passage is [0-9]* tokens, the traced one [0-9]*" "$T/pas1/errors.jsonl"' \
    "cf_passage with a 6-token cf: rc $rc $(cat "$T/pas1.out") $(cat "$T/pas1/errors.jsonl")"
# with one sample only obj_cf[0] is used: the row is traced
run "$T/emb1" --data_path "$T/two.jsonl" --noise_source cf_embeddings --samples 1; rc=$?
check '[ $rc -eq 0 ] && grep -q "2 succeeded, 0 skipped" "$T/emb1.out"' "cf_embeddings, 1 sample (only obj_cf[0] used): rc $rc $(cat "$T/emb1.out")"

# --- resume: the same settings reuse the finished cases; another noise or patch source is refused
run "$T/emb" --data_path "$T/two.jsonl" --noise_source cf_embeddings --metric logratio; rc=$?
check '[ $rc -eq 0 ] && grep -q "0 cases traced, skipped 1 finished" "$T/emb.out"' "rerun with the same settings: rc $rc $(cat "$T/emb.out" "$T/emb.err")"
check 'grep -q "\"noise_source\":[[:space:]]*\"cf_embeddings\"" "$T/emb/run.json" && grep -q "\"patch_source\":[[:space:]]*\"opposite_run\"" "$T/emb/run.json"' "run.json records the sources"
run "$T/emb" --data_path "$T/two.jsonl" --metric logratio; rc=$?
check '[ $rc -eq 1 ] && grep -q "0_hidden_Lorimel.bin: a finished case from another run (noise_source cf_embeddings; this run: gaussian)" "$T/emb.err"' \
    "resume with Gaussian noise over cf_embeddings cases: rc $rc $(cat "$T/emb.err")"
run "$T/orig" --data_path "$T/one.jsonl" --noise_source cf_embeddings; rc=$?
check '[ $rc -eq 1 ] && grep -q "(noise_source gaussian; this run: cf_embeddings)" "$T/orig.err"' \
    "resume with cf_embeddings over Gaussian cases: rc $rc $(cat "$T/orig.err")"
run "$T/pas" --data_path "$T/two.jsonl" --noise_source cf_embeddings --reverse_patching 1; rc=$?
check '[ $rc -eq 1 ] && grep -q "(patch_source cf_passage; this run: opposite_run)" "$T/pas.err"' \
    "resume with another patch source: rc $rc $(cat "$T/pas.err")"
run "$T/badn" --data_path "$T/one.jsonl" --noise_source uniform; rc=$?
check '[ $rc -eq 2 ] && grep -q "gaussian or cf_embeddings" "$T/badn.err"' "--noise_source uniform: rc $rc $(cat "$T/badn.err")"
run "$T/nocf" --data_path "$T/one.jsonl" --noise_source cf_embeddings --max_cf 0; rc=$?
check '[ $rc -eq 1 ] && grep -q "needs --max_cf >= 1" "$T/nocf.err"' "--noise_source cf_embeddings --max_cf 0: rc $rc $(cat "$T/nocf.err")"

# --- ctrace average does not mix noise or patch sources
"$BIN" average "$T/orig" "$T/emb1" --out "$T/avg1" >"$T/avg1.out" 2>&1; rc=$?
check '[ $rc -ne 0 ] && grep -q "is corrupted with cf_embeddings but .* with gaussian" "$T/avg1.out"' \
    "average of Gaussian and cf_embeddings cases: rc $rc $(cat "$T/avg1.out")"
run "$T/rev" --data_path "$T/one.jsonl" --noise_source cf_embeddings --reverse_patching 1; rc=$?
run "$T/pas2" --data_path "$T/one.jsonl" --noise_source cf_embeddings --reverse_patching 1 --patch_source cf_passage; rc2=$?
"$BIN" average "$T/rev" "$T/pas2" --out "$T/avg2" >"$T/avg2.out" 2>&1; rc=$?
check '[ $rc2 -eq 0 ] && [ $rc -ne 0 ] && grep -q "is patched from the counterfactual passages but .* from the opposite run" "$T/avg2.out"' \
    "average of cf_passage and opposite-run cases: rc $rc $(cat "$T/avg2.out")"
"$BIN" average "$T/pas2" --out "$T/avg3" >"$T/avg3.out" 2>&1; rc=$?
check '[ $rc -eq 0 ]' "average of cf_passage cases alone: rc $rc $(cat "$T/avg3.out")"

# --- experiment 3's span: the seed's e22 one from the prompt's start (ranges: tests/test_seed_designs.c)
run "$T/rel" --data_path "$T/one.jsonl" --experiment_type 3 --relation_span from_prompt_start --contexts cf --max_cf 1; rc=$?
check '[ $rc -eq 0 ] && [ "$(cases "$T/rel")" = "0_hidden_Nestrel.bin" ] && grep -q "\"relation_span\":[[:space:]]*\"from_prompt_start\"" "$T/rel/run.json"' \
    "--relation_span from_prompt_start: rc $rc, cases '$(cases "$T/rel")' $(cat "$T/rel.err")"
run "$T/rel" --data_path "$T/one.jsonl" --experiment_type 3 --contexts cf --max_cf 1; rc=$?
check '[ $rc -eq 1 ] && grep -q "0_hidden_Nestrel.bin: a finished case from another run (its target ranges" "$T/rel.err"' \
    "resume with the passage's relation span over from_prompt_start cases: rc $rc $(cat "$T/rel.err")"
run "$T/rel2" --data_path "$T/one.jsonl" --relation_span from_prompt_start; rc=$?
check '[ $rc -eq 1 ] && grep -q "experiment 3.s span; this run is --experiment_type 2" "$T/rel2.err"' \
    "--relation_span from_prompt_start with experiment 2: rc $rc $(cat "$T/rel2.err")"
run "$T/rel3" --data_path "$T/one.jsonl" --experiment_type 3 --relation_span prefix; rc=$?
check '[ $rc -eq 2 ] && grep -q "passage or from_prompt_start" "$T/rel3.err"' "--relation_span prefix: rc $rc $(cat "$T/rel3.err")"

echo "seed_designs.sh: $((n - bad)) checks passed, $bad failed"
[ "$bad" -eq 0 ]
