// Corpus: sources ingested in parallel on a Boost.Asio thread pool, then
// assembled into one token stream with the model's tokenizer.
#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "ingest/ingest.hpp"
#include "runtime/common/error.hpp"
#include "sdk/src/internal.hpp"

namespace folio {

namespace detail {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::optional<ingest::SourceFormat> parse_format(const std::string& name, const std::string& format) {
  using F = ingest::SourceFormat;
  if (format.empty()) return ingest::format_for_path(name);
  if (format == "markdown") return F::markdown;
  if (format == "text") return F::text;
  if (format == "webvtt" || format == "vtt") return F::webvtt;
  if (format == "srt") return F::srt;
  if (format == "transcript") return F::transcript;
  fail(Errc::unsupported, name + ": unsupported format '" + format +
                              "' for text given in memory (markdown, text, webvtt, srt, transcript; "
                              "PDFs and code must be added as files)");
}

}  // namespace

CorpusImpl::CorpusImpl(std::shared_ptr<EngineImpl> e, CorpusOptions o) : engine(std::move(e)), options(std::move(o)) {
  if (!(options.global_budget >= 0 && options.global_budget <= 1))
    fail(Errc::invalid_argument, "global_budget must be in [0, 1]");
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  pool = std::make_unique<boost::asio::thread_pool>(options.threads > 0 ? options.threads : hw);
}

CorpusImpl::~CorpusImpl() {
  cancelled = true;
  pool->join();
}

void CorpusImpl::report(std::string_view item) {
  const uint64_t done = ++files_done;
  if (!options.progress) return;
  uint64_t total;
  {
    std::lock_guard lock(mutex);
    total = slots.size();
  }
  std::lock_guard lock(progress_mutex);
  Progress p{"ingest", done, std::max<uint64_t>(total, done), std::string(item)};
  if (!options.progress(p)) cancelled = true;
}

void CorpusImpl::enqueue(std::string name, std::function<void(ingest::Corpus&)> work) {
  Slot* slot;
  {
    std::lock_guard lock(mutex);
    if (cancelled) throw Exception(Status::cancelled, "corpus: ingestion was cancelled; create a new corpus");
    slots.push_back(std::make_unique<Slot>());
    slot = slots.back().get();
    slot->name = std::move(name);
    ++pending;
  }
  // The pool outlives every task (the destructor joins it), and `slot` is
  // owned by `slots`, which never shrinks: raw pointers are safe here.
  boost::asio::post(*pool, [this, slot, work = std::move(work)] {
    const auto t0 = std::chrono::steady_clock::now();
    ingest::Corpus result;
    std::optional<Exception> error;
    if (cancelled) {
      error.emplace(Status::cancelled, slot->name + ": ingestion cancelled");
    } else {
      try {
        work(result);
      } catch (...) {
        try {
          rethrow_as_public();
        } catch (const Exception& e) {
          error.emplace(e);
        }
      }
    }
    const double dt = seconds_since(t0);
    report(slot->name);
    std::lock_guard lock(mutex);
    slot->result = std::move(result);
    slot->error = std::move(error);
    slot->done = true;
    ingest_seconds += dt;
    if (--pending == 0) idle.notify_all();
  });
}

void CorpusImpl::wait() {
  std::unique_lock lock(mutex);
  idle.wait(lock, [&] { return pending == 0; });
  if (cancelled) throw Exception(Status::cancelled, "corpus: ingestion was cancelled");
  for (const auto& s : slots)
    if (s->error) throw *s->error;
}

std::shared_ptr<const CorpusView> CorpusImpl::assemble() {
  wait();
  std::lock_guard lock(mutex);
  if (view && view_sources == slots.size()) return view;
  auto v = std::make_shared<CorpusView>();
  for (const auto& s : slots) {
    for (const auto& d : s->result.documents()) v->corpus.add(d);  // throws on a duplicate source
    for (const auto& k : s->result.skipped()) v->corpus.skip(k.source, k.reason);
  }
  if (v->corpus.size() == 0) {
    std::string why = slots.empty() ? "no sources were added" : "no source could be ingested";
    for (const auto& k : v->corpus.skipped()) why += "; " + k.source + ": " + k.reason;
    fail(Errc::invalid_argument, "corpus is empty: " + why);
  }
  const auto t0 = std::chrono::steady_clock::now();
  ingest::AssembleOptions ao;
  ao.global_budget = options.global_budget;
  v->stream = ingest::assemble(v->corpus, *engine->tokenizer, ao);
  const double assemble_s = seconds_since(t0);

  const auto& docs = v->corpus.documents();
  v->block_anchor.resize(docs.size());
  for (size_t d = 0; d < docs.size(); ++d) {
    const ingest::Document& doc = docs[d];
    auto& table = v->block_anchor[d];
    table.resize(doc.blocks.size());
    std::optional<ingest::AnchorId> current;
    for (size_t b = 0; b < doc.blocks.size(); ++b) {
      const auto& a = doc.blocks[b].anchor;
      if (a && *a < doc.outline.size() && doc.outline[*a].block == b) current = a;
      table[b] = current;
    }
  }

  CorpusStats& st = v->stats;
  for (size_t d = 0; d < docs.size(); ++d) {
    const ingest::Document& doc = docs[d];
    DocumentInfo di;
    di.source = doc.source;
    di.format = ingest::source_format_name(doc.format);
    di.language = doc.language;
    di.blocks = doc.blocks.size();
    di.anchors = doc.outline.size();
    di.pages = doc.pages;
    di.tokens = v->stream.doc_token_begin[d + 1] - v->stream.doc_token_begin[d];
    st.documents.push_back(std::move(di));
  }
  for (const auto& k : v->corpus.skipped()) st.skipped.push_back({k.source, k.reason});
  st.tokens = v->stream.size();
  st.global_tokens = v->stream.global_count();
  if (v->stream.budget.cut()) st.budget_note = v->stream.budget.describe();
  st.ingest_s = ingest_seconds;
  st.assemble_s = assemble_s;
  view = std::move(v);
  view_sources = slots.size();
  return view;
}

}  // namespace detail

Corpus::Corpus(std::shared_ptr<detail::CorpusImpl> impl) : impl_(std::move(impl)) {}
Corpus::~Corpus() = default;
Corpus::Corpus(const Corpus&) = default;
Corpus& Corpus::operator=(const Corpus&) = default;
Corpus::Corpus(Corpus&&) noexcept = default;
Corpus& Corpus::operator=(Corpus&&) noexcept = default;

void Corpus::add_path(const std::string& path) {
  detail::guarded([&] {
    if (path.empty()) fail(Errc::invalid_argument, "add_path: empty path");
    ingest::IngestOptions io;
    io.strict = impl_->options.strict;
    io.include_code = impl_->options.include_code;
    io.threads = 1;  // parallelism comes from the pool: one source per worker
    impl_->enqueue(path, [path, io](ingest::Corpus& out) {
      std::error_code ec;
      if (!std::filesystem::exists(path, ec)) {
        if (io.strict) fail(Errc::io, path + ": no such file or directory");
        out.skip(path, "no such file or directory");
        return;
      }
      ingest::add_path(out, path, io);
    });
  });
}

void Corpus::add_text(const std::string& name, std::string text, const std::string& format) {
  detail::guarded([&] {
    if (name.empty()) fail(Errc::invalid_argument, "add_text: empty name");
    const auto f = detail::parse_format(name, format);
    if (!f)
      fail(Errc::unsupported, name + ": cannot tell the format from the name; pass one of markdown, text, webvtt, "
                                     "srt, transcript");
    if (*f == ingest::SourceFormat::pdf || *f == ingest::SourceFormat::code)
      fail(Errc::unsupported, name + ": PDFs and code must be added as files (add_path)");
    ingest::IngestOptions io;
    io.strict = impl_->options.strict;
    impl_->enqueue(name, [name, io, fmt = *f, text = std::move(text)](ingest::Corpus& out) {
      try {
        out.add(ingest::parse_buffer(text, name, fmt, io));
      } catch (const Error& e) {
        if (io.strict) throw;
        out.skip(name, e.what());
      }
    });
  });
}

void Corpus::wait() { detail::guarded([&] { impl_->wait(); }); }

void Corpus::cancel() { impl_->cancelled = true; }

CorpusStats Corpus::stats() {
  return detail::guarded([&] { return impl_->assemble()->stats; });
}

std::vector<Citation> Corpus::resolve_references(std::string_view text) {
  return detail::guarded([&] { return detail::resolve_references(*impl_->assemble(), text); });
}

}  // namespace folio
