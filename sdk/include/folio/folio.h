/*
 * Folio C ABI: ask questions about whole corpora (PDFs, source trees,
 * transcripts) with a long-context model running in this process.
 *
 * Plain C99. Every object is an opaque handle created by a folio_*_new/open
 * function and released by the matching folio_*_free. Functions that can fail
 * return a folio_status; the message of the last failure on a handle is
 * folio_last_error(handle). No C++ exception ever crosses this interface.
 * Strings are UTF-8 and NUL-terminated unless a length is given.
 *
 *   folio_engine_options eo;
 *   folio_engine_options_init(&eo);
 *   eo.model_path = "model.gguf";
 *   folio_engine *engine = NULL;
 *   if (folio_engine_open(&eo, &engine) != FOLIO_OK) {
 *     fprintf(stderr, "%s\n", folio_last_error(engine));   (engine is set even on failure)
 *     folio_engine_free(engine);
 *     return 1;
 *   }
 *   folio_corpus *corpus = NULL;
 *   folio_corpus_new(engine, NULL, &corpus);
 *   folio_corpus_add_path(corpus, "contracts/");
 *   folio_session *session = NULL;
 *   folio_session_open(engine, corpus, NULL, &session);
 *   folio_answer *answer = NULL;
 *   folio_session_ask(session, "What is the liability cap?", NULL, &answer);
 *   puts(folio_answer_text(answer));
 *   folio_answer_free(answer); folio_session_free(session);
 *   folio_corpus_free(corpus); folio_engine_free(engine);
 *
 * Handles that are created on failure: folio_engine_open, folio_corpus_new,
 * folio_session_open and folio_session_fork store a handle in *out whenever
 * memory allowed it, even when they fail, so that folio_last_error(*out) can
 * say why; such a handle is only good for folio_last_error and *_free.
 *
 * Options structs carry their own size (struct_size, set by the *_init
 * function): fields added in later versions are appended, and a library reads
 * only the fields a caller's struct has. Always call the *_init function first.
 * The *_init functions are inline in this header: they pass the size of the
 * struct the caller was compiled with to the library's *_defaults, which
 * writes no byte past it (so a newer library never overruns an older
 * program's struct).
 *
 * Threads: an engine may be used from any number of threads. A corpus may be
 * filled from several threads. A session answers one question at a time
 * (concurrent asks on one session wait for each other); fork it to answer in
 * parallel. folio_session_cancel and folio_corpus_cancel may be called from
 * any thread. The message returned by folio_last_error stays valid until the
 * next failing call on the same handle.
 *
 * See docs/c-api.md for a complete example.
 */
#ifndef FOLIO_H
#define FOLIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define FOLIO_API __declspec(dllexport)
#else
#define FOLIO_API __attribute__((visibility("default")))
#endif

/* ABI version: incremented on any incompatible change of this header. */
#define FOLIO_ABI_VERSION 2

/* ---------------------------------------------------------------- status */

typedef enum folio_status {
  FOLIO_OK = 0,
  FOLIO_ERR_INVALID_ARGUMENT = 1,  /* the caller passed something that cannot work */
  FOLIO_ERR_IO = 2,                /* a file could not be opened, read or written */
  FOLIO_ERR_FORMAT = 3,            /* a malformed file (not a GGUF model, broken PDF) */
  FOLIO_ERR_UNSUPPORTED = 4,       /* well-formed but unsupported (source type, architecture) */
  FOLIO_ERR_OUT_OF_MEMORY = 5,     /* host or device memory ran out */
  FOLIO_ERR_CANCELLED = 6,         /* cancelled by the caller */
  FOLIO_ERR_CORRUPT = 7,           /* a checksum or fingerprint did not match */
  FOLIO_ERR_CONTEXT_TOO_LARGE = 8, /* the corpus (or question) does not fit the context budget */
  FOLIO_ERR_INTERNAL = 9           /* a bug in Folio */
} folio_status;

/* "0.1.0": the library's version. */
FOLIO_API const char *folio_version(void);
/* FOLIO_ABI_VERSION of the library (compare with the header's). */
FOLIO_API int folio_abi_version(void);
/* "ok", "context_too_large", ... (static strings). */
FOLIO_API const char *folio_status_name(folio_status status);
/* Message of the last failed call on `handle` (any folio handle: engine,
 * corpus, session or answer), "" when none failed, or a fixed text for NULL. */
FOLIO_API const char *folio_last_error(const void *handle);

/* ---------------------------------------------------------------- handles */

typedef struct folio_engine folio_engine;
typedef struct folio_corpus folio_corpus;
typedef struct folio_session folio_session;
typedef struct folio_answer folio_answer;

/* Progress of long work: stage is "ingest", "restore" or "prefill"; total is 0
 * when unknown; item names the file being ingested (or ""). Return non-zero
 * to cancel. Called from worker threads, one call at a time. */
typedef int (*folio_progress_fn)(void *user, const char *stage, uint64_t done, uint64_t total, const char *item);
/* Receives answer text as it is generated (`len` bytes, UTF-8, not
 * NUL-terminated). Return non-zero to stop generating. */
typedef int (*folio_token_fn)(void *user, const char *piece, size_t len);

/* ---------------------------------------------------------------- engine */

typedef struct folio_engine_options {
  uint32_t struct_size;
  const char *model_path;    /* GGUF model file (required) */
  int32_t threads;           /* CPU threads; 0: all cores */
  int64_t context_budget;    /* tokens per session (corpus + question + answer); 0: model's, at most 32768 */
  const char *store_path;    /* KV-snapshot store (SQLite); NULL or "": none */
  uint64_t store_max_bytes;  /* store size budget (LRU eviction); default 4 GiB */
  int32_t full_fingerprint;  /* 1: hash every weight byte (default); 0: sampled */
  /* Where the model runs: "cpu" (default, also for NULL), "cuda" (a GPU or an
   * error), "auto" (a GPU when one is usable and the model fits, else the CPU;
   * folio_model_info's backend_note says why the GPU was not used). */
  const char *backend;
  /* Bytes the GPU backend may allocate on the device; 0: no cap. Past it an
   * allocation fails with FOLIO_ERR_OUT_OF_MEMORY, naming what and how much. */
  uint64_t max_device_memory;
} folio_engine_options;

/* Defaults into the first struct_size bytes of *options (sizeof of the
 * caller's struct); use folio_engine_options_init, which passes it. */
FOLIO_API void folio_engine_options_defaults(folio_engine_options *options, uint32_t struct_size);
static inline void folio_engine_options_init(folio_engine_options *options) {
  folio_engine_options_defaults(options, (uint32_t)sizeof *options);
}
/* Loads the model and opens the store. A store that cannot be opened is not an
 * error: sessions then prefill without snapshots (a message goes to stderr). */
FOLIO_API folio_status folio_engine_open(const folio_engine_options *options, folio_engine **out);
FOLIO_API void folio_engine_free(folio_engine *engine);

typedef struct folio_model_info {
  uint32_t struct_size;
  const char *architecture;  /* "qwen3moe"; owned by the engine */
  const char *name;
  int64_t parameters;
  int64_t context_length;
  int64_t context_budget;
  int32_t random_weights;    /* 1: a random-weight test model (answers are meaningless) */
  int32_t threads;
  const char *backend;       /* "cpu" or "cuda"; owned by the engine */
  const char *backend_note;  /* why not the backend asked for; "" when it is; owned by the engine */
} folio_model_info;
/* Fills `info` (set info->struct_size = sizeof *info first). */
FOLIO_API folio_status folio_engine_model_info(folio_engine *engine, folio_model_info *info);

/* ---------------------------------------------------------------- corpus */

typedef struct folio_corpus_options {
  uint32_t struct_size;
  double global_budget;      /* max fraction of global (anchor) tokens; default 0.05 */
  int32_t include_code;      /* directories: also source code (default 1) */
  int32_t strict;            /* 1: a file that cannot be ingested is an error, not a skipped item */
  uint32_t threads;          /* ingestion workers; 0: all cores */
  folio_progress_fn progress;
  void *progress_user;
} folio_corpus_options;

/* Defaults into the first struct_size bytes of *options (sizeof of the
 * caller's struct); use folio_corpus_options_init, which passes it. */
FOLIO_API void folio_corpus_options_defaults(folio_corpus_options *options, uint32_t struct_size);
static inline void folio_corpus_options_init(folio_corpus_options *options) {
  folio_corpus_options_defaults(options, (uint32_t)sizeof *options);
}
/* options may be NULL (defaults). */
FOLIO_API folio_status folio_corpus_new(folio_engine *engine, const folio_corpus_options *options, folio_corpus **out);
/* Queues a file or directory; returns at once (ingestion runs in parallel). */
FOLIO_API folio_status folio_corpus_add_path(folio_corpus *corpus, const char *path);
/* Queues `len` bytes of text named `name`; format is "markdown", "text",
 * "webvtt", "srt", "transcript", or NULL/"" to guess from the name. */
FOLIO_API folio_status folio_corpus_add_text(folio_corpus *corpus, const char *name, const char *text, size_t len,
                                             const char *format);
/* Waits for queued ingestion. FOLIO_ERR_CANCELLED after folio_corpus_cancel. */
FOLIO_API folio_status folio_corpus_wait(folio_corpus *corpus);
FOLIO_API void folio_corpus_cancel(folio_corpus *corpus);

typedef struct folio_corpus_stats {
  uint32_t struct_size;
  uint64_t documents;
  uint64_t skipped;          /* sources that could not be ingested: see folio_corpus_skipped */
  uint64_t tokens;
  uint64_t global_tokens;
  double ingest_s;
  double assemble_s;
} folio_corpus_stats;
/* Waits, assembles the token stream and fills `stats` (set struct_size first). */
FOLIO_API folio_status folio_corpus_stats_get(folio_corpus *corpus, folio_corpus_stats *stats);
/* Skipped item i (< stats.skipped) of the last folio_corpus_stats_get: strings
 * owned by the corpus, valid until the next stats call. */
FOLIO_API folio_status folio_corpus_skipped(folio_corpus *corpus, size_t i, const char **source, const char **reason);
FOLIO_API void folio_corpus_free(folio_corpus *corpus);

/* ---------------------------------------------------------------- session */

typedef enum folio_sparse_preset {
  FOLIO_SPARSE_DENSE = 0,     /* every block: exact */
  FOLIO_SPARSE_BALANCED = 1,  /* ~4K attended tokens per query + anchors (default) */
  FOLIO_SPARSE_FAST = 2       /* ~1.6K attended tokens per query + anchors */
} folio_sparse_preset;

typedef struct folio_session_options {
  uint32_t struct_size;
  int32_t sparse;            /* folio_sparse_preset */
  int32_t window_tokens;     /* overrides of the preset; 0: keep */
  int32_t topk_blocks;
  int32_t sink_blocks;
  int64_t reserve_tokens;    /* room kept for each question + answer (default 512) */
  const char *system_prompt; /* NULL: Folio's default instructions */
  folio_progress_fn progress;
  void *progress_user;
} folio_session_options;

/* Defaults into the first struct_size bytes of *options (sizeof of the
 * caller's struct); use folio_session_options_init, which passes it. */
FOLIO_API void folio_session_options_defaults(folio_session_options *options, uint32_t struct_size);
static inline void folio_session_options_init(folio_session_options *options) {
  folio_session_options_defaults(options, (uint32_t)sizeof *options);
}
/* Assembles the corpus, checks it fits (FOLIO_ERR_CONTEXT_TOO_LARGE with the
 * numbers otherwise), restores the longest stored prefix and prefills the rest.
 * options may be NULL. */
FOLIO_API folio_status folio_session_open(folio_engine *engine, folio_corpus *corpus,
                                          const folio_session_options *options, folio_session **out);
/* A new session over the same prefilled corpus. The corpus KV is shared, not
 * copied or recomputed: full 64-token blocks are the same immutable memory in
 * both sessions, only the partial last block is copied; each session's later
 * questions and answers are its own. Shared blocks are freed with the last
 * session that holds them. */
FOLIO_API folio_status folio_session_fork(folio_session *session, folio_session **out);
/* KV-cache memory of `session` in bytes (any pointer may be NULL): everything
 * it references, the part shared with other sessions now, and the distinct
 * bytes of its whole fork family (shared blocks counted once). 0 where the
 * backend does not report memory. */
FOLIO_API folio_status folio_session_kv_memory(folio_session *session, uint64_t *bytes, uint64_t *shared_bytes,
                                               uint64_t *family_bytes);
/* Stops the question being answered on `session` (any thread). */
FOLIO_API void folio_session_cancel(folio_session *session);
/* Forgets the conversation history (remembered questions). */
FOLIO_API folio_status folio_session_reset(folio_session *session);
FOLIO_API void folio_session_free(folio_session *session);

typedef struct folio_ask_options {
  uint32_t struct_size;
  int64_t max_tokens;        /* answer length limit (default 256) */
  float temperature;         /* 0: greedy (default) */
  int32_t top_k;             /* default 40 */
  float top_p;               /* default 0.95 */
  float min_p;               /* default 0.05 */
  float repeat_penalty;      /* default 1.1 */
  uint64_t seed;
  const char *const *stop;   /* n_stop stop strings */
  size_t n_stop;
  int32_t remember;          /* 1: keep this exchange as history for later questions */
  int32_t evidence_anchors;  /* attention-evidence citations (default 5; 0: off) */
  folio_token_fn on_token;
  void *token_user;
} folio_ask_options;

/* Defaults into the first struct_size bytes of *options (sizeof of the
 * caller's struct); use folio_ask_options_init, which passes it. */
FOLIO_API void folio_ask_options_defaults(folio_ask_options *options, uint32_t struct_size);
static inline void folio_ask_options_init(folio_ask_options *options) {
  folio_ask_options_defaults(options, (uint32_t)sizeof *options);
}
/* Answers `question`. options may be NULL. On success *out holds an answer to
 * free with folio_answer_free. A cancel during generation is not an error: the
 * partial answer has stop reason "cancelled". */
FOLIO_API folio_status folio_session_ask(folio_session *session, const char *question,
                                         const folio_ask_options *options, folio_answer **out);

/* ---------------------------------------------------------------- answers */

typedef enum folio_citation_kind {
  FOLIO_CITATION_REFERENCE = 0,  /* a location written in the answer, checked against the corpus */
  FOLIO_CITATION_ATTENTION = 1   /* an anchor the answer attended to most */
} folio_citation_kind;

typedef struct folio_citation {
  uint32_t struct_size;
  int32_t kind;              /* folio_citation_kind */
  const char *text;          /* as written (reference) or the anchor label (attention) */
  size_t answer_offset;      /* byte offset in the answer text (reference) */
  int32_t resolved;          /* 1 when it names something in the corpus */
  const char *problem;       /* why not ("" when resolved) */
  double weight;             /* share of attention mass (attention) */
  const char *source;        /* document */
  const char *anchor;        /* "12.2 Termination for Convenience" */
  const char *anchor_path;   /* "12 > 12.2 Termination for Convenience" */
  uint32_t page;             /* PDF page, 0 if none */
  uint32_t line_begin, line_end;  /* text/code lines, 0 if none */
  int64_t start_ms, end_ms;  /* transcript times, -1 if none */
  const char *speaker;
  const char *description;   /* "msa.pdf p. 12 (12 > 12.2 Termination for Convenience)" */
} folio_citation;

typedef struct folio_timings {
  uint32_t struct_size;
  double ingest_s, assemble_s, restore_s, prefill_s, save_s, prompt_s, decode_s;
  int64_t corpus_tokens;     /* instructions + corpus */
  int64_t restored_tokens;   /* restored from the store (cache hit length) */
  int64_t prefilled_tokens;
  int64_t prompt_tokens;
  int64_t generated_tokens;
  double decode_tokens_per_s;
} folio_timings;

/* Strings below are owned by the answer and live until folio_answer_free. */
FOLIO_API const char *folio_answer_text(const folio_answer *answer);
FOLIO_API const char *folio_answer_stop_reason(const folio_answer *answer);
/* The whole answer (text, citations, timings) as a JSON object. */
FOLIO_API const char *folio_answer_json(const folio_answer *answer);
/* 1 when the model is marked as random weights: the text is meaningless. */
FOLIO_API int folio_answer_random_weights(const folio_answer *answer);
FOLIO_API size_t folio_answer_citation_count(const folio_answer *answer);
/* Fills citation i (set out->struct_size first). */
FOLIO_API folio_status folio_answer_citation(const folio_answer *answer, size_t i, folio_citation *out);
/* Fills the timings (set out->struct_size first). */
FOLIO_API folio_status folio_answer_timings(const folio_answer *answer, folio_timings *out);
FOLIO_API void folio_answer_free(folio_answer *answer);

#ifdef __cplusplus
}
#endif

#endif /* FOLIO_H */
