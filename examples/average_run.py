#!/usr/bin/env python3
"""Averages the indirect effects of a `ctrace run` directory by token segment,
with numpy only (no pandas, no torch pickles): what the seed's
take_avg_test_e*.py scripts did, read from ctrace's case files.

    ctrace run --model_name models/demo --data_path data/demo.jsonl --experiment_type 1 \\
        --max_datapoints 6 --output_dir /tmp/exp1
    PYTHONPATH=python python3 examples/average_run.py /tmp/exp1

Segments come from the token spans every case file records (Case.spans), as
`ctrace average` computes them (src/report/segments.c); the aggregation is
the case-mean (mean over cases of each case's mean over the segment's tokens).
When DIR/average/average.csv exists (`ctrace average DIR`), the largest
difference from it is printed too.
"""
import csv
import glob
import os
import sys

import numpy as np

import ctrace

SEGMENTS = ["before", "subj_first", "subj_mid", "subj_last", "between", "obj_first", "obj_mid", "obj_last",
            "after", "prompt", "last"]


def segment_masks(spans, T):
    """spans (Case.spans) -> bool [SEG, T]: which tokens belong to which segment."""
    m = np.zeros((len(SEGMENTS), T), bool)
    S, O = spans["subject"], spans["object"]

    def entity(r, first):
        if r[1] > r[0]:
            m[first, r[0]] = True
            m[first + 2, r[1] - 1] = True
            m[first + 1, r[0] + 1:r[1] - 1] = True
    entity(S, 1)
    entity(O, 5)
    a, b = (S if S[1] > S[0] else O), (O if O[1] > O[0] else S)
    if b[0] < a[0]:
        a, b = b, a
    inside = lambda r, t: r[0] <= t < r[1]
    for t in range(*spans["passage"]):
        if inside(S, t) or inside(O, t):
            continue
        if t < a[0]:
            m[0, t] = True
        elif a[1] <= t < b[0]:
            m[4, t] = True
        elif t >= b[1]:
            m[8, t] = True
    for t in range(*spans["prompt"]):
        if not (inside(S, t) or inside(O, t) or inside(spans["passage"], t)):
            m[9, t] = True
    m[:, T - 1] = False
    m[10, T - 1] = True
    return m


def average(run_dir):
    """-> {kind: (mean [SEG, L] float64 with NaN where no case has the segment, cases)}."""
    files = sorted(glob.glob(os.path.join(run_dir, "cases", "*.bin")) or glob.glob(os.path.join(run_dir, "*.bin")))
    sums, counts, cases = {}, {}, {}
    for f in files:
        c = ctrace.load_case(f)
        if c.spans is None:
            print(f"skipped {f}: no token spans recorded", file=sys.stderr)
            continue
        ie = c["ie"].astype(np.float64)                        # [T, L]
        masks = segment_masks(c.spans, c.T)                    # [SEG, T]
        n = masks.sum(1)                                       # [SEG]
        per_case = (masks.astype(np.float64) @ ie) / np.maximum(n, 1)[:, None]   # [SEG, L]
        k = c.kind
        sums.setdefault(k, np.zeros_like(per_case))
        counts.setdefault(k, np.zeros(len(SEGMENTS)))
        sums[k] += np.where(n[:, None] > 0, per_case, 0)
        counts[k] += n > 0
        cases[k] = cases.get(k, 0) + 1
    return {k: (np.where(counts[k][:, None] > 0, sums[k] / np.maximum(counts[k], 1)[:, None], np.nan), cases[k])
            for k in sums}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    run_dir = sys.argv[1]
    res = average(run_dir)
    for k, (mean, n) in res.items():
        print(f"{k}: {n} cases, mean IE by segment (rows) and layer (columns)")
        for s, row in zip(SEGMENTS, mean):
            print(f"  {s:>10} " + " ".join("    -   " if np.isnan(v) else f"{v:8.4f}" for v in row))
    ref = os.path.join(run_dir, "average", "average.csv")
    if os.path.exists(ref):
        worst, rows = 0.0, 0
        for r in csv.DictReader(open(ref)):
            if r["aggregation"] != "case_mean" or r["kind"] not in res or r["segment"] not in SEGMENTS:
                continue    # (the CSV also holds ROME's six-row layout, intervals and the ATE)
            rows += 1
            mine = res[r["kind"]][0][SEGMENTS.index(r["segment"])]
            theirs = np.array([float(r[f"layer_{l}"]) if r[f"layer_{l}"] not in ("", "nan") else np.nan
                               for l in range(len(mine))])
            both = ~np.isnan(mine) & ~np.isnan(theirs)
            if (np.isnan(mine) != np.isnan(theirs)).any():
                worst = float("inf")
            if both.any():
                worst = max(worst, float(np.abs(mine[both] - theirs[both]).max()))
        print(f"largest difference from {ref} (case_mean, {rows} segment rows): {worst:.2e}")


if __name__ == "__main__":
    main()
