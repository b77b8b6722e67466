"""Tests of the Python package python/ctrace against the ctrace CLI (run by
tests/cli/python.sh from `make test`; plain asserts, one line per failure,
a closing "python: N checks passed, N failed[, N not checked]").

Environment: CTRACE_BIN (the CLI), CTRACE_FIXTURES (build/fixtures), and the
package and libctrace.so on PYTHONPATH / next to it."""
import ctypes as C
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import numpy as np

import ctrace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CTRACE_BIN", os.path.join(ROOT, "build", "ctrace"))
FIX = os.environ.get("CTRACE_FIXTURES", os.path.join(ROOT, "build", "fixtures"))
TINY = os.path.join(FIX, "hf-tiny")
DEMO = os.path.join(ROOT, "models", "demo")
IDS = [1, 200, 13, 77, 511, 0, 5, 5, 42, 300, 128, 9, 77, 401, 256, 33, 2, 460, 101]
TMP = tempfile.mkdtemp(prefix="ctrace-py-")

passed = failed = unchecked = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def not_checked(what):
    global unchecked
    unchecked += 1
    print("NOT CHECKED:", what)


def same(a, b):
    """Bit for bit: same dtype, shape and bytes (NaN equals NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# The ctrace program itself runs without the preloaded sanitizer runtime that an
# uninstrumented Python needs under `make asan` (the program brings its own).
CLI_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def cli(*args):
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True, env=CLI_ENV)
    if p.returncode != 0:
        raise RuntimeError(f"ctrace {' '.join(map(str, args))}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def raw_safetensors(path):
    """An independent reader (the format's spec, no ctrace code): tensors and metadata."""
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    hdr = json.loads(buf[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    dt = {"F32": "<f4", "I32": "<i4", "I64": "<i8", "F64": "<f8"}
    out = {}
    for k, v in hdr.items():
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(buf[8 + n + b:8 + n + e], dt[v["dtype"]]).reshape(v["shape"])
    return out, meta


def expect_error(fn, needle, what, code=None):
    try:
        fn()
    except ctrace.Error as e:
        check(needle in e.message and str(e) == e.message, f"{what}: message {e.message!r} lacks {needle!r}")
        if code is not None:
            check(e.code == code, f"{what}: code {e.code} ({e.status}), expected {code}")
        return
    except Exception as e:
        check(False, f"{what}: raised {type(e).__name__}: {e}, not ctrace.Error")
        return
    check(False, f"{what}: no exception")


# --- 1. trace equals `ctrace trace --out` bit for bit ---------------------------------
TRACES = [   # (model, kind, python kwargs, cli flags)
    ("gpt2", "hidden", dict(target=(5, 9), samples=3, window=4, cf=[[7], [11, 13]]), ["--cf_ids", "7", "--cf_ids", "11,13"]),
    ("gpt2", "mlp", dict(target=(5, 9), samples=3, window=4, cf=[[7], [11, 13]]), ["--cf_ids", "7", "--cf_ids", "11,13"]),
    ("gpt2", "attention", dict(target=(5, 9), samples=3, window=4, cf=[[7], [11, 13]]), ["--cf_ids", "7", "--cf_ids", "11,13"]),
    ("llama_gqa", "hidden", dict(target=[(2, 4), (6, 8)], samples=2, window=3, reverse=True, seed=5),
     ["--reverse_patching", "1", "--seed", "5"]),
    ("llama_gqa", "mlp", dict(target=(3, 6), samples=2, window=3, replace=True, noise_level="s3", metric="logprob"),
     ["--replace", "1", "--noise_level", "s3", "--metric", "logprob"]),
    ("llama_gqa", "attention", dict(target=(3, 6), samples=2, window=2, engine="naive", noise_level=0.5,
                                    metric="logratio", cf=[[9, 4]]),
     ["--engine", "naive", "--noise_level", "0.5", "--metric", "logratio", "--cf_ids", "9,4"]),
]


def test_trace_vs_cli():
    models = {}
    for name, kind, kw, flags in TRACES:
        m = models.setdefault(name, ctrace.Model(os.path.join(TINY, name)))
        ids = IDS[:12] if name == "llama_gqa" else IDS
        tg = kw["target"]
        tgs = ",".join(f"{b}:{e}" for b, e in ([tg] if isinstance(tg, tuple) else tg))
        f = os.path.join(TMP, f"{name}_{kind}.bin")
        cli("trace", "--model_name", m.path, "--token_ids", ",".join(map(str, ids)), "--target", tgs,
            "--answer_ids", "492" if name == "gpt2" else "17", "--kind", kind, "--samples", kw["samples"],
            "--window", kw["window"], "--threads", "1", "--out", f, *flags)
        r = ctrace.trace(m, ids, answer=[492] if name == "gpt2" else [17], kind=kind,
                         **{k: v for k, v in kw.items()})
        case = ctrace.load_case(f)
        arrays = r.arrays()
        check(set(arrays) == set(case.arrays), f"{name} {kind}: tensors {sorted(arrays)} vs {sorted(case.arrays)}")
        for k, v in arrays.items():
            check(k in case.arrays and same(v, case[k]), f"{name} {kind}: {k} differs from the CLI's case file")
        check(r.cells_run > 0 and r.kind == kind, f"{name} {kind}: kind {r.kind}, cells {r.cells_run}")
        # the Python-written case file: the same tensors and the same settings JSON (but the timing)
        g = r.save(os.path.join(TMP, f"{name}_{kind}.py.bin"))
        c2 = ctrace.load_case(g)
        for k in case.arrays:
            check(same(case[k], c2[k]), f"{name} {kind}: saved {k} differs from the CLI's")
        s1, s2 = dict(case.settings), dict(c2.settings)
        s1.pop("seconds"), s2.pop("seconds")
        check(s1 == s2, f"{name} {kind}: settings differ: {s1} vs {s2}")


# --- 1b. the head kind: [T, L, H] grids, equal to `ctrace trace --kind head --out` ----------
def test_head_trace():
    for name, ans, flags, kw in (("llama_gqa", 17, ["--cf_ids", "9,4"], dict(cf=[[9, 4]])),
                                 ("gpt2", 492, ["--reverse_patching", "1", "--seed", "3"], dict(reverse=True, seed=3))):
        m = ctrace.Model(os.path.join(TINY, name))
        ids = IDS[:12]
        f = os.path.join(TMP, f"{name}_head.bin")
        cli("trace", "--model_name", m.path, "--token_ids", ",".join(map(str, ids)), "--target", "2:5",
            "--answer_ids", ans, "--kind", "head", "--samples", "2", "--threads", "1", "--out", f, *flags)
        r = ctrace.trace(m, ids, (2, 5), [ans], kind="head", samples=2, **kw)
        Ly, H = m.config["n_layers"], m.config["n_heads"]
        check(r.kind == "head" and r.H == H and r.scores.shape == (12, Ly, H) and r.ie.shape == (12, Ly, H)
              and r.scores_samples.shape == (2, 12, Ly, H), f"{name} head: shapes {r.scores.shape} "
              f"{r.scores_samples.shape} {r.ie.shape}")
        if kw.get("cf"):
            check(r.cf_scores.shape == (1, 12, Ly, H) and r.cf_scores_samples.shape == (1, 2, 12, Ly, H),
                  f"{name} head: cf shapes {r.cf_scores.shape}")
        case = ctrace.load_case(f)
        arrays = r.arrays()
        check(set(arrays) == set(case.arrays), f"{name} head: tensors {sorted(arrays)} vs {sorted(case.arrays)}")
        for k, v in arrays.items():
            check(k in case.arrays and same(v, case[k]), f"{name} head: {k} differs from the CLI's case file")
        c2 = ctrace.load_case(r.save(os.path.join(TMP, f"{name}_head.py.bin")))
        for k in case.arrays:
            check(same(case[k], c2[k]), f"{name} head: saved {k} differs from the CLI's")
        s1, s2 = dict(case.settings), dict(c2.settings)
        s1.pop("seconds"), s2.pop("seconds")
        check(s1 == s2, f"{name} head: settings differ: {s1} vs {s2}")
    expect_error(lambda: ctrace.trace(m, ids, (2, 5), [ans], kind="neurons"), "kind", "unknown kind")


# --- 1c. attribution equals `ctrace attribute --out`; the parts sum to the total ------------
def test_attribute():
    for name, ans, cf in (("llama_gqa", 17, 9), ("gpt2", 492, 7), ("gemma2", 30, 7)):
        m = ctrace.Model(os.path.join(TINY, name))
        ids = IDS[:12] if name != "gemma2" else [2, 5, 9, 30, 7, 11]
        for tg, tflags in ((None, []), ((1, 4), ["--target", "1:4", "--samples", "3", "--seed", "2"])):
            f = os.path.join(TMP, f"{name}_attr{len(tflags)}.st")
            cli("attribute", "--model_name", m.path, "--token_ids", ",".join(map(str, ids)), "--answer_ids", ans,
                "--cf_ids", cf, "--threads", "1", "--out", f, *tflags)
            kw = dict(target=tg, samples=3, seed=2) if tg else {}
            r = ctrace.attribute(m, ids, ans, cf, out=f + ".py", **kw)
            with open(f, "rb") as a, open(f + ".py", "rb") as b:
                check(a.read() == b.read(), f"{name} attribute {tflags}: the file differs from the CLI's")
            t, _ = raw_safetensors(f)
            runs = [("", r.clean)] + ([("corrupted_", r.corrupted)] if tg else [])
            check((r.corrupted is None) == (tg is None), f"{name} attribute: corrupted {r.corrupted!r}")
            Ly, H = m.config["n_layers"], m.config["n_heads"]
            for pre, a in runs:
                check(a.heads.shape == (Ly, H) and a.mlp.shape == (Ly,) and a.attn_bias.shape == (Ly,),
                      f"{name} {pre}attribution shapes {a.heads.shape} {a.mlp.shape}")
                for k in ("heads", "mlp", "attn_bias", "embed", "norm_bias", "lm_bias", "total", "logit_diff"):
                    check(same(np.asarray(a[k], np.float32), t[pre + k]), f"{name} {pre}{k} differs from the CLI's")
                parts = (a.heads.astype(np.float64).sum() + a.mlp.astype(np.float64).sum() +
                         a.attn_bias.astype(np.float64).sum() + float(a.embed) + float(a.norm_bias) + float(a.lm_bias))
                check(abs(parts - float(a.total)) <= 1e-4 * max(1.0, abs(float(a.total))) and
                      abs(float(a.parts_sum) - float(a.total)) <= 1e-4 * max(1.0, abs(float(a.total))),
                      f"{name} {pre}parts sum {parts} / {a.parts_sum} vs total {a.total}")
            if not tg and name != "gemma2":
                lg = m.logits(ids)
                d = float(lg[-1, ans]) - float(lg[-1, cf])
                check(abs(d - float(r.clean.logit_diff)) < 1e-4, f"{name} logit_diff {r.clean.logit_diff} vs logits {d}")
            check(same(t["input_ids"], np.asarray(ids, np.int32)) and t["answer_cf_ids"].tolist() == [ans, cf],
                  f"{name} attribute: ids")
    # text answers: the first token of " TEXT" after the prompt, as --answer / --cf
    dm = ctrace.Model(DEMO)
    prompt = "C: Lorimel was born in Dunmere. Q: Where was Lorimel born? A:"
    f = os.path.join(TMP, "demo_attr.st")
    cli("attribute", "--model_name", DEMO, "--prompt", prompt, "--answer", "Dunmere", "--cf", "Lorimel",
        "--threads", "1", "--out", f)
    r = ctrace.attribute(dm, prompt, "Dunmere", "Lorimel", out=f + ".py")
    with open(f, "rb") as a, open(f + ".py", "rb") as b:
        check(a.read() == b.read(), "demo attribute (text): the file differs from the CLI's")
    expect_error(lambda: ctrace.attribute(m, ids, [1, 2], cf), "one token", "attribute: two answer ids")
    expect_error(lambda: ctrace.attribute(m, ids, 10 ** 7, cf), "", "attribute: answer outside the vocabulary",
                 code=ctrace.ERR_INPUT)


# --- 1d. run() equals `ctrace run` with the same flags ----------------------------------------
def test_run():
    rows = os.path.join(TMP, "rows2.jsonl")
    with open(os.path.join(ROOT, "data", "demo.jsonl")) as f, open(rows, "w") as o:
        o.writelines([l for l in f if l.strip()][:2])
    for tag, kw, flags in (
            ("default", dict(samples=2, window=3, max_cf=1, plot_format=None),
             ["--samples", "2", "--window", "3", "--max_cf", "1", "--plot_format", "none"]),
            ("head", dict(experiment_type=2, samples=2, window=2, max_cf=1, kinds=("hidden", "head"), seed=4,
                          noise_level="s3", metric="logratio", cf_context=True, plot_format=None),
             ["--experiment_type", "2", "--samples", "2", "--window", "2", "--max_cf", "1", "--kinds", "hidden,head",
              "--seed", "4", "--noise_level", "s3", "--metric", "logratio", "--cf_context", "1", "--plot_format",
              "none"]),
            ("seed_e1", dict(experiment_type=2, samples=2, window=2, max_cf=2, kinds=("hidden", "mlp"), metric="logratio",
                             reverse_patching=True, noise_source="cf_embeddings", patch_source="cf_passage",
                             contexts="all", plot_format=None),
             ["--experiment_type", "2", "--samples", "2", "--window", "2", "--max_cf", "2", "--kinds", "hidden,mlp",
              "--metric", "logratio", "--reverse_patching", "1", "--noise_source", "cf_embeddings", "--patch_source",
              "cf_passage", "--contexts", "all", "--plot_format", "none"]),
            ("seed_e22", dict(experiment_type=3, samples=2, max_cf=1, kinds=("hidden",), metric="logratio",
                              contexts="cf", relation_span="from_prompt_start", plot_format=None),
             ["--experiment_type", "3", "--samples", "2", "--max_cf", "1", "--kinds", "hidden", "--metric", "logratio",
              "--contexts", "cf", "--relation_span", "from_prompt_start", "--plot_format", "none"])):
        dc, dp = os.path.join(TMP, f"run_cli_{tag}"), os.path.join(TMP, f"run_py_{tag}")
        out = cli("run", "--model_name", DEMO, "--data_path", rows, "--output_dir", dc, "--quiet", "--threads", "1",
                  *flags)
        seen = []
        r = ctrace.run(DEMO, rows, dp, threads=1, progress=seen.append, **kw)
        check(f"{r.rows_total} rows: {r.rows_ok} succeeded, {r.rows_skipped} skipped; {r.cases_written} cases traced"
              in out, f"run {tag}: {r!r} vs the CLI's {out.strip()!r}")
        check(r.rows_total == 2 and r.cases_written > 0 and seen and seen[-1]["rows_done"] == 2,
              f"run {tag}: {r!r}, progress {seen[-1:]}")
        a, b = sorted(os.listdir(os.path.join(dc, "cases"))), sorted(os.listdir(os.path.join(dp, "cases")))
        check(a == b and len(a) == r.cases_written, f"run {tag}: cases {b} vs the CLI's {a}")
        for fn in a:
            x, mx = raw_safetensors(os.path.join(dc, "cases", fn))
            y, my = raw_safetensors(os.path.join(dp, "cases", fn))
            check(set(x) == set(y) and all(same(x[k], y[k]) for k in x), f"run {tag}: {fn}: tensors differ")
            sx, sy = json.loads(mx.pop("ctrace")), json.loads(my.pop("ctrace"))
            sx.pop("seconds"), sy.pop("seconds")
            check(sx == sy and mx == my, f"run {tag}: {fn}: metadata differs")
        with open(os.path.join(dc, "summary.jsonl")) as f1, open(os.path.join(dp, "summary.jsonl")) as f2:
            check(f1.read() == f2.read(), f"run {tag}: summary.jsonl differs")
        check(len(r.summary()) == len(a) and r.errors() == [], f"run {tag}: summary() / errors()")
        with open(os.path.join(dp, "run.json")) as f:
            rj = json.load(f)
        check("--model_name" in json.dumps(rj), f"run {tag}: run.json records no command line")
        # again: every case is found finished
        r2 = ctrace.run(DEMO, rows, dp, threads=1, **kw)
        check(r2.cases_written == 0 and r2.cases_reused == len(a), f"run {tag} again: {r2!r}")
    expect_error(lambda: ctrace.run(DEMO, os.path.join(TMP, "no-such.jsonl"), os.path.join(TMP, "run_bad")),
                 "no-such.jsonl", "run: a missing dataset")
    expect_error(lambda: ctrace.run(DEMO, rows, os.path.join(TMP, "run_bad"), contexts="cf", cf_context=True),
                 "not both", "run: contexts and cf_context")
    expect_error(lambda: ctrace.run(DEMO, rows, os.path.join(TMP, "run_bad"), noise_source="uniform"),
                 "noise_source", "run: an unknown noise source")
    expect_error(lambda: ctrace.run(DEMO, rows, os.path.join(TMP, "run_bad"), relation_span="from_prompt_start"),
                 "experiment 3", "run: the seed's e22 span with experiment 1")
    expect_error(lambda: ctrace.run(DEMO, rows, os.path.join(TMP, "run_bad"), kinds=("neurons",)), "kind",
                 "run: an unknown kind")
    expect_error(lambda: ctrace.run(DEMO, rows, os.path.join(TMP, "run_bad"), shard="3/2"), "shard", "run: a bad shard")
    check(not os.path.exists(os.path.join(TMP, "run_bad")), "a run refused before any work created its directory")


# --- 2. logits equal `ctrace logits` ----------------------------------------------------
def test_logits():
    for name, ids in (("llama_gqa", [1, 17, 250]), ("gpt2", IDS), ("gemma2", [2, 5, 9, 30, 7])):
        m = ctrace.Model(os.path.join(TINY, name))
        f = os.path.join(TMP, f"logits_{name}.st")
        cli("logits", "--model_name", m.path, "--token_ids", ",".join(map(str, ids)), "--threads", "1", "--out", f)
        t, _ = ctrace.read_safetensors(f)
        lg, resid = m.logits(ids, resid=True)
        check(lg.shape == (len(ids), m.config["vocab"]) and lg.dtype == np.float32, f"logits {name}: {lg.shape} {lg.dtype}")
        check(same(lg, t["logits"]), f"logits {name}: differ from `ctrace logits`")
        check(same(resid, t["resid"]), f"resid {name}: differ from `ctrace logits`")
        check(same(m.logits(np.array(ids, np.int64)), lg), f"logits {name}: int64 input differs")
        ref = ctrace.Model(m.path, backend="ref")
        check(ref.backend == "ref" and m.backend == "cpu", f"backends {ref.backend} {m.backend}")
        d = float(np.abs(ref.logits(ids) - lg).max())
        check(d < 1e-4, f"logits {name}: the reference backend differs by {d}")
    # bf16 weights: stored as bf16, or converted to f32 at load: the same numbers
    b = ctrace.Model(os.path.join(TINY, "llama_bf16"))
    f = ctrace.Model(os.path.join(TINY, "llama_bf16"), weights="f32")
    check(b.weight_dtype == "BF16" and f.weight_dtype == "F32", f"weight dtypes {b.weight_dtype} {f.weight_dtype}")
    check(same(b.logits([1, 5, 9]), f.logits([1, 5, 9])), "bf16 stored vs f32 logits differ")
    check(b.config_json["model_type"] == b.config["model_type"] == "llama", "config_json")
    expect_error(lambda: ctrace.Model(m.path, backend="tpu"), "tpu", "unknown backend")
    expect_error(lambda: ctrace.Model(m.path, weights="int4"), "weights", "unknown weights mode")


# --- 3. load_case round-trips every field ------------------------------------------------
def run_dir():
    d = os.path.join(TMP, "run")
    if not os.path.isdir(d):
        rows = os.path.join(TMP, "rows.jsonl")
        with open(os.path.join(ROOT, "data", "demo.jsonl")) as f, open(rows, "w") as o:
            o.writelines([l for l in f if l.strip()][:2])
        cli("run", "--model_name", DEMO, "--data_path", rows, "--experiment_type", "1", "--samples", "2",
            "--window", "3", "--max_cf", "1", "--plot_format", "none", "--quiet", "--threads", "1", "--output_dir", d)
    return d


def test_load_case():
    d = run_dir()
    files = sorted(os.listdir(os.path.join(d, "cases")))
    check(len(files) == 6, f"run wrote {files}")
    for fn in files:
        p = os.path.join(d, "cases", fn)
        c = ctrace.load_case(p)
        raw, meta = raw_safetensors(p)
        check(set(raw) == set(c.arrays), f"{fn}: tensors {sorted(c.arrays)} vs {sorted(raw)}")
        for k in raw:
            check(same(raw[k], c[k]), f"{fn}: {k} differs from the file's bytes")
        check(meta == c.metadata, f"{fn}: metadata differs")
        st = json.loads(meta["ctrace"])
        check(st == c.settings, f"{fn}: settings differ")
        info = st["case"]
        check(c.info == info and c.tokens == info["tokens"] and c.spans == info["spans"], f"{fn}: case description")
        check(len(c.tokens) == c.T == c["scores"].shape[0] and c.L == c["scores"].shape[1], f"{fn}: T/L")
        check(c.kind == fn.split("_")[1] and c.window == (3 if c.kind != "hidden" else c.window), f"{fn}: kind/window")
        check(c.answer == info["answer"] and isinstance(c.answer, str), f"{fn}: answer")
        s = c.spans["subject"]
        check(c["target_ranges"].tolist() == [s], f"{fn}: target {c['target_ranges'].tolist()} vs subject span {s}")
        check(c.settings["tokens"] == c["input_ids"].tolist(), f"{fn}: settings tokens")
        check(abs(float(c["te"]) - (float(c["high_score"]) - float(c["low_score"]))) < 1e-6, f"{fn}: te")
        check(c.scores is c["scores"], f"{fn}: attribute access")
    # text prompt: token strings, prompt and answer text recorded as the CLI records them
    m = ctrace.Model(DEMO)
    prompt = "C: Dastark Dainba was born in Dunmere. Q: The place where Dastark Dainba was born is A:"
    f = os.path.join(TMP, "text.bin")
    cli("trace", "--model_name", DEMO, "--prompt", prompt, "--target", "2:6", "--answer", "Dunmere",
        "--cf", "Lorimel", "--kind", "hidden", "--samples", "2", "--threads", "1", "--out", f)
    r = ctrace.trace(m, prompt, (2, 6), "Dunmere", samples=2, cf=["Lorimel"], out=os.path.join(TMP, "text.py.bin"))
    a, b = ctrace.load_case(f), ctrace.load_case(os.path.join(TMP, "text.py.bin"))
    for k in a.arrays:
        check(same(a[k], b[k]) and same(a[k], r[k]), f"text trace: {k} differs")
    check(a.tokens == b.tokens == m.tokenizer.tokens(r.input_ids) and a.tokens[2] is not None, f"text tokens {a.tokens}")
    check(a.settings["prompt"] == b.settings["prompt"] == prompt and a.answer == b.answer == "Dunmere", "prompt/answer text")


def retrace(m, c):
    """Traces again, from Python, what case file c records -> TraceResult."""
    st = c.settings
    noise = {"emb_std": None if st["noise_value"] == 3 else False, "absolute": st["noise_value"],
             "span_std": "s%r" % st["noise_value"]}[st["noise_rule"]]
    assert noise is not False, "emb_std with a factor other than 3 has no Python spelling"
    cf = [r[r >= 0] for r in c["cf_ids"]] if "cf_ids" in c else None
    return ctrace.trace(m, c["input_ids"], [tuple(x) for x in c["target_ranges"]], c["answer_ids"], kind=st["kind"],
                        samples=st["samples"], window=st["window"], noise_level=noise, seed=st["seed"],
                        replace=st["replace"], reverse=st["reverse_patching"], metric=st["metric"],
                        engine=st["engine"], cf=cf)


def test_retrace_run():
    """Every case of a `ctrace run` directory, traced again from Python: the same tensors bit for
    bit, and the top tokens the run recorded."""
    d = run_dir()
    m = ctrace.Model(DEMO)
    files = sorted(os.listdir(os.path.join(d, "cases")))
    for fn in files:
        c = ctrace.load_case(os.path.join(d, "cases", fn))
        r = retrace(m, c)
        for k in c.arrays:
            check(same(c[k], r[k]), f"{fn}: {k} traced again from Python differs")
        for which in ("clean", "corrupt"):
            want = c.info.get("top_" + which)
            if want is None:
                check(False, f"{fn}: no top_{which} recorded")
                continue
            got = list(zip(getattr(r, f"top_{which}_id").tolist(), getattr(r, f"top_{which}_p").tolist()))
            # (JSON numbers from cJSON carry 15 significant digits: compared as the float32 they were)
            check(got == [(t["id"], float(np.float32(t["p"]))) for t in want], f"{fn}: top_{which} {got} vs the run's {want}")
            check([t["token"] for t in want] == m.tokenizer.tokens([i for i, _ in got]), f"{fn}: top token texts")


# --- 4. tokenizer ------------------------------------------------------------------------
def test_tokenizer():
    tk = ctrace.Tokenizer(os.path.join(FIX, "hf-tokenizers", "gpt2"))
    text = "Juan was written in the Spanish language."
    ids, offs = tk.encode(text)
    out = json.loads(cli("tokenize", "--tokenizer", tk.path, "--text", text).splitlines()[0])
    check(ids.tolist() == out["ids"] and offs.tolist() == out["offsets"], f"encode: {ids.tolist()} {offs.tolist()}")
    check(ids.dtype == np.int32 and offs.shape == (len(ids), 2), "encode dtypes/shapes")
    check(tk.decode(ids) == text, f"decode: {tk.decode(ids)!r}")
    check([tk.id_to_token(i) for i in ids] == out["tokens"], "id_to_token")
    check(tk.token_to_id("Ġwas") == 373 and tk.token_to_id("no such piece") is None, "token_to_id")
    u = "Zoë née Ångström"
    ids, offs = tk.encode(u)
    check(offs[-1][1] == len(u.encode()), f"offsets are bytes: {offs.tolist()}")
    ll = ctrace.Tokenizer(os.path.join(FIX, "hf-tokenizers", "llama2"))
    a, oa = ll.encode("hello", add_special_tokens=True)
    b, _ = ll.encode("hello", add_special_tokens=False)
    check(ll.bos_id == 1 and a.tolist() == [1, 22172] and b.tolist() == [22172] and oa.tolist() == [[0, 0], [0, 5]],
          f"add_special_tokens: {a} {b} {oa.tolist()}")
    check(ll.decode(a, skip_special_tokens=True) == "hello" and ll.decode(a).startswith("<s>"), "skip_special_tokens")


# --- 5. errors -----------------------------------------------------------------------------
def test_errors():
    m = ctrace.Model(os.path.join(TINY, "gpt2"))
    expect_error(lambda: ctrace.Model(os.path.join(TMP, "nowhere")), "config.json: cannot open", "bad model path")
    expect_error(lambda: ctrace.Model("no-such-org/no-such-model"), "no-such-org/no-such-model", "missing hub id")
    expect_error(lambda: ctrace.Tokenizer(os.path.join(TMP, "nowhere")), "nowhere", "bad tokenizer path")
    expect_error(lambda: m.tokenizer, "tokenizer.json", "model without tokenizer.json")
    expect_error(lambda: ctrace.load_case(os.path.join(TMP, "none.bin")), "none.bin", "missing case file")
    bad = os.path.join(TMP, "bad.bin")
    with open(bad, "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    expect_error(lambda: ctrace.load_case(bad), "bad.bin", "corrupt case file")
    expect_error(lambda: ctrace.trace(m, IDS, (9, 25), [492]), "outside the prompt", "target outside", ctrace.ERR_INPUT)
    expect_error(lambda: ctrace.trace(m, IDS, (9, 5), [492]), "empty", "empty target")
    expect_error(lambda: ctrace.trace(m, IDS, (5, 9), [99999]), "vocabulary", "answer outside the vocabulary")
    expect_error(lambda: ctrace.trace(m, IDS, (5, 9), [492], metric="logratio"), "logratio", "logratio without cf")
    expect_error(lambda: ctrace.trace(m, IDS, (5, 9), [492], kind="foo"), "kind 'foo'", "bad kind")
    expect_error(lambda: ctrace.trace(m, IDS, (5, 9), [492], engine="slow"), "engine", "bad engine")
    expect_error(lambda: ctrace.trace(m, IDS, (5, 9), [492], samples=0), "samples", "samples 0")
    expect_error(lambda: ctrace.trace(m, IDS, (5, 9), [492], noise_level="x1"), "noise_level", "bad noise level")
    expect_error(lambda: ctrace.trace(m, IDS, "5:9", [492]), "target", "target as a string")
    expect_error(lambda: m.logits([1, 512]), "outside the vocabulary", "logits: id outside")
    expect_error(lambda: m.logits([]), "no token ids", "logits: empty")
    expect_error(lambda: m.logits("hello"), "string", "logits: text")

    def boom(done, total):
        raise KeyError("from progress")
    try:
        ctrace.trace(m, IDS, (5, 9), [492], samples=2, progress=boom)
        check(False, "an exception in progress was swallowed")
    except KeyError:
        check(True, "")


# --- 5b. hub ids, progress -----------------------------------------------------------------
def test_hub_and_progress():
    commit = "0123456789abcdef0123456789abcdef01234567"
    snap = os.path.join(TMP, "hub", "models--org--tiny", "snapshots", commit)
    os.makedirs(snap)
    os.makedirs(os.path.join(TMP, "hub", "models--org--tiny", "refs"))
    with open(os.path.join(TMP, "hub", "models--org--tiny", "refs", "main"), "w") as f:
        f.write(commit)
    for fn in ("config.json", "model.safetensors"):
        os.symlink(os.path.join(TINY, "gpt2", fn), os.path.join(snap, fn))
    old = os.environ.get("HF_HUB_CACHE")
    os.environ["HF_HUB_CACHE"] = os.path.join(TMP, "hub")
    try:
        m = ctrace.Model("org/tiny")
        check(m.hub_id == "org/tiny" and m.path == snap, f"hub id resolved to {m.path} ({m.hub_id})")
        calls = []
        r = ctrace.trace(m, IDS, (5, 9), [492], samples=3, window=4, progress=lambda d, t: calls.append((d, t)),
                         out=os.path.join(TMP, "hub.bin"))
        c = ctrace.load_case(os.path.join(TMP, "hub.bin"))
        check(c.settings.get("model_id") == "org/tiny" and c.settings["model"] == snap, f"hub case: {c.settings}")
        check(len(calls) > 1 and calls[-1][0] == calls[-1][1] and all(a[0] <= b[0] for a, b in zip(calls, calls[1:])),
              f"progress calls {calls[:3]}...{calls[-2:]}")
        check(float(r.high_score) == float(np.float32(0.277139425)) or abs(float(r.high_score) - 0.277139425) < 1e-6,
              f"hub trace high {r.high_score}")
        expect_error(lambda: ctrace.Model("org/absent"), "org/absent", "hub id not in the cache")
    finally:
        if old is None:
            del os.environ["HF_HUB_CACHE"]
        else:
            os.environ["HF_HUB_CACHE"] = old


# --- 6. the GIL is released during compute -------------------------------------------------
def test_gil():
    m = ctrace.Model(DEMO)
    prompt = "C: Dastark Dainba was born in Dunmere. Q: The place where Dastark Dainba was born is A:"
    ids, _ = m.tokenizer.encode(prompt)

    def measure(samples):
        """Runs a trace while a second thread loops in pure Python -> (seconds, loops inside the trace)."""
        ticks = []
        stop = threading.Event()

        def spin():     # pure Python: runs only while it holds the GIL
            while not stop.is_set():
                ticks.append(time.perf_counter())
                x = 0
                for i in range(2000):
                    x += i
        th = threading.Thread(target=spin)
        th.start()
        time.sleep(0.05)
        t0 = time.perf_counter()
        ctrace.trace(m, ids, (2, 6), "Dunmere", kind="mlp", samples=samples, window=3)
        t1 = time.perf_counter()
        stop.set()
        th.join()
        return t1 - t0, len([t for t in ticks if t0 + 0.1 < t < t1 - 0.1])

    samples = 10
    for attempt in range(4):    # a trace long enough to tell (a fast machine: more samples)
        secs, inside = measure(samples)
        if secs > 0.5:
            break
        samples *= 4
    check(secs > 0.5, f"trace too short to tell ({secs:.2f} s with {samples} samples)")
    check(inside > 20, f"the other thread ran {inside} times during a {secs:.2f} s trace")
    # The control: the same call through ctypes.PyDLL, which keeps the GIL, lets the other thread
    # run not once inside the call - so the count above does measure the GIL being released.
    from ctrace._lib import lib
    L = lib()
    released = L.ct_trace_run
    held = C.PyDLL(L.path).ct_trace_run
    held.restype, held.argtypes = released.restype, released.argtypes
    L.ct_trace_run = held
    try:
        secs_h, inside_h = measure(samples)
    finally:
        L.ct_trace_run = released
    check(inside_h == 0, f"control (GIL held): the other thread ran {inside_h} times during {secs_h:.2f} s")
    print(f"gil: the other thread ran {inside} loops during a {secs:.2f} s trace; "
          f"{inside_h} during a {secs_h:.2f} s one with the GIL held (ctypes.PyDLL)")


# --- 7. Hugging Face's safetensors package opens case files ------------------------------
def test_safetensors_package():
    try:
        from safetensors.numpy import load_file
        from safetensors import safe_open
    except ImportError as e:
        if os.environ.get("CTRACE_REQUIRE_SAFETENSORS") == "1":
            check(False, f"the safetensors package is not installed: {e}")
        else:
            not_checked(f"case files with Hugging Face's safetensors package (not installed: {e}; "
                        "tests/cli/python.sh installs it from PyPI when the network allows)")
        return
    d = run_dir()
    files = [os.path.join(d, "cases", f) for f in sorted(os.listdir(os.path.join(d, "cases")))]
    files += [os.path.join(TMP, f"{n}_{k}.bin") for n, k, _, _ in TRACES]
    for p in files:
        t = load_file(p)
        c = ctrace.load_case(p)
        check(set(t) == set(c.arrays), f"{p}: safetensors sees {sorted(t)}")
        for k, v in t.items():
            check(same(v, c[k]), f"{p}: {k} from safetensors differs from load_case")
        with safe_open(p, "np") as f:
            check(f.metadata() == c.metadata, f"{p}: metadata differs")
    import safetensors
    print(f"safetensors {safetensors.__version__}: {len(files)} case files, every tensor equal to load_case")


# --- 8. ROME's .npz ------------------------------------------------------------------------
def test_npz():
    d = run_dir()
    out = cli("export", "--npz", d)
    cases = sorted(f for f in os.listdir(os.path.join(d, "cases")) if f.endswith(".bin"))
    check(len(out.splitlines()) == len(cases), f"export printed {out!r}")
    single = os.path.join(TMP, "gpt2_mlp.bin")
    if not os.path.exists(single):      # (test_trace_vs_cli writes it)
        cli("trace", "--model_name", os.path.join(TINY, "gpt2"), "--token_ids", ",".join(map(str, IDS)), "--target",
            "5:9", "--answer_ids", "492", "--kind", "mlp", "--samples", "2", "--threads", "1", "--out", single)
    cli("export", "--npz", single, "--out", os.path.join(TMP, "single.npz"))
    pairs = [(os.path.join(d, "cases", f), os.path.join(d, "cases", f[:-4] + ".npz")) for f in cases]
    pairs.append((single, os.path.join(TMP, "single.npz")))
    # non-ASCII prompt text: token texts with U+FFFD (byte pieces) and multi-byte characters
    uni = os.path.join(TMP, "unicode.bin")
    cli("trace", "--model_name", DEMO, "--prompt", "C: Zoë née Ångström 東京 was born in Dunmere. Q: Where? A:",
        "--target", "2:6", "--answer", "Dunmere", "--samples", "2", "--threads", "1", "--out", uni)
    cli("export", "--npz", uni)
    pairs.append((uni, uni[:-4] + ".npz"))
    # errors: one line, non-zero exit, nothing written
    for args, needle in ((["--npz", os.path.join(TMP, "nowhere")], "No such file"),
                         (["--npz", os.path.join(ROOT, "README.md")], "README.md"),
                         (["--npz", d, "--out", os.path.join(TMP, "x.npz")], "exactly one case file"),
                         (["--npz", single, "--out", os.path.join(TMP, "no", "x.npz")], "cannot write"),
                         ([os.path.join(TMP, "x.bin")], "unexpected argument")):
        p = subprocess.run([BIN, "export"] + args, capture_output=True, text=True, env=CLI_ENV)
        check(p.returncode != 0 and needle in p.stderr and p.stderr.startswith("ctrace: export: ")
              and len(p.stderr.strip().splitlines()) == 1, f"export {args}: exit {p.returncode}, {p.stderr!r}")
    check(not os.path.exists(os.path.join(TMP, "x.npz")), "a failed export wrote x.npz")
    keys = ["scores", "low_score", "high_score", "input_ids", "input_tokens", "subject_range", "answer", "window",
            "correct_prediction", "kind", "target_ranges"]
    for binf, npzf in pairs:
        c = ctrace.load_case(binf)
        z = np.load(npzf)       # no allow_pickle: no object arrays
        check(z.files == keys, f"{npzf}: keys {z.files}")
        py = os.path.join(TMP, "py.npz")
        ctrace.save_npz(c, py)
        zp = np.load(py)
        for k in keys:
            check(same(z[k], zp[k]), f"{npzf}: {k} from `ctrace export` {z[k]!r} vs save_npz {zp[k]!r}")
        check(same(z["scores"], c["scores"]), f"{npzf}: scores")
        check(float(z["low_score"]) == float(c["low_score"]) and z["high_score"] == c["high_score"], f"{npzf}: low/high")
        check(same(z["input_ids"], c["input_ids"].astype(np.int64)), f"{npzf}: input_ids")
        rg = c["target_ranges"]
        check(z["subject_range"].tolist() == [rg[:, 0].min(), rg[:, 1].max()], f"{npzf}: subject_range")
        want_tokens = c.tokens if c.tokens else ["#%d" % i for i in c["input_ids"]]
        check(z["input_tokens"].tolist() == want_tokens, f"{npzf}: input_tokens {z['input_tokens'].tolist()}")
        check(str(z["kind"]) == {"hidden": "", "mlp": "mlp", "attention": "attn"}[c.kind], f"{npzf}: kind")
        check(int(z["window"]) == c.window, f"{npzf}: window")
        check(str(z["answer"]) == (c.answer if c.answer else "#492"), f"{npzf}: answer {z['answer']}")
    # ROME's plot code reads it as it reads its own results
    r = dict(np.load(pairs[0][1]))
    labels = list(r["input_tokens"])
    for i in range(*r["subject_range"]):
        labels[i] = labels[i] + "*"
    check(r["scores"].shape == (len(labels), ctrace.load_case(pairs[0][0]).L) and r["correct_prediction"], "ROME-style read")
    # a TraceResult straight away
    m = ctrace.Model(os.path.join(TINY, "gpt2"))
    tr = ctrace.trace(m, IDS, (5, 9), [492], kind="attention", samples=2)
    z = np.load(ctrace.save_npz(tr, os.path.join(TMP, "tr.npz")))
    check(same(z["scores"], tr.scores) and str(z["kind"]) == "attn", "save_npz of a TraceResult")

# --- bf16 compute: Model(dtype="bf16") is `ctrace trace --dtype bf16`, bit for bit -----------------
def test_compute_dtype():
    path = os.path.join(TINY, "gpt2")
    f = os.path.join(TMP, "gpt2_bf16.bin")
    cli("trace", "--model_name", path, "--token_ids", ",".join(map(str, IDS)), "--target", "5:9", "--answer_ids", "492",
        "--kind", "mlp", "--samples", "3", "--window", "4", "--threads", "1", "--dtype", "bf16", "--out", f)
    m = ctrace.Model(path, dtype="bf16")
    check(m.dtype == "bf16" and m.backend == "cpu" and "bf16" in m.backend_description, f"model: {m.backend_description}")
    r = ctrace.trace(m, IDS, (5, 9), [492], kind="mlp", samples=3, window=4)
    case = ctrace.load_case(f)
    check(r.compute == "BF16" and case.settings.get("compute") == "BF16", f"compute {r.compute} / {case.settings.get('compute')}")
    for k, v in r.arrays().items():
        check(same(v, case[k]), f"bf16: {k} differs from the CLI's case file")
    f32 = ctrace.trace(ctrace.Model(path), IDS, (5, 9), [492], kind="mlp", samples=3, window=4)
    d = float(np.max(np.abs(f32.scores - r.scores)))
    check(0 < d < 0.01, f"bf16 vs f32 scores: max |d| {d}")
    for bad in (dict(dtype="f16"), dict(backend="openblas", dtype="bf16"), dict(backend="tpu")):
        try:
            ctrace.Model(path, **bad)
            check(False, f"Model(**{bad}) accepted")
        except ctrace.Error as e:
            check(str(e), f"Model(**{bad}): {e}")


def main():
    ctrace.set_threads(1)
    tests = [test_trace_vs_cli, test_head_trace, test_attribute, test_run, test_logits, test_load_case, test_retrace_run, test_tokenizer, test_errors, test_hub_and_progress, test_gil,
             test_safetensors_package, test_npz, test_compute_dtype]
    only = sys.argv[1:]
    for t in tests:
        if only and t.__name__ not in only:
            continue
        before = failed
        t0 = time.time()
        try:
            t()
        except Exception:
            check(False, f"{t.__name__} raised:\n{traceback.format_exc()}")
        print(f"{'ok  ' if failed == before else 'FAIL'} {t.__name__} ({time.time() - t0:.1f} s)")
    shutil.rmtree(TMP, ignore_errors=True)
    tail = f", {unchecked} not checked" if unchecked else ""
    print(f"python: {passed} checks passed, {failed} failed{tail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
