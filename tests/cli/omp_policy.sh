#!/bin/sh
# Fault 10 of issue 16: ctrace never re-executes itself (a re-exec of
# /proc/self/exe started valgrind's tool binary instead), so it runs under
# valgrind; and the OpenMP wait policy is the user's: libgomp's default when
# OMP_WAIT_POLICY is unset, the user's value when set.  OMP_DISPLAY_ENV prints
# "PASSIVE" both for passive and for an unset policy, so the spin count tells
# them apart: 0 for passive, 300000 for libgomp's default.
BIN=${CTRACE_BIN:-build/ctrace}
n=0; bad=0
ok() { n=$((n + 1)); }
fail() { n=$((n + 1)); bad=$((bad + 1)); echo "FAIL: $*"; }

"$BIN" version >/dev/null 2>&1 && ok || fail "ctrace version"
if ! ldd "$BIN" 2>/dev/null | grep -q libgomp; then
    # clang's libomp (make asan) reads the policy lazily and prints nothing at start-up, and
    # valgrind cannot run a sanitizer build: nothing more to check on this binary
    echo "note: $BIN does not use libgomp; the start-up checks did not run"
    echo "omp_policy.sh: $((n - bad)) checks passed, $bad failed"
    [ "$bad" -eq 0 ]; exit
fi
# libgomp prints its settings at start-up with OMP_DISPLAY_ENV
spin() { echo "$1" | sed -n "s/.*GOMP_SPINCOUNT = '\([0-9]*\)'.*/\1/p"; }
out=$(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose "$BIN" version 2>&1)
[ "$(spin "$out")" = 300000 ] && ok || fail "unset policy: libgomp's default spin count expected, got '$(spin "$out")'"
[ "$(echo "$out" | grep -c "OMP_WAIT_POLICY =")" -eq 1 ] && ok || fail "libgomp started more than once (a re-exec?)"
out=$(env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=passive OMP_DISPLAY_ENV=verbose "$BIN" version 2>&1)
[ "$(spin "$out")" = 0 ] && ok || fail "the user's OMP_WAIT_POLICY=passive not in effect (spin count '$(spin "$out")')"
out=$(OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=true "$BIN" version 2>&1)
echo "$out" | grep -q "OMP_WAIT_POLICY = 'ACTIVE'" && ok || fail "the user's OMP_WAIT_POLICY=active not kept"
if grep -q __asan_init "$BIN" 2>/dev/null; then
    # a sanitizer build that still loads libgomp (through oneDNN): valgrind cannot run it
    echo "note: $BIN is a sanitizer build; the valgrind check did not run"
elif command -v valgrind >/dev/null 2>&1; then
    out=$(env -u OMP_WAIT_POLICY valgrind -q --error-exitcode=99 "$BIN" version 2>&1) && echo "$out" | grep -q "^ctrace " && ok \
        || fail "valgrind ctrace version: $out"
    # (more than start-up needs a build without -march=native: valgrind does not know AVX-512)
else
    echo "note: valgrind is not installed; the valgrind checks did not run"
fi
echo "omp_policy.sh: $((n - bad)) checks passed, $bad failed"
[ "$bad" -eq 0 ]
