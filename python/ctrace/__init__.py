"""ctrace - causal tracing (ROME's activation patching) of Hugging Face language
models, from Python: a ctypes binding of libctrace.so (include/ctrace.h).

    import ctrace
    m = ctrace.Model("models/demo")                   # a directory or a hub id
    ids, offsets = m.tokenizer.encode("C: ... Q: ... A:")
    r = ctrace.trace(m, ids, target=(2, 6), answer="Dunmere", kind="mlp")
    r.scores                                          # numpy float32 [T, L]
    h = ctrace.trace(m, ids, (2, 6), "Dunmere", kind="head")   # h.ie [T, L, H]
    a = ctrace.attribute(m, ids, "Dunmere", "Lorimel")   # a.clean.heads [L, H]
    ctrace.run("models/demo", "data/demo.jsonl", "build/py-run")   # as `ctrace run`
    case = ctrace.load_case("build/demo-run/exp1/cases/0_hidden_Lorimel.bin")

The library is found at $CTRACE_LIB, else next to this package (pip install),
else in the repository's build/ (PYTHONPATH=python after `make`).  See
docs/python.md.
"""
from .errors import Error, ERR_INPUT, ERR_NOMEM, ERR_IO, ERR_UNSUPPORTED, ERR_DEVICE
from .model import Model, Tokenizer, resolve, set_threads
from .trace import trace, TraceResult
from .attribute import attribute, Attribution, AttributionResult
from .run import run, RunResult
from .case import load_case, read_safetensors, Case
from .npz import save_npz, rome_dict

__all__ = ["Error", "Model", "Tokenizer", "resolve", "set_threads", "trace", "TraceResult", "attribute", "Attribution", "AttributionResult", "run", "RunResult", "load_case",
           "read_safetensors", "Case", "save_npz", "rome_dict", "library_version", "library_path",
           "ERR_INPUT", "ERR_NOMEM", "ERR_IO", "ERR_UNSUPPORTED", "ERR_DEVICE"]
__version__ = "0.2.0"


def library_version():
    """CTRACE_VERSION of the loaded libctrace.so."""
    from ._lib import lib
    return lib().version


def library_path():
    """The path of the loaded libctrace.so."""
    from ._lib import lib
    return lib().path
