#!/usr/bin/python3
"""Compare ROME-in-PyTorch grids (tools/rome/rome_trace.py's .npz) with ctrace's
case files, for bench/rome_side_by_side.sh.

    /usr/bin/python3 tools/rome/compare.py ROME.npz FAST_PREFIX NAIVE_PREFIX [--tol 1e-5] [--rtol 1e-4]

FAST_PREFIX / NAIVE_PREFIX: the --out of `ctrace trace --kind all` without
".bin"; the files read are PREFIX.hidden.bin, PREFIX.mlp.bin, PREFIX.attention.bin
(safetensors, docs/case-file.md: scores [T, L], low_score [], high_score []).

Prints, per kind and per pair (pytorch-fast, pytorch-naive, fast-naive), the
max |delta| over the grid and over low/high, the max relative |delta|
(divided by the grid's largest |score|) and, for information, |delta| over the
spread of the scores (max - min of the grid, low and high: how large the error
is next to the effects being measured); then the trace times the tools record
(pytorch: the .npz's seconds_K; ctrace: the case files' "seconds"); exits 1 when any absolute figure is
above --tol or any relative one above --rtol, or when the noise levels differ.
"""
import argparse
import json
import struct
import sys

import numpy as np

KINDS = ["hidden", "mlp", "attention"]


def read_case(path):
    """(tensors {name: np.ndarray}, metadata {str: str}) of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = hdr.pop("__metadata__", {}) or {}
    dts = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8"}
    out = {}
    for name, v in hdr.items():
        a, b = v["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dts[v["dtype"]]).reshape(v["shape"])
    return out, meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rome")
    ap.add_argument("fast")
    ap.add_argument("naive")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--rtol", type=float, default=1e-4)
    a = ap.parse_args()
    r = np.load(a.rome)
    bad = []
    worst_abs = worst_rel = 0.0
    secs = {"pytorch": 0.0, "fast": 0.0, "naive": 0.0}   # trace time only, summed over kinds
    for k in KINDS:
        if "scores_" + k not in r:
            continue
        grids = {"pytorch": (r["scores_" + k], float(r["low_" + k]), float(r["high_" + k]))}
        secs["pytorch"] += float(r["seconds_" + k])
        for eng, prefix in (("fast", a.fast), ("naive", a.naive)):
            t, meta = read_case(f"{prefix}.{k}.bin")
            s = json.loads(meta["ctrace"])
            # the same noise: ctrace's level (double) against the tool's
            if s["noise_level"] != float(r["noise_level"]):
                bad.append(f"{k} {eng}: noise level {s['noise_level']!r} != pytorch {float(r['noise_level'])!r}")
            grids[eng] = (t["scores"], float(t["low_score"]), float(t["high_score"]))
            secs[eng] += float(s.get("seconds", 0.0))
        g0 = grids["pytorch"]
        ref = np.abs(g0[0]).max()
        spread = max(g0[0].max(), g0[1], g0[2]) - min(g0[0].min(), g0[1], g0[2])
        for x, y in (("pytorch", "fast"), ("pytorch", "naive"), ("fast", "naive")):
            gx, gy = grids[x], grids[y]
            if gx[0].shape != gy[0].shape:
                bad.append(f"{k} {x}-{y}: grid shapes {gx[0].shape} vs {gy[0].shape}")
                continue
            d = float(np.abs(gx[0].astype(np.float64) - gy[0].astype(np.float64)).max())
            dl, dh = abs(gx[1] - gy[1]), abs(gx[2] - gy[2])
            rel = max(d, dl, dh) / ref if ref > 0 else 0.0
            worst_abs, worst_rel = max(worst_abs, d, dl, dh), max(worst_rel, rel)
            print(f"  {k:9s} {x + '-' + y:14s} max|d| scores {d:.2e}  low {dl:.2e}  high {dh:.2e}  "
                  f"relative {rel:.2e} (of max score {ref:.3e}), {max(d, dl, dh) / spread if spread > 0 else 0:.1e} of the spread")
            if max(d, dl, dh) > a.tol or rel > a.rtol:
                bad.append(f"{k} {x}-{y}: max|d| {max(d, dl, dh):.3e} (tol {a.tol:g}), relative {rel:.3e} (rtol {a.rtol:g})")
    print(f"  worst: max|d| {worst_abs:.2e}, relative {worst_rel:.2e}; noise level {float(r['noise_level']):.17g}")
    # the tools' own trace times (no process start, no load): for the bench's second ratio line
    print(f"  trace seconds: pytorch {secs['pytorch']:.3f} fast {secs['fast']:.3f} naive {secs['naive']:.3f}")
    if bad:
        for b in bad:
            print("MISMATCH: " + b, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
