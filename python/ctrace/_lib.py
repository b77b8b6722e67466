"""_lib.py - loads libctrace.so and declares, with ctypes, the part of
include/ctrace.h the package uses.

The structs below mirror ctrace.h field by field; at load time their sizes are
checked against the library's own (ct_abi_size), so a library built from a
different header is refused with a message instead of being misread.

ctypes releases the GIL around every call into a CDLL, so a trace or a forward
pass runs while other Python threads go on; the progress callback (a CFUNCTYPE)
takes the GIL back only while it runs.
"""
import ctypes as C
import os

from .errors import Error

c_int, c_int32, c_uint32, c_int64 = C.c_int, C.c_int32, C.c_uint32, C.c_int64
c_float, c_double, c_size_t, c_char_p, c_void_p = C.c_float, C.c_double, C.c_size_t, C.c_char_p, C.c_void_p
P = C.POINTER


class ct_err(C.Structure):
    _fields_ = [("msg", C.c_char * 1024), ("code", c_int)]


class ct_config(C.Structure):
    _fields_ = [
        ("model_type", C.c_char * 32), ("family", c_int), ("torch_dtype", c_int),
        ("n_layers", c_int), ("d_model", c_int), ("n_heads", c_int), ("n_kv_heads", c_int),
        ("head_dim", c_int), ("d_ff", c_int), ("vocab", c_int), ("max_positions", c_int),
        ("norm", c_int), ("norm_eps", c_float), ("act", c_int),
        ("gated_mlp", c_int), ("parallel", c_int), ("parallel_two_norms", c_int), ("post_norms", c_int),
        ("qkv_bias", c_int), ("o_bias", c_int), ("mlp_bias", c_int), ("lm_head_bias", c_int),
        ("tie_embeddings", c_int), ("learned_positions", c_int), ("scale_embeddings", c_int),
        ("rope", c_int), ("rotary_dim", c_int), ("rope_interleaved", c_int),
        ("rope_theta", c_double), ("rope_factor", c_double), ("rope_low_freq_factor", c_double),
        ("rope_high_freq_factor", c_double), ("rope_original_max", c_int),
        ("attn_scale", c_float), ("attn_softcap", c_float), ("final_softcap", c_float),
        ("sliding_window", c_int), ("sliding_every_other", c_int),
    ]


class ct_tensor_view(C.Structure):
    _fields_ = [("name", c_char_p), ("dtype", c_int), ("ndim", c_int), ("shape", c_int64 * 8),
                ("numel", c_int64), ("data", c_void_p), ("nbytes", c_size_t)]


class ct_st_file(C.Structure):
    _fields_ = [("path", c_char_p), ("map", c_void_p), ("size", c_size_t), ("n", c_int),
                ("t", P(ct_tensor_view)), ("metadata", c_char_p)]


class ct_interval(C.Structure):
    _fields_ = [("b", c_int32), ("e", c_int32)]


class ct_encoding(C.Structure):
    _fields_ = [("n", c_int32), ("ids", P(c_int32)), ("offsets", P(ct_interval)), ("special", P(C.c_uint8))]


PROGRESS_FN = C.CFUNCTYPE(None, c_void_p, C.c_long, C.c_long)


class ct_trace_settings(C.Structure):
    _fields_ = [("kind", c_int), ("window", c_int), ("samples", c_int), ("noise_rule", c_int),
                ("noise_value", c_double), ("seed", c_uint32), ("replace", c_int), ("reverse", c_int),
                ("metric", c_int), ("engine", c_int), ("progress", PROGRESS_FN), ("progress_ctx", c_void_p),
                ("noise_source", c_int), ("patch_source", c_int)]


class ct_trace_input(C.Structure):
    _fields_ = [("ids", P(c_int32)), ("n_ids", c_int), ("ranges", P(c_int32)), ("n_ranges", c_int),
                ("answer", P(c_int32)), ("n_answer", c_int), ("n_cf", c_int),
                ("cf", P(P(c_int32))), ("cf_len", P(c_int)), ("n_src", c_int), ("src_ids", P(P(c_int32)))]


class ct_trace_target(C.Structure):
    _fields_ = [("n_tokens", c_int), ("tokens", P(c_int32)), ("high_score", c_float), ("low_score", c_float),
                ("low_samples", P(c_float)), ("scores", P(c_float)), ("scores_samples", P(c_float))]


TOP_K = 5   # CT_TOP_K


class ct_trace_result(C.Structure):
    _fields_ = [("T", c_int), ("L", c_int), ("S", c_int), ("n_targets", c_int), ("targets", P(ct_trace_target)),
                ("noise_level", c_double), ("emb_std", c_float), ("te", c_float), ("ie", P(c_float)),
                ("n_top", c_int), ("top_clean_id", c_int32 * TOP_K), ("top_corrupt_id", c_int32 * TOP_K),
                ("top_clean_p", c_float * TOP_K), ("top_corrupt_p", c_float * TOP_K),
                ("cells_run", C.c_long), ("token_layers", c_double), ("attn_pairs", c_double),
                ("kv_rows", c_double), ("logit_rows", c_double), ("seconds", c_double),
                ("H", c_int),   # the grids' last axis: n_heads for the head kind, else 1
                ("backend", c_char_p), ("compute", c_int)]   # what computed it: "cpu", CT_F32 / CT_BF16


class ct_attribution(C.Structure):
    _fields_ = [("L", c_int), ("H", c_int), ("heads", P(c_float)), ("attn_bias", P(c_float)), ("mlp", P(c_float)),
                ("embed", c_float), ("norm_bias", c_float), ("lm_bias", c_float), ("total", c_float),
                ("parts_sum", c_float), ("logit_diff", c_float)]


# The application layer (include/ctrace_app.h, build/libctrace_app.so): ct_run.
class ct_run_progress(C.Structure):
    _fields_ = [("rows_total", c_int), ("rows_done", c_int), ("rows_ok", c_int), ("rows_skipped", c_int),
                ("cases_written", c_int), ("cases_reused", c_int), ("seconds", c_double),
                ("trace_seconds", c_double), ("case_cells_done", C.c_long), ("case_cells_total", C.c_long)]


RUN_PROGRESS_FN = C.CFUNCTYPE(None, c_void_p, P(ct_run_progress))


class ct_run_settings(C.Structure):
    _fields_ = [("model_dir", c_char_p), ("tokenizer", c_char_p), ("data_path", c_char_p), ("output_dir", c_char_p),
                ("prompt_format", c_char_p), ("experiment", c_int), ("kinds", C.c_uint), ("max_cf", c_int),
                ("contexts", c_int), ("max_datapoints", c_int), ("shard_k", c_int), ("shard_n", c_int),
                ("plots", c_int), ("plot_format", c_int), ("trace", ct_trace_settings), ("threads", c_int),
                ("argc", c_int), ("argv", P(c_char_p)), ("progress", RUN_PROGRESS_FN), ("progress_ctx", c_void_p),
                ("model_id", c_char_p), ("tokenizer_id", c_char_p), ("attribute", c_int), ("relation_span", c_int),
                ("backend", c_char_p), ("compute", c_int), ("device", c_char_p)]


MIRRORED = {"ct_err": ct_err, "ct_config": ct_config, "ct_tensor_view": ct_tensor_view, "ct_st_file": ct_st_file,
            "ct_encoding": ct_encoding, "ct_trace_settings": ct_trace_settings, "ct_trace_input": ct_trace_input,
            "ct_trace_target": ct_trace_target, "ct_trace_result": ct_trace_result, "ct_attribution": ct_attribution,
            "ct_run_settings": ct_run_settings, "ct_run_progress": ct_run_progress}

# Function signatures: name -> (restype, argtypes).
_VP = c_void_p   # opaque handles (ct_model *, ct_tokenizer *)
_E = P(ct_err)
SIGNATURES = {
    "ct_version": (c_char_p, []),
    "ct_backend_description": (c_char_p, []),
    "ct_abi_size": (c_size_t, [c_char_p]),
    "ct_status_name": (c_char_p, [c_int]),
    "ct_set_threads": (None, [c_int]),
    "ct_hub_resolve": (c_int, [c_char_p, c_char_p, c_size_t, _E]),
    "ct_model_load": (c_int, [P(_VP), c_char_p, _E]),
    "ct_model_load_as": (c_int, [P(_VP), c_char_p, c_int, _E]),
    "ct_model_weight_dtype": (c_int, [_VP]),
    "ct_model_free": (None, [_VP]),
    "ct_model_config": (P(ct_config), [_VP]),
    "ct_model_embedding_std": (c_float, [_VP]),
    "ct_model_weight_bytes": (c_size_t, [_VP]),
    "ct_model_describe": (c_int, [_VP, c_char_p, c_size_t]),
    "ct_model_backend_name": (c_char_p, [_VP]),
    "ct_model_set_backend": (c_int, [_VP, c_char_p, _E]),
    "ct_model_set_compute": (c_int, [_VP, c_int, _E]),
    "ct_model_set_device": (c_int, [_VP, c_char_p, _E]),
    "ct_device_select": (c_int, [c_char_p, _E]),
    "ct_model_compute_dtype": (c_int, [_VP]),
    "ct_model_backend_describe": (None, [_VP, c_char_p, C.c_size_t]),
    "ct_forward": (c_int, [_VP, P(c_int32), c_int, P(c_float), P(c_float), _E]),
    "ct_tokenizer_load": (c_int, [P(_VP), c_char_p, _E]),
    "ct_tokenizer_free": (None, [_VP]),
    "ct_encode": (c_int, [_VP, c_char_p, c_size_t, c_int, P(ct_encoding), _E]),
    "ct_encoding_free": (None, [P(ct_encoding)]),
    "ct_encode_continuation": (c_int, [_VP, c_char_p, c_char_p, P(P(c_int32)), P(c_int), _E]),
    "ct_decode": (c_int, [_VP, P(c_int32), c_int32, c_int, P(c_void_p), _E]),
    "ct_token_to_id": (c_int32, [_VP, c_char_p]),
    "ct_id_to_token": (c_void_p, [_VP, c_int32]),
    "ct_tokenizer_vocab_size": (c_int32, [_VP]),
    "ct_tokenizer_bos_id": (c_int32, [_VP]),
    "ct_tokenizer_eos_id": (c_int32, [_VP]),
    "ct_trace_settings_default": (None, [P(ct_trace_settings)]),
    "ct_noise_parse": (c_int, [c_char_p, P(ct_trace_settings), _E]),
    "ct_kind_parse": (c_int, [c_char_p, P(c_int)]),
    "ct_metric_parse": (c_int, [c_char_p, P(c_int)]),
    "ct_engine_parse": (c_int, [c_char_p, P(c_int)]),
    "ct_kind_name": (c_char_p, [c_int]),
    "ct_metric_name": (c_char_p, [c_int]),
    "ct_engine_name": (c_char_p, [c_int]),
    "ct_noise_rule_name": (c_char_p, [c_int]),
    "ct_dtype_name": (c_char_p, [c_int]),
    "ct_trace_run": (c_int, [_VP, P(ct_trace_input), P(ct_trace_settings), P(ct_trace_result), _E]),
    "ct_trace_result_free": (None, [P(ct_trace_result)]),
    "ct_case_write": (c_int, [c_char_p, P(ct_trace_input), P(ct_trace_settings), P(ct_trace_result),
                              c_char_p, c_char_p, _E]),
    "ct_attribute": (c_int, [_VP, P(c_int32), c_int, c_int32, c_int32, P(ct_attribution), _E]),
    "ct_attribute_corrupted": (c_int, [_VP, P(ct_trace_input), P(ct_trace_settings), c_int32, c_int32,
                                       P(ct_attribution), _E]),
    "ct_attribution_free": (None, [P(ct_attribution)]),
    "ct_attribution_write": (c_int, [c_char_p, P(ct_trace_input), c_int32, c_int32, P(ct_attribution),
                                     P(ct_attribution), P(ct_trace_settings), c_char_p, _E]),
    "ct_st_open": (c_int, [P(ct_st_file), c_char_p, _E]),
    "ct_st_close": (None, [P(ct_st_file)]),
}

# libctrace_app.so's functions (loaded by app_lib(), on first use).
APP_SIGNATURES = {
    "ct_run_settings_default": (None, [P(ct_run_settings)]),
    "ct_run": (c_int, [P(ct_run_settings), P(ct_run_progress), _E]),
    "ct_plot_format_parse": (c_int, [c_char_p, P(c_int)]),
}

# The version of the C library this binding was written for (CTRACE_VERSION).
BINDING_FOR = "0.2.0"


def _candidates():
    """Where libctrace.so is looked for, in order."""
    env = os.environ.get("CTRACE_LIB")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    return [os.path.join(here, "libctrace.so"),                               # shipped by pip install
            os.path.join(os.path.dirname(os.path.dirname(here)), "build", "libctrace.so")]   # repo: python/../build


def _bind(obj, path, signatures):
    """Sets obj.NAME to the library function NAME, typed, for every entry of
    signatures {name: (restype, argtypes)}; a missing export is an Error."""
    for name, (res, args) in signatures.items():
        try:
            f = getattr(obj.dll, name)
        except AttributeError:
            raise Error(f"{path}: the library does not export {name} (built from another version? run make)",
                        0, "unsupported") from None
        f.restype, f.argtypes = res, args
        setattr(obj, name, f)


class Library:
    """The loaded libctrace.so with its functions declared (one per process,
    created by lib(); it holds no state of its own)."""

    def __init__(self, path):
        # libgomp reads OMP_WAIT_POLICY once, when it is loaded: its default
        # (spin) makes small models many times slower on shared cores.  The CLI
        # makes the same choice (src/cli/main.c); a value the user set wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
        try:
            self.dll = C.CDLL(path)
        except OSError as e:
            raise Error(f"cannot load the ctrace library {path}: {e}", 0, "I/O error") from None
        self.path = path
        _bind(self, path, SIGNATURES)
        self.version = self.ct_version().decode()
        for tname, cls in MIRRORED.items():
            want = self.ct_abi_size(tname.encode())
            if want != C.sizeof(cls):
                raise Error(f"{path}: struct {tname} is {want} bytes in the library but {C.sizeof(cls)} in the "
                            f"Python binding (library {self.version}, binding written for {BINDING_FOR}): "
                            "rebuild the library or update python/ctrace/_lib.py", 0, "unsupported")

    def check(self, rc, err):
        """Raises Error(err) when rc is non-zero (the C convention: 0 / -1)."""
        if rc != 0:
            raise Error.from_c(self, err)


class AppLibrary:
    """libctrace_app.so (the application layer: ct_run), loaded beside the core
    library lib() found, or from $CTRACE_APP_LIB; it links against that core
    (its soname, libctrace.so.0, is the one already loaded)."""

    def __init__(self, path, core):
        try:
            self.dll = C.CDLL(path)
        except OSError as e:
            raise Error(f"cannot load the ctrace application library {path}: {e}", 0, "I/O error") from None
        self.path = path
        _bind(self, path, APP_SIGNATURES)
        self.check = core.check


_APP = None


def app_lib():
    """libctrace_app.so, loaded on first use (after lib())."""
    global _APP
    if _APP is None:
        core = lib()
        p = os.environ.get("CTRACE_APP_LIB") or os.path.join(os.path.dirname(core.path), "libctrace_app.so")
        if not os.path.exists(p):
            raise Error(f"{p} not found: ctrace.run() needs the application library (run `make`, or set "
                        "CTRACE_APP_LIB)", 0, "I/O error")
        _APP = AppLibrary(p, core)
    return _APP


# The C library's free(), for buffers the library allocates and the caller frees.
libc = C.CDLL(None)
libc.free.restype, libc.free.argtypes = None, [c_void_p]

_LIB = None


def lib():
    """The library, loaded on first use from $CTRACE_LIB, next to the package,
    or the repository's build/ folder."""
    global _LIB
    if _LIB is None:
        tried = []
        for p in _candidates():
            if os.path.exists(p):
                _LIB = Library(p)
                break
            tried.append(p)
        else:
            raise Error("libctrace.so not found (looked in " + ", ".join(tried) +
                        "): run `make` in the repository, or set CTRACE_LIB", 0, "I/O error")
    return _LIB
