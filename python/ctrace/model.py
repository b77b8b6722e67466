"""model.py - ctrace.Model (a loaded checkpoint) and ctrace.Tokenizer."""
import ctypes as C
import os

import numpy as np

from ._lib import lib, libc, ct_err, ct_encoding, c_int32
from .errors import Error

_FAMILIES = ["llama", "gemma", "gemma2", "phi3", "gpt2", "gptj", "gpt_neox", "phi"]   # enum ct_family
_NORMS = ["rms", "rms_1p", "layer"]                                                    # enum ct_norm_kind
_ACTS = ["silu", "gelu", "gelu_tanh", "relu"]                                           # enum ct_act
_ROPES = ["none", "default", "linear", "llama3"]                                        # enum ct_rope_type


def _enum(names, v):
    return names[v] if 0 <= v < len(names) else v


def resolve(name):
    """NAME as --model_name takes it -> (directory, hub_id or None): a path that
    exists is used as is; else a hub id "org/name[@revision]" is looked up in
    the local Hugging Face cache (ct_hub_resolve; never downloads)."""
    L = lib()
    name = os.fspath(name)
    buf = C.create_string_buffer(4096)
    err = ct_err()
    rc = L.ct_hub_resolve(name.encode(), buf, len(buf), C.byref(err))
    if rc < 0:
        raise Error.from_c(L, err)
    return buf.value.decode(), (name if rc == 1 else None)


def _ids_array(ids, what="ids"):
    """ids (a sequence or array of ints) -> contiguous int32 array [n]."""
    if isinstance(ids, (str, bytes)):
        raise Error(f"{what}: expected token ids (ints), got a string")
    a = np.asarray(ids)
    if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)):
        raise Error(f"{what}: expected a 1-D sequence of token ids (ints), got shape {a.shape} dtype {a.dtype}")
    if a.size and (a.min() < -2**31 or a.max() >= 2**31):
        raise Error(f"{what}: token id outside int32")
    return np.ascontiguousarray(a, dtype=np.int32)


def _i32p(a):
    return a.ctypes.data_as(C.POINTER(c_int32))


class Tokenizer:
    """A Hugging Face tokenizer.json, encoded and decoded exactly as HF does
    (ct_tokenizer_load).  path: a tokenizer.json, or a directory holding one,
    or a hub id."""

    def __init__(self, path):
        L = lib()
        self._lib = L
        self._h = C.c_void_p()
        d, self.hub_id = resolve(path)
        self.path = d
        err = ct_err()
        L.check(L.ct_tokenizer_load(C.byref(self._h), d.encode(), C.byref(err)), err)

    def close(self):
        if getattr(self, "_h", None):
            self._lib.ct_tokenizer_free(self._h)
            self._h = None

    __del__ = close

    def encode(self, text, add_special_tokens=True):
        """text (str) -> (ids, offsets): ids int32 [n], offsets int32 [n, 2], the
        [start, end) BYTE span of the UTF-8 text each token covers (HF's offset
        mapping, in bytes); tokens the post-processor adds (BOS/EOS) have [0, 0]."""
        raw = text.encode("utf-8")
        e = ct_encoding()
        err = ct_err()
        self._lib.check(self._lib.ct_encode(self._h, raw, len(raw), int(bool(add_special_tokens)),
                                            C.byref(e), C.byref(err)), err)
        try:
            n = e.n
            ids = np.ctypeslib.as_array(e.ids, (n,)).copy() if n else np.zeros(0, np.int32)
            offs = (np.ctypeslib.as_array(C.cast(e.offsets, C.POINTER(c_int32)), (n, 2)).copy()
                    if n else np.zeros((0, 2), np.int32))
        finally:
            self._lib.ct_encoding_free(C.byref(e))
        return ids, offs

    def decode(self, ids, skip_special_tokens=False):
        """ids [n] -> str, through the tokenizer's decoder (HF's decode)."""
        a = _ids_array(ids)
        out = C.c_void_p()
        err = ct_err()
        self._lib.check(self._lib.ct_decode(self._h, _i32p(a), len(a), int(bool(skip_special_tokens)),
                                            C.byref(out), C.byref(err)), err)
        try:
            return C.string_at(out.value).decode("utf-8", "replace")
        finally:
            libc.free(out)

    def tokens(self, ids):
        """Each id decoded on its own: [n] str (what case files record as token texts)."""
        return [self.decode([i]) for i in _ids_array(ids)]

    def continuation(self, word, prompt=None):
        """The ids of " " + word as the tokens that follow prompt (how answers and
        counterfactuals are scored: ct_encode_continuation) -> int32 [A]."""
        out = C.POINTER(c_int32)()
        n = C.c_int()
        err = ct_err()
        self._lib.check(self._lib.ct_encode_continuation(
            self._h, prompt.encode() if prompt is not None else None, word.encode(), C.byref(out), C.byref(n),
            C.byref(err)), err)
        try:
            return np.ctypeslib.as_array(out, (n.value,)).copy() if n.value else np.zeros(0, np.int32)
        finally:
            libc.free(out)

    def token_to_id(self, piece):
        """Piece -> id, or None."""
        i = self._lib.ct_token_to_id(self._h, piece.encode())
        return None if i < 0 else i

    def id_to_token(self, i):
        """Id -> piece (str), or None."""
        p = self._lib.ct_id_to_token(self._h, int(i))
        return C.string_at(p).decode("utf-8", "replace") if p else None

    @property
    def vocab_size(self):
        return self._lib.ct_tokenizer_vocab_size(self._h)

    @property
    def bos_id(self):
        i = self._lib.ct_tokenizer_bos_id(self._h)
        return None if i < 0 else i

    @property
    def eos_id(self):
        i = self._lib.ct_tokenizer_eos_id(self._h)
        return None if i < 0 else i


def _dtype(dtype):
    """--dtype's text -> ct_dtype (CT_F32 0, CT_BF16 2)."""
    d = {"f32": 0, "float32": 0, "bf16": 2, "bfloat16": 2}
    if dtype not in d:
        raise Error(f"dtype {dtype!r}: expected \"f32\" or \"bf16\"")
    return d[dtype]



class Model:
    """A Hugging Face checkpoint loaded by ctrace (ct_model_load): weights kept in
    their stored dtype, computed in float32.

    path       a model directory (config.json, *.safetensors) or a hub id
               "org/name[@revision]" found in the local Hugging Face cache
    tokenizer  a tokenizer path/id; None: the model directory's tokenizer.json
               (loaded on first use of .tokenizer)
    weights    "stored" (matrices kept in the checkpoint's dtype, the default) or
               "f32" (converted at load: twice the memory; the same numbers)
    backend    None (the default, "cpu": oneDNN products + OpenMP), "openblas"
               (OpenBLAS products) or "ref" (the plain-C reference: slow, for checking)
    dtype      "f32" (the default: float32 products) or "bf16" (products on
               bf16-rounded activations and weights, f32 sums: faster, less exact)
    device     None / "cpu" (the default) or "cuda" / "cuda:N" (GPU N; only
               with a `make CUDA=1` library, and not yet run on a GPU: see
               docs/ops.md); ctrace.Error ("device error") otherwise
    """

    def __init__(self, path, tokenizer=None, weights="stored", backend=None, dtype="f32", device=None):
        L = lib()
        self._lib = L
        self._h = C.c_void_p()
        self.name = os.fspath(path)
        modes = {"stored": 0, "f32": 1}
        if weights not in modes:
            raise Error(f"weights {weights!r}: expected \"stored\" or \"f32\"")
        self.path, self.hub_id = resolve(path)
        err = ct_err()
        if device is not None:
            L.check(L.ct_device_select(str(device).encode(), C.byref(err)), err)
        L.check(L.ct_model_load_as(C.byref(self._h), self.path.encode(), modes[weights], C.byref(err)), err)
        if device is not None and device != "cpu":
            L.check(L.ct_model_set_device(self._h, str(device).encode(), C.byref(err)), err)
        if backend is not None:
            L.check(L.ct_model_set_backend(self._h, str(backend).encode(), C.byref(err)), err)
        L.check(L.ct_model_set_compute(self._h, _dtype(dtype), C.byref(err)), err)
        self._tok_path = tokenizer
        self._tok = None
        self.config = self._config_dict()

    def close(self):
        if getattr(self, "_h", None):
            self._lib.ct_model_free(self._h)
            self._h = None

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        c = self.config
        return f"ctrace.Model({self.name!r}: {c['model_type']}, L={c['n_layers']} D={c['d_model']} V={c['vocab']})"

    def _config_dict(self):
        c = self._lib.ct_model_config(self._h).contents
        d = {}
        for name, _ in c._fields_:
            v = getattr(c, name)
            d[name] = v.decode() if isinstance(v, bytes) else v
        d["family"] = _enum(_FAMILIES, d["family"])
        d["norm"] = _enum(_NORMS, d["norm"])
        d["act"] = _enum(_ACTS, d["act"])
        d["rope"] = _enum(_ROPES, d["rope"])
        d["torch_dtype"] = self._lib.ct_dtype_name(d["torch_dtype"]).decode()
        return d

    @property
    def handle(self):
        if not self._h:
            raise Error("the model was closed")
        return self._h

    @property
    def tokenizer(self):
        """The Tokenizer of the model directory (or the one given); Error when it has
        no tokenizer.json."""
        if self._tok is None:
            self._tok = Tokenizer(self._tok_path if self._tok_path is not None else self.path)
        return self._tok

    @property
    def config_json(self):
        """config.json as stored (a dict), beside the resolved .config."""
        import json
        with open(os.path.join(self.path, "config.json"), encoding="utf-8") as f:
            return json.load(f)

    @property
    def backend(self):
        """The compute backend's name ("cpu", "openblas" or "ref")."""
        return self._lib.ct_model_backend_name(self.handle).decode()

    @property
    def dtype(self):
        """What the products compute in: "f32" or "bf16"."""
        return "bf16" if self._lib.ct_model_compute_dtype(self.handle) == 2 else "f32"

    @property
    def backend_description(self):
        """One line: the backend, its library and kernels, the compute dtype, the threads."""
        buf = C.create_string_buffer(320)
        self._lib.ct_model_backend_describe(self.handle, buf, len(buf))
        return buf.value.decode()

    @property
    def weight_dtype(self):
        """The dtype most matrices are held in ("F32", "BF16", "F16")."""
        return self._lib.ct_dtype_name(self._lib.ct_model_weight_dtype(self.handle)).decode()

    @property
    def n_layers(self):
        return self.config["n_layers"]

    @property
    def embedding_std(self):
        """std of all entries of W_E [V, D] (the default noise level is 3 x it)."""
        return float(self._lib.ct_model_embedding_std(self.handle))

    def describe(self):
        """`ctrace info`'s text: one "key: value" line per aspect."""
        n = self._lib.ct_model_describe(self.handle, None, 0)
        buf = C.create_string_buffer(n + 1)
        self._lib.ct_model_describe(self.handle, buf, n + 1)
        return buf.value.decode()

    def logits(self, ids, resid=False):
        """One forward pass of ids [T] -> logits float32 [T, V]; with resid=True
        also the residual stream float32 [L+1, T, D] (before each block and after
        the last, no final norm) as (logits, resid) - what `ctrace logits` writes."""
        a = _ids_array(ids)
        if a.size == 0:
            raise Error("logits: no token ids")
        T, V, Lr, D = len(a), self.config["vocab"], self.config["n_layers"], self.config["d_model"]
        out = np.empty((T, V), np.float32)
        res = np.empty((Lr + 1, T, D), np.float32) if resid else None
        err = ct_err()
        fp = C.POINTER(C.c_float)
        self._lib.check(self._lib.ct_forward(self.handle, _i32p(a), T, out.ctypes.data_as(fp),
                                             res.ctypes.data_as(fp) if resid else None, C.byref(err)), err)
        return (out, res) if resid else out


def set_threads(n):
    """Thread count of matrix products and of ctrace's own loops (ct_set_threads).
    Results do not depend on it."""
    if int(n) < 1:
        raise Error(f"set_threads: {n}: expected at least 1")
    lib().ct_set_threads(int(n))
