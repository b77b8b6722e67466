#!/usr/bin/env python3
"""Total effects on the demo rows, in PyTorch: an independent reference for
what `ctrace run` should find on models/demo + data/demo.jsonl.

    /usr/bin/python3 tools/demo/te.py [--samples 10] [--seed 1]

For each row, prompt = "C: {passage} Q: {prompt_wo_ctx} A:" with the row's own
(supporting) passage; the subject's or the object's mention in the passage
(or the relation words: the passage's other tokens, punctuation included)
gets Gaussian noise added to its token embeddings (level 3 × the std of the
embedding matrix, NumPy RandomState(seed).randn(samples, span, D) as in the
seed tool), and TE = p_clean(answer) − mean over samples of p_corrupt(answer),
the answer scored with a leading space by teacher forcing.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe import BPE  # noqa: E402
from llama import load_hf, rope_cos_sin  # noqa: E402

CTX_FORMAT = "C: {context} Q: {prompt} A:"


def span_tokens(tok, text, start, end):
    """Token range of text[start:end] (a word or words preceded by a space,
    which GPT-2's pre-tokenizer attaches to the word)."""
    a = start - 1 if start > 0 and text[start - 1] == " " else start
    return len(tok.encode(text[:a])), len(tok.encode(text[:end]))


def p_answer(model, x, n_prompt, a_ids):
    """x [S, T, D] block-0 inputs; product of answer-token probabilities."""
    T = x.shape[1]
    cos, sin = rope_cos_sin(T, model.c.head_dim, model.c.rope_theta)
    mask = torch.full((T, T), float("-inf")).triu(1)
    for layer in model.layers:
        x = layer(x, cos, sin, mask)
    logp = torch.log_softmax(model.lm_head(model.norm(x)), dim=-1)  # [S, T, V]
    lp = sum(logp[:, n_prompt - 1 + i, a] for i, a in enumerate(a_ids))
    return lp.exp()                                                 # [S]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/demo")
    ap.add_argument("--data", default="data/demo.jsonl")
    ap.add_argument("--work", default="build/demo")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = load_hf(a.model)
    tok = BPE(os.path.join(a.model, "tokenizer.json"))
    W = model.embed_tokens.weight.detach()
    noise = 3 * W.std().item()
    with open(os.path.join(a.work, "world.json")) as f:
        param = {x["name"] for x in json.load(f)["subjects"] if x["split"] == "param"}
    rows = [json.loads(l) for l in open(a.data) if l.strip()]
    res = {}
    print(f"noise level {noise:.4f}; {len(rows)} rows, {a.samples} samples")
    for r in rows:
        ctx = r["passages"][0]["text"]
        text = CTX_FORMAT.format(context=ctx, prompt=r["prompt_wo_ctx"])
        p_ids = tok.encode(text)
        a_ids = tok.encode(" " + r["answers"][0])
        ids = torch.tensor(p_ids + a_ids)
        off = len("C: ")
        spans = {"subject": (off + ctx.index(r["subj"]), off + ctx.index(r["subj"]) + len(r["subj"])),
                 "object": (off + ctx.index(r["obj"]), off + ctx.index(r["obj"]) + len(r["obj"]))}
        tok_sets = {k: list(range(*span_tokens(tok, text, s, e))) for k, (s, e) in spans.items()}
        pb, pe = span_tokens(tok, text, off, off + len(ctx))
        # The relation words: passage tokens that are neither subject nor object.
        tok_sets["relation"] = [t for t in range(pb, pe)
                                if t not in tok_sets["subject"] and t not in tok_sets["object"]]
        with torch.no_grad():
            x0 = model.embed_tokens(ids)[None]                        # [1, T, D]
            clean = p_answer(model, x0, len(p_ids), a_ids).item()
            for name, idx in tok_sets.items():
                rs = np.random.RandomState(a.seed)
                z = torch.from_numpy(rs.randn(a.samples, len(idx), W.shape[1])).float() * noise
                x = x0.repeat(a.samples, 1, 1)
                x[:, idx] += z
                corrupt = p_answer(model, x, len(p_ids), a_ids).mean().item()
                key = ("parametric" if r["subj"] in param else "held out", name)
                res.setdefault(key, []).append((clean, corrupt))
    print("| rows | corrupted span in the passage | mean p_clean | mean p_corrupt | mean TE |")
    print("| --- | --- | --- | --- | --- |")
    for (split, name), v in sorted(res.items()):
        v = np.array(v)
        print(f"| {split} ({len(v)}) | {name} | {v[:, 0].mean():.3f} | {v[:, 1].mean():.3f} | "
              f"{(v[:, 0] - v[:, 1]).mean():.3f} |")


if __name__ == "__main__":
    main()
