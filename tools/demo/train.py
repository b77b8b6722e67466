#!/usr/bin/env python3
"""Trains the demo model on the synthetic world and saves it in Hugging Face
format (config.json + model.safetensors, HF Llama tensor names, float32).

A dev tool (Debian's python3-torch 1.13 on the CPU; never needed to build or
test ctrace).  Needs build/demo/tokens.bin from train_tokenizer.js.

    nice -n 10 /usr/bin/python3 tools/demo/train.py --steps 3000 --seed 1234

Deterministic for a given seed, step count and thread count.  One thread by
default: on a shared 2-core machine two OpenMP threads run far slower than
one (each waits for the other's core).
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama import Config, Llama, save_safetensors  # noqa: E402


def read_examples(path):
    """tokens.bin: per example int32 n, int32 loss_from_token, n ids."""
    a = np.fromfile(path, dtype=np.int32)
    out, p = [], 0
    while p < len(a):
        n, lf = int(a[p]), int(a[p + 1])
        out.append((a[p + 2:p + 2 + n], lf))
        p += 2 + n
    return out


def batches(examples, batch_size, rng):
    """Shuffled batches of examples of similar length (less padding): shuffle,
    sort within pools of 50 batches, then shuffle the batches."""
    idx = list(range(len(examples)))
    while True:
        rng.shuffle(idx)
        pool = batch_size * 50
        bs = []
        for i in range(0, len(idx), pool):
            chunk = sorted(idx[i:i + pool], key=lambda j: len(examples[j][0]))
            bs += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
        rng.shuffle(bs)
        for b in bs:
            if len(b) == batch_size:
                yield b


def collate(examples, b, pad_id):
    T = max(len(examples[j][0]) for j in b)
    ids = torch.full((len(b), T), pad_id, dtype=torch.long)
    tgt = torch.full((len(b), T), -100, dtype=torch.long)  # target of position t = token t+1
    for r, j in enumerate(b):
        x, lf = examples[j]
        n = len(x)
        ids[r, :n] = torch.from_numpy(x.astype(np.int64))
        start = max(lf, 1)   # loss on tokens start..n-1 (predicted at start-1..n-2)
        tgt[r, start - 1:n - 1] = ids[r, start:n]
    return ids, tgt


def save_hf(model, c, out_dir, meta):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(c.hf_json(), f, indent=2, sort_keys=True)
        f.write("\n")
    save_safetensors(os.path.join(out_dir, "model.safetensors"), model.hf_tensors(),
                     metadata={"format": "pt", **{k: str(v) for k, v in meta.items()}})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="build/demo")
    ap.add_argument("--out", default="models/demo")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--inter", type=int, default=512)
    ap.add_argument("--save-every", type=int, default=250)
    ap.add_argument("--tokens", default="tokens.bin", help="encoded corpus in --work")
    ap.add_argument("--init", default="", help="start from this HF model dir (second stage)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    with open(os.path.join(a.out, "tokenizer.json")) as f:
        tok = json.load(f)
    eos = next(t["id"] for t in tok["added_tokens"] if t["content"] == "<|endoftext|>")
    c = Config(vocab_size=eos + 1, hidden_size=a.hidden, intermediate_size=a.inter,
               num_hidden_layers=a.layers, num_attention_heads=a.heads,
               bos_token_id=eos, eos_token_id=eos)
    model = Llama(c)
    if a.init:
        from llama import load_hf
        model = load_hf(a.init)
        model.train()
        c = model.c
    n_params = sum(p.numel() for p in model.parameters())
    print(f"train: {n_params} parameters, config {c.hf_json()}", flush=True)

    examples = read_examples(os.path.join(a.work, a.tokens))
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)

    def lr_at(s):  # linear warm-up, then cosine decay to 10%
        if s < a.warmup:
            return a.lr * (s + 1) / a.warmup
        q = (s - a.warmup) / max(1, a.steps - a.warmup)
        return a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * q)))

    gen = batches(examples, a.batch, rng)
    t0 = time.time()
    ntok, run_loss = 0, None
    meta = {"seed": a.seed, "steps": a.steps, "batch": a.batch, "lr": a.lr,
            "tokens": a.tokens, "init": a.init or "random"}
    for step in range(a.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        ids, tgt = collate(examples, next(gen), eos)
        # lm_head only where there is a target: most question/answer tokens
        # carry no loss, and the 4096-way head is a quarter of the compute.
        h = model.final_hidden(ids).view(-1, c.hidden_size)
        sel = (tgt.view(-1) != -100).nonzero().squeeze(1)
        loss = F.cross_entropy(model.lm_head(h[sel]), tgt.view(-1)[sel])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ntok += ids.numel()
        run_loss = loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * loss.item()
        if step % 50 == 0 or step == a.steps - 1:
            dt = time.time() - t0
            print(f"step {step:5d} loss {loss.item():.4f} avg {run_loss:.4f} lr {lr_at(step):.2e} "
                  f"{ntok / dt:.0f} tok/s {dt / 60:.1f} min", flush=True)
        if (step + 1) % a.save_every == 0 and step + 1 < a.steps:
            save_hf(model, c, a.out, {**meta, "at_step": step + 1})
    save_hf(model, c, a.out, {**meta, "at_step": a.steps})
    print(f"train: done in {(time.time() - t0) / 60:.1f} min, saved {a.out}", flush=True)


if __name__ == "__main__":
    main()
