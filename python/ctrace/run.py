"""run.py - ctrace.run(): a JSONL dataset traced into an output directory, as
`ctrace run` does (ct_run in build/libctrace_app.so; docs/run.md)."""
import ctypes as C
import json
import os

import numpy as np

from ._lib import lib, app_lib, ct_err, ct_run_settings, ct_run_progress, RUN_PROGRESS_FN, c_char_p
from .errors import Error
from .model import resolve, set_threads, _dtype
from .trace import _settings, _choice, _KINDS

_EXPERIMENTS = {1: 1, 2: 2, 3: 3, "subject": 1, "object": 2, "relation": 3}
_CONTEXTS = {"all": 0, "original": 1, "cf": 2}              # CT_CTX_*
_NOISE_SOURCES = {"gaussian": 0, "cf_embeddings": 1}      # ct_noise_source
_PATCH_SOURCES = {"opposite_run": 0, "cf_passage": 1}     # ct_patch_source
_RELATION_SPANS = {"passage": 0, "from_prompt_start": 1}  # ct_relation_span


class RunResult:
    """What ctrace.run() did (ct_run_progress): rows_total, rows_ok, rows_skipped,
    cases_written (traced by this run), cases_reused (finished by an earlier
    run), seconds, trace_seconds; output_dir; summary() reads summary.jsonl."""

    FIELDS = ("rows_total", "rows_done", "rows_ok", "rows_skipped", "cases_written", "cases_reused", "seconds",
              "trace_seconds")

    def summary(self):
        """The summary lines (one dict per case) of OUT/summary.jsonl."""
        with open(os.path.join(self.output_dir, "summary.jsonl")) as f:
            return [json.loads(l) for l in f if l.strip()]

    def errors(self):
        """The error lines (one dict per skipped row problem) of OUT/errors.jsonl."""
        p = os.path.join(self.output_dir, "errors.jsonl")
        if not os.path.exists(p):
            return []
        with open(p) as f:
            return [json.loads(l) for l in f if l.strip()]

    def __repr__(self):
        return (f"<ctrace.RunResult {self.output_dir}: {self.rows_total} rows: {self.rows_ok} succeeded, "
                f"{self.rows_skipped} skipped; {self.cases_written} cases traced, {self.cases_reused} reused; "
                f"{self.seconds:.1f} s>")


def _int(name, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise Error(f"{name} {v!r}: expected an integer in [{lo}, {hi}]")
    return int(v)


def _kinds(kinds):
    if isinstance(kinds, str):
        kinds = [kinds] if kinds != "all" else ["hidden", "mlp", "attention"]
    m = 0
    for k in kinds:
        m |= 1 << _choice(_KINDS, k, "kind")
    if not m:
        raise Error("kinds: expected at least one of hidden, mlp, attention, head")
    return m


def run(model_name, data_path, output_dir, experiment_type=1, prompt_format=None, samples=10, window=10, max_cf=3,
        replace=False, reverse_patching=False, max_datapoints=0, noise_level=None, seed=1, metric="prob",
        engine="fast", cf_context=None, plot_format="pdf", kinds=("hidden", "mlp", "attention"), attribute=False,
        shard=None, tokenizer=None, threads=None, progress=None, contexts=None, noise_source="gaussian",
        patch_source="opposite_run", relation_span="passage", backend=None, dtype="f32"):
    """Traces a JSONL dataset into output_dir, as `ctrace run` with the same
    flags (the same names and defaults: the seed tool's) -> RunResult.

    model_name       a model directory or a hub id ORG/NAME[@REV] (local cache only)
    data_path        the JSONL rows;  output_dir: created when missing
    experiment_type  1 subject, 2 object, 3 relation (noise on those words of the passage)
    prompt_format    None: the default ("{passage} ..."), as --prompt_format
    samples, window, max_cf, replace, reverse_patching, max_datapoints, noise_level, seed,
    metric, engine, cf_context   as the flags of the same names
    contexts         "original" (default), "cf" or "all", as --contexts (cf_context=True is "all";
                     give one of the two)
    noise_source     "gaussian" (default) or "cf_embeddings", as --noise_source
    patch_source     "opposite_run" (default) or "cf_passage", as --patch_source
    relation_span    "passage" (default) or "from_prompt_start", as --relation_span
    plot_format      "pdf", "png", "svg" or None / "none" (no figures)
    kinds            a list of "hidden", "mlp", "attention", "head", or "all" (the first three)
    attribute        also attributions/{row}_attribution_{obj}.bin per context
    shard            None, (K, N) or "K/N": rows i with i % N == K
    tokenizer        tokenizer.json or its directory (default: the model's)
    threads          None: as set (ctrace.set_threads); a number: set it first
    progress         called as progress(dict) with ct_run_progress's fields during the run
    backend, dtype   as --backend (None: "cpu") and --dtype ("f32" or "bf16": bf16 products)

    Writes OUT/cases/{i}_{kind}_{obj}.bin, OUT/pdfs/..., summary.jsonl,
    errors.jsonl and run.json (docs/run.md); run.json records the equivalent
    `ctrace run` command line.  Errors that stop the run raise ctrace.Error;
    per-row problems go to errors.jsonl.  The GIL is released while it runs.
    """
    L = lib()
    A = app_lib()
    s = ct_run_settings()
    A.ct_run_settings_default(C.byref(s))
    argv = ["ctrace", "run"]

    def flag(name, v):
        argv.extend([f"--{name}", str(v)])

    model_dir, model_id = resolve(model_name)
    flag("model_name", os.fspath(model_name))
    keep = []

    def cs(v):
        b = os.fspath(v).encode()
        keep.append(b)
        return b

    s.model_dir = cs(model_dir)
    if model_id:
        s.model_id = cs(model_id)
    s.data_path = cs(data_path)
    flag("data_path", os.fspath(data_path))
    s.output_dir = cs(output_dir)
    flag("output_dir", os.fspath(output_dir))
    if tokenizer is not None:
        tdir, tid = resolve(tokenizer)
        s.tokenizer = cs(tdir)
        if tid:
            s.tokenizer_id = cs(tid)
        flag("tokenizer", os.fspath(tokenizer))
    if prompt_format is not None:
        s.prompt_format = cs(prompt_format)
        flag("prompt_format", prompt_format)
    s.experiment = _choice(_EXPERIMENTS, experiment_type, "experiment_type")
    flag("experiment_type", s.experiment)
    st = _settings("hidden", samples, window, noise_level, seed, replace, reverse_patching, metric, engine)
    s.trace = st
    flag("samples", samples), flag("window", window)
    s.max_cf = _int("max_cf", max_cf, 0, 1000000)
    flag("max_cf", max_cf)
    flag("replace", int(bool(replace))), flag("reverse_patching", int(bool(reverse_patching)))
    s.max_datapoints = _int("max_datapoints", max_datapoints, 0, 2**31 - 1)
    flag("max_datapoints", max_datapoints)
    if noise_level is not None:
        flag("noise_level", noise_level if not isinstance(noise_level, float) else repr(noise_level))
    flag("seed", seed), flag("metric", metric), flag("engine", engine)
    if cf_context is not None and contexts is not None:
        raise Error("give contexts or cf_context (the seed's: False = original, True = all), not both")
    if contexts is None:
        s.contexts = _CONTEXTS["all" if cf_context else "original"]
        if cf_context is not None:
            flag("cf_context", int(bool(cf_context)))
    else:
        s.contexts = _choice(_CONTEXTS, contexts, "contexts")
        flag("contexts", contexts)
    s.trace.noise_source = _choice(_NOISE_SOURCES, noise_source, "noise_source")
    s.trace.patch_source = _choice(_PATCH_SOURCES, patch_source, "patch_source")
    if noise_source != "gaussian":
        flag("noise_source", noise_source)
    if patch_source != "opposite_run":
        flag("patch_source", patch_source)
    s.relation_span = _choice(_RELATION_SPANS, relation_span, "relation_span")
    if relation_span != "passage":
        flag("relation_span", relation_span)
    if plot_format is None or plot_format == "none":
        s.plots = 0
        flag("plot_format", "none")
    else:
        pf = C.c_int()
        if A.ct_plot_format_parse(str(plot_format).encode(), C.byref(pf)):
            raise Error(f"plot_format {plot_format!r}: expected pdf, png, svg or none")
        s.plot_format = pf.value
        flag("plot_format", plot_format)
    s.kinds = _kinds(kinds)
    flag("kinds", ",".join(n for n, b in (("hidden", 0), ("mlp", 1), ("attention", 2), ("head", 3))
                           if s.kinds >> b & 1))
    s.attribute = int(bool(attribute))
    flag("attribute", s.attribute)
    if shard is not None:
        try:
            k, n = (int(x) for x in (shard.split("/") if isinstance(shard, str) else shard))
        except (TypeError, ValueError):
            raise Error(f"shard {shard!r}: expected (K, N) or \"K/N\" with 0 <= K < N") from None
        if not (n >= 1 and 0 <= k < n and n <= 1000000):
            raise Error(f"shard {shard!r}: expected (K, N) or \"K/N\" with 0 <= K < N (K is 0-based)")
        s.shard_k, s.shard_n = k, n
        flag("shard", f"{k}/{n}")
    if threads is not None:
        set_threads(_int("threads", threads, 1, 4096))
        s.threads = int(threads)
        flag("threads", threads)
    if backend is not None:
        s.backend = cs(str(backend))
        flag("backend", backend)
    s.compute = _dtype(dtype)
    if s.compute:
        flag("dtype", dtype)
    av = (c_char_p * (len(argv) + 1))(*[a.encode() for a in argv], None)
    s.argc, s.argv = len(argv), av

    failure = []
    if progress is not None:
        def cb(ctx, p):
            if failure:
                return
            try:
                q = p.contents
                progress({k: getattr(q, k) for k, _ in ct_run_progress._fields_})
            except BaseException as e:      # re-raised once the run returns
                failure.append(e)
        cfn = RUN_PROGRESS_FN(cb)
        s.progress = cfn
    p = ct_run_progress()
    err = ct_err()
    A.check(A.ct_run(C.byref(s), C.byref(p), C.byref(err)), err)
    if failure:
        raise failure[0]
    r = RunResult()
    for k in RunResult.FIELDS:
        setattr(r, k, getattr(p, k))
    r.output_dir = os.fspath(output_dir)
    r.argv = argv
    return r
