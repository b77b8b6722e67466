#!/usr/bin/env python3
"""Total effects on the demo rows, in PyTorch: an independent reference for
what `ctrace run` should find on models/demo + data/demo.jsonl.

    /usr/bin/python3 tools/demo/te.py [--samples 10] [--seed 1] [--rows 0-7,24-31]
                                      [--out tests/fixtures/demo_te.json]

For each row, prompt = "C: {passage} Q: {prompt_wo_ctx} A:" with the row's own
(supporting) passage; the subject's or the object's mention in the passage
(or the relation words: the passage's other tokens, punctuation included)
gets Gaussian noise added to its token embeddings, and TE = p_clean(answer) −
mean over samples of p_corrupt(answer), the answer scored with a leading space
by teacher forcing.

The noise follows ROME (and ctrace) exactly: level = 3 × the float32 std of the
embedding matrix; one NumPy RandomState(seed) per corrupted run, drawing
randn(samples, e − b, D) in float64 for each token range [b, e) of the span in
order (the relation is up to three ranges); the float32 embeddings get
x = float32(float64(x) + level·z), as torch's in-place `x += noise` does.

--out writes, per row and span, the token range(s) used, p_clean and p_corrupt:
the reference tests/cli/demo_te.sh compares `ctrace run` against. The split
into parametric / held-out rows reads build/demo/world.json when it exists.
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


def runs(idx):
    """Sorted token indices -> list of contiguous [b, e) ranges."""
    out = []
    for t in idx:
        if out and out[-1][1] == t:
            out[-1][1] = t + 1
        else:
            out.append([t, t + 1])
    return out


def parse_rows(text, n):
    """"0-7,24-31" -> sorted row indices; "" -> all n rows."""
    if not text:
        return list(range(n))
    rows = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        rows.update(range(int(a), int(b or a) + 1))
    return sorted(r for r in rows if r < n)


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
    ap.add_argument("--rows", default="", help="row indices, e.g. 0-7,24-31 (default: all)")
    ap.add_argument("--out", help="write per-row, per-span results to this JSON file")
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = load_hf(a.model)
    tok = BPE(os.path.join(a.model, "tokenizer.json"))
    W = model.embed_tokens.weight.detach()
    noise = 3 * W.std().item()   # float32 std, widened to a Python float
    world = os.path.join(a.work, "world.json")
    param = None
    if os.path.exists(world):
        with open(world) as f:
            param = {x["name"] for x in json.load(f)["subjects"] if x["split"] == "param"}
    all_rows = [json.loads(l) for l in open(a.data) if l.strip()]
    picked = parse_rows(a.rows, len(all_rows))
    res, out = {}, []
    print(f"noise level {noise:.6f}; {len(picked)} rows, {a.samples} samples")
    for i in picked:
        r = all_rows[i]
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
                rng = runs(idx)
                rs = np.random.RandomState(a.seed)
                x = x0.repeat(a.samples, 1, 1).double()                # [S, T, D]
                for b, e in rng:
                    x[:, b:e] += noise * torch.from_numpy(rs.randn(a.samples, e - b, W.shape[1]))
                corrupt = p_answer(model, x.float(), len(p_ids), a_ids).mean().item()
                split = "all" if param is None else "parametric" if r["subj"] in param else "held out"
                res.setdefault((split, name), []).append((clean, corrupt))
                out.append({"row": i, "span": name, "ranges": rng,
                            "p_clean": clean, "p_corrupt": corrupt})
    if a.out:
        with open(a.out + ".tmp", "w") as f:
            f.write('{"tool": "tools/demo/te.py", "model": "%s", "data": "%s", "samples": %d, '
                    '"seed": %d, "noise_level": %r,\n "cases": [\n' % (a.model, a.data, a.samples, a.seed, noise))
            f.write(",\n".join("  " + json.dumps(c) for c in out))
            f.write("\n]}\n")
        os.replace(a.out + ".tmp", a.out)
    print("| rows | corrupted span in the passage | mean p_clean | mean p_corrupt | mean TE |")
    print("| --- | --- | --- | --- | --- |")
    for (split, name), v in sorted(res.items()):
        v = np.array(v)
        print(f"| {split} ({len(v)}) | {name} | {v[:, 0].mean():.3f} | {v[:, 1].mean():.3f} | "
              f"{(v[:, 0] - v[:, 1]).mean():.3f} |")


if __name__ == "__main__":
    main()
