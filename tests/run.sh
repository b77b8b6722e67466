#!/bin/sh
# Runs every test program in BUILD/tests and every tests/cli/*.sh script, then
# prints one closing line "N passed, N failed" (tests counted per program/script).
# A program or script whose last line reports 0 checks passed fails even when
# it exits 0: finding nothing to test is not a pass.
BUILD=${1:-build}
zero() { echo "$1" | tail -n 1 | grep -Eq ': 0 (checks )?passed'; }
pass=0; fail=0; failed=""
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    if out=$("$t" 2>&1) && ! zero "$out"; then
        pass=$((pass + 1)); echo "ok   $(basename "$t")  $(echo "$out" | tail -n 1)"
    else
        fail=$((fail + 1)); failed="$failed $(basename "$t")"
        echo "FAIL $(basename "$t")"; echo "$out" | tail -n 40 | sed 's/^/     /'
    fi
done
for s in tests/cli/*.sh; do
    [ -f "$s" ] || continue
    if out=$(sh "$s" 2>&1) && ! zero "$out"; then
        pass=$((pass + 1)); echo "ok   $(basename "$s")  $(echo "$out" | tail -n 1)"
    else
        fail=$((fail + 1)); failed="$failed $(basename "$s")"
        echo "FAIL $(basename "$s")"; echo "$out" | tail -n 40 | sed 's/^/     /'
    fi
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
