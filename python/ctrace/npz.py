"""npz.py - ROME's .npz result schema (experiments/causal_trace.py writes one per
case with numpy.savez), so ROME's plotting code and notebooks open ctrace's
traces.  `ctrace export --npz` writes the same files from the command line.

ROME's keys, dtypes and shapes (T prompt tokens, L layers):
  scores          float32 [T, L]   restored p(answer) per cell (ROME's "differences")
  low_score       float64 []       corrupted p(answer) (ROME stores a Python float)
  high_score      float32 []       clean p(answer)
  input_ids       int64 [T]
  input_tokens    <U [T]           token texts (a case without them: "#id")
  subject_range   int64 [2]        the corrupted range [b, e) (several ranges: first b, last e)
  answer          <U []            the answer text (without it: "#id" per answer token)
  window          int64 []
  correct_prediction  bool []      True (ROME's scripts check it)
  kind            <U []            "" (hidden), "mlp" or "attn" (ROME's names)
plus ctrace's target_ranges int64 [R, 2] (every corrupted range).
"""
import numpy as np

from .errors import Error

_ROME_KIND = {"hidden": "", "mlp": "mlp", "attention": "attn", "attn": "attn"}


def rome_dict(case, tokens=None, answer=None):
    """A Case (load_case) or TraceResult (trace) -> dict in ROME's schema (above).
    tokens [T] / answer: override the texts recorded in the case."""
    from .case import Case
    from .trace import TraceResult
    if isinstance(case, Case):
        a, kind, window = case.arrays, case.kind, case.window
        tokens = tokens if tokens is not None else case.tokens
        answer = answer if answer is not None else case.answer
    elif isinstance(case, TraceResult):
        a, kind, window = case.arrays(), case.kind, case.settings["window"]
        tokens = tokens if tokens is not None else (case._extra.get("token_strings"))
        answer = answer if answer is not None else case._extra.get("answer_text")
    else:
        raise Error(f"rome_dict: expected a ctrace.Case or ctrace.TraceResult, got {type(case).__name__}")
    ids = np.asarray(a["input_ids"], np.int64)
    if not tokens:
        tokens = ["#%d" % i for i in ids]
    tokens = ["" if t is None else t for t in tokens]
    if len(tokens) != len(ids):
        raise Error(f"rome_dict: {len(tokens)} token texts for {len(ids)} tokens")
    if not answer:
        answer = "".join("#%d" % i for i in a["answer_ids"])
    rg = np.asarray(a["target_ranges"], np.int64).reshape(-1, 2)
    if kind not in _ROME_KIND:
        raise Error(f"rome_dict: kind {kind!r} has no ROME name")
    return {
        "scores": np.asarray(a["scores"], np.float32),
        "low_score": np.float64(a["low_score"]),
        "high_score": np.float32(a["high_score"]),
        "input_ids": ids,
        "input_tokens": np.array(list(tokens), dtype=str) if len(tokens) else np.zeros(0, "<U1"),
        "subject_range": np.array([rg[:, 0].min(), rg[:, 1].max()], np.int64),
        "answer": np.array(answer, dtype=str),
        "window": np.int64(window if window is not None else 10),
        "correct_prediction": np.bool_(True),
        "kind": np.array(_ROME_KIND[kind], dtype=str),
        "target_ranges": rg,
    }


def save_npz(case, path, tokens=None, answer=None):
    """Writes case (a Case or TraceResult) to path in ROME's .npz schema
    (numpy.savez, uncompressed, as ROME does); numpy.load(path) reads it without
    allow_pickle.  Returns path."""
    d = rome_dict(case, tokens, answer)
    with open(path, "wb") as f:     # a file object: savez would append ".npz" to a name lacking it
        np.savez(f, **d)
    return path
