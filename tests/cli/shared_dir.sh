#!/bin/sh
# Fault 2 of issue 16: the shards of a job array share one output directory.
# Run together, each writes its own summary/errors files (no line lost or
# torn), `ctrace average` joins them into summary.jsonl identical to an
# unsharded run's, and a second process on a shard already running is
# refused with a message (the shard's lock).
BIN=${CTRACE_BIN:-build/ctrace}
T=$(mktemp -d /tmp/ctrace-cli-shared.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0; bad=0
ok() { n=$((n + 1)); }
fail() { n=$((n + 1)); bad=$((bad + 1)); echo "FAIL: $*"; }
RUN="$BIN run --model_name models/demo --data_path data/demo.jsonl --max_datapoints 6 --samples 2 --kinds hidden --quiet"

$RUN --output_dir "$T/ref" >/dev/null 2>&1 || fail "unsharded reference run"
# three shards at once in one directory
$RUN --output_dir "$T/out" --shard 0/3 >"$T/o0" 2>&1 & p0=$!
$RUN --output_dir "$T/out" --shard 1/3 >"$T/o1" 2>&1 & p1=$!
$RUN --output_dir "$T/out" --shard 2/3 >"$T/o2" 2>&1 & p2=$!
wait $p0 && wait $p1 && wait $p2 && ok || fail "a shard failed: $(cat "$T/o0" "$T/o1" "$T/o2")"
[ -s "$T/out/summary.shard-0-of-3.jsonl" ] && [ -s "$T/out/summary.shard-2-of-3.jsonl" ] && [ -s "$T/out/run.shard-1-of-3.json" ] \
    && ok || fail "per-shard files: $(ls "$T/out")"
[ "$(ls "$T/out" | grep -c '\.tmp')" -eq 0 ] && ok || fail "temporary files left: $(ls "$T/out")"
"$BIN" average "$T/out" >"$T/avg" 2>&1 && ok || fail "average: $(cat "$T/avg")"
cmp -s "$T/ref/summary.jsonl" "$T/out/summary.jsonl" && ok \
    || fail "joined summary.jsonl differs from the unsharded run's ($(wc -l <"$T/out/summary.jsonl" 2>/dev/null) lines, want $(wc -l <"$T/ref/summary.jsonl"))"
[ -e "$T/out/errors.jsonl" ] && ok || fail "no joined errors.jsonl"
# a final unsharded run in the same directory reuses every case and writes the whole summary
$RUN --output_dir "$T/out" >"$T/final" 2>&1 && grep -q "0 cases traced" "$T/final" && ok || fail "final unsharded run: $(cat "$T/final")"
cmp -s "$T/ref/summary.jsonl" "$T/out/summary.jsonl" && ok || fail "final run's summary.jsonl differs"
"$BIN" average "$T/out" >/dev/null 2>&1 && cmp -s "$T/ref/summary.jsonl" "$T/out/summary.jsonl" && ok \
    || fail "average after the final run replaced its summary"

# a second process on a shard that is running: refused, the first one's files untouched
cp "$T/out/summary.shard-1-of-3.jsonl" "$T/before"
flock "$T/out/.lock.shard-1-of-3" $RUN --output_dir "$T/out" --shard 1/3 >"$T/second" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "another ctrace run.*already writing to this output directory (shard 1/3)" "$T/second" && ok \
    || fail "second process on shard 1/3: rc $rc: $(cat "$T/second")"
cmp -s "$T/before" "$T/out/summary.shard-1-of-3.jsonl" && ok || fail "the refused run changed the shard's summary"
# another shard is not blocked by it
flock "$T/out/.lock.shard-1-of-3" $RUN --output_dir "$T/out" --shard 0/3 >/dev/null 2>&1 && ok || fail "shard 0/3 blocked by shard 1/3's lock"

echo "shared_dir.sh: $((n - bad)) checks passed, $bad failed"
[ "$bad" -eq 0 ]
