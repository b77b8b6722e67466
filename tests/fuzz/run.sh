#!/bin/sh
# run.sh — runs every libFuzzer target for SECONDS (default 300) on its seed
# corpus, with ASan + UBSan (+ float-cast-overflow).  `make fuzz` builds the
# targets (clang) into build/fuzz and calls this; FUZZ_OUT names that folder.
#   tests/fuzz/run.sh [SECONDS] [TARGET...]      (from the repository root)
# Each target's corpus grows in $FUZZ_OUT/corpus_<target>; crashes are saved
# as $FUZZ_OUT/crash-*.  fuzz_encode loads the tokenizer fixtures from
# $CTRACE_FIXTURES (default build/fixtures, laid out by `make fixtures`).
set -e
SECS=${1:-300}
[ $# -gt 0 ] && shift
OUT=${FUZZ_OUT:-build/fuzz}
export CTRACE_FIXTURES="${CTRACE_FIXTURES:-$(pwd)/build/fixtures}"
TARGETS=${*:-"fuzz_safetensors fuzz_config fuzz_row fuzz_json fuzz_encode"}
for t in $TARGETS; do
    case $t in
        fuzz_encode) seeds=tests/fuzz/seeds_text; len=4096
            [ -d "$CTRACE_FIXTURES/hf-tokenizers/gpt2" ] || { echo "run.sh: no tokenizer fixtures in $CTRACE_FIXTURES (make fixtures)"; exit 2; } ;;
        fuzz_json) seeds=tests/fuzz/seeds_json; len=8192 ;;
        fuzz_safetensors) seeds=tests/fuzz/seeds_safetensors; len=4096 ;;
        fuzz_config) seeds=tests/fuzz/seeds_config; len=4096 ;;
        fuzz_row) seeds=tests/fuzz/seeds_rows; len=4096 ;;
        *) echo "run.sh: unknown target $t"; exit 2 ;;
    esac
    [ -x "$OUT/$t" ] || { echo "run.sh: $OUT/$t not built (make fuzz-build)"; exit 2; }
    mkdir -p "$OUT/corpus_$t"
    echo "== $t, $SECS s"
    "$OUT/$t" -max_total_time="$SECS" -max_len=$len -timeout=10 -seed=${FUZZ_SEED:-0} \
        -artifact_prefix="$OUT/" "$OUT/corpus_$t" "$seeds"
done
