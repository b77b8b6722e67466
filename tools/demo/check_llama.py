#!/usr/bin/env python3
"""Checks tools/demo/llama.py against Hugging Face transformers: loads the tiny
random Llama in tests/fixtures/hf-tiny/llama_gqa (whose reference logits were
computed by transformers 4.47.1, eager attention) and compares the logits.

    /usr/bin/python3 tools/demo/check_llama.py [tests/fixtures/hf-tiny/llama_gqa]
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama import load_hf, load_safetensors  # noqa: E402

d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "../../tests/fixtures/hf-tiny/llama_gqa")
model = load_hf(d)
refs = load_safetensors(os.path.join(d, "refs.safetensors"))
worst = 0.0
for name in sorted(k for k in refs if k.endswith("_ids")):
    seq = name[:-4]
    with torch.no_grad():
        got = model(refs[name].long()[None])[0]
    diff = (got - refs[seq + "_logits"]).abs().max().item()
    worst = max(worst, diff)
    print(f"{seq}: T={refs[name].numel()} max |logit diff| = {diff:.3e}")
print("check_llama:", "OK" if worst < 1e-4 else "MISMATCH", f"(worst {worst:.3e})")
sys.exit(0 if worst < 1e-4 else 1)
