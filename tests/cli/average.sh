#!/bin/sh
# ctrace average / ctrace plot end to end on the case files in
# tests/fixtures/report (written by its make.py with its own safetensors writer;
# expected.csv holds the segment averages computed there from hand-listed
# token segments).
set -u
BIN=${CTRACE_BIN:-build/ctrace}
FIX=$(cd "$(dirname "$0")/../fixtures/report" && pwd)
T=$(mktemp -d /tmp/ct_average_sh.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0; checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }
pdf_ok() { [ -s "$1" ] && [ "$(head -c 5 "$1")" = "%PDF-" ]; }

# 1. the two shards together, PDF
if "$BIN" average "$FIX/shard0" "$FIX/shard1" --out "$T/out" >"$T/stdout" 2>"$T/stderr"; then ok; else bad "average exited $?: $(cat "$T/stderr")"; fi
for k in hidden mlp attention all; do
    if pdf_ok "$T/out/average_$k.pdf"; then ok; else bad "average_$k.pdf missing or not a PDF"; fi
done
if tail -n 1 "$T/stdout" | grep -q "^averaged 6 cases (hidden 2, mlp 2, attention 2) from 2 run dir(s); 1 skipped; aggregation: mean over cases"; then ok
else bad "summary line: $(tail -n 1 "$T/stdout")"; fi
if grep -q "9_hidden_Nowhere.bin: no case description in the metadata" "$T/stderr"; then ok; else bad "no warning for the skipped file: $(cat "$T/stderr")"; fi

# 2. the CSV against the independent reference (n and every layer, 1e-5)
if [ -s "$T/out/average.csv" ]; then
    if awk -F, -v tol=1e-5 '
        NR == FNR { key = $1 "," $2 "," $3; want[key] = $0; next }
        FNR == 1 { next }
        $2 == "ci95" || $2 ~ /^ate/ || $3 ~ /^rome_/ { next }   # intervals, ATE, ROME rows: test_report.c, test_figures.c
        { key = $1 "," $2 "," $3; if (!(key in want)) { print "unexpected row " key; bad++; next }
          split(want[key], w, ","); seen[key] = 1
          if ($6 != w[4]) { print key ": n " $6 " want " w[4]; bad++ }
          for (i = 5; i <= length(w); i++) {
              g = $(i + 2); e = w[i]
              if ((g == "") != (e == "")) { print key ": layer " i - 5 " got \"" g "\" want \"" e "\""; bad++; continue }
              if (g != "" && (g - e > tol || e - g > tol)) { print key ": layer " i - 5 " got " g " want " e; bad++ }
          } }
        END { for (k in want) if (!(k in seen)) { print "missing row " k; bad++ } exit bad > 0 }' \
        "$FIX/expected.csv" "$T/out/average.csv"; then ok; else bad "average.csv differs from expected.csv"; fi
else bad "average.csv missing"; fi

# 3. PNG, pooled, --flag=value form
if "$BIN" average "$FIX/shard0" "$FIX/shard1" --out="$T/png" --plot_format=png --aggregate=pooled >"$T/stdout" 2>/dev/null \
   && [ "$(head -c 4 "$T/png/average_all.png" | tail -c 3)" = "PNG" ] && grep -q "pooled over tokens" "$T/stdout"; then ok
else bad "png/pooled run"; fi

# 3b. the folder holding the shards: the same cases, the same numbers
if "$BIN" average "$FIX" --out "$T/parent" >"$T/stdout" 2>/dev/null && tail -n 1 "$T/stdout" | grep -q "^averaged 6 cases" \
   && cmp -s "$T/parent/average.csv" "$T/out/average.csv"; then ok
else bad "averaging the shards' parent folder: $(tail -n 1 "$T/stdout")"; fi

# 3c. --contexts: the fixtures hold no counterfactual-context case
"$BIN" average "$FIX" --out "$T/cf" --contexts cf >/dev/null 2>"$T/err"; rc=$?
if [ $rc -ne 0 ] && grep -q "no usable case files" "$T/err"; then ok; else bad "--contexts cf: rc $rc"; fi
if "$BIN" average "$FIX" --out "$T/orig" --contexts=original >/dev/null 2>&1 && cmp -s "$T/orig/average.csv" "$T/out/average.csv"; then ok
else bad "--contexts original"; fi

# 4. errors: a missing dir, a dir without cases, bad flags; nothing written
"$BIN" average "$T/nope" --out "$T/e1" 2>"$T/err"; rc=$?
if [ $rc -ne 0 ] && grep -q "^ctrace: .*nope: not a run directory" "$T/err" && [ ! -e "$T/e1" ]; then ok; else bad "missing dir: rc $rc $(cat "$T/err")"; fi
mkdir "$T/empty"
"$BIN" average "$T/empty" 2>"$T/err"; rc=$?
if [ $rc -ne 0 ] && grep -q "no usable case files" "$T/err" && [ ! -e "$T/empty/average" ]; then ok; else bad "empty dir: rc $rc $(cat "$T/err")"; fi
"$BIN" average "$FIX/shard0" --plot_format jpeg 2>"$T/err"; rc=$?
if [ $rc -eq 2 ] && grep -q "pdf, png or svg" "$T/err"; then ok; else bad "bad format: rc $rc"; fi
"$BIN" average "$FIX/shard0" --bogus 2>"$T/err"; rc=$?
if [ $rc -eq 2 ] && grep -q "unknown flag --bogus" "$T/err"; then ok; else bad "bad flag: rc $rc"; fi

# 5. ctrace plot: one case, default name from --out's extension, svg
if "$BIN" plot "$FIX/shard0/cases/0_mlp_Australia.bin" --out "$T/case.pdf" >/dev/null 2>"$T/err" && pdf_ok "$T/case.pdf"; then ok
else bad "plot pdf: $(cat "$T/err")"; fi
if "$BIN" plot "$FIX/shard1/cases/1_attention_Paris.bin" --out "$T/case.svg" >/dev/null 2>&1 && grep -q "<svg" "$T/case.svg"; then ok
else bad "plot svg"; fi
if "$BIN" plot "$FIX/shard1/cases/9_hidden_Nowhere.bin" --out "$T/nodesc.pdf" >/dev/null 2>&1 && pdf_ok "$T/nodesc.pdf"; then ok
else bad "plot of a case file without a case description"; fi
"$BIN" plot "$T/missing.bin" 2>"$T/err"; rc=$?
if [ $rc -ne 0 ] && grep -q "^ctrace: .*missing.bin" "$T/err" && [ ! -e "$T/missing.pdf" ]; then ok; else bad "plot missing: rc $rc $(cat "$T/err")"; fi
ls "$T"/out | grep -q tmp && bad "temporary files left in the output" || ok

echo "average.sh: $((checks - fails)) checks passed, $fails failed"
[ $fails -eq 0 ]
