#!/bin/sh
# gpu-check.sh — everything issue 12 needs checked on a GPU, in one go, for a
# session that is lent one (15 minutes of device time: run it once, read the
# summary).  Builds with CUDA=1 (build-cuda/), runs make test-cuda (every op
# against the reference; logits and traces --device cuda against the CPU on
# the fixtures) and the benchmark (random Llama-3.1-8B-layout model, bf16
# compute, T = 60, S = 10, window 10, three kinds, subject at token 1 and 40),
# and prints one summary.  Logs go to $OUT (or build-cuda/gpu-check/).
#   scripts/gpu-check.sh [--quick]   (--quick: the benchmark on 4 layers)
# Until this has run on a GPU, nothing of the CUDA backend is known to work.
set -u
cd "$(dirname "$0")/.." || exit 1
LOG=${OUT:-build-cuda/gpu-check}
mkdir -p "$LOG"
LAYERS=32
[ "${1:-}" = "--quick" ] && LAYERS=4
JOBS=$(nproc 2>/dev/null || echo 2)
t0=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$LOG/gpu.txt" 2>&1 || true
echo "gpu: $(head -n 1 "$LOG/gpu.txt")"
# The build needs the Debian packages `make deps` installs (a GPU machine may
# not have them, and may reach no package server): say which headers are missing.
missing=""
for h in cblas.h:/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h cjson/cJSON.h oniguruma.h utf8proc.h cairo/cairo.h \
         cublas_v2.h:${CUDA_HOME:-/usr/local/cuda}/include/cublas_v2.h; do
    name=${h%%:*}; path=${h#*:}; [ "$path" = "$h" ] && path=/usr/include/$h
    [ -f "$path" ] || [ -f "/usr/include/$name" ] || missing="$missing $name"
done
[ -n "$missing" ] && echo "missing headers (install libopenblas-dev libcjson-dev libonig-dev libutf8proc-dev libcairo2-dev, or carry them):$missing"
if make CUDA=1 -j"$JOBS" all cuda-build >"$LOG/build.log" 2>&1; then build=ok; else build=FAILED; fi
echo "build: $build ($(($(date +%s) - t0)) s; $(grep -c -i "warning:" "$LOG/build.log") warning lines)"
ops=skipped; cli=skipped; bench=skipped
if [ "$build" = ok ]; then
    timeout 300 build-cuda/tests/cuda/test_ops_cuda >"$LOG/test_ops_cuda.log" 2>&1; rc=$?
    ops="rc $rc: $(tail -n 1 "$LOG/test_ops_cuda.log")"
    CTRACE_FIXTURES="$PWD/build-cuda/fixtures" CTRACE_BIN="$PWD/build-cuda/ctrace" \
        timeout 300 sh tests/cuda/cli_cuda.sh >"$LOG/cli_cuda.log" 2>&1; rc=$?
    cli="rc $rc: $(tail -n 1 "$LOG/cli_cuda.log")"
    timeout 420 build-cuda/bench/cuda/bench_cuda bf16 fast layers "$LAYERS" >"$LOG/bench.log" 2>&1; rc=$?
    bench="rc $rc"
fi
echo "================ gpu-check summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(($(date +%s) - t0)) s)"
echo "gpu:          $(head -n 1 "$LOG/gpu.txt")"
echo "build:        $build${missing:+ (missing headers:$missing)}"
[ "$build" = ok ] || grep -m 5 -E "error|cannot find" "$LOG/build.log" | sed 's/^/              /'
echo "test_ops:     $ops"
[ -f "$LOG/test_ops_cuda.log" ] && grep "worst normalized" "$LOG/test_ops_cuda.log" | sed 's/^/              /'
[ -f "$LOG/test_ops_cuda.log" ] && grep "^FAIL" "$LOG/test_ops_cuda.log" | head -n 10 | sed 's/^/              /'
echo "cli (logits, traces vs cpu): $cli"
[ -f "$LOG/cli_cuda.log" ] && grep "^FAIL" "$LOG/cli_cuda.log" | head -n 10 | sed 's/^/              /'
echo "bench (${LAYERS} layers): $bench"
[ -f "$LOG/bench.log" ] && grep -E "GEMM|subject at|uploaded|memory|bench_cuda" "$LOG/bench.log" | sed 's/^/              /'
echo "logs:         $LOG"
