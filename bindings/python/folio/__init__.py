"""Folio for Python: ask questions about whole corpora (PDFs, code, transcripts)
with a long-context model running in-process. A thin layer over the C ABI
(libfolio) through ctypes.

    import folio
    engine = folio.Engine("model.gguf", store="corpus.folio-kv")
    corpus = engine.corpus(["contract.pdf", "src/", "call.vtt"])
    session = engine.session(corpus)
    for piece in (stream := session.stream("What is the liability cap?")):
        print(piece, end="", flush=True)
    for c in stream.answer.citations:
        print(c.kind, c.text, c.description)

Errors raise folio.Error subclasses (ContextTooLarge, Cancelled, FormatError,
...) carrying the library's message. Engine, Corpus and Session hold native
handles: use them as context managers or call close() to release them early.
"""
from __future__ import annotations

import ctypes
import json as _json
import queue
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, List, Optional

from . import _lib as _c

__all__ = ["Engine", "Corpus", "Session", "Answer", "Citation", "Timings", "CorpusStats", "Error",
           "InvalidArgument", "IOFailure", "FormatError", "Unsupported", "OutOfMemory", "Cancelled", "Corrupt",
           "ContextTooLarge", "InternalError", "version"]

_L = _c.load()


# --------------------------------------------------------------------------- errors

class Error(Exception):
    """A failure reported by Folio: `status` is the folio_status name."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class InvalidArgument(Error, ValueError): pass
class IOFailure(Error, OSError): pass
class FormatError(Error): pass
class Unsupported(Error): pass
class OutOfMemory(Error, MemoryError): pass
class Cancelled(Error): pass
class Corrupt(Error): pass
class ContextTooLarge(Error): pass
class InternalError(Error): pass


_ERRORS = {1: InvalidArgument, 2: IOFailure, 3: FormatError, 4: Unsupported, 5: OutOfMemory, 6: Cancelled,
           7: Corrupt, 8: ContextTooLarge, 9: InternalError}


def _decode(b: Optional[bytes]) -> str:
    return b.decode("utf-8", errors="replace") if b else ""


def _check(status: int, handle) -> None:
    if status == 0:
        return
    cls = _ERRORS.get(status, InternalError)
    raise cls(_decode(_L.folio_status_name(status)), _decode(_L.folio_last_error(handle)))


def version() -> str:
    return _decode(_L.folio_version())


class _Callbacks:
    """Keeps ctypes callbacks alive and carries a Python exception out of them."""

    def __init__(self):
        self.error: Optional[BaseException] = None

    def progress(self, fn: Optional[Callable]):
        if fn is None:
            return _c.PROGRESS_FN()

        def call(_user, stage, done, total, item):
            if self.error is not None:
                return 1
            try:
                return 0 if fn(_decode(stage), done, total, _decode(item)) is not False else 1
            except BaseException as e:  # noqa: BLE001 - re-raised after the native call
                self.error = e
                return 1
        return _c.PROGRESS_FN(call)

    def reraise(self):
        if self.error is not None:
            e, self.error = self.error, None
            raise e


# --------------------------------------------------------------------------- results

@dataclass
class Citation:
    kind: str                 # "reference" (written in the answer) or "attention" (evidence)
    text: str
    resolved: bool
    problem: str
    weight: float
    answer_offset: int
    source: str
    anchor: str
    anchor_path: str
    page: int
    line_begin: int
    line_end: int
    start_ms: int
    end_ms: int
    speaker: str
    description: str


@dataclass
class Timings:
    ingest_s: float
    assemble_s: float
    restore_s: float
    prefill_s: float
    save_s: float
    prompt_s: float
    decode_s: float
    corpus_tokens: int
    restored_tokens: int
    prefilled_tokens: int
    prompt_tokens: int
    generated_tokens: int
    decode_tokens_per_s: float


@dataclass
class Answer:
    question: str
    text: str
    stop_reason: str
    random_weights: bool
    citations: List[Citation]
    timings: Timings
    json: dict = field(repr=False)

    def references(self) -> List[Citation]:
        return [c for c in self.citations if c.kind == "reference"]

    def evidence(self) -> List[Citation]:
        return [c for c in self.citations if c.kind == "attention"]


@dataclass
class CorpusStats:
    documents: int
    skipped: List[tuple]      # (source, reason)
    tokens: int
    global_tokens: int
    ingest_s: float
    assemble_s: float


def _answer_from(handle, question: str) -> Answer:
    cits = []
    for i in range(_L.folio_answer_citation_count(handle)):
        c = _c.Citation()
        c.struct_size = ctypes.sizeof(c)
        _check(_L.folio_answer_citation(handle, i, ctypes.byref(c)), handle)
        cits.append(Citation(
            kind="reference" if c.kind == 0 else "attention", text=_decode(c.text), resolved=bool(c.resolved),
            problem=_decode(c.problem), weight=c.weight, answer_offset=c.answer_offset, source=_decode(c.source),
            anchor=_decode(c.anchor), anchor_path=_decode(c.anchor_path), page=c.page, line_begin=c.line_begin,
            line_end=c.line_end, start_ms=c.start_ms, end_ms=c.end_ms, speaker=_decode(c.speaker),
            description=_decode(c.description)))
    t = _c.Timings()
    t.struct_size = ctypes.sizeof(t)
    _check(_L.folio_answer_timings(handle, ctypes.byref(t)), handle)
    timings = Timings(**{name: getattr(t, name) for name, _ in _c.Timings._fields_ if name != "struct_size"})
    return Answer(question=question, text=_decode(_L.folio_answer_text(handle)),
                  stop_reason=_decode(_L.folio_answer_stop_reason(handle)),
                  random_weights=bool(_L.folio_answer_random_weights(handle)), citations=cits, timings=timings,
                  json=_json.loads(_decode(_L.folio_answer_json(handle))))


class _Handle:
    _free = None

    def __init__(self):
        self._h = ctypes.c_void_p()

    def close(self) -> None:
        if self._h:
            type(self)._free(self._h)
            self._h = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _live(self):
        if not self._h:
            raise InvalidArgument("invalid_argument", f"{type(self).__name__} is closed")
        return self._h


# --------------------------------------------------------------------------- objects

class Engine(_Handle):
    """A model (GGUF file), its backend and an optional KV-snapshot store."""

    _free = staticmethod(_L.folio_engine_free)

    def __init__(self, model: str, *, threads: int = 0, context_budget: int = 0, store: Optional[str] = None,
                 store_max_bytes: int = 4 << 30, full_fingerprint: bool = True, backend: str = "cpu",
                 max_device_memory: int = 0):
        super().__init__()
        o = _c.EngineOptions()
        _L.folio_engine_options_defaults(ctypes.byref(o), ctypes.sizeof(o))
        o.model_path = str(model).encode()
        o.threads = threads
        o.context_budget = context_budget
        o.store_path = str(store).encode() if store else None
        o.store_max_bytes = store_max_bytes
        o.full_fingerprint = 1 if full_fingerprint else 0
        o.backend = backend.encode()
        o.max_device_memory = max_device_memory
        status = _L.folio_engine_open(ctypes.byref(o), ctypes.byref(self._h))
        try:
            _check(status, self._h)
        except Error:
            self.close()
            raise

    @property
    def model_info(self) -> dict:
        m = _c.ModelInfo()
        m.struct_size = ctypes.sizeof(m)
        _check(_L.folio_engine_model_info(self._live(), ctypes.byref(m)), self._h)
        return {"architecture": _decode(m.architecture), "name": _decode(m.name), "parameters": m.parameters,
                "context_length": m.context_length, "context_budget": m.context_budget,
                "random_weights": bool(m.random_weights), "threads": m.threads,
                "backend": _decode(m.backend), "backend_note": _decode(m.backend_note)}

    def corpus(self, paths: Iterable[str] = (), **options) -> "Corpus":
        c = Corpus(self, **options)
        for p in paths:
            c.add(p)
        return c

    def session(self, corpus: "Corpus", **options) -> "Session":
        return Session._open(self, corpus, **options)


class Corpus(_Handle):
    """Sources to ask about. add() returns at once; ingestion runs in parallel."""

    _free = staticmethod(_L.folio_corpus_free)

    def __init__(self, engine: Engine, *, global_budget: float = 0.05, include_code: bool = True,
                 strict: bool = False, threads: int = 0, progress: Optional[Callable] = None):
        super().__init__()
        self._engine = engine
        self._cb = _Callbacks()
        o = _c.CorpusOptions()
        _L.folio_corpus_options_defaults(ctypes.byref(o), ctypes.sizeof(o))
        o.global_budget = global_budget
        o.include_code = 1 if include_code else 0
        o.strict = 1 if strict else 0
        o.threads = threads
        self._progress = self._cb.progress(progress)  # progress(stage, done, total, item) -> False cancels
        o.progress = self._progress
        status = _L.folio_corpus_new(engine._live(), ctypes.byref(o), ctypes.byref(self._h))
        try:
            _check(status, self._h)
        except Error:
            self.close()
            raise

    def add(self, path: str) -> "Corpus":
        _check(_L.folio_corpus_add_path(self._live(), str(path).encode()), self._h)
        return self

    def add_text(self, name: str, text: str, format: Optional[str] = None) -> "Corpus":
        data = text.encode("utf-8")
        _check(_L.folio_corpus_add_text(self._live(), name.encode(), data, len(data),
                                        format.encode() if format else None), self._h)
        return self

    def wait(self) -> None:
        status = _L.folio_corpus_wait(self._live())
        self._cb.reraise()
        _check(status, self._h)

    def cancel(self) -> None:
        if self._h:
            _L.folio_corpus_cancel(self._h)

    def stats(self) -> CorpusStats:
        s = _c.CorpusStats()
        s.struct_size = ctypes.sizeof(s)
        status = _L.folio_corpus_stats_get(self._live(), ctypes.byref(s))
        self._cb.reraise()
        _check(status, self._h)
        skipped = []
        for i in range(s.skipped):
            src, why = ctypes.c_char_p(), ctypes.c_char_p()
            _check(_L.folio_corpus_skipped(self._h, i, ctypes.byref(src), ctypes.byref(why)), self._h)
            skipped.append((_decode(src.value), _decode(why.value)))
        return CorpusStats(documents=s.documents, skipped=skipped, tokens=s.tokens, global_tokens=s.global_tokens,
                           ingest_s=s.ingest_s, assemble_s=s.assemble_s)


_SPARSE = {"dense": 0, "balanced": 1, "fast": 2}


class Session(_Handle):
    """A corpus prefilled (or restored from the store), ready for questions."""

    _free = staticmethod(_L.folio_session_free)

    @classmethod
    def _open(cls, engine: Engine, corpus: Corpus, *, sparse: str = "balanced", window_tokens: int = 0,
              topk_blocks: int = 0, sink_blocks: int = 0, reserve_tokens: int = 512,
              system_prompt: Optional[str] = None, progress: Optional[Callable] = None) -> "Session":
        if sparse not in _SPARSE:
            raise InvalidArgument("invalid_argument", f"sparse must be one of {sorted(_SPARSE)}, got {sparse!r}")
        self = cls()
        self._engine, self._corpus = engine, corpus
        cb = _Callbacks()
        o = _c.SessionOptions()
        _L.folio_session_options_defaults(ctypes.byref(o), ctypes.sizeof(o))
        o.sparse = _SPARSE[sparse]
        o.window_tokens, o.topk_blocks, o.sink_blocks = window_tokens, topk_blocks, sink_blocks
        o.reserve_tokens = reserve_tokens
        o.system_prompt = system_prompt.encode() if system_prompt else None
        keep = cb.progress(progress)
        o.progress = keep
        status = _L.folio_session_open(engine._live(), corpus._live(), ctypes.byref(o), ctypes.byref(self._h))
        try:
            cb.reraise()
            _check(status, self._h)
        except BaseException:
            self.close()
            raise
        return self

    def fork(self) -> "Session":
        f = Session()
        f._engine, f._corpus = self._engine, self._corpus
        status = _L.folio_session_fork(self._live(), ctypes.byref(f._h))
        try:
            _check(status, f._h)
        except Error:
            f.close()
            raise
        return f

    def cancel(self) -> None:
        if self._h:
            _L.folio_session_cancel(self._h)

    def reset(self) -> None:
        _check(_L.folio_session_reset(self._live()), self._h)

    def kv_memory(self) -> dict:
        """KV-cache bytes: {"bytes", "shared_bytes", "family_bytes"} (forks share the corpus blocks)."""
        b, s, f = ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_uint64()
        _check(_L.folio_session_kv_memory(self._live(), ctypes.byref(b), ctypes.byref(s), ctypes.byref(f)), self._h)
        return {"bytes": b.value, "shared_bytes": s.value, "family_bytes": f.value}

    def ask(self, question: str, *, max_tokens: int = 256, temperature: float = 0.0, top_k: int = 40,
            top_p: float = 0.95, min_p: float = 0.05, repeat_penalty: float = 1.1, seed: int = 0,
            stop: Iterable[str] = (), remember: bool = False, evidence: int = 5,
            on_token: Optional[Callable[[str], object]] = None) -> Answer:
        """Answers `question`. on_token(piece) receives the text as it is
        generated; returning False stops generation."""
        o = _c.AskOptions()
        _L.folio_ask_options_defaults(ctypes.byref(o), ctypes.sizeof(o))
        o.max_tokens, o.temperature, o.top_k, o.top_p, o.min_p = max_tokens, temperature, top_k, top_p, min_p
        o.repeat_penalty, o.seed = repeat_penalty, seed
        stops = [s.encode() for s in stop]
        arr = (ctypes.c_char_p * max(1, len(stops)))(*stops)
        o.stop = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p))
        o.n_stop = len(stops)
        o.remember = 1 if remember else 0
        o.evidence_anchors = evidence
        err: List[BaseException] = []
        pending = bytearray()  # pieces are whole UTF-8 characters; keep bytes safe anyway

        def token(_user, piece, n):
            if err:
                return 1
            try:
                pending.extend(ctypes.string_at(piece, n))
                try:
                    text = pending.decode("utf-8")
                    pending.clear()
                except UnicodeDecodeError:
                    if len(pending) < 4:
                        return 0  # an incomplete character: wait for the rest
                    text = pending.decode("utf-8", errors="replace")
                    pending.clear()
                return 0 if on_token is None or on_token(text) is not False else 1
            except BaseException as e:  # noqa: BLE001 - re-raised below
                err.append(e)
                return 1

        keep = _c.TOKEN_FN(token) if on_token else _c.TOKEN_FN()
        o.on_token = keep
        out = ctypes.c_void_p()
        status = _L.folio_session_ask(self._live(), question.encode("utf-8"), ctypes.byref(o), ctypes.byref(out))
        if err:
            if out:
                _L.folio_answer_free(out)
            raise err[0]
        _check(status, self._h)
        try:
            return _answer_from(out, question)
        finally:
            _L.folio_answer_free(out)

    def stream(self, question: str, **options) -> "AnswerStream":
        """Iterates over the answer's text pieces; `.answer` holds the Answer
        once the iteration is over. Leaving the loop early cancels generation."""
        return AnswerStream(self, question, options)


class AnswerStream:
    def __init__(self, session: Session, question: str, options: dict):
        self._session = session
        self._queue: "queue.Queue" = queue.Queue()
        self._done = object()
        self._stop = threading.Event()
        self.answer: Optional[Answer] = None
        self._error: Optional[BaseException] = None

        def on_token(piece: str):
            self._queue.put(piece)
            return not self._stop.is_set()

        def run():
            try:
                self.answer = session.ask(question, on_token=on_token, **options)
            except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
                self._error = e
            finally:
                self._queue.put(self._done)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        item = self._queue.get()
        if item is self._done:
            self._thread.join()
            if self._error is not None:
                raise self._error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stops generation and waits for the answer."""
        self._stop.set()
        self._session.cancel()
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
