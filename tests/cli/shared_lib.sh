#!/bin/sh
# build/libctrace.so, the core library a binding loads: it exports every
# function include/ctrace.h declares CT_API (and nothing of the application
# layer's), and a program linked against it alone loads a model and runs it.
# Also build/libctrace_app.so, the application layer on top of it.
set -u
B=$(dirname "${CTRACE_BIN:-build/ctrace}")
SO=$B/libctrace.so
F=${CTRACE_FIXTURES:-build/fixtures}
fails=0; checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }
[ -f "$SO" ] && ok || bad "$SO missing"
W=$(mktemp -d /tmp/ctrace-so-XXXXXX)
trap 'rm -rf "$W"' EXIT
# exports HEADER LIB TAG MIN: LIB exports every CT_API function of HEADER (at
# least MIN of them) and no other ct_/tr_ symbol; the lists go to $W/TAG.*
exports() {
    nm -D --defined-only "$2" | awk '{print $3}' | sort -u >"$W/$3.exported"
    # the names of the CT_API functions: the identifier before the first '('
    grep -h '^CT_API' "$1" | sed 's/(.*//; s/.*[ *]\([a-z_0-9]*\)$/\1/' | sort -u >"$W/$3.declared"
    n=$(wc -l <"$W/$3.declared")
    [ "$n" -gt "$4" ] && ok || bad "only $n CT_API functions found in $1"
    missing=$(comm -23 "$W/$3.declared" "$W/$3.exported" | tr '\n' ' ')
    [ -z "$missing" ] && ok || bad "declared CT_API in $1 but not exported by $2: $missing"
    # nothing internal leaks: every exported ct_/tr_ function is declared
    extra=$(grep '^ct_\|^tr_' "$W/$3.exported" | comm -13 "$W/$3.declared" - | tr '\n' ' ')
    [ -z "$extra" ] && ok || bad "exported by $2 but not in $1: $extra"
}
exports include/ctrace.h "$SO" core 50
# build/libctrace_app.so, the application layer on top of it (ct_run for
# python/ctrace's run()): exports exactly include/ctrace_app.h's CT_API
# functions (the core's internal helpers it links privately stay hidden),
# needs libctrace.so.0 beside it ($ORIGIN) and leaves nothing undefined.
APP=$B/libctrace_app.so
if [ -f "$APP" ]; then
    ok
    exports include/ctrace_app.h "$APP" app 30
    both=$(comm -12 "$W/app.exported" "$W/core.exported" | grep '^ct_' | tr '\n' ' ')
    [ -z "$both" ] && ok || bad "exported by both libraries: $both"
    readelf -d "$APP" | grep -q 'NEEDED.*\[libctrace\.so\.0\]' && readelf -d "$APP" | grep -q 'R.*PATH.*\$ORIGIN' &&
        [ -e "$B/libctrace.so.0" ] && ok || bad "$APP does not load libctrace.so.0 from beside itself"
else
    bad "$APP missing"
fi
cat >"$W/use.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctrace.h"
int main(int argc, char **argv)
{
    ct_err err = {{0}};
    ct_model *m = NULL;
    if (strcmp(ct_version(), CTRACE_VERSION)) { printf("version %s vs header %s\n", ct_version(), CTRACE_VERSION); return 1; }
    if (ct_model_load(&m, argv[1], &err)) { printf("load: %s\n", err.msg); return 1; }
    int32_t ids[3] = {1, 2, 3};
    float *lg = malloc(sizeof(float) * 3 * ct_model_vocab(m));
    if (ct_forward(m, ids, 3, lg, NULL, &err)) { printf("forward: %s\n", err.msg); return 1; }
    printf("%s %.6f\n", ct_model_backend_name(m), lg[5]);
    ct_model_free(m);
    free(lg);
    if (ct_model_load(&m, "/nonexistent", &err) == 0 || err.code != CT_ERR_INPUT) { printf("bad path accepted\n"); return 1; }
    return 0;
}
C
# a sanitizer build of the library (make asan) needs its runtime in the program too
CCX=cc
nm -D "$SO" | grep -q " U __asan_" && CCX="clang -fsanitize=address,undefined"
if $CCX -Iinclude -o "$W/use" "$W/use.c" -L"$B" -lctrace 2>"$W/cc.err"; then
    ok
    out=$(LD_LIBRARY_PATH=$B "$W/use" "$F/hf-tiny/gpt2" 2>&1); rc=$?
    [ $rc -eq 0 ] && echo "$out" | grep -q "^cpu " && ok || bad "program on libctrace.so: rc $rc: $out"
    ldd "$W/use" | grep -q cairo && bad "a core-only program pulls in cairo" || ok
else
    bad "linking against libctrace.so alone: $(head -c 400 "$W/cc.err")"
fi
echo "shared_lib.sh: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
