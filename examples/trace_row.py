#!/usr/bin/env python3
"""Traces one row of the demo dataset from Python and draws ROME's figure.

    make && PYTHONPATH=python python3 examples/trace_row.py [--row 0] [--kind mlp] [--out trace.png]

The row's prompt is built as `ctrace run` builds it (the default format
"C: {context} Q: {prompt} A:"), the subject's mention in the passage is found
by byte offsets (Tokenizer.encode gives them, as Hugging Face's offset mapping
does), the subject's tokens are corrupted, and the result is saved in ROME's
.npz schema (ctrace.save_npz) and drawn by ROME's own plot function
(plot_trace_heatmap from ROME's experiments/causal_trace.py, kept as it is but
for the font and the x ticks of a 6-layer model).  Needs matplotlib
(Debian: python3-matplotlib) for the figure only.
"""
import argparse
import json
import os

import numpy as np

import ctrace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def plot_trace_heatmap(result, savepdf=None, title=None, xlabel=None, modelname=None):
    """ROME's figure (experiments/causal_trace.py), reading ROME's .npz keys."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    differences = result["scores"]
    low_score = result["low_score"]
    answer = result["answer"]
    kind = None if (not result["kind"] or result["kind"] == "None") else str(result["kind"])
    window = result.get("window", 10)
    labels = list(result["input_tokens"])
    for i in range(*result["subject_range"]):
        labels[i] = labels[i] + "*"
    with plt.rc_context(rc={"font.family": "serif"}):       # ROME: "Times New Roman"
        fig, ax = plt.subplots(figsize=(3.5, 2 + 0.12 * len(labels)), dpi=200)
        h = ax.pcolor(differences, cmap={None: "Purples", "None": "Purples", "mlp": "Greens", "attn": "Reds"}[kind],
                      vmin=low_score)
        ax.invert_yaxis()
        ax.set_yticks([0.5 + i for i in range(len(differences))])
        step = 5 if differences.shape[1] > 12 else 1                    # ROME: every 5th of range(0, L - 6, 5)
        ax.set_xticks([0.5 + i for i in range(0, differences.shape[1], step)])
        ax.set_xticklabels(list(range(0, differences.shape[1], step)))
        ax.set_yticklabels(labels)
        if not modelname:
            modelname = "GPT"
        if not kind:
            ax.set_title("Impact of restoring state after corrupted input")
            ax.set_xlabel(f"single restored layer within {modelname}")
        else:
            kindname = "MLP" if kind == "mlp" else "Attn"
            ax.set_title(f"Impact of restoring {kindname} after corrupted input")
            ax.set_xlabel(f"center of interval of {window} restored {kindname} layers")
        cb = plt.colorbar(h)
        if title is not None:
            ax.set_title(title)
        if xlabel is not None:
            ax.set_xlabel(xlabel)
        elif answer is not None:
            cb.ax.set_title(f"p({str(answer).strip()})", y=-0.16, fontsize=10)
        plt.savefig(savepdf, bbox_inches="tight")
        plt.close()


def token_range(offsets, b, e):
    """Tokens [tb, te) whose byte spans overlap bytes [b, e) (empty spans: BOS never)."""
    hit = [t for t, (s, f) in enumerate(offsets) if s < e and f > b and f > s]
    return hit[0], hit[-1] + 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "demo"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "demo.jsonl"))
    ap.add_argument("--row", type=int, default=0)
    ap.add_argument("--kind", default="hidden", choices=["hidden", "mlp", "attention"])
    ap.add_argument("--span", default="object", choices=["subject", "object"], help="the mention to corrupt")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--window", type=int, default=3)
    ap.add_argument("--out", default="trace.png", help="the figure (.png or .pdf); the .npz goes beside it")
    a = ap.parse_args()

    rows = [json.loads(l) for l in open(a.data) if l.strip()]
    row = rows[a.row]
    passage = row["passages"][0]["text"]
    head = "C: "
    text = f"{head}{passage} Q: {row['prompt_wo_ctx']} A:"
    m = ctrace.Model(a.model)
    ids, offsets = m.tokenizer.encode(text)                    # ids [T], offsets [T, 2] (bytes)
    mention = row["subj" if a.span == "subject" else "obj"].encode()
    sb = len(head.encode()) + passage.encode().index(mention)               # the mention inside the passage
    target = token_range(offsets, sb, sb + len(mention))
    print(f"row {a.row}: {text!r}\n  {a.span} {mention.decode()!r} = tokens {target}, answer {row['answers'][0]!r}")

    r = ctrace.trace(m, ids, target, row["answers"][0], kind=a.kind, samples=a.samples, window=a.window)
    print(f"  {r}")
    t, l = np.unravel_index(np.argmax(r.ie), r.ie.shape)
    tokens = m.tokenizer.tokens(ids)
    print(f"  strongest cell: token {t} {tokens[t]!r}, layer {l}: IE {r.ie[t, l]:.4f}")

    npz = os.path.splitext(a.out)[0] + ".npz"
    ctrace.save_npz(r, npz, tokens=tokens, answer=row["answers"][0])
    plot_trace_heatmap(dict(np.load(npz)), savepdf=a.out, modelname="demo")
    print(f"  {npz}\n  {a.out}")


if __name__ == "__main__":
    main()
