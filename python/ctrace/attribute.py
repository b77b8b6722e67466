"""attribute.py - ctrace.attribute(): direct logit attribution (ct_attribute,
ct_attribute_corrupted; docs/heads.md) as numpy arrays."""
import ctypes as C
import json
import os

import numpy as np

from ._lib import lib, ct_err, ct_attribution, ct_trace_input
from .errors import Error
from .model import Model, _ids_array, _i32p
from .trace import _settings, _ranges, _copy


class Attribution:
    """One run's direct logit attribution at the last position, of
    logit(answer) - logit(cf):

      heads [L, H]    query head h of layer l (its share of the output projection)
      attn_bias [L]   the output projection's bias (0 where the family has none)
      mlp [L]         the MLP output
      embed, norm_bias, lm_bias   float32 scalars
      total           logit(answer) - logit(cf) before any final soft cap (= the parts' sum)
      parts_sum       the sum of all the parts (= total to float rounding)
      logit_diff      the same difference from the logits (= total except gemma2's soft cap)

    the same names as the attribution file's tensors (ct_attribution_write)."""

    PARTS = ("heads", "attn_bias", "mlp", "embed", "norm_bias", "lm_bias", "total", "parts_sum", "logit_diff")

    def __getitem__(self, k):
        if k not in self.PARTS:
            raise KeyError(k)
        return getattr(self, k)

    def __repr__(self):
        return f"<ctrace.Attribution L={self.L} H={self.H}: total {self.total:.6g} (parts sum {self.parts_sum:.6g})>"


def _from_c(a):
    r = Attribution()
    r.L, r.H = a.L, a.H
    r.heads = _copy(a.heads, (a.L, a.H))
    r.attn_bias = _copy(a.attn_bias, (a.L,))
    r.mlp = _copy(a.mlp, (a.L,))
    for k in ("embed", "norm_bias", "lm_bias", "total", "parts_sum", "logit_diff"):
        setattr(r, k, np.float32(getattr(a, k)))
    return r


class AttributionResult:
    """ctrace.attribute()'s result: clean (an Attribution), corrupted (an
    Attribution, mean over the noise samples, or None without target), and
    input_ids [T], answer_id, cf_id, target_ranges [R, 2] (or None)."""

    def __repr__(self):
        c = f", corrupted total {self.corrupted.total:.6g}" if self.corrupted is not None else ""
        return f"<ctrace.AttributionResult logit({self.answer_id}) - logit({self.cf_id}) = {self.clean.total:.6g}{c}>"


def _one_token(model, v, prompt, what):
    """An id, or text: the first token of " TEXT" after the prompt (as `ctrace attribute --answer`)."""
    if isinstance(v, str):
        a = model.tokenizer.continuation(v[1:] if v.startswith(" ") else v, prompt)
        if a.size == 0:
            raise Error(f"{what} {v!r} encodes to no tokens")
        return int(a[0])
    a = _ids_array([v] if np.ndim(v) == 0 else v, what)
    if a.size != 1:
        raise Error(f"{what}: one token id (one logit), got {a.size}")
    return int(a[0])


def attribute(model, ids, answer, cf, target=None, samples=10, seed=1, noise_level=None, replace=False, out=None):
    """Direct logit attribution of logit(answer) - logit(cf) at the last position
    of the prompt (ct_attribute; docs/heads.md) -> AttributionResult.

    model        a ctrace.Model (or a path / hub id)
    ids          the prompt: token ids [T], or text (encoded with special tokens, as --prompt)
    answer, cf   a token id, or text: the first token of " " + text after the prompt
    target       None, or the token range(s) (b, e) / [(b, e), ...] to corrupt: then also the
                 corrupted run's attribution (ct_attribute_corrupted) with the noise of
                 ctrace.trace() with the same samples, seed, noise_level and replace
    out          a path: also write the attribution file there, as `ctrace attribute --out`
    """
    L = lib()
    if not isinstance(model, Model):
        model = Model(model)
    prompt = None
    if isinstance(ids, str):
        prompt = ids
        ids, _ = model.tokenizer.encode(prompt, add_special_tokens=True)
    ids = _ids_array(ids, "ids")
    a_id = _one_token(model, answer, prompt, "answer")
    c_id = _one_token(model, cf, prompt, "cf")
    st = _settings("hidden", samples, 10, noise_level, seed, replace, False, "prob", "fast")
    rg = _ranges(target, len(ids)) if target is not None else np.zeros((0, 2), np.int32)
    inp = ct_trace_input(ids=_i32p(ids), n_ids=len(ids), ranges=_i32p(rg) if len(rg) else None, n_ranges=len(rg))
    clean, corr = ct_attribution(), ct_attribution()
    err = ct_err()
    try:
        L.check(L.ct_attribute(model.handle, _i32p(ids), len(ids), a_id, c_id, C.byref(clean), C.byref(err)), err)
        if len(rg):
            L.check(L.ct_attribute_corrupted(model.handle, C.byref(inp), C.byref(st), a_id, c_id, C.byref(corr),
                                             C.byref(err)), err)
        if out is not None:
            # as `ctrace attribute` records them: the texts label the figure
            meta = {"model_type": model.config["model_type"]}
            for k, v in (("answer", answer), ("cf", cf)):
                if isinstance(v, str):
                    meta[k] = v[1:] if v.startswith(" ") else v
            extra = json.dumps(meta)
            L.check(L.ct_attribution_write(os.fspath(out).encode(), C.byref(inp), a_id, c_id, C.byref(clean),
                                           C.byref(corr) if len(rg) else None, C.byref(st), extra.encode(),
                                           C.byref(err)), err)
        r = AttributionResult()
        r.clean = _from_c(clean)
        r.corrupted = _from_c(corr) if len(rg) else None
    finally:
        L.ct_attribution_free(C.byref(clean))
        L.ct_attribution_free(C.byref(corr))
    r.input_ids, r.answer_id, r.cf_id = ids.copy(), a_id, c_id
    r.target_ranges = rg.copy() if len(rg) else None
    r.prompt = prompt
    return r
