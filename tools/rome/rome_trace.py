#!/usr/bin/python3
"""ROME's causal trace in plain PyTorch: the baseline of bench/rome_side_by_side.sh.

    /usr/bin/python3 tools/rome/rome_trace.py --model_name DIR --token_ids 1,2,3,... \
        --target B:E --answer_ids A [--kind hidden|mlp|attention|all] [--samples 10] \
        [--window 10] [--noise_level X] [--seed 1] [--threads 2] [--logits all|last] \
        --out FILE.npz

Needs only torch and numpy (Debian 12: python3-torch 1.13, numpy 1.24); no
transformers, no safetensors package.  The model directory is a Hugging Face
Llama checkpoint (config.json + model.safetensors, F32/BF16/F16), e.g. one
written by build/tools/make_checkpoint.

The procedure is the one of ROME (Meng et al. 2022), experiments/causal_trace.py
(`trace_with_patch`, `trace_important_states`, `trace_important_window`): for each
cell (token t, layer l) ONE forward pass of a batch of 1 clean row + S corrupted
rows; the corrupted rows get noise on the token embeddings of the span [B, E);
the clean row's state at (t, each layer of the cell) is copied in place into the
corrupted rows (h[1:, t] = h[0, t]); the cell's score is softmax(logits[1:, -1])
averaged over the corrupted rows, at the answer.  Every cell is its own forward
pass, cells before the span included, as ROME does.  Per kind, as ROME's
`calculate_hidden_flow`: one clean forward of the batch (high score, row 0),
one corrupted forward with nothing restored (low score), then the T x L cells.

Sites (ROME's hook points on an HF Llama):
  hidden     the decoder layer's output (residual stream after layer l); one layer
  mlp        the MLP's output (before its residual add); the window of layers
  attention  the self-attention's output after o_proj (before its residual add); the window
Window of cell (t, l): layers [max(0, l - W//2), min(L, l + W - W//2)), ROME's and
ctrace's convention (docs/trace.md, "Windows").

Noise: ctrace's (docs/trace.md), which is ROME's: z = numpy
RandomState(seed).randn(S, E - B, D) (float64), level = 3 * torch.std(W_E)
(float32 std, multiplied in double) unless --noise_level gives it; the
corrupted embeddings are float32(float64(x) + level * z), one rounding.  ROME
draws the same z afresh in every call (a new RandomState(1) each time); here it
is drawn once, the same numbers.

Output (--out, numpy .npz): for each kind K traced, scores_K [T, L] float32,
low_K and high_K (0-d float32), seconds_K; and noise_level, emb_std,
input_ids [T], target [2], answer [1], load_seconds.  Prints one line per kind
and the wall time.

--logits all (the default) computes the logits of every position, as HF's
LlamaForCausalLM does in ROME's code; --logits last only those of the scored
last position (the same scores, a cheaper forward).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch

KINDS = ["hidden", "mlp", "attention"]


# ---------------------------------------------------------------- checkpoint
def load_safetensors(path):
    """{name: float32 torch tensor} from a .safetensors file.

    Format: 8-byte little-endian header length n, n bytes of JSON
    {name: {dtype, shape, data_offsets: [a, b]}, "__metadata__": ...}, then the
    raw little-endian data; offsets are relative to the end of the header.
    """
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, v in hdr.items():
        if name == "__metadata__":
            continue
        a, b = v["data_offsets"]
        buf = raw[base + a:base + b]
        dt = v["dtype"]
        if dt == "F32":
            arr = np.frombuffer(buf, dtype="<f4")
        elif dt == "BF16":
            # bfloat16 is the high 16 bits of a float32: widen and shift
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif dt == "F16":
            arr = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        else:
            raise SystemExit(f"rome_trace: {path}: tensor {name}: dtype {dt} not supported")
        out[name] = torch.from_numpy(arr.reshape(v["shape"]).astype(np.float32, copy=True))
    return out


class Llama:
    """HF LlamaForCausalLM's arithmetic (transformers 4.x, eager attention),
    float32, written from the architecture: no biases; RMSNorm
    w * x / sqrt(mean(x^2) + eps); rotary embedding on the two halves of each
    head (rotate_half); grouped-query attention (query head h reads key/value
    head h // (H / KVH)), causal, scaled by 1/sqrt(hd); MLP
    down(silu(gate(x)) * up(x)); final norm; lm_head (or tied W_E)."""

    def __init__(self, model_dir):
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        if cfg.get("rope_scaling"):
            raise SystemExit("rome_trace: rope_scaling is not implemented (use a plain-rotary checkpoint)")
        self.D = cfg["hidden_size"]
        self.L = cfg["num_hidden_layers"]
        self.H = cfg["num_attention_heads"]
        self.KVH = cfg.get("num_key_value_heads") or self.H
        self.hd = cfg.get("head_dim") or self.D // self.H
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.theta = float(cfg.get("rope_theta", 10000.0))
        w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.W_E = w["model.embed_tokens.weight"]                      # [V, D]
        self.layers = []
        for l in range(self.L):
            p = f"model.layers.{l}."
            self.layers.append({
                "ln1": w[p + "input_layernorm.weight"],               # [D]
                "ln2": w[p + "post_attention_layernorm.weight"],      # [D]
                # transposed once so that x @ W is the HF Linear x @ weight.T
                "q": w[p + "self_attn.q_proj.weight"].t().contiguous(),   # [D, H*hd]
                "k": w[p + "self_attn.k_proj.weight"].t().contiguous(),   # [D, KVH*hd]
                "v": w[p + "self_attn.v_proj.weight"].t().contiguous(),   # [D, KVH*hd]
                "o": w[p + "self_attn.o_proj.weight"].t().contiguous(),   # [H*hd, D]
                "gate": w[p + "mlp.gate_proj.weight"].t().contiguous(),   # [D, F]
                "up": w[p + "mlp.up_proj.weight"].t().contiguous(),       # [D, F]
                "down": w[p + "mlp.down_proj.weight"].t().contiguous(),   # [F, D]
            })
        self.norm = w["model.norm.weight"]                             # [D]
        head = w.get("lm_head.weight")
        if head is None or cfg.get("tie_word_embeddings"):
            head = self.W_E
        self.lm_head_t = head.t().contiguous()                         # [D, V]

    def rmsnorm(self, x, weight):
        # x [B, T, D]: HF's LlamaRMSNorm in float32
        var = x.pow(2).mean(-1, keepdim=True)
        return weight * (x * torch.rsqrt(var + self.eps))

    def rotary(self, T):
        # HF's LlamaRotaryEmbedding, positions 0..T-1: cos, sin [T, hd]
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.int64).float() / self.hd))
        freqs = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq[None, :]   # [T, hd/2]
        emb = torch.cat((freqs, freqs), dim=-1)                                    # [T, hd]
        return emb.cos(), emb.sin()

    @staticmethod
    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

    def attention(self, x, lw, cos, sin, mask):
        # x [B, T, D] (normed) -> [B, T, D], the output of o_proj
        B, T, _ = x.shape
        q = (x @ lw["q"]).view(B, T, self.H, self.hd).transpose(1, 2)     # [B, H, T, hd]
        k = (x @ lw["k"]).view(B, T, self.KVH, self.hd).transpose(1, 2)   # [B, KVH, T, hd]
        v = (x @ lw["v"]).view(B, T, self.KVH, self.hd).transpose(1, 2)   # [B, KVH, T, hd]
        q = q * cos + self.rotate_half(q) * sin
        k = k * cos + self.rotate_half(k) * sin
        if self.KVH != self.H:                                            # GQA: repeat each kv head
            rep = self.H // self.KVH
            k = k.repeat_interleave(rep, dim=1)                           # [B, H, T, hd]
            v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(2, 3)) / math.sqrt(self.hd) + mask          # [B, H, T, T]
        att = torch.softmax(att, dim=-1)
        z = (att @ v).transpose(1, 2).reshape(B, T, self.H * self.hd)     # [B, T, H*hd]
        return z @ lw["o"]

    def forward(self, ids, span, noise, patch, last_only):
        """One forward of the batch, ROME's trace_with_patch without hooks:
        ids [B, T] (row 0 clean, rows 1.. corrupted); span (b, e) or None;
        noise [B-1, e-b, D] float64 (already times the level) or None;
        patch {(kind, layer): [t, ...]}: after computing that site's output,
        copy row 0's vector at each t into rows 1.. in place (ROME's
        h[1:, t] = h[0, t]).  Returns the logits [B, T or 1, V]."""
        B, T = ids.shape
        x = self.W_E[ids]                                                  # [B, T, D]
        if noise is not None:
            b, e = span
            # one rounding: float32(float64(x) + level*z), as torch's x += float64 noise
            x[1:, b:e] = (x[1:, b:e].double() + noise).float()
        cos, sin = self.rot
        mask = self.mask
        for l, lw in enumerate(self.layers):
            a = self.attention(self.rmsnorm(x, lw["ln1"]), lw, cos, sin, mask)   # [B, T, D]
            for t in patch.get(("attention", l), ()):
                a[1:, t] = a[0, t]
            x = x + a
            h = self.rmsnorm(x, lw["ln2"])
            m = (torch.nn.functional.silu(h @ lw["gate"]) * (h @ lw["up"])) @ lw["down"]  # [B, T, D]
            for t in patch.get(("mlp", l), ()):
                m[1:, t] = m[0, t]
            x = x + m
            for t in patch.get(("hidden", l), ()):
                x[1:, t] = x[0, t]
        if last_only:
            x = x[:, -1:]
        return self.rmsnorm(x, self.norm) @ self.lm_head_t                 # [B, T or 1, V]

    def prepare(self, T):
        # rotary tables and the causal mask for a T-token prompt, once per run
        self.rot = self.rotary(T)
        self.mask = torch.full((T, T), float("-inf")).triu(1)             # [T, T]: -inf above the diagonal


# ---------------------------------------------------------------- the trace
def window_layers(l, W, L):
    """ROME's window of cell layer l: [max(0, l - W//2), min(L, l + W - W//2))."""
    return range(max(0, l - W // 2), min(L, l - (-W // 2)))


def trace_kind(model, ids, span, noise, answer, kind, W, last_only):
    """ROME's calculate_hidden_flow for one kind: (scores [T, L], low, high)."""
    T, L = ids.shape[1], model.L
    score = lambda logits: torch.softmax(logits[1:, -1, :], dim=1).mean(dim=0)[answer]
    # predict_from_input: the clean batch, p(answer) on row 0
    logits = model.forward(ids, None, None, {}, last_only)
    high = torch.softmax(logits[0, -1, :], dim=0)[answer]
    low = score(model.forward(ids, span, noise, {}, last_only))
    table = torch.zeros(T, L)
    for t in range(T):
        for l in range(L):
            if kind == "hidden":
                patch = {("hidden", l): [t]}
            else:
                patch = {(kind, j): [t] for j in window_layers(l, W, L)}
            table[t, l] = score(model.forward(ids, span, noise, patch, last_only))
    return table, low, high


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model_name", required=True)
    ap.add_argument("--token_ids", required=True)
    ap.add_argument("--target", required=True, help="B:E, half-open, 0-based")
    ap.add_argument("--answer_ids", required=True, type=int, help="one answer token id")
    ap.add_argument("--kind", default="all", choices=KINDS + ["all"])
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--noise_level", type=float, default=None, help="absolute level (default 3 x std(W_E))")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--logits", choices=["all", "last"], default="all")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    t0 = time.time()
    model = Llama(a.model_name)
    load_s = time.time() - t0

    toks = [int(x) for x in a.token_ids.split(",")]
    b, e = (int(x) for x in a.target.split(":"))
    T, S, D = len(toks), a.samples, model.D
    if not (0 <= b < e <= T) or S < 1:
        raise SystemExit("rome_trace: bad --target or --samples")
    model.prepare(T)
    ids = torch.tensor([toks] * (S + 1), dtype=torch.int64)                # [S+1, T]: ROME's batch

    emb_std = float("nan")
    if a.noise_level is None:
        emb_std = torch.std(model.W_E).item()                              # float32 std -> python float
        level = 3 * emb_std
    else:
        level = a.noise_level
    z = np.random.RandomState(a.seed).randn(S, e - b, D)                   # [S, e-b, D] float64, C order
    noise = torch.from_numpy(level * z)                                    # float64, as ROME's noise * randn

    kinds = KINDS if a.kind == "all" else [a.kind]
    out = {"noise_level": np.float64(level), "emb_std": np.float64(emb_std), "input_ids": np.array(toks, np.int32),
           "target": np.array([b, e], np.int32), "answer": np.array([a.answer_ids], np.int32),
           "load_seconds": np.float64(load_s)}
    total = 0.0
    with torch.no_grad():
        for k in kinds:
            t1 = time.time()
            scores, low, high = trace_kind(model, ids, (b, e), noise, a.answer_ids, k, a.window, a.logits == "last")
            sec = time.time() - t1
            total += sec
            out["scores_" + k] = scores.numpy().astype(np.float32)
            out["low_" + k] = np.float32(low.item())
            out["high_" + k] = np.float32(high.item())
            out["seconds_" + k] = np.float64(sec)
            print(f"{k}: T={T} L={model.L} S={S}, high {high.item():.6g}, low {low.item():.6g}, "
                  f"{T * model.L + 2} forwards of {S + 1} rows, {sec:.2f} s")
    np.savez(a.out, **out)
    print(f"rome_trace: {a.out}: load {load_s:.2f} s, trace {total:.2f} s, noise level {level:.17g} "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads, logits {a.logits})")


if __name__ == "__main__":
    main()
