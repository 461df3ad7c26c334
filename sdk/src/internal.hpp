// Internal state behind the public handles of folio.hpp. Only sdk/src sees it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "folio/folio.hpp"
#include "ingest/corpus.hpp"
#include "runtime/common/error.hpp"
#include "ingest/tokenizer_adapter.hpp"
#include "runtime/backend/backend.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/model/model.hpp"
#include "runtime/store/block_key.hpp"
#include "runtime/store/store.hpp"
#include "runtime/tokenizer/tokenizer.hpp"

namespace boost::asio {
class thread_pool;
}

namespace folio::detail {

// Converts any exception into folio::Exception (internal folio::Error codes map
// one to one onto Status). Used at every public entry point.
[[noreturn]] void rethrow_as_public();
Status status_of(Errc code) noexcept;

template <class F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (...) {
    rethrow_as_public();
  }
}

struct EngineImpl {
  EngineOptions options;
  ModelInfo info;
  std::shared_ptr<const gguf::File> file;
  std::unique_ptr<backend::Backend> backend;
  std::unique_ptr<model::Model> model;
  std::shared_ptr<const ingest::ModelTokenizer> tokenizer;  // owns the tok::Tokenizer
  // The backend runs one forward pass at a time (the CPU backend is not
  // re-entrant): sessions take this lock per prefill chunk or decode step, so
  // concurrent questions interleave step by step.
  std::mutex forward_mutex;

  // The snapshot store (null without store_path, or after it failed to open:
  // answering works without it). Store serialises its own calls.
  std::unique_ptr<store::Store> store;
  std::string store_problem;  // why there is no store although one was asked for

  // Block-key context (model fingerprint, and the backend's cache format),
  // computed at first use.
  std::once_flag key_once;
  store::KeyContext key_context;
  const store::KeyContext& keys();
  // The snapshot glue for this engine's backend (store::*_session for CPU
  // sessions, cuda::*_cuda_session for GPU ones); same contracts as those.
  size_t restore_session(model::Session& session, std::span<const int32_t> tokens, std::span<const uint8_t> global);
  size_t save_session(model::Session& session, std::span<const int32_t> tokens, std::span<const uint8_t> global,
                      std::string label);
  bool on_gpu() const { return backend && backend->name() == "cuda"; }

  const tok::Tokenizer& tok() const { return tokenizer->tokenizer(); }
};

// A corpus frozen at one moment: documents, the assembled token stream and the
// tables citations need. Sessions hold it by shared_ptr; the Corpus may grow
// afterwards without affecting them.
struct CorpusView {
  ingest::Corpus corpus;
  ingest::TokenStream stream;
  // Per document, per block: innermost enclosing anchor (precomputed from
  // Document::enclosing_anchor's rule in one pass).
  std::vector<std::vector<std::optional<ingest::AnchorId>>> block_anchor;
  CorpusStats stats;
};

struct CorpusImpl : std::enable_shared_from_this<CorpusImpl> {
  CorpusImpl(std::shared_ptr<EngineImpl> engine, CorpusOptions options);
  ~CorpusImpl();

  std::shared_ptr<EngineImpl> engine;
  CorpusOptions options;
  std::unique_ptr<boost::asio::thread_pool> pool;

  std::mutex mutex;
  std::condition_variable idle;
  // One slot per source in the order added: the corpus order is the order of
  // add calls, whatever order the workers finish in (so the token stream and
  // its snapshot keys are reproducible).
  struct Slot {
    std::string name;
    bool done = false;
    ingest::Corpus result;  // documents and skipped items of this source
    std::optional<Exception> error;
  };
  std::vector<std::unique_ptr<Slot>> slots;
  size_t pending = 0;
  std::atomic<bool> cancelled{false};
  std::atomic<uint64_t> files_done{0};
  std::mutex progress_mutex;  // serialises the user's progress callback
  double ingest_seconds = 0;  // summed over sources (worker time)

  // Cached assembled view, valid while `view_sources == slots.size()`.
  std::shared_ptr<const CorpusView> view;
  size_t view_sources = 0;

  void enqueue(std::string name, std::function<void(ingest::Corpus&)> work);
  void wait();
  std::shared_ptr<const CorpusView> assemble();
  void report(std::string_view item);
};

// Source-location references written in text, resolved against a corpus view.
std::vector<Citation> resolve_references(const CorpusView& view, std::string_view text);
// Location of block `block` of document `doc` (anchor, provenance, description).
SourceLocation location_of(const CorpusView& view, size_t doc, std::optional<size_t> block);

struct SessionImpl;

}  // namespace folio::detail
