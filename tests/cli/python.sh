#!/bin/sh
# The Python package (python/ctrace) against the CLI: tests/python/test_ctrace.py.
# Uses Debian's python3 (where scripts/install-deps.sh puts python3-numpy).
# Hugging Face's safetensors package, which one check opens case files with, is
# pip-installed into build/pydeps when missing and the network allows; when it
# cannot be, that check is reported as "not checked" on the closing line
# (CTRACE_REQUIRE_SAFETENSORS=1 makes it a failure).
cd "$(dirname "$0")/../.." || exit 1
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
BUILD=$(dirname "${CTRACE_BIN:-build/ctrace}")
"$PY" -c "import numpy" 2>/dev/null || { echo "FAIL: $PY has no numpy (scripts/install-deps.sh installs python3-numpy)"; echo "python.sh: 0 checks passed, 1 failed"; exit 1; }
[ -f "$BUILD/libctrace.so" ] || { echo "FAIL: $BUILD/libctrace.so missing (make)"; echo "python.sh: 0 checks passed, 1 failed"; exit 1; }
. tests/cli/sanitizer_preload.inc
DEPS="$BUILD/pydeps"
if ! PYTHONPATH="$DEPS" "$PY" -c "import safetensors.numpy" 2>/dev/null; then
    mkdir -p "$DEPS"
    timeout 120 "$PY" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
        --target "$DEPS" safetensors >"$DEPS/pip.log" 2>&1 ||
        echo "note: pip could not install safetensors (see $DEPS/pip.log): that check will be reported as not checked"
fi
CTRACE_LIB="$(cd "$BUILD" && pwd)/libctrace.so" PYTHONPATH="python:$DEPS" "$PY" tests/python/test_ctrace.py
