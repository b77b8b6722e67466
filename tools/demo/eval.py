#!/usr/bin/env python3
"""Measures what the demo model knows and where it takes it from, and writes
the expected logits for ctrace's forward-pass test.

    /usr/bin/python3 tools/demo/eval.py              # after train.py

Reads models/demo/ and build/demo/world.json; writes
  * the results section of docs/demo-model.md (between the eval markers),
  * build/demo/eval.json (all numbers),
  * tests/fixtures/demo_logits.safetensors: for 3 prompts, `ids_K` (int32
    [T], the prompt's token ids) and `logits_K` (float32 [4, vocab], the
    logits of the last 4 positions), as computed by tools/demo/llama.py.

Scoring follows the seed tool: the answer is the text after the prompt with a
leading space; p(answer) is the product of its tokens' probabilities under
teacher forcing; top-1 means every answer token is the arg-max.
"""
import argparse
import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe import BPE  # noqa: E402
from llama import load_hf, save_safetensors  # noqa: E402

CTX_FORMAT = "C: {context} Q: {prompt} A:"     # the seed's QA_T1 prompt format
NOCTX_FORMAT = "Q: {prompt} A:"


def score(model, tok, prompt, answers):
    """p(answer) and top-1 for each candidate answer of one prompt."""
    p_ids = tok.encode(prompt)
    out = []
    for ans in answers:
        a_ids = tok.encode(" " + ans)
        ids = torch.tensor([p_ids + a_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids)[0], dim=-1)
        pos = range(len(p_ids) - 1, len(p_ids) + len(a_ids) - 1)
        lp = sum(logp[t, a].item() for t, a in zip(pos, a_ids))
        top = all(logp[t].argmax().item() == a for t, a in zip(pos, a_ids))
        out.append((float(torch.tensor(lp).exp()), top))
    return out


def evaluate(model, tok, rows):
    """Mean p and top-1 rate for: no passage, supporting passage,
    counterfactual passage (answer = the passage's object obj_cf[0])."""
    acc = {k: [0.0, 0.0] for k in ("noctx", "ctx", "cf_follow", "cf_orig")}
    for r in rows:
        cf = r["obj_cf"][0]
        ctx = r["passages"][0]["text"]
        ctx_cf = ctx.replace(r["obj"], cf)
        (p, t), = score(model, tok, NOCTX_FORMAT.format(prompt=r["prompt_wo_ctx"]), [r["obj"]])
        acc["noctx"][0] += p; acc["noctx"][1] += t
        (p, t), = score(model, tok, CTX_FORMAT.format(context=ctx, prompt=r["prompt_wo_ctx"]), [r["obj"]])
        acc["ctx"][0] += p; acc["ctx"][1] += t
        (pf, tf), (po, to) = score(model, tok, CTX_FORMAT.format(context=ctx_cf, prompt=r["prompt_wo_ctx"]), [cf, r["obj"]])
        acc["cf_follow"][0] += pf; acc["cf_follow"][1] += tf
        acc["cf_orig"][0] += po; acc["cf_orig"][1] += to
    n = max(1, len(rows))
    return {k: {"p": v[0] / n, "top1": v[1] / n} for k, v in acc.items()} | {"n": len(rows)}


def table(res):
    lines = ["| subjects | rows | no passage: top-1 / mean p(answer) | supporting passage: top-1 / p | "
             "counterfactual passage: follows (top-1 / p(cf)) | counterfactual: original answer (top-1 / p) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, r in res.items():
        f = lambda k: f"{100 * r[k]['top1']:.1f}% / {r[k]['p']:.3f}"  # noqa: E731
        lines.append(f"| {name} | {r['n']} | {f('noctx')} | {f('ctx')} | {f('cf_follow')} | {f('cf_orig')} |")
    return "\n".join(lines)


def write_fixture(model, tok, path, prompts):
    tensors, meta = {}, {"format": "pt", "source": "tools/demo/eval.py on models/demo"}
    for k, text in enumerate(prompts):
        ids = tok.encode(text)
        with torch.no_grad():
            logits = model(torch.tensor([ids]))[0, -4:]   # [4, vocab]
        tensors[f"ids_{k}"] = torch.tensor(ids, dtype=torch.int32)
        tensors[f"logits_{k}"] = logits.float().contiguous()
        meta[f"prompt_{k}"] = text
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_safetensors(path, tensors, metadata=meta)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/demo")
    ap.add_argument("--work", default="build/demo")
    ap.add_argument("--data", default="data/demo.jsonl")
    ap.add_argument("--data-distractor", default="data/demo_distractor.jsonl")
    ap.add_argument("--doc", default="docs/demo-model.md")
    ap.add_argument("--fixture", default="tests/fixtures/demo_logits.safetensors")
    ap.add_argument("--max-rows", type=int, default=0, help="limit per set (quick looks)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = load_hf(a.model)
    tok = BPE(os.path.join(a.model, "tokenizer.json"))
    with open(os.path.join(a.work, "world.json")) as f:
        world = json.load(f)
    with open(a.data) as f:
        demo = [json.loads(l) for l in f if l.strip()]
    param_names = {x["name"] for x in world["subjects"] if x["split"] == "param"}
    sets = {
        "parametric (facts in the training text)": world["eval"]["param"],
        "held out (never in the training text)": world["eval"]["held"],
        "data/demo.jsonl, parametric rows": [r for r in demo if r["subj"] in param_names],
        "data/demo.jsonl, held-out rows": [r for r in demo if r["subj"] not in param_names],
    }
    if a.data_distractor and os.path.exists(a.data_distractor):
        with open(a.data_distractor) as f:
            dd = [json.loads(l) for l in f if l.strip()]
        sets["data/demo_distractor.jsonl (two-sentence passages)"] = dd
    if a.max_rows:
        sets = {k: v[:a.max_rows] for k, v in sets.items()}
    res = {k: evaluate(model, tok, v) for k, v in sets.items()}
    print(table(res))
    with open(os.path.join(a.work, "eval.json"), "w") as f:
        json.dump(res, f, indent=1)
    r0, r1 = demo[0], next(r for r in demo if r["subj"] not in param_names)
    prompts = [
        CTX_FORMAT.format(context=r0["passages"][0]["text"], prompt=r0["prompt_wo_ctx"]),
        NOCTX_FORMAT.format(prompt=r0["prompt_wo_ctx"]),
        CTX_FORMAT.format(context=r1["passages"][0]["text"].replace(r1["obj"], r1["obj_cf"][0]),
                          prompt=r1["prompt_wo_ctx"]),
    ]
    write_fixture(model, tok, a.fixture, prompts)
    if a.max_rows:
        return
    if os.path.exists(a.doc):
        with open(a.doc) as f:
            doc = f.read()
        new = "<!-- eval:begin -->\n" + table(res) + "\n<!-- eval:end -->"
        doc = re.sub(r"<!-- eval:begin -->.*?<!-- eval:end -->", lambda m: new, doc, flags=re.S)
        with open(a.doc, "w") as f:
            f.write(doc)
    print(f"eval: wrote {a.fixture}" + (f" and {a.doc}" if os.path.exists(a.doc) else ""))


if __name__ == "__main__":
    main()
