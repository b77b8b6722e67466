#!/bin/sh
# The fuzz targets' smoke run inside `make test`: every seed (the regression
# inputs of issue 16's faults included) replayed once through each target,
# built with the normal compiler (build/fuzz-replay).  Where the libFuzzer
# builds exist (`make fuzz-build`, clang), each also fuzzes for FUZZ_SMOKE_SECONDS
# (default 3) from a fixed seed, so a regression the seeds miss shows here too.
BIN=${CTRACE_BIN:-build/ctrace}
BUILD=$(dirname "$BIN")
SECS=${FUZZ_SMOKE_SECONDS:-3}
n=0; bad=0
ok() { n=$((n + 1)); }
fail() { n=$((n + 1)); bad=$((bad + 1)); echo "FAIL: $*"; }
for t in safetensors:seeds_safetensors config:seeds_config row:seeds_rows json:seeds_json; do
    name=fuzz_${t%%:*}; seeds=tests/fuzz/${t#*:}
    if [ ! -x "$BUILD/fuzz-replay/$name" ]; then fail "$BUILD/fuzz-replay/$name not built (make check builds it)"; continue; fi
    out=$("$BUILD/fuzz-replay/$name" "$seeds" 2>&1) && echo "$out" | grep -q "replayed [1-9]" && ok || fail "$name replay: $out"
    if [ -x "$BUILD/fuzz/$name" ]; then
        T=$(mktemp -d /tmp/ctrace-fuzz-smoke.XXXXXX)
        out=$("$BUILD/fuzz/$name" -max_total_time="$SECS" -seed=1 -max_len=4096 -timeout=10 -artifact_prefix="$T/" "$T" "$seeds" 2>&1) \
            && ok || fail "$name fuzzing $SECS s: $(echo "$out" | grep -E "ERROR|SUMMARY|runtime error" | head -n 3)"
        rm -rf "$T"
    fi
done
echo "fuzz_smoke.sh: $((n - bad)) checks passed, $bad failed"
[ "$bad" -eq 0 ]
