#!/usr/bin/env python3
"""The seed tool's designs on the demo model, in PyTorch: an independent
reference for `ctrace run --noise_source cf_embeddings [--patch_source
cf_passage --reverse_patching 1]` (its e1) and `--contexts cf` with
experiment 1 (its e21) and experiment 3 `--relation_span from_prompt_start`
(its e22) (docs/seed-designs.md).

    /usr/bin/python3 tools/demo/seed_designs.py [--rows 0,1,2] [--samples 5] [--window 3]
                                                [--out tests/fixtures/seed_designs.json]

Written from the designs' description, not from ctrace's code:

  prompt    "C: {passage} {prompt_wo_ctx}" (the seed scripts' format), the
            row's own passage; the object's mention is the corrupted span.
  noise     sample s (of S) adds the token embeddings of " " + obj_cf[s mod n]
            (n = the counterfactuals kept, --max_cf 3) to the object's token
            embeddings (the same number of tokens).
  scored    per sample r = log p(" " + obj_cf[s mod n]) − log p(" " + answer),
            at the last prompt position (one-token answers and counterfactuals).
  design "cf_embeddings" (restoring): cell (t, l) is the corrupted run with the
            clean run's value put back at position t: the block-l output
            (hidden) or the MLP outputs of layers [l − ⌊w/2⌋, l + ⌈w/2⌉) (mlp);
            TE = mean_s r_clean − r_corrupt(s), IE = mean_s r_cell(s) − r_corrupt(s).
  design "cf_passage" (the seed's e1 with --reverse_patching 1): cell (t, l) is
            sample s's corrupted run with the value of a clean run of the
            counterfactual passage (the object replaced by obj_cf[s mod n] in
            the passage text) put in at position t;
            TE = mean_s r_corrupt(s) − r_clean, IE = mean_s r_cell(s) − r_clean.
  designs "e21" and "e22" (hidden kind): in each counterfactual passage (the
            object replaced by obj_cf[c] in the passage text), Gaussian noise
            on the subject (e21) or on every token from the prompt's start to
            the passage's end except the subject and the counterfactual object
            (e22: "C: " included): level 3 × std(W_E) (float32 std), one
            NumPy RandomState(1) drawing randn(S, e − b, D) per token range in
            order, added in float64; every sample scored against obj_cf[c]
            (r = log p(cf) − log p(answer)); the clean hidden state restored;
            TE = r_clean − mean_s r_corrupt(s), IE = mean_s r_cell(s) − r_corrupt(s).

--out writes, per design, kind and row: the prompt's token ids, p_clean,
p_corrupt (the mean corrupted p(answer)), te and ie [T][L]; the reference
tests/test_seed_designs.c compares `ctrace run`'s case files against.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe import BPE  # noqa: E402
from llama import load_hf, rope_cos_sin  # noqa: E402

FORMAT = "C: {context} {prompt}"


def block(layer, x, cos, sin, mask):
    """One decoder block, returning (output, mlp output) so that the MLP
    output can be replaced: x [B, T, D]."""
    c = layer.c
    B, T, D = x.shape
    H, hd, KVH = c.num_attention_heads, c.head_dim, c.num_key_value_heads
    h = layer.input_layernorm(x)
    q = layer.q_proj(h).view(B, T, H, hd).transpose(1, 2)
    k = layer.k_proj(h).view(B, T, KVH, hd).transpose(1, 2)
    v = layer.v_proj(h).view(B, T, KVH, hd).transpose(1, 2)
    q = q * cos + torch.cat([-q[..., hd // 2:], q[..., :hd // 2]], dim=-1) * sin
    k = k * cos + torch.cat([-k[..., hd // 2:], k[..., :hd // 2]], dim=-1) * sin
    if KVH != H:
        k = k.repeat_interleave(H // KVH, dim=1)
        v = v.repeat_interleave(H // KVH, dim=1)
    att = F.softmax((q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask, dim=-1)
    x = x + layer.o_proj((att @ v).transpose(1, 2).reshape(B, T, D))
    h = layer.post_attention_layernorm(x)
    return x, layer.down_proj(F.silu(layer.gate_proj(h)) * layer.up_proj(h))


def forward(model, x, patch=None):
    """x [B, T, D] token embeddings -> (log-softmax at the last position [B, V],
    hidden [L, B, T, D] block outputs, mlp [L, B, T, D]).  patch(kind, l, y)
    may change y ("mlp": the MLP output; "hidden": the block output) in place."""
    T = x.shape[1]
    cos, sin = rope_cos_sin(T, model.c.head_dim, model.c.rope_theta)
    mask = torch.full((T, T), float("-inf")).triu(1)
    hs, ms = [], []
    for l, layer in enumerate(model.layers):
        x, m = block(layer, x, cos, sin, mask)
        if patch:
            patch("mlp", l, m)
        x = x + m
        if patch:
            patch("hidden", l, x)
        hs.append(x.clone())
        ms.append(m.clone())
    return torch.log_softmax(model.lm_head(model.norm(x))[:, -1], dim=-1), hs, ms


def span_tokens(tok, text, start, end):
    a = start - 1 if start > 0 and text[start - 1] == " " else start
    return len(tok.encode(text[:a])), len(tok.encode(text[:end]))


def one_token(tok, s):
    ids = tok.encode(" " + s)
    return ids[0] if len(ids) == 1 else None


def design(model, W, ids, cf_ids, src_ids, b, e, ans, cfs, S, kind, window, reverse_cf):
    """One case -> (p_clean, p_corrupt, te, ie [T][L])."""
    L, T = len(model.layers), len(ids)
    n = len(cfs)
    own = [cfs[s % n] for s in range(S)]            # sample s's counterfactual token
    x0 = W[torch.tensor(ids)][None]                 # [1, T, D]
    xc = x0.repeat(S, 1, 1).clone()
    for s in range(S):
        xc[s, b:e] = xc[s, b:e] + W[torch.tensor(cf_ids[s % n])]
    lp_clean, h_clean, m_clean = forward(model, x0)
    lp_corr, _, _ = forward(model, xc)
    if reverse_cf:  # the sources: clean runs of the samples' counterfactual passages
        xs = torch.stack([W[torch.tensor(src_ids[s % n])] for s in range(S)])
        _, h_src, m_src = forward(model, xs)
    else:
        h_src, m_src = h_clean, m_clean             # [1, T, D] broadcast over the samples
    ar = torch.arange(S)
    r_clean = (lp_clean[0, own] - lp_clean[0, ans]).double()       # [S]
    r_corr = (lp_corr[ar, own] - lp_corr[:, ans]).double()         # [S]
    ref = r_clean if reverse_cf else r_corr
    te = (r_corr - r_clean).mean() if reverse_cf else (r_clean - r_corr).mean()
    ie = [[0.0] * L for _ in range(T)]
    for t in range(T):
        for l in range(L):
            lo, hi = (l, l + 1) if kind == "hidden" else (max(0, l - window // 2), min(L, l + (window + 1) // 2))

            def patch(k, j, y, t=t, l=l, lo=lo, hi=hi):
                if k == kind == "hidden" and j == l:
                    y[:, t] = h_src[j][:, t]
                elif k == kind == "mlp" and lo <= j < hi:
                    y[:, t] = m_src[j][:, t]
            lp, _, _ = forward(model, xc, patch)
            r = (lp[ar, own] - lp[:, ans]).double()
            ie[t][l] = (r - ref).mean().item()
    return lp_clean[0, ans].exp().item(), lp_corr[:, ans].exp().mean().item(), te.item(), ie


def runs(idx):
    """Sorted token indices -> contiguous [b, e) ranges."""
    out = []
    for t in idx:
        if out and out[-1][1] == t:
            out[-1][1] = t + 1
        else:
            out.append([t, t + 1])
    return out


def gaussian_case(model, W, ids, ranges, ans, cf, S, level, seed=1):
    """Gaussian noise on ranges, the clean hidden states restored, every sample
    scored against cf -> (p_clean, p_corrupt, te, ie [T][L])."""
    L, T = len(model.layers), len(ids)
    x0 = W[torch.tensor(ids)][None]
    rs = np.random.RandomState(seed)
    x = x0.repeat(S, 1, 1).double()
    for b, e in ranges:
        x[:, b:e] += level * torch.from_numpy(rs.randn(S, e - b, W.shape[1]))
    xc = x.float()
    lp_clean, h_clean, _ = forward(model, x0)
    lp_corr, _, _ = forward(model, xc)
    r_clean = (lp_clean[0, cf] - lp_clean[0, ans]).double()
    r_corr = (lp_corr[:, cf] - lp_corr[:, ans]).double()               # [S]
    ie = [[0.0] * L for _ in range(T)]
    for t in range(T):
        for l in range(L):
            def patch(k, j, y, t=t, l=l):
                if k == "hidden" and j == l:
                    y[:, t] = h_clean[j][:, t]
            lp, _, _ = forward(model, xc, patch)
            ie[t][l] = ((lp[:, cf] - lp[:, ans]).double() - r_corr).mean().item()
    return (lp_clean[0, ans].exp().item(), lp_corr[:, ans].exp().mean().item(), (r_clean - r_corr).mean().item(), ie)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/demo")
    ap.add_argument("--data", default="data/demo.jsonl")
    ap.add_argument("--rows", default="0,1,2")
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--window", type=int, default=3)
    ap.add_argument("--max_cf", type=int, default=3)
    ap.add_argument("--cf_rows", type=int, default=1, help="e21, e22: the first N of --rows only")
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = load_hf(a.model)
    tok = BPE(os.path.join(a.model, "tokenizer.json"))
    W = model.embed_tokens.weight.detach()
    all_rows = [json.loads(l) for l in open(a.data) if l.strip()]
    rows = [int(x) for x in a.rows.split(",")]
    out = []
    with torch.no_grad():
        for i in rows:
            r = all_rows[i]
            ctx, obj = r["passages"][0]["text"], r["obj"]
            cfs = r["obj_cf"][:a.max_cf]
            text = FORMAT.format(context=ctx, prompt=r["prompt_wo_ctx"])
            ids = tok.encode(text)
            o = len("C: ") + ctx.index(obj)
            b, e = span_tokens(tok, text, o, o + len(obj))
            cf_ids = [tok.encode(" " + c) for c in cfs]
            src_ids = [tok.encode(FORMAT.format(context=ctx.replace(obj, c), prompt=r["prompt_wo_ctx"])) for c in cfs]
            ans, cft = one_token(tok, r["answers"][0]), [one_token(tok, c) for c in cfs]
            assert ans is not None and None not in cft, f"row {i}: needs one-token answer and counterfactuals"
            assert all(len(c) == e - b for c in cf_ids), f"row {i}: a counterfactual of another token count"
            assert all(len(s) == len(ids) for s in src_ids), f"row {i}: a counterfactual passage of another length"
            level = 3 * W.std().item()
            for c, cfc in enumerate(cfs if i in rows[:a.cf_rows] else []):   # e21, e22: each cf passage
                ctx_c = ctx.replace(obj, cfc)
                text_c = FORMAT.format(context=ctx_c, prompt=r["prompt_wo_ctx"])
                ids_c = tok.encode(text_c)
                off = len("C: ")
                sb, se = span_tokens(tok, text_c, off + ctx_c.index(r["subj"]), off + ctx_c.index(r["subj"]) + len(r["subj"]))
                ob, oe = span_tokens(tok, text_c, off + ctx_c.index(cfc), off + ctx_c.index(cfc) + len(cfc))
                pe = len(tok.encode(text_c[:off + len(ctx_c)]))
                rel = [t for t in range(0, pe) if not sb <= t < se and not ob <= t < oe]
                for name, rg in (("e21", [[sb, se]]), ("e22", runs(rel))):
                    pc, pk, te, ie = gaussian_case(model, W, ids_c, rg, ans, cft[c], a.samples, level)
                    print(f"row {i} {name} {cfc}: p_clean {pc:.6f} p_corrupt {pk:.6f} te {te:.6f}")
                    out.append({"design": name, "kind": "hidden", "row": i, "cf": cfc, "ids": ids_c, "ranges": rg,
                                "p_clean": pc, "p_corrupt": pk, "te": te, "ie": ie})
            for name, rev in (("cf_embeddings", False), ("cf_passage", True)):
                for kind in ("hidden", "mlp"):
                    pc, pk, te, ie = design(model, W, ids, cf_ids, src_ids, b, e, ans, cft, a.samples, kind,
                                            a.window, rev)
                    print(f"row {i} {name} {kind}: p_clean {pc:.6f} p_corrupt {pk:.6f} te {te:.6f}")
                    out.append({"design": name, "kind": kind, "row": i, "ids": ids, "object": [b, e],
                                "p_clean": pc, "p_corrupt": pk, "te": te, "ie": ie})
    if a.out:
        with open(a.out + ".tmp", "w") as f:
            f.write('{"tool": "tools/demo/seed_designs.py", "model": "%s", "data": "%s", "rows": %s, '
                    '"samples": %d, "window": %d, "max_cf": %d, "cf_rows": %d, "prompt_format": %s,\n "cases": [\n'
                    % (a.model, a.data, json.dumps(rows), a.samples, a.window, a.max_cf, a.cf_rows, json.dumps(FORMAT)))
            f.write(",\n".join("  " + json.dumps(c) for c in out))
            f.write("\n]}\n")
        os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
