"""_lib.py - loads liblext.so and declares, with ctypes, the part of include/lext.h the
package calls. The structures mirror lext.h field for field (the ABI promise in the README
keeps them fixed within a major version, which _load checks).

Which library: $LEXT_LIBRARY when set (a path to liblext.so.N), else the build tree this
package sits in (../../build/liblext.so.N, so the tests run without installing), else the
installed liblext.so.N found by the dynamic loader (after `make install` and ldconfig)."""
import ctypes
import ctypes.util
import os

MAJOR = 1  # the soname this package is written against: liblext.so.1

c_int64, c_uint64, c_double, c_float, c_int, c_bool, c_char_p, c_size_t, c_void_p = (
    ctypes.c_int64, ctypes.c_uint64, ctypes.c_double, ctypes.c_float, ctypes.c_int,
    ctypes.c_bool, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p)
P = ctypes.POINTER


class Config(ctypes.Structure):
    _fields_ = [("n_layer", c_int), ("n_head", c_int), ("d_model", c_int), ("d_ff", c_int),
                ("vocab_size", c_int), ("train_len", c_int), ("pos", c_int),
                ("xpos_gamma", c_double), ("xpos_scale_base", c_double),
                ("rope_base", c_double), ("tied", c_bool), ("embed_scale", c_bool),
                ("norm_eps", c_double)]


class Attn(ctypes.Structure):
    _fields_ = [("mode", c_int), ("block", c_int64), ("window", c_int64)]


class RopeScaling(ctypes.Structure):  # lext_rope_scaling (1.1)
    _fields_ = [("kind", c_int), ("factor", c_double), ("beta_fast", c_double),
                ("beta_slow", c_double), ("xpos_decay_scaled", c_bool)]


class AttnExt(ctypes.Structure):  # lext_attn_ext (1.1)
    _fields_ = [("kind", c_int), ("sinks", c_int64), ("sink_pos", c_int), ("group", c_int64),
                ("neighbors", c_int64), ("clip", c_int64)]


class Param(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("ndim", c_int), ("shape", c_int64 * 2),
                ("numel", c_size_t), ("decay", c_bool), ("data", P(c_float)),
                ("grad", P(c_float))]


class OptimConfig(ctypes.Structure):
    _fields_ = [("lr", c_double), ("min_lr_ratio", c_double), ("warmup", c_int64),
                ("total_steps", c_int64), ("beta1", c_double), ("beta2", c_double),
                ("eps", c_double), ("weight_decay", c_double), ("grad_clip", c_double)]


class Rng(ctypes.Structure):
    _fields_ = [("s", c_uint64 * 4)]


class Dataset(ctypes.Structure):
    _fields_ = [("docs", c_void_p), ("n_docs", c_size_t), ("total_bytes", c_size_t)]


class EvalCell(ctypes.Structure):
    _fields_ = [("length", c_int64), ("attn", Attn), ("docs", c_int64), ("segments", c_int64),
                ("tokens", c_int64), ("loss_sum", c_double), ("skipped", c_bool),
                ("why", ctypes.c_char * 160)]


class EvalSummary(ctypes.Structure):
    _fields_ = [("docs_used", c_size_t), ("docs_skipped", c_size_t), ("longest", c_size_t)]


class TrainReport(ctypes.Structure):
    _fields_ = [("event", c_int), ("step", c_int64), ("total_steps", c_int64),
                ("start_step", c_int64), ("loss", c_float), ("grad_norm", c_float),
                ("lr", c_double), ("tokens_per_s", c_double), ("elapsed_s", c_double),
                ("eta_s", c_double), ("val_loss", c_float), ("val_tokens", c_int64),
                ("path", c_char_p), ("config", P(Config)), ("n_params", c_size_t),
                ("n_docs", c_size_t), ("n_skipped", c_size_t), ("n_val_docs", c_size_t),
                ("n_val_skipped", c_size_t), ("data_bytes", c_uint64), ("batch", c_int64),
                ("resumed", c_bool), ("precision", c_int), ("machine_before", c_char_p),
                ("machine_now", c_char_p), ("n_stale_tmp", c_size_t)]


REPORT_FN = ctypes.CFUNCTYPE(None, P(TrainReport), c_void_p)


class TrainOpts(ctypes.Structure):
    _fields_ = [("model", Config), ("optim", OptimConfig), ("data", c_char_p),
                ("val", c_char_p), ("out", c_char_p), ("resume", c_char_p),
                ("batch", c_int64), ("steps", c_int64), ("eval_every", c_int64),
                ("save_every", c_int64), ("stop_after", c_int64), ("log_every", c_int64),
                ("val_batches", c_int64), ("seed", c_uint64), ("precision", c_int),
                ("stop", P(c_int)), ("report", REPORT_FN), ("user", c_void_p)]


def _candidates():
    env = os.environ.get("LEXT_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    build = os.path.join(here, "..", "..", "build")
    out = [os.path.join(build, f"liblext.so.{MAJOR}")]
    found = ctypes.util.find_library("lext")
    return out + [f"liblext.so.{MAJOR}"] + ([found] if found else [])


def _load():
    errors = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            errors.append(f"{path}: no such file")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append(str(e))
            continue
        lib.lext_version.restype = c_char_p
        version = lib.lext_version().decode()
        if int(version.split(".")[0]) != MAJOR:
            errors.append(f"{path} is lext {version}, this package needs {MAJOR}.x")
            continue
        return lib, path
    raise ImportError("lext: cannot load liblext.so (set LEXT_LIBRARY to its path, or "
                      "`make install` and run ldconfig): " + "; ".join(errors))


lib, path = _load()

S = c_int  # lext_status
_sigs = {
    "lext_last_error": (c_char_p, []),
    "lext_status_name": (c_char_p, [S]),
    "lext_pos_name": (c_char_p, [c_int]),
    "lext_attn_parse": (S, [c_char_p, P(c_int)]),
    "lext_attn_name": (c_char_p, [c_int]),
    "lext_attn_make": (Attn, [c_int, c_int64]),
    "lext_attn_validate": (S, [P(Attn)]),
    "lext_pos_parse": (S, [c_char_p, P(c_int)]),
    "lext_config_default": (None, [P(Config)]),
    "lext_config_validate": (S, [P(Config)]),
    "lext_checkpoint_load": (S, [c_char_p, P(c_void_p), c_void_p, P(c_bool)]),
    "lext_checkpoint_save": (S, [c_char_p, c_void_p, c_void_p]),
    "lext_model_create": (S, [P(Config), P(c_void_p)]),
    "lext_model_init": (None, [c_void_p, c_uint64]),
    "lext_model_free": (None, [c_void_p]),
    "lext_model_config": (P(Config), [c_void_p]),
    "lext_model_num_tensors": (c_int, [c_void_p]),
    "lext_model_tensor": (P(Param), [c_void_p, c_int]),
    "lext_model_num_params": (c_size_t, [c_void_p]),
    "lext_ctx_create": (S, [c_void_p, c_int64, c_int64, c_bool, P(c_void_p)]),
    "lext_ctx_free": (None, [c_void_p]),
    "lext_ctx_logits": (P(c_float), [c_void_p]),
    "lext_forward": (S, [c_void_p, c_void_p, c_void_p, c_void_p, c_int64, c_int64, P(Attn),
                         P(c_float)]),
    "lext_backward": (S, [c_void_p, c_void_p]),
    "lext_model_zero_grad": (None, [c_void_p]),
    "lext_dataset_load": (S, [c_char_p, P(Dataset)]),
    "lext_dataset_free": (None, [P(Dataset)]),
    "lext_evaluate": (S, [c_void_p, P(Dataset), P(c_int64), c_size_t, P(Attn), c_size_t,
                          c_int64, P(EvalCell), P(EvalSummary), c_void_p, c_void_p]),
    "lext_decoder_create": (S, [c_void_p, P(Attn), c_int64, c_int64, P(c_void_p)]),
    "lext_decoder_free": (None, [c_void_p]),
    "lext_decoder_feed": (S, [c_void_p, c_void_p, c_void_p, c_int64, c_void_p]),
    "lext_decoder_pos": (c_int64, [c_void_p]),
    "lext_sample": (ctypes.c_int32, [c_void_p, c_int, c_double, c_int, c_double, P(Rng)]),
    "lext_rng_seed": (None, [P(Rng), c_uint64]),
    "lext_train_opts_default": (None, [P(TrainOpts)]),
    "lext_train": (S, [P(TrainOpts)]),
    "lext_set_threads": (None, [c_int]),
    "lext_get_threads": (c_int, []),
}
for _name, (_res, _args) in _sigs.items():
    _f = getattr(lib, _name)
    _f.restype, _f.argtypes = _res, _args

# added in 1.1: declared when the loaded library has them (has_11 says whether it does)
_sigs_11 = {
    "lext_rope_scaling_default": (None, [P(RopeScaling)]),
    "lext_rope_scaling_parse": (S, [c_char_p, P(c_int)]),
    "lext_model_set_rope_scaling": (S, [c_void_p, P(RopeScaling)]),
    "lext_attn_ext_default": (None, [P(AttnExt)]),
    "lext_sink_pos_parse": (S, [c_char_p, P(c_int)]),
    "lext_model_set_attn_ext": (S, [c_void_p, P(AttnExt)]),
}
has_11 = all(hasattr(lib, n) for n in _sigs_11)
for _name, (_res, _args) in (_sigs_11.items() if has_11 else ()):
    _f = getattr(lib, _name)
    _f.restype, _f.argtypes = _res, _args
