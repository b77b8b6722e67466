#!/bin/sh
# run.sh — builds the tokenizer fuzz targets with clang (libFuzzer + ASan +
# UBSan) and runs each for SECONDS (default 300).  Not part of `make test`.
#   tests/fuzz/run.sh [SECONDS]      (from the repository root)
set -e
SECS=${1:-300}
OUT=${FUZZ_OUT:-build/fuzz}
make --no-print-directory fixtures >/dev/null   # the tokenizers fuzz_encode loads
mkdir -p "$OUT/corpus_text" "$OUT/corpus_json"
SRC="src/tokenizer/*.c src/common/err.c"
FLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Isrc"
LIBS="-lcjson -lonig -lutf8proc"
clang $FLAGS -o "$OUT/fuzz_encode" tests/fuzz/fuzz_encode.c $SRC $LIBS
clang $FLAGS -o "$OUT/fuzz_json" tests/fuzz/fuzz_json.c $SRC $LIBS
export CTRACE_FIXTURES="${CTRACE_FIXTURES:-$(pwd)/build/fixtures}"
"$OUT/fuzz_encode" -max_total_time="$SECS" -max_len=4096 -timeout=10 -artifact_prefix="$OUT/" "$OUT/corpus_text" tests/fuzz/seeds_text
"$OUT/fuzz_json" -max_total_time="$SECS" -max_len=8192 -timeout=10 -artifact_prefix="$OUT/" "$OUT/corpus_json" tests/fuzz/seeds_json
