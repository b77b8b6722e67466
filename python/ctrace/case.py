"""case.py - ctrace.load_case(): a case file (docs/case-file.md) as numpy arrays
plus its description (tokens, spans, settings) as Python objects."""
import ctypes as C
import json
import os

import numpy as np

from ._lib import lib, ct_err, ct_st_file
from .errors import Error

# enum ct_dtype -> numpy dtype (little-endian)
_DTYPES = {0: "<f4", 1: "<f2", 3: "<f8", 4: "<i4", 5: "<i8", 6: "u1", 7: "i1", 8: "?"}


def read_safetensors(path):
    """Any safetensors file -> (tensors: dict name -> numpy array, metadata: dict
    of strings), read and validated by the library (ct_st_open: header inside
    the file, known dtypes, sizes, no overlaps).  BF16 tensors come back as
    float32 (numpy has no bfloat16)."""
    L = lib()
    f = ct_st_file()
    err = ct_err()
    L.check(L.ct_st_open(C.byref(f), os.fspath(path).encode(), C.byref(err)), err)
    try:
        out = {}
        for i in range(f.n):
            v = f.t[i]
            name = v.name.decode()
            shape = tuple(v.shape[:v.ndim])
            raw = C.string_at(v.data, v.nbytes) if v.nbytes else b""
            if v.dtype == 2:     # BF16: the upper half of a float32
                u = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
                out[name] = u.view(np.float32).reshape(shape)
            elif v.dtype in _DTYPES:
                out[name] = np.frombuffer(raw, _DTYPES[v.dtype]).reshape(shape).copy()
            else:
                raise Error(f"{path}: tensor {name}: dtype {L.ct_dtype_name(v.dtype).decode()} not supported")
        meta = json.loads(f.metadata.decode()) if f.metadata else {}
    finally:
        L.ct_st_close(C.byref(f))
    return out, meta


class Case:
    """One case file.

    arrays     dict name -> numpy array: every tensor of the file (scores [T, L],
               scores_samples [S, T, L], low_score [], high_score [], low_samples [S],
               te [], ie [T, L], input_ids [T], target_ranges [R, 2], answer_ids [A],
               and cf_* with counterfactuals); also case.scores, case["scores"]
    metadata   the safetensors __metadata__ (dict of strings)
    settings   the "ctrace" settings JSON, parsed (kind, window, samples, noise_rule,
               noise_level, seed, replace, reverse_patching, metric, engine, tokens,
               target_ranges, answer, counterfactuals, T, L, S, ...)
    info       the case description `ctrace run` records (row, line, kind, experiment,
               window, reverse, answer, metric, cf, text, T, tokens, spans), or None
    tokens     [T] token texts: the description's, else `ctrace trace --prompt`'s
               token_strings, else None
    spans      dict of token ranges (passage, prompt, subject, object: [b, e];
               relation: [[b, e], ...]; last: T-1), or None
    kind, metric, window, answer (text or None), T, L, S
    """

    def __init__(self, path, arrays, metadata):
        self.path = os.fspath(path)
        self.arrays = arrays
        self.metadata = metadata
        if metadata.get("format") != "ctrace-case-1" or "ctrace" not in metadata:
            raise Error(f"{path}: not a ctrace case file (no \"format\": \"ctrace-case-1\" metadata)")
        try:
            self.settings = json.loads(metadata["ctrace"])
        except ValueError as e:
            raise Error(f"{path}: the \"ctrace\" metadata is not JSON: {e}") from None
        info = self.settings.get("case")
        if info is None and "ctrace_case" in metadata:
            info = json.loads(metadata["ctrace_case"])
        self.info = info
        self.tokens = (info or {}).get("tokens") or self.settings.get("token_strings")
        self.spans = (info or {}).get("spans")
        self.kind = self.settings.get("kind")
        self.metric = self.settings.get("metric")
        self.window = self.settings.get("window")
        self.answer = (info or {}).get("answer") or self.settings.get("answer_text")
        self.T, self.L, self.S = self.settings.get("T"), self.settings.get("L"), self.settings.get("S")

    def __getitem__(self, k):
        return self.arrays[k]

    def __contains__(self, k):
        return k in self.arrays

    def __getattr__(self, k):
        arrays = self.__dict__.get("arrays", {})
        if k in arrays:
            return arrays[k]
        raise AttributeError(k)

    def __repr__(self):
        return f"<ctrace.Case {self.path}: {self.kind}, T={self.T} L={self.L} S={self.S}>"


def load_case(path):
    """Reads a case file (`ctrace trace --out`, `ctrace run`'s cases/*.bin,
    TraceResult.save) -> Case.  Errors (missing file, not safetensors, not a
    case file) raise ctrace.Error with the library's message."""
    arrays, meta = read_safetensors(path)
    return Case(path, arrays, meta)
