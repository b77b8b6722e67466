#!/bin/sh
# `ctrace run` on the bundled demo model against an independent PyTorch
# implementation (tools/demo/te.py, which wrote tests/fixtures/demo_te.json):
# per row, for experiments 1, 2 and 3 (noise on the passage's subject, object
# or relation tokens), the same token ranges, the same clean p(answer) and the
# same mean corrupted p(answer), to DEMO_TE_TOL (default 1e-4) absolute.
# Regenerate the fixture with
#   /usr/bin/python3 tools/demo/te.py --rows 0-7,24-31 --out tests/fixtures/demo_te.json
cd "$(dirname "$0")/../.." || exit 1
BIN=${CTRACE_BIN:-build/ctrace}
FIX=${DEMO_TE_FIXTURE:-tests/fixtures/demo_te.json}   # an absolute path, e.g. all 48 rows from te.py --out
TOL=${DEMO_TE_TOL:-1e-4}
T=$(mktemp -d /tmp/ctrace-cli-demo-te.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0; bad=0

# The data rows the fixture covers (indices into data/demo.jsonl, blank lines
# not counted, as te.py reads them), in order: ctrace's row k is rows[k].
rows=$(sed -n 's/.*"row": *\([0-9][0-9]*\),.*/\1/p' "$FIX" | sort -n -u | tr '\n' ' ')
[ -n "$rows" ] || { echo "FAIL: no rows in $FIX"; echo "demo_te.sh: 0 checks passed, 1 failed"; exit 1; }
awk -v rows="$rows" 'BEGIN { k = 0; n = split(rows, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1 }
    NF { if (k in want) print; k++ }' data/demo.jsonl >"$T/rows.jsonl"

for e in 1 2 3; do
    case $e in 1) span=subject ;; 2) span=object ;; 3) span=relation ;; esac
    if ! "$BIN" run --model_name models/demo --data_path "$T/rows.jsonl" --experiment_type $e \
            --kinds hidden --samples 10 --plot_format none --quiet --output_dir "$T/e$e" >/dev/null 2>"$T/err"; then
        n=$((n + 1)); bad=$((bad + 1)); echo "FAIL: ctrace run --experiment_type $e: $(cat "$T/err")"; continue
    fi
    # Fixture lines first (spaces removed), then ctrace's summary.jsonl.
    out=$(awk -v span="$span" -v tol="$TOL" -v rows="$rows" -v e="$e" '
        function num(s, key,   v) {
            if (!match(s, "\"" key "\":-?[0-9][0-9.eE+-]*")) return "";
            v = substr(s, RSTART, RLENGTH); sub(/^[^:]*:/, "", v); return v
        }
        function arr(s, key,   i, c, d, j) {   # the balanced [...] after "key":
            i = index(s, "\"" key "\":[");
            if (!i) return "";
            i += length(key) + 3; d = 0;
            for (j = i; j <= length(s); j++) {
                c = substr(s, j, 1);
                if (c == "[") d++; else if (c == "]" && --d == 0) return substr(s, i, j - i + 1)
            }
            return ""
        }
        function d(a, b) { a += 0; b += 0; return a > b ? a - b : b - a }
        function check(ok, msg) { n++; if (!ok) { bad++; print "FAIL: experiment " e " row " row ": " msg } }
        BEGIN { nr = split(rows, r, " ") }
        FNR == NR {
            gsub(/ /, "");
            if (index($0, "\"span\":\"" span "\"") == 0) next;
            row = num($0, "row");
            fc[row] = num($0, "p_clean"); fk[row] = num($0, "p_corrupt"); fr[row] = arr($0, "ranges");
            next
        }
        {
            k = num($0, "row"); row = r[k + 1];
            if (k == "" || !(row in fc)) { check(0, "summary line " FNR " has no fixture row"); next }
            seen[row] = 1;
            rg = match($0, /"spans":\{[^}]*\}/) ? arr(substr($0, RSTART, RLENGTH), span) : "";
            if (span != "relation") rg = "[" rg "]";
            check(rg == fr[row], span " tokens " rg ", te.py " fr[row]);
            pc = num($0, "p_clean"); pk = num($0, "p_corrupt");
            check(pc != "" && d(pc, fc[row]) <= tol + 0, sprintf("p_clean %.9g, te.py %.9g (diff %.3g)", pc, fc[row], d(pc, fc[row])));
            check(pk != "" && d(pk, fk[row]) <= tol + 0, sprintf("p_corrupt %.9g, te.py %.9g (diff %.3g)", pk, fk[row], d(pk, fk[row])));
            if (d(pc, fc[row]) > mc) mc = d(pc, fc[row]);
            if (d(pk, fk[row]) > mk) mk = d(pk, fk[row])
        }
        END {
            for (row in fc) if (!(row in seen)) { check(0, "missing from summary.jsonl") }
            printf "experiment %d (%s): %d rows, max |diff| p_clean %.2g, p_corrupt %.2g\n", e, span, nr, mc, mk;
            print n + 0, bad + 0
        }' "$FIX" "$T/e$e/summary.jsonl")
    echo "$out" | sed '$d'
    set -- $(echo "$out" | tail -n 1)
    n=$((n + ${1:-0})); bad=$((bad + ${2:-1}))
done

echo "demo_te.sh: $((n - bad)) checks passed, $bad failed"
[ "$bad" -eq 0 ]
