// The C ABI over the C++ API. Every entry point catches every exception and
// turns it into a folio_status plus a message stored on the handle.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <optional>
#include <string>

#include "folio/folio.h"
#include "folio/folio.hpp"

namespace {

constexpr uint32_t kMagic = 0x464f4c49;  // "FOLI"

// Every handle starts with this, so folio_last_error can take any of them.
struct HandleBase {
  uint32_t magic = kMagic;
  mutable std::mutex error_mutex;
  mutable std::string error;

  void set_error(std::string message) const {
    std::lock_guard lock(error_mutex);
    error = std::move(message);
  }
};

folio_status to_c(folio::Status s) { return static_cast<folio_status>(static_cast<int>(s)); }

// Runs f; on an exception records its message on `h` and returns its status.
template <class F>
folio_status guard(const HandleBase* h, F&& f) noexcept {
  try {
    f();
    return FOLIO_OK;
  } catch (const folio::Exception& e) {
    if (h) h->set_error(e.what());
    return to_c(e.status());
  } catch (const std::bad_alloc&) {
    if (h) h->set_error("out of memory");
    return FOLIO_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    if (h) h->set_error(std::string("internal error: ") + e.what());
    return FOLIO_ERR_INTERNAL;
  } catch (...) {
    if (h) h->set_error("internal error: unknown exception");
    return FOLIO_ERR_INTERNAL;
  }
}

// Copies the first `size` bytes of a filled struct into the caller's, whose
// own struct_size says how much of it the caller's version knows.
template <class T>
folio_status copy_out(const T& filled, T* out, const HandleBase* h) {
  if (!out || out->struct_size < sizeof(uint32_t)) {
    if (h) h->set_error("output struct is NULL or its struct_size is not set");
    return FOLIO_ERR_INVALID_ARGUMENT;
  }
  const uint32_t n = std::min<uint32_t>(out->struct_size, uint32_t(sizeof(T)));
  T tmp = filled;
  tmp.struct_size = n;
  std::memcpy(static_cast<void*>(out), &tmp, n);
  return FOLIO_OK;
}

// Writes the defaults into the first `struct_size` bytes of the caller's
// struct (a caller built against an older header has a shorter one: nothing
// past its end is touched) and sets its struct_size.
template <class T, class Defaults>
void write_defaults(T* out, uint32_t struct_size, Defaults defaults) {
  if (!out || struct_size < sizeof(uint32_t)) return;
  T d;
  defaults(&d);
  const uint32_t n = std::min<uint32_t>(struct_size, uint32_t(sizeof(T)));
  d.struct_size = n;
  std::memcpy(static_cast<void*>(out), &d, n);
}

// Reads an options struct of the caller's size over the defaults.
template <class T, class Init>
T read_options(const T* given, Init init) {
  T o;
  init(&o);
  if (given) {
    if (given->struct_size < sizeof(uint32_t))
      throw folio::Exception(folio::Status::invalid_argument,
                             "options struct_size is not set: call the matching *_options_init first");
    const uint32_t n = std::min<uint32_t>(given->struct_size, uint32_t(sizeof(T)));
    std::memcpy(static_cast<void*>(&o), given, n);
    o.struct_size = uint32_t(sizeof(T));
  }
  return o;
}

std::string str(const char* s) { return s ? s : ""; }

folio::ProgressFn progress_fn(folio_progress_fn fn, void* user) {
  if (!fn) return {};
  return [fn, user](const folio::Progress& p) {
    return fn(user, p.stage.c_str(), p.done, p.total, p.item.c_str()) == 0;
  };
}

}  // namespace

struct folio_engine : HandleBase {
  std::optional<folio::Engine> engine;
  folio::ModelInfo info;
};

struct folio_corpus : HandleBase {
  std::optional<folio::Corpus> corpus;
  folio::CorpusStats stats;
};

struct folio_session : HandleBase {
  std::optional<folio::Session> session;
};

struct folio_answer : HandleBase {
  folio::Answer answer;
  std::string json;
};

extern "C" {

const char* folio_version(void) { return folio::version_string(); }
int folio_abi_version(void) { return FOLIO_ABI_VERSION; }

const char* folio_status_name(folio_status status) {
  if (status < FOLIO_OK || status > FOLIO_ERR_INTERNAL) return "unknown";
  return folio::status_name(static_cast<folio::Status>(static_cast<int>(status)));
}

const char* folio_last_error(const void* handle) {
  if (!handle) return "no handle (NULL): the call that should have created it ran out of memory or got NULL";
  const auto* h = static_cast<const HandleBase*>(handle);
  if (h->magic != kMagic) return "not a folio handle";
  std::lock_guard lock(h->error_mutex);
  return h->error.c_str();
}

// --- engine --------------------------------------------------------------------

// The defaults of this version of the struct (every field).
void engine_defaults(folio_engine_options* o) {
  *o = folio_engine_options{};
  o->struct_size = sizeof *o;
  o->store_max_bytes = uint64_t(4) << 30;
  o->full_fingerprint = 1;
}

void folio_engine_options_defaults(folio_engine_options* o, uint32_t struct_size) {
  write_defaults(o, struct_size, engine_defaults);
}

folio_status folio_engine_open(const folio_engine_options* options, folio_engine** out) {
  if (!out) return FOLIO_ERR_INVALID_ARGUMENT;
  *out = new (std::nothrow) folio_engine;
  if (!*out) return FOLIO_ERR_OUT_OF_MEMORY;
  folio_engine* e = *out;
  return guard(e, [&] {
    if (!options) throw folio::Exception(folio::Status::invalid_argument, "folio_engine_open: options is NULL");
    const folio_engine_options o = read_options(options, engine_defaults);
    folio::EngineOptions eo;
    eo.model_path = str(o.model_path);
    eo.threads = o.threads;
    eo.context_budget = o.context_budget;
    eo.store_path = str(o.store_path);
    eo.store_max_bytes = o.store_max_bytes;
    eo.full_fingerprint = o.full_fingerprint != 0;
    if (o.backend) eo.backend = o.backend;
    eo.max_device_memory = o.max_device_memory;
    e->engine.emplace(eo);
    e->info = e->engine->model_info();
  });
}

void folio_engine_free(folio_engine* engine) { delete engine; }

static folio_status not_ready(const HandleBase* h, const char* what) {
  if (h) h->set_error(std::string(what) + ": the handle is NULL or was not created successfully");
  return FOLIO_ERR_INVALID_ARGUMENT;
}

folio_status folio_engine_model_info(folio_engine* e, folio_model_info* info) {
  if (!e || !e->engine) return not_ready(e, "folio_engine_model_info");
  folio_model_info m{};
  m.architecture = e->info.architecture.c_str();
  m.name = e->info.name.c_str();
  m.parameters = e->info.parameters;
  m.context_length = e->info.context_length;
  m.context_budget = e->info.context_budget;
  m.random_weights = e->info.random_weights ? 1 : 0;
  m.threads = e->info.threads;
  m.backend = e->info.backend.c_str();
  m.backend_note = e->info.backend_note.c_str();
  return copy_out(m, info, e);
}

// --- corpus --------------------------------------------------------------------

// The defaults of this version of the struct (every field).
void corpus_defaults(folio_corpus_options* o) {
  *o = folio_corpus_options{};
  o->struct_size = sizeof *o;
  o->global_budget = 0.05;
  o->include_code = 1;
}

void folio_corpus_options_defaults(folio_corpus_options* o, uint32_t struct_size) {
  write_defaults(o, struct_size, corpus_defaults);
}

folio_status folio_corpus_new(folio_engine* e, const folio_corpus_options* options, folio_corpus** out) {
  if (!out) return FOLIO_ERR_INVALID_ARGUMENT;
  *out = new (std::nothrow) folio_corpus;
  if (!*out) return FOLIO_ERR_OUT_OF_MEMORY;
  folio_corpus* c = *out;
  if (!e || !e->engine) return not_ready(c, "folio_corpus_new: engine");
  return guard(c, [&] {
    const folio_corpus_options o = read_options(options, corpus_defaults);
    folio::CorpusOptions co;
    co.global_budget = o.global_budget;
    co.include_code = o.include_code != 0;
    co.strict = o.strict != 0;
    co.threads = o.threads;
    co.progress = progress_fn(o.progress, o.progress_user);
    c->corpus.emplace(e->engine->corpus(co));
  });
}

folio_status folio_corpus_add_path(folio_corpus* c, const char* path) {
  if (!c || !c->corpus) return not_ready(c, "folio_corpus_add_path");
  return guard(c, [&] {
    if (!path) throw folio::Exception(folio::Status::invalid_argument, "folio_corpus_add_path: path is NULL");
    c->corpus->add_path(path);
  });
}

folio_status folio_corpus_add_text(folio_corpus* c, const char* name, const char* text, size_t len,
                                   const char* format) {
  if (!c || !c->corpus) return not_ready(c, "folio_corpus_add_text");
  return guard(c, [&] {
    if (!name || (!text && len))
      throw folio::Exception(folio::Status::invalid_argument, "folio_corpus_add_text: name or text is NULL");
    c->corpus->add_text(name, std::string(text ? text : "", len), str(format));
  });
}

folio_status folio_corpus_wait(folio_corpus* c) {
  if (!c || !c->corpus) return not_ready(c, "folio_corpus_wait");
  return guard(c, [&] { c->corpus->wait(); });
}

void folio_corpus_cancel(folio_corpus* c) {
  if (c && c->corpus) c->corpus->cancel();
}

folio_status folio_corpus_stats_get(folio_corpus* c, folio_corpus_stats* out) {
  if (!c || !c->corpus) return not_ready(c, "folio_corpus_stats_get");
  folio_corpus_stats s{};
  const folio_status st = guard(c, [&] {
    c->stats = c->corpus->stats();
    s.documents = c->stats.documents.size();
    s.skipped = c->stats.skipped.size();
    s.tokens = c->stats.tokens;
    s.global_tokens = c->stats.global_tokens;
    s.ingest_s = c->stats.ingest_s;
    s.assemble_s = c->stats.assemble_s;
  });
  if (st != FOLIO_OK) return st;
  return copy_out(s, out, c);
}

folio_status folio_corpus_skipped(folio_corpus* c, size_t i, const char** source, const char** reason) {
  if (!c || !c->corpus) return not_ready(c, "folio_corpus_skipped");
  if (i >= c->stats.skipped.size()) {
    c->set_error("folio_corpus_skipped: index " + std::to_string(i) + " out of range (" +
                 std::to_string(c->stats.skipped.size()) + " skipped; call folio_corpus_stats_get first)");
    return FOLIO_ERR_INVALID_ARGUMENT;
  }
  if (source) *source = c->stats.skipped[i].source.c_str();
  if (reason) *reason = c->stats.skipped[i].reason.c_str();
  return FOLIO_OK;
}

void folio_corpus_free(folio_corpus* c) { delete c; }

// --- session -------------------------------------------------------------------

// The defaults of this version of the struct (every field).
void session_defaults(folio_session_options* o) {
  *o = folio_session_options{};
  o->struct_size = sizeof *o;
  o->sparse = FOLIO_SPARSE_BALANCED;
  o->reserve_tokens = 512;
}

void folio_session_options_defaults(folio_session_options* o, uint32_t struct_size) {
  write_defaults(o, struct_size, session_defaults);
}

folio_status folio_session_open(folio_engine* e, folio_corpus* c, const folio_session_options* options,
                                folio_session** out) {
  if (!out) return FOLIO_ERR_INVALID_ARGUMENT;
  *out = new (std::nothrow) folio_session;
  if (!*out) return FOLIO_ERR_OUT_OF_MEMORY;
  folio_session* s = *out;
  if (!e || !e->engine) return not_ready(s, "folio_session_open: engine");
  if (!c || !c->corpus) return not_ready(s, "folio_session_open: corpus");
  return guard(s, [&] {
    const folio_session_options o = read_options(options, session_defaults);
    folio::SessionOptions so;
    switch (o.sparse) {
      case FOLIO_SPARSE_DENSE: so.sparse = folio::SparsePreset::dense; break;
      case FOLIO_SPARSE_BALANCED: so.sparse = folio::SparsePreset::balanced; break;
      case FOLIO_SPARSE_FAST: so.sparse = folio::SparsePreset::fast; break;
      default:
        throw folio::Exception(folio::Status::invalid_argument,
                               "folio_session_open: sparse must be FOLIO_SPARSE_DENSE, _BALANCED or _FAST");
    }
    so.window_tokens = o.window_tokens;
    so.topk_blocks = o.topk_blocks;
    so.sink_blocks = o.sink_blocks;
    so.reserve_tokens = o.reserve_tokens;
    so.system_prompt = str(o.system_prompt);
    so.progress = progress_fn(o.progress, o.progress_user);
    s->session.emplace(e->engine->open_session(*c->corpus, so));
  });
}

folio_status folio_session_fork(folio_session* s, folio_session** out) {
  if (!out) return FOLIO_ERR_INVALID_ARGUMENT;
  *out = new (std::nothrow) folio_session;
  if (!*out) return FOLIO_ERR_OUT_OF_MEMORY;
  folio_session* f = *out;
  if (!s || !s->session) return not_ready(f, "folio_session_fork");
  return guard(f, [&] { f->session.emplace(s->session->fork()); });
}

void folio_session_cancel(folio_session* s) {
  if (s && s->session) s->session->cancel();
}

folio_status folio_session_reset(folio_session* s) {
  if (!s || !s->session) return not_ready(s, "folio_session_reset");
  return guard(s, [&] { s->session->reset(); });
}

folio_status folio_session_kv_memory(folio_session* s, uint64_t* bytes, uint64_t* shared_bytes,
                                     uint64_t* family_bytes) {
  if (!s || !s->session) return not_ready(s, "folio_session_kv_memory");
  return guard(s, [&] {
    const folio::KvMemory m = s->session->kv_memory();
    if (bytes) *bytes = m.bytes;
    if (shared_bytes) *shared_bytes = m.shared_bytes;
    if (family_bytes) *family_bytes = m.family_bytes;
  });
}

void folio_session_free(folio_session* s) { delete s; }

// The defaults of this version of the struct (every field).
void ask_defaults(folio_ask_options* o) {
  *o = folio_ask_options{};
  o->struct_size = sizeof *o;
  const folio::AskOptions d;
  o->max_tokens = d.max_tokens;
  o->temperature = d.sampling.temperature;
  o->top_k = d.sampling.top_k;
  o->top_p = d.sampling.top_p;
  o->min_p = d.sampling.min_p;
  o->repeat_penalty = d.sampling.repeat_penalty;
  o->seed = d.sampling.seed;
  o->evidence_anchors = d.evidence_anchors;
}

void folio_ask_options_defaults(folio_ask_options* o, uint32_t struct_size) {
  write_defaults(o, struct_size, ask_defaults);
}

folio_status folio_session_ask(folio_session* s, const char* question, const folio_ask_options* options,
                               folio_answer** out) {
  if (!out) {
    if (s) s->set_error("folio_session_ask: out is NULL");
    return FOLIO_ERR_INVALID_ARGUMENT;
  }
  *out = nullptr;
  if (!s || !s->session) return not_ready(s, "folio_session_ask");
  return guard(s, [&] {
    if (!question) throw folio::Exception(folio::Status::invalid_argument, "folio_session_ask: question is NULL");
    const folio_ask_options o = read_options(options, ask_defaults);
    folio::AskOptions ao;
    ao.max_tokens = o.max_tokens;
    ao.sampling.temperature = o.temperature;
    ao.sampling.top_k = o.top_k;
    ao.sampling.top_p = o.top_p;
    ao.sampling.min_p = o.min_p;
    ao.sampling.repeat_penalty = o.repeat_penalty;
    ao.sampling.seed = o.seed;
    if (o.n_stop && !o.stop) throw folio::Exception(folio::Status::invalid_argument, "stop is NULL but n_stop > 0");
    for (size_t i = 0; i < o.n_stop; ++i)
      if (o.stop[i]) ao.stop.emplace_back(o.stop[i]);
    ao.remember = o.remember != 0;
    ao.evidence_anchors = o.evidence_anchors;
    if (o.on_token) {
      auto fn = o.on_token;
      void* user = o.token_user;
      ao.on_token = [fn, user](std::string_view piece) { return fn(user, piece.data(), piece.size()) == 0; };
    }
    auto a = std::make_unique<folio_answer>();
    a->answer = s->session->ask(question, ao);
    a->json = a->answer.to_json();
    *out = a.release();
  });
}

// --- answer --------------------------------------------------------------------

const char* folio_answer_text(const folio_answer* a) { return a ? a->answer.text.c_str() : ""; }
const char* folio_answer_stop_reason(const folio_answer* a) { return a ? a->answer.stop_reason.c_str() : ""; }
const char* folio_answer_json(const folio_answer* a) { return a ? a->json.c_str() : "{}"; }
int folio_answer_random_weights(const folio_answer* a) { return a && a->answer.random_weights ? 1 : 0; }
size_t folio_answer_citation_count(const folio_answer* a) { return a ? a->answer.citations.size() : 0; }

folio_status folio_answer_citation(const folio_answer* a, size_t i, folio_citation* out) {
  if (!a) return FOLIO_ERR_INVALID_ARGUMENT;
  if (i >= a->answer.citations.size()) {
    a->set_error("folio_answer_citation: index " + std::to_string(i) + " out of range (" +
                 std::to_string(a->answer.citations.size()) + " citations)");
    return FOLIO_ERR_INVALID_ARGUMENT;
  }
  const folio::Citation& c = a->answer.citations[i];
  folio_citation r{};
  r.kind = c.kind == folio::CitationKind::reference ? FOLIO_CITATION_REFERENCE : FOLIO_CITATION_ATTENTION;
  r.text = c.text.c_str();
  r.answer_offset = c.answer_offset;
  r.resolved = c.resolved ? 1 : 0;
  r.problem = c.problem.c_str();
  r.weight = c.weight;
  r.source = c.location.source.c_str();
  r.anchor = c.location.anchor.c_str();
  r.anchor_path = c.location.anchor_path.c_str();
  r.page = c.location.page;
  r.line_begin = c.location.line_begin;
  r.line_end = c.location.line_end;
  r.start_ms = c.location.start_ms;
  r.end_ms = c.location.end_ms;
  r.speaker = c.location.speaker.c_str();
  r.description = c.location.description.c_str();
  return copy_out(r, out, a);
}

folio_status folio_answer_timings(const folio_answer* a, folio_timings* out) {
  if (!a) return FOLIO_ERR_INVALID_ARGUMENT;
  const folio::Timings& t = a->answer.timings;
  folio_timings r{};
  r.ingest_s = t.ingest_s;
  r.assemble_s = t.assemble_s;
  r.restore_s = t.restore_s;
  r.prefill_s = t.prefill_s;
  r.save_s = t.save_s;
  r.prompt_s = t.prompt_s;
  r.decode_s = t.decode_s;
  r.corpus_tokens = t.corpus_tokens;
  r.restored_tokens = t.restored_tokens;
  r.prefilled_tokens = t.prefilled_tokens;
  r.prompt_tokens = t.prompt_tokens;
  r.generated_tokens = t.generated_tokens;
  r.decode_tokens_per_s = t.decode_tokens_per_s;
  return copy_out(r, out, a);
}

void folio_answer_free(folio_answer* a) { delete a; }

}  // extern "C"
