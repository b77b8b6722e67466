#!/usr/bin/env python3
"""st_maxdiff.py A B [NAME...] — the largest |a - b| over the F32 tensors of two
safetensors files (only the named ones when given; all shared F32 ones else),
and the largest |b| they hold, printed as "maxdiff MAXABS".  Standard library
only (the GPU machine may have no NumPy).  Part of make test-cuda."""
import array, json, struct, sys


def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in head.items():
        if k == "__metadata__" or v["dtype"] != "F32":
            continue
        b, e = v["data_offsets"]
        a = array.array("f")
        a.frombytes(data[b:e])
        if sys.byteorder != "little":
            a.byteswap()
        out[k] = a
    return out


def main():
    a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
    names = sys.argv[3:] or sorted(set(a) & set(b))
    d = mx = 0.0
    for k in names:
        if k not in a or k not in b or len(a[k]) != len(b[k]):
            print("inf inf  # %s missing or of another size" % k)
            return 1
        for x, y in zip(a[k], b[k]):
            if x != x or y != y:
                d = float("inf")
            d = max(d, abs(x - y))
            mx = max(mx, abs(y))
    print("%.6g %.6g" % (d, mx))
    return 0


sys.exit(main())
