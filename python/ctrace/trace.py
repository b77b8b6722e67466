"""trace.py - ctrace.trace(): one causal trace (ct_trace_run) as numpy arrays."""
import ctypes as C
import json
import os

import numpy as np

from ._lib import (lib, ct_err, ct_trace_settings, ct_trace_input, ct_trace_target, ct_trace_result,
                   PROGRESS_FN, c_int32)
from .errors import Error
from .model import Model, _ids_array, _i32p

_FP = C.POINTER(C.c_float)
_KINDS = {"hidden": 0, "mlp": 1, "attention": 2, "attn": 2, "head": 3, "heads": 3}
_METRICS = {"prob": 0, "logprob": 1, "logratio": 2}
_ENGINES = {"fast": 0, "naive": 1}


def _copy(ptr, shape):
    n = int(np.prod(shape))
    if n == 0:
        return np.zeros(shape, np.float32)
    return np.ctypeslib.as_array(ptr, (n,)).reshape(shape).copy()


def _choice(table, v, what):
    if v not in table:
        raise Error(f"{what} {v!r}: expected one of " + ", ".join(sorted(table)))
    return table[v]


def _ranges(target, T):
    """target: (b, e) or a list of (b, e) -> int32 [R, 2]."""
    try:
        a = np.asarray(target, dtype=np.int64)
    except (TypeError, ValueError):
        raise Error(f"target {target!r}: expected (b, e) or a list of (b, e) token ranges") from None
    if a.ndim == 1 and a.size == 2:
        a = a.reshape(1, 2)
    if a.ndim != 2 or a.shape[1] != 2 or a.shape[0] < 1:
        raise Error(f"target {target!r}: expected (b, e) or a list of (b, e) token ranges (half-open, 0-based)")
    if (a < 0).any() or (a >= 2**31).any():
        raise Error(f"target {target!r}: token positions must be in [0, 2^31)")
    return np.ascontiguousarray(a, dtype=np.int32)


class TraceResult:
    """One trace.  Arrays (numpy, float32 unless said; T prompt positions, L
    layers, S samples, R ranges, A answer tokens, C counterfactuals):

      scores [T, L]            restored score of cell (t, l), mean over samples (reverse: patched clean runs)
      scores_samples [S, T, L] per sample
      (kind "head": every [.., T, L] grid is [.., T, L, H], H = n_heads: cell (t, l, h)
      restores query head h of layer l at position t)
      low_score, high_score    float32 scalars: corrupted (mean over samples) and clean
      low_samples [S]          corrupted run per sample
      te                       float32: total effect under the metric
      ie [T, L]                indirect effects under the metric
      input_ids [T], target_ranges [R, 2], answer_ids [A]  (int32)
      cf_ids [C, Amax] (int32, padded with -1), cf_scores [C, T, L], cf_scores_samples [C, S, T, L],
      cf_high_score [C], cf_low_score [C], cf_low_samples [C, S]   (C may be 0)

    the most probable next tokens after the prompt (K = min(5, V), most probable first):
      top_clean_id [K] (int32), top_clean_p [K]      of the clean run
      top_corrupt_id [K], top_corrupt_p [K]          of the mean of the corrupted runs' distributions

    and kind, metric, settings (dict), noise_level (the level used), emb_std,
    cells_run, seconds, backend ("cpu", ...) and compute ("F32" or "BF16": the
    products' dtype).  The same names as the case file's tensors
    (docs/case-file.md); result["scores"] works too.
    """

    ARRAYS = ("scores", "scores_samples", "low_score", "high_score", "low_samples", "te", "ie", "input_ids",
              "target_ranges", "answer_ids", "cf_ids", "cf_scores", "cf_scores_samples", "cf_high_score",
              "cf_low_score", "cf_low_samples")

    def __getitem__(self, k):
        if k not in self.ARRAYS:
            raise KeyError(k)
        return getattr(self, k)

    def arrays(self):
        """The tensors a case file holds, as a dict (the cf_* only when C >= 1)."""
        return {k: getattr(self, k) for k in self.ARRAYS if not (k.startswith("cf_") and self.cf_ids.shape[0] == 0)}

    def __repr__(self):
        hs = f" H={self.H}" if self.kind == "head" else ""
        return (f"<ctrace.TraceResult {self.kind}: T={self.T} L={self.L}{hs} S={self.S}, high {self.high_score:.6g}, "
                f"low {self.low_score:.6g}, te {self.te:.6g} ({self.metric})>")

    def _c(self):
        """ctypes structs (input, settings, result) pointing into this result's arrays."""
        keep = []
        ids, rg, ans = (np.ascontiguousarray(x, np.int32) for x in (self.input_ids, self.target_ranges, self.answer_ids))
        keep += [ids, rg, ans]
        Cn = self.cf_ids.shape[0]
        cfl = [np.ascontiguousarray(r[r >= 0] if r.size else r, np.int32) for r in self.cf_ids]
        cfp = (C.POINTER(c_int32) * max(Cn, 1))(*[_i32p(a) for a in cfl])
        cflen = (C.c_int * max(Cn, 1))(*[len(a) for a in cfl])
        keep += [cfl, cfp, cflen]
        inp = ct_trace_input(ids=_i32p(ids), n_ids=len(ids), ranges=_i32p(rg), n_ranges=len(rg), answer=_i32p(ans),
                             n_answer=len(ans), n_cf=Cn, cf=cfp, cf_len=cflen)
        st = ct_trace_settings()
        for k, v in self._csettings.items():
            setattr(st, k, v)

        def f32(a):
            a = np.ascontiguousarray(a, np.float32)
            keep.append(a)
            return a.ctypes.data_as(_FP)

        tg = (ct_trace_target * (1 + Cn))()
        scal = np.array([self.high_score, self.low_score], np.float32)
        tg[0] = ct_trace_target(n_tokens=len(ans), tokens=_i32p(ans), high_score=scal[0], low_score=scal[1],
                                low_samples=f32(self.low_samples), scores=f32(self.scores),
                                scores_samples=f32(self.scores_samples))
        for c in range(Cn):
            tg[1 + c] = ct_trace_target(n_tokens=len(cfl[c]), tokens=_i32p(cfl[c]), high_score=self.cf_high_score[c],
                                        low_score=self.cf_low_score[c], low_samples=f32(self.cf_low_samples[c]),
                                        scores=f32(self.cf_scores[c]), scores_samples=f32(self.cf_scores_samples[c]))
        keep.append(tg)
        res = ct_trace_result(T=self.T, L=self.L, S=self.S, n_targets=1 + Cn, targets=tg,
                              noise_level=self.noise_level, emb_std=self.emb_std, te=self.te, ie=f32(self.ie),
                              cells_run=self.cells_run, seconds=self.seconds, H=self.H,
                              compute=2 if getattr(self, "compute", "F32") == "BF16" else 0)
        b = getattr(self, "backend", None)
        if b:
            keep.append(b.encode())
            res.backend = keep[-1]
        k = len(self.top_clean_id)
        res.n_top = k
        res.top_clean_id[:k], res.top_clean_p[:k] = self.top_clean_id.tolist(), self.top_clean_p.tolist()
        res.top_corrupt_id[:k], res.top_corrupt_p[:k] = self.top_corrupt_id.tolist(), self.top_corrupt_p.tolist()
        return inp, st, res, keep

    def save(self, path, model=None, extra=None):
        """Writes the case file (ct_case_write, docs/case-file.md), as `ctrace trace
        --out` does: the same tensors, and the settings JSON under "ctrace".
        model: the name recorded (default: the traced model's directory);
        extra: a dict merged into the settings JSON (default: the prompt text,
        answer text and token strings when the trace was given text)."""
        L = lib()
        inp, st, res, keep = self._c()
        ex = self._extra if extra is None else extra
        err = ct_err()
        L.check(L.ct_case_write(os.fspath(path).encode(), C.byref(inp), C.byref(st), C.byref(res),
                                (model if model is not None else self.model or "").encode(),
                                json.dumps(ex).encode() if ex else None, C.byref(err)), err)
        return path


def _settings(kind, samples, window, noise_level, seed, replace, reverse, metric, engine):
    L = lib()
    s = ct_trace_settings()
    L.ct_trace_settings_default(C.byref(s))
    s.kind = _choice(_KINDS, kind, "kind")
    s.metric = _choice(_METRICS, metric, "metric")
    s.engine = _choice(_ENGINES, engine, "engine")
    for name, v, lo in (("samples", samples, 1), ("window", window, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo or v > 100000:
            raise Error(f"{name} {v!r}: expected an integer in [{lo}, 100000]")
    s.samples, s.window = int(samples), int(window)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise Error(f"seed {seed!r}: expected an integer in [0, 2^32)")
    s.seed = int(seed)
    s.replace, s.reverse = int(bool(replace)), int(bool(reverse))
    if noise_level is not None:
        err = ct_err()
        L.check(L.ct_noise_parse(str(noise_level).encode() if not isinstance(noise_level, float)
                                 else repr(noise_level).encode(), C.byref(s), C.byref(err)), err)
    return s


def trace(model, ids, target, answer, kind="hidden", samples=10, window=10, noise_level=None, seed=1,
          replace=False, reverse=False, metric="prob", engine="fast", cf=None, progress=None, out=None):
    """One causal trace of a prompt (ct_trace_run; docs/trace.md) -> TraceResult.

    model        a ctrace.Model (or a path / hub id, loaded for this call)
    ids          the prompt: token ids [T], or text (encoded with model.tokenizer,
                 special tokens added, as `ctrace trace --prompt`)
    target       the token range(s) to corrupt: (b, e) or [(b, e), ...], half-open, 0-based
    answer       token ids [A], or text: the tokens of " " + text that follow the prompt
                 (ct_encode_continuation, as `ctrace trace --answer`; when ids are given
                 rather than text, " " + text is encoded on its own, as the CLI does)
    kind         "hidden", "mlp", "attention" or "head" (one cell per query head: grids [T, L, H])
    samples      S noise samples;  window: layers restored per mlp/attention cell
    noise_level  None: 3 x std(W_E) (the seed tool's rule); a number: that level; "sN": N x the
                 std of the target tokens' embeddings (ROME) - as --noise_level
    seed         numpy RandomState seed of the noise;  replace: noise replaces the embeddings
    reverse      reverse patching (corrupted states into the clean run)
    metric       "prob", "logprob" or "logratio" (needs cf)
    engine       "fast" or "naive" (same numbers to ~1e-6)
    cf           counterfactual targets scored in the same runs: a list, each ids or text
    progress     called as progress(done, total) as restored cells complete
    out          a path: also write the case file there (TraceResult.save)

    The GIL is released while the library computes.  Errors raise ctrace.Error
    with the library's message.
    """
    L = lib()
    if not isinstance(model, Model):
        model = Model(model)
    st = _settings(kind, samples, window, noise_level, seed, replace, reverse, metric, engine)
    prompt = None
    extra = {}
    if isinstance(ids, str):
        prompt = ids
        ids, _ = model.tokenizer.encode(prompt, add_special_tokens=True)
        extra["prompt"] = prompt
    ids = _ids_array(ids, "ids")
    if ids.size == 0:
        raise Error("ids: the prompt has no tokens")
    rg = _ranges(target, len(ids))

    def target_ids(v, what):
        if isinstance(v, str):
            a = model.tokenizer.continuation(v[1:] if v.startswith(" ") else v, prompt)
            if a.size == 0:
                raise Error(f"{what} {v!r} encodes to no tokens")
            return a, True
        return _ids_array(v, what), False

    ans, text_ans = target_ids(answer, "answer")
    if text_ans:
        extra["answer_text"] = answer
    cfs = [target_ids(c, "cf")[0] for c in (cf or [])]
    uses_text = prompt is not None or text_ans or any(isinstance(c, str) for c in (cf or []))
    if uses_text:
        extra["token_strings"] = model.tokenizer.tokens(ids)
    if model.hub_id:
        extra["model_id"] = model.hub_id
    Cn = len(cfs)
    cfp = (C.POINTER(c_int32) * max(Cn, 1))(*[_i32p(a) for a in cfs])
    cflen = (C.c_int * max(Cn, 1))(*[len(a) for a in cfs])
    inp = ct_trace_input(ids=_i32p(ids), n_ids=len(ids), ranges=_i32p(rg), n_ranges=len(rg), answer=_i32p(ans),
                         n_answer=len(ans), n_cf=Cn, cf=cfp, cf_len=cflen)

    failure = []
    if progress is not None:
        def cb(ctx, done, total):
            if failure:
                return
            try:
                progress(done, total)
            except BaseException as e:      # re-raised once the trace returns
                failure.append(e)
        cfn = PROGRESS_FN(cb)
        st.progress = cfn
    res = ct_trace_result()
    err = ct_err()
    L.check(L.ct_trace_run(model.handle, C.byref(inp), C.byref(st), C.byref(res), C.byref(err)), err)
    try:
        r = TraceResult()
        T, Ly, S = res.T, res.L, res.S
        r.T, r.L, r.S, r.H = T, Ly, S, res.H
        # what computed it: the backend's name and the products' dtype ("F32"/"BF16")
        r.backend = res.backend.decode() if res.backend else None
        r.compute = "BF16" if res.compute == 2 else "F32"
        # the grids' shape: [T, L], or [T, L, H] for the head kind
        g = (T, Ly, res.H) if st.kind == _KINDS["head"] else (T, Ly)
        a = res.targets[0]
        r.scores = _copy(a.scores, g)
        r.scores_samples = _copy(a.scores_samples, (S,) + g)
        r.low_score, r.high_score = np.float32(a.low_score), np.float32(a.high_score)
        r.low_samples = _copy(a.low_samples, (S,))
        r.te = np.float32(res.te)
        r.ie = _copy(res.ie, g)
        r.input_ids, r.target_ranges = ids.copy(), rg.copy()
        r.answer_ids = np.ctypeslib.as_array(a.tokens, (a.n_tokens,)).copy()
        amax = max([1] + [res.targets[1 + c].n_tokens for c in range(Cn)])
        r.cf_ids = np.full((Cn, amax), -1, np.int32)
        r.cf_scores = np.zeros((Cn,) + g, np.float32)
        r.cf_scores_samples = np.zeros((Cn, S) + g, np.float32)
        r.cf_high_score, r.cf_low_score = np.zeros(Cn, np.float32), np.zeros(Cn, np.float32)
        r.cf_low_samples = np.zeros((Cn, S), np.float32)
        for c in range(Cn):
            t = res.targets[1 + c]
            r.cf_ids[c, :t.n_tokens] = np.ctypeslib.as_array(t.tokens, (t.n_tokens,))
            r.cf_scores[c] = _copy(t.scores, g)
            r.cf_scores_samples[c] = _copy(t.scores_samples, (S,) + g)
            r.cf_high_score[c], r.cf_low_score[c] = t.high_score, t.low_score
            r.cf_low_samples[c] = _copy(t.low_samples, (S,))
        k = res.n_top
        r.top_clean_id = np.array(res.top_clean_id[:k], np.int32)
        r.top_clean_p = np.array(res.top_clean_p[:k], np.float32)
        r.top_corrupt_id = np.array(res.top_corrupt_id[:k], np.int32)
        r.top_corrupt_p = np.array(res.top_corrupt_p[:k], np.float32)
        r.noise_level, r.emb_std = res.noise_level, np.float32(res.emb_std)
        r.cells_run, r.seconds = res.cells_run, res.seconds
    finally:
        L.ct_trace_result_free(C.byref(res))
    r.kind = L.ct_kind_name(st.kind).decode()
    r.metric = L.ct_metric_name(st.metric).decode()
    r._csettings = {k: getattr(st, k) for k, _ in ct_trace_settings._fields_ if k not in ("progress", "progress_ctx")}
    r.settings = {"kind": r.kind, "window": st.window, "samples": st.samples,
                  "noise_rule": L.ct_noise_rule_name(st.noise_rule).decode(), "noise_value": st.noise_value,
                  "noise_level": r.noise_level, "seed": st.seed, "replace": st.replace, "reverse_patching": st.reverse,
                  "metric": r.metric, "engine": L.ct_engine_name(st.engine).decode()}
    r.model = model.path
    r.prompt = prompt
    r._extra = extra
    if failure:
        raise failure[0]
    if out is not None:
        r.save(out)
    return r
