#!/bin/sh
# `pip install ./python` works offline: a fresh venv (seeing Debian's numpy and
# setuptools) installs the package with --no-index, the installed package
# loads the libctrace.so shipped inside it (not build/'s), and traces the
# README's example to its printed numbers; run() loads the libctrace_app.so shipped beside it.
cd "$(dirname "$0")/../.." || exit 1
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
ROOT=$(pwd)
BUILD=$(cd "$(dirname "${CTRACE_BIN:-build/ctrace}")" && pwd)
FIX=$(cd "${CTRACE_FIXTURES:-build/fixtures}" && pwd)
. tests/cli/sanitizer_preload.inc
V=$(mktemp -d /tmp/ctrace-pip.XXXXXX)
trap 'rm -rf "$V"; rm -rf "$ROOT/python/build" "$ROOT/python/ctrace.egg-info"' EXIT
n=0; bad=0
ok() { n=$((n + 1)); }
fail() { n=$((n + 1)); bad=$((bad + 1)); echo "FAIL: $*"; }

if ! "$PY" -m venv --system-site-packages "$V/env" >"$V/log" 2>&1; then
    echo "FAIL: $PY -m venv: $(tail -n 3 "$V/log") (scripts/install-deps.sh installs python3-venv)"
    echo "python_install.sh: 0 checks passed, 1 failed"; exit 1
fi
if (cd "$V" && CTRACE_LIB="$BUILD/libctrace.so" "$V/env/bin/pip" install --no-index --disable-pip-version-check \
        "$ROOT/python" >"$V/log" 2>&1); then ok; else fail "pip install --no-index ./python: $(tail -n 5 "$V/log")"; fi
out=$(cd "$V" && env -u CTRACE_LIB "$V/env/bin/python" -c "
import ctrace, os
print(os.path.relpath(ctrace.library_path(), '$V'))
m = ctrace.Model('$FIX/hf-tiny/gpt2')
ids = [1,200,13,77,511,0,5,5,42,300,128,9,77,401,256,33,2,460,101]
r = ctrace.trace(m, ids, (5, 9), [492], samples=3)
print('high %.6f low %.6f' % (r.high_score, r.low_score))
rr = ctrace.run('$ROOT/models/demo', '$ROOT/data/demo.jsonl', '$V/run', samples=2, window=3, max_cf=1,
                max_datapoints=1, kinds='hidden', plot_format=None)
print('run %d rows %d cases' % (rr.rows_total, rr.cases_written))
print(os.path.relpath(ctrace._lib.app_lib().path, '$V'))
" 2>&1)
echo "$out" | head -n 1 | grep -q "^env/lib/python3.*/site-packages/ctrace/libctrace.so$" && ok || fail "installed package loads $out"
echo "$out" | grep -q "high 0.277139 low 0.272158" && ok || fail "trace from the installed package: $out"
echo "$out" | grep -q "^run 1 rows 1 cases$" && ok || fail "run() from the installed package: $out"
echo "$out" | tail -n 1 | grep -q "^env/lib/python3.*/site-packages/ctrace/libctrace_app.so$" && ok ||
    fail "installed package loads its application library from $(echo "$out" | tail -n 1)"
echo "python_install.sh: $((n - bad)) checks passed, $bad failed"
[ "$bad" -eq 0 ]
