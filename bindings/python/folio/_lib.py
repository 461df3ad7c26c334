"""ctypes declarations of the C ABI (sdk/include/folio/folio.h).

The library is found, in order, at $FOLIO_LIBRARY, next to this package
(an installed wheel or `cmake --install` layout), or by the system loader as
libfolio.so.0. Nothing is downloaded or compiled at install time.
"""
import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_float, c_int, c_int32, c_int64,
                    c_size_t, c_uint32, c_uint64, c_void_p)

ABI_VERSION = 2

PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_uint64, c_uint64, c_char_p)
TOKEN_FN = CFUNCTYPE(c_int, c_void_p, POINTER(ctypes.c_char), c_size_t)


class EngineOptions(Structure):
    _fields_ = [("struct_size", c_uint32), ("model_path", c_char_p), ("threads", c_int32),
                ("context_budget", c_int64), ("store_path", c_char_p), ("store_max_bytes", c_uint64),
                ("full_fingerprint", c_int32), ("backend", c_char_p), ("max_device_memory", c_uint64)]


class ModelInfo(Structure):
    _fields_ = [("struct_size", c_uint32), ("architecture", c_char_p), ("name", c_char_p),
                ("parameters", c_int64), ("context_length", c_int64), ("context_budget", c_int64),
                ("random_weights", c_int32), ("threads", c_int32), ("backend", c_char_p),
                ("backend_note", c_char_p)]


class CorpusOptions(Structure):
    _fields_ = [("struct_size", c_uint32), ("global_budget", c_double), ("include_code", c_int32),
                ("strict", c_int32), ("threads", c_uint32), ("progress", PROGRESS_FN),
                ("progress_user", c_void_p)]


class CorpusStats(Structure):
    _fields_ = [("struct_size", c_uint32), ("documents", c_uint64), ("skipped", c_uint64),
                ("tokens", c_uint64), ("global_tokens", c_uint64), ("ingest_s", c_double),
                ("assemble_s", c_double)]


class SessionOptions(Structure):
    _fields_ = [("struct_size", c_uint32), ("sparse", c_int32), ("window_tokens", c_int32),
                ("topk_blocks", c_int32), ("sink_blocks", c_int32), ("reserve_tokens", c_int64),
                ("system_prompt", c_char_p), ("progress", PROGRESS_FN), ("progress_user", c_void_p)]


class AskOptions(Structure):
    _fields_ = [("struct_size", c_uint32), ("max_tokens", c_int64), ("temperature", c_float),
                ("top_k", c_int32), ("top_p", c_float), ("min_p", c_float), ("repeat_penalty", c_float),
                ("seed", c_uint64), ("stop", POINTER(c_char_p)), ("n_stop", c_size_t), ("remember", c_int32),
                ("evidence_anchors", c_int32), ("on_token", TOKEN_FN), ("token_user", c_void_p)]


class Citation(Structure):
    _fields_ = [("struct_size", c_uint32), ("kind", c_int32), ("text", c_char_p), ("answer_offset", c_size_t),
                ("resolved", c_int32), ("problem", c_char_p), ("weight", c_double), ("source", c_char_p),
                ("anchor", c_char_p), ("anchor_path", c_char_p), ("page", c_uint32), ("line_begin", c_uint32),
                ("line_end", c_uint32), ("start_ms", c_int64), ("end_ms", c_int64), ("speaker", c_char_p),
                ("description", c_char_p)]


class Timings(Structure):
    _fields_ = [("struct_size", c_uint32), ("ingest_s", c_double), ("assemble_s", c_double),
                ("restore_s", c_double), ("prefill_s", c_double), ("save_s", c_double), ("prompt_s", c_double),
                ("decode_s", c_double), ("corpus_tokens", c_int64), ("restored_tokens", c_int64),
                ("prefilled_tokens", c_int64), ("prompt_tokens", c_int64), ("generated_tokens", c_int64),
                ("decode_tokens_per_s", c_double)]


def _find_library() -> str:
    env = os.environ.get("FOLIO_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in ("libfolio.so", "libfolio.so.0", "libfolio.dylib"):
        p = os.path.join(here, candidate)
        if os.path.exists(p):
            return p
    return "libfolio.so.0"


def load() -> ctypes.CDLL:
    path = _find_library()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"folio: cannot load the Folio library ({path}): {e}; set FOLIO_LIBRARY to libfolio.so") from e
    h = c_void_p
    status = c_int
    sig = {
        "folio_version": ([], c_char_p),
        "folio_abi_version": ([], c_int),
        "folio_status_name": ([c_int], c_char_p),
        "folio_last_error": ([h], c_char_p),
        "folio_engine_options_defaults": ([POINTER(EngineOptions), c_uint32], None),
        "folio_engine_open": ([POINTER(EngineOptions), POINTER(h)], status),
        "folio_engine_free": ([h], None),
        "folio_engine_model_info": ([h, POINTER(ModelInfo)], status),
        "folio_corpus_options_defaults": ([POINTER(CorpusOptions), c_uint32], None),
        "folio_corpus_new": ([h, POINTER(CorpusOptions), POINTER(h)], status),
        "folio_corpus_add_path": ([h, c_char_p], status),
        "folio_corpus_add_text": ([h, c_char_p, c_char_p, c_size_t, c_char_p], status),
        "folio_corpus_wait": ([h], status),
        "folio_corpus_cancel": ([h], None),
        "folio_corpus_stats_get": ([h, POINTER(CorpusStats)], status),
        "folio_corpus_skipped": ([h, c_size_t, POINTER(c_char_p), POINTER(c_char_p)], status),
        "folio_corpus_free": ([h], None),
        "folio_session_options_defaults": ([POINTER(SessionOptions), c_uint32], None),
        "folio_session_open": ([h, h, POINTER(SessionOptions), POINTER(h)], status),
        "folio_session_fork": ([h, POINTER(h)], status),
        "folio_session_cancel": ([h], None),
        "folio_session_reset": ([h], status),
        "folio_session_kv_memory": ([h, POINTER(c_uint64), POINTER(c_uint64), POINTER(c_uint64)], status),
        "folio_session_free": ([h], None),
        "folio_ask_options_defaults": ([POINTER(AskOptions), c_uint32], None),
        "folio_session_ask": ([h, c_char_p, POINTER(AskOptions), POINTER(h)], status),
        "folio_answer_text": ([h], c_char_p),
        "folio_answer_stop_reason": ([h], c_char_p),
        "folio_answer_json": ([h], c_char_p),
        "folio_answer_random_weights": ([h], c_int),
        "folio_answer_citation_count": ([h], c_size_t),
        "folio_answer_citation": ([h, c_size_t, POINTER(Citation)], status),
        "folio_answer_timings": ([h, POINTER(Timings)], status),
        "folio_answer_free": ([h], None),
    }
    for name, (args, res) in sig.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    if lib.folio_abi_version() != ABI_VERSION:
        raise ImportError(f"folio: {path} has ABI version {lib.folio_abi_version()}, this binding needs {ABI_VERSION}")
    return lib
