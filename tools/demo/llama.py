"""The demo model: a Llama-layout decoder in plain PyTorch, with exactly the
arithmetic of Hugging Face's LlamaForCausalLM (no biases, RMSNorm with eps
inside the square root and the weight applied after normalising, rotary
embedding on the two halves of each head (`rotate_half`), SwiGLU MLP, causal
softmax attention scaled by 1/sqrt(head_dim)), so that any implementation of
HF Llama reproduces its logits from the saved config and weights.

Also a minimal safetensors reader/writer (F32 only): the `safetensors`
package is not available on the machine this was built on.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Config:
    def __init__(self, vocab_size=4096, hidden_size=192, intermediate_size=512,
                 num_hidden_layers=6, num_attention_heads=6, max_position_embeddings=256,
                 rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True,
                 bos_token_id=4095, eos_token_id=4095, num_key_value_heads=None):
        self.__dict__.update(locals())
        del self.__dict__["self"]
        if self.num_key_value_heads is None:
            self.num_key_value_heads = num_attention_heads

    @property
    def head_dim(self):
        return self.hidden_size // self.num_attention_heads

    def hf_json(self):
        """config.json as transformers writes it for LlamaForCausalLM."""
        return {
            "architectures": ["LlamaForCausalLM"],
            "attention_bias": False,
            "attention_dropout": 0.0,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "hidden_size": self.hidden_size,
            "initializer_range": 0.02,
            "intermediate_size": self.intermediate_size,
            "max_position_embeddings": self.max_position_embeddings,
            "mlp_bias": False,
            "model_type": "llama",
            "num_attention_heads": self.num_attention_heads,
            "num_hidden_layers": self.num_hidden_layers,
            "num_key_value_heads": self.num_key_value_heads,
            "pretraining_tp": 1,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_scaling": None,
            "rope_theta": self.rope_theta,
            "tie_word_embeddings": self.tie_word_embeddings,
            "torch_dtype": "float32",
            "use_cache": True,
            "vocab_size": self.vocab_size,
        }

    @classmethod
    def from_hf_json(cls, j):
        keys = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "max_position_embeddings", "rms_norm_eps", "rope_theta",
                "tie_word_embeddings", "bos_token_id", "eos_token_id", "num_key_value_heads"]
        return cls(**{k: j.get(k) for k in keys})


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def rope_cos_sin(T, head_dim, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = torch.outer(torch.arange(T, dtype=torch.int64).float(), inv_freq)  # [T, hd/2]
    emb = torch.cat([freqs, freqs], dim=-1)                                    # [T, hd]
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, I = c.hidden_size, c.intermediate_size
        KV = c.num_key_value_heads * c.head_dim
        self.c = c
        self.input_layernorm = RMSNorm(D, c.rms_norm_eps)
        self.q_proj = nn.Linear(D, D, bias=False)
        self.k_proj = nn.Linear(D, KV, bias=False)
        self.v_proj = nn.Linear(D, KV, bias=False)
        self.o_proj = nn.Linear(D, D, bias=False)
        self.post_attention_layernorm = RMSNorm(D, c.rms_norm_eps)
        self.gate_proj = nn.Linear(D, I, bias=False)
        self.up_proj = nn.Linear(D, I, bias=False)
        self.down_proj = nn.Linear(I, D, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, D = x.shape
        H, hd, KVH = self.c.num_attention_heads, self.c.head_dim, self.c.num_key_value_heads
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, H, hd).transpose(1, 2)     # [B, H, T, hd]
        k = self.k_proj(h).view(B, T, KVH, hd).transpose(1, 2)   # [B, KVH, T, hd]
        v = self.v_proj(h).view(B, T, KVH, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if KVH != H:  # grouped-query attention: query head i reads kv head i // (H / KVH)
            k = k.repeat_interleave(H // KVH, dim=1)
            v = v.repeat_interleave(H // KVH, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask  # [B, H, T, T]
        att = F.softmax(att, dim=-1)
        a = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.o_proj(a)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList([Block(c) for _ in range(c.num_hidden_layers)])
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
        if c.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def forward(self, ids):
        return self.lm_head(self.final_hidden(ids))

    def final_hidden(self, ids):
        """The normed last hidden state [B, T, D] (lm_head's input)."""
        B, T = ids.shape
        cos, sin = rope_cos_sin(T, self.c.head_dim, self.c.rope_theta)
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.norm(x)

    # HF tensor names <-> parameters of this module.
    def hf_tensors(self):
        out = {"model.embed_tokens.weight": self.embed_tokens.weight}
        for i, L in enumerate(self.layers):
            p = f"model.layers.{i}."
            for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
                out[p + f"self_attn.{n}.weight"] = getattr(L, n).weight
            for n in ("gate_proj", "up_proj", "down_proj"):
                out[p + f"mlp.{n}.weight"] = getattr(L, n).weight
            out[p + "input_layernorm.weight"] = L.input_layernorm.weight
            out[p + "post_attention_layernorm.weight"] = L.post_attention_layernorm.weight
        out["model.norm.weight"] = self.norm.weight
        if not self.c.tie_word_embeddings:
            out["lm_head.weight"] = self.lm_head.weight
        return out


def save_safetensors(path, tensors, metadata=None):
    """Writes F32/I32 tensors in the safetensors layout: u64 header size, JSON
    header (padded with spaces to 8 bytes), then the raw little-endian data."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy() if torch.is_tensor(t) else t)
        dt = {np.dtype("float32"): "F32", np.dtype("int32"): "I32"}[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    import os
    os.replace(path + ".tmp", path)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": "<f4", "I32": "<i4"}[h["dtype"]]
        a, b = h["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dt).reshape(h["shape"]).copy())
    return out


def load_hf(model_dir):
    with open(f"{model_dir}/config.json") as f:
        c = Config.from_hf_json(json.load(f))
    m = Llama(c)
    st = load_safetensors(f"{model_dir}/model.safetensors")
    with torch.no_grad():
        for name, p in m.hf_tensors().items():
            p.copy_(st[name])
    m.eval()
    return m
