// Folio C++ API: ask questions about whole corpora (PDFs, source trees,
// transcripts) with a long-context model running in this process.
//
//   folio::EngineOptions eo;
//   eo.model_path = "model.gguf";
//   eo.store_path = "corpus.folio-kv";          // optional: KV snapshots reused across runs
//   folio::Engine engine(eo);                   // thread-safe; copies share one engine
//
//   folio::Corpus corpus = engine.corpus();
//   corpus.add_path("contracts/msa.pdf");       // queued, ingested in parallel
//   corpus.add_path("src/");
//
//   folio::Session session = engine.open_session(corpus);   // restore or prefill once
//   folio::AskOptions ao;
//   ao.on_token = [](std::string_view piece) { std::cout << piece; return true; };
//   folio::Answer a = session.ask("What is the liability cap?", ao);
//   for (const folio::Citation& c : a.citations) ...
//
// Errors are thrown as folio::Exception, whose status() says what kind of
// failure it was. Objects are handles: Engine and Corpus are cheap to copy and
// share their state; Session is move-only (fork() makes another one that starts
// from the same prefilled corpus).
//
// Threads: an Engine may be used by any number of threads. A Corpus may be
// filled from several threads. One Session answers one question at a time;
// fork it to answer in parallel (forks share the engine; their forward passes
// are queued on the engine's backend step by step, so they interleave).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#if defined(_WIN32)
#define FOLIO_CXX_API __declspec(dllexport)
#else
#define FOLIO_CXX_API __attribute__((visibility("default")))
#endif

namespace folio {

// ---------------------------------------------------------------------------
// Versions and errors

// "0.1.0"
FOLIO_CXX_API const char* version_string() noexcept;

// The kinds of failure. Values equal the C ABI's folio_status codes.
enum class Status : int {
  ok = 0,
  invalid_argument = 1,   // the caller passed something that cannot work
  io = 2,                 // the operating system refused (open, read, write)
  format = 3,             // a file is malformed (wrong model file, broken PDF)
  unsupported = 4,        // well-formed but not supported (source type, architecture)
  out_of_memory = 5,      // host or device memory ran out
  cancelled = 6,          // the caller cancelled the work
  corrupt = 7,            // a checksum or fingerprint did not match
  context_too_large = 8,  // the corpus does not fit the context budget
  internal = 9,           // a bug in Folio
};
FOLIO_CXX_API const char* status_name(Status status) noexcept;  // "context_too_large"

class FOLIO_CXX_API Exception : public std::runtime_error {
 public:
  Exception(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

// ---------------------------------------------------------------------------
// Options

enum class SparsePreset {
  dense,     // every block read: exact, the reference
  balanced,  // ~4K attended tokens per query: sink, 1024-token window, 32 top blocks, anchors
  fast,      // ~1.6K attended tokens: sink, 512-token window, 16 top blocks, anchors
};

struct SamplingOptions {
  float temperature = 0.0f;   // 0: greedy (the default for questions: reproducible)
  int top_k = 40;             // 0: off
  float top_p = 0.95f;        // 1: off
  float min_p = 0.05f;        // 0: off
  float repeat_penalty = 1.1f;  // 1: off
  uint64_t seed = 0;
};

struct EngineOptions {
  std::string model_path;           // GGUF file (qwen3moe, qwen3, llama)
  int threads = 0;                  // CPU threads; 0: all cores
  // Tokens a session may hold: corpus + question + answer. 0: the model's
  // context length, at most 32768.
  int64_t context_budget = 0;
  // KV-snapshot store (SQLite file). Empty: no snapshots, every session prefills.
  std::string store_path;
  uint64_t store_max_bytes = uint64_t(4) << 30;  // least-recently-used snapshots evicted beyond it
  // Hash every weight byte for the model fingerprint (exact; costs one read of
  // the weights at first use). false: sampled windows (fast for huge files).
  bool full_fingerprint = true;
  // Where the model runs: "cpu"; "cuda" (a GPU, or an error); "auto" (a GPU
  // when one is usable, else the CPU). With "auto", a GPU that cannot hold the
  // model (out of memory, or over max_device_memory) leaves the engine on the
  // CPU and ModelInfo::backend_note says why. On the GPU, sessions save and
  // restore snapshots of their own format (never a CPU one), forks copy the
  // corpus KV on the device, and attention evidence is measured there.
  std::string backend = "cpu";
  // Bytes the GPU backend may allocate on the device; 0: no cap. Past it an
  // allocation fails as if the device were full (Status::out_of_memory, naming
  // what was being allocated and how much).
  uint64_t max_device_memory = 0;
};

// Progress of long work. Return false from the callback to cancel.
struct Progress {
  std::string stage;  // "ingest", "restore", "prefill"
  uint64_t done = 0;
  uint64_t total = 0;  // 0 when unknown
  std::string item;    // file being ingested, or ""
};
using ProgressFn = std::function<bool(const Progress&)>;

struct CorpusOptions {
  double global_budget = 0.05;  // at most this fraction of tokens are global (anchor) tokens
  bool include_code = true;     // directories: also ingest source code
  bool strict = false;          // a file that cannot be ingested is an error instead of a skipped item
  unsigned threads = 0;         // ingestion workers; 0: all cores
  ProgressFn progress;          // called from worker threads (serialised)
};

struct SessionOptions {
  SparsePreset sparse = SparsePreset::balanced;
  // Overrides of the preset (0: keep the preset's value).
  int window_tokens = 0;
  int topk_blocks = 0;
  int sink_blocks = 0;
  // Tokens reserved for each question and its answer when checking that the
  // corpus fits the context budget.
  int64_t reserve_tokens = 512;
  // Instructions placed before the corpus. Empty: Folio's default (answer from
  // the documents, cite sections, files:lines and [hh:mm:ss] times).
  std::string system_prompt;
  ProgressFn progress;          // restore and prefill progress; return false to cancel
};

struct AskOptions {
  int64_t max_tokens = 256;     // answer length limit
  SamplingOptions sampling;
  std::vector<std::string> stop;  // stop strings
  // Keep this question and its answer as conversation history for later asks
  // on the same session (chat). reset() forgets it.
  bool remember = false;
  // Attention evidence (citations of kind `attention`): how many anchors to
  // report; 0 turns the measurement off.
  int evidence_anchors = 5;
  // Receives the answer text as it is generated; return false to stop.
  std::function<bool(std::string_view piece)> on_token;
};

// ---------------------------------------------------------------------------
// Results

enum class CitationKind {
  // A source location the model wrote in its answer ("§12.2", "src/a.py:120",
  // "[00:14:03]"), checked against the corpus: `resolved` says whether it names
  // something that exists; `problem` says why not.
  reference,
  // An anchor (section, function, speaker turn) whose tokens received the most
  // attention while the answer was generated; `weight` is its share of the
  // attention mass the answer's queries put on corpus tokens.
  attention,
};

// Where a citation points. Fields that do not apply are 0 / empty.
struct SourceLocation {
  std::string source;       // document as added ("contracts/msa.pdf", "src/a.py")
  std::string anchor;       // "12.2 Termination for Convenience", "Store::put", "Alice"
  std::string anchor_path;  // "12 > 12.2 Termination for Convenience"
  uint32_t page = 0;        // PDF page (1-based)
  uint32_t line_begin = 0, line_end = 0;  // text and code (1-based, inclusive)
  int64_t start_ms = -1, end_ms = -1;     // transcripts
  std::string speaker;
  std::string description;  // "msa.pdf p. 12 (12 > 12.2 Termination for Convenience)"
};

struct Citation {
  CitationKind kind = CitationKind::reference;
  std::string text;          // as written in the answer (reference), or the anchor label (attention)
  size_t answer_offset = 0;  // byte offset of `text` in the answer (reference only)
  bool resolved = false;     // always true for attention citations
  std::string problem;       // why a reference did not resolve ("no section 14.3 in the corpus")
  double weight = 0;         // attention share in [0, 1] (attention only)
  SourceLocation location;
};

struct Timings {
  double ingest_s = 0;       // parsing the sources
  double assemble_s = 0;     // rendering and tokenizing the corpus
  double restore_s = 0;      // reading the KV snapshot from the store
  double prefill_s = 0;      // prefilling the corpus tokens not restored
  double save_s = 0;         // writing the KV snapshot
  double prompt_s = 0;       // prefilling the question (and history)
  double decode_s = 0;       // generating the answer
  int64_t corpus_tokens = 0;     // instructions + corpus
  int64_t restored_tokens = 0;   // of which restored from the store (the cache hit length)
  int64_t prefilled_tokens = 0;  // of which prefilled by this session
  int64_t prompt_tokens = 0;     // question tokens prefilled by this ask
  int64_t generated_tokens = 0;
  double decode_tokens_per_s = 0;
};

struct FOLIO_CXX_API Answer {
  std::string question;
  std::string text;
  std::string stop_reason;          // "eos", "stop_string", "length", "context_full", "cancelled"
  std::vector<Citation> citations;  // references first (in answer order), then attention evidence
  Timings timings;
  // What attention evidence measures, or why there is none ("off", a backend that cannot measure it).
  std::string evidence_note;
  // The model file is marked as random weights (folio make-tiny): the text is
  // meaningless; only the machinery is real.
  bool random_weights = false;

  // The whole answer as one JSON object (text, citations, timings).
  std::string to_json() const;
};

struct ModelInfo {
  std::string path;
  std::string architecture;  // "qwen3moe"
  std::string name;          // general.name
  int64_t parameters = 0;
  int64_t context_length = 0;
  int64_t context_budget = 0;  // what sessions may use
  bool random_weights = false;
  std::string backend;       // "cpu" or "cuda"
  int threads = 0;
  std::string backend_note;  // why the engine is not on the backend asked for ("" when it is)
};

struct SkippedSource {
  std::string source;
  std::string reason;
};

struct DocumentInfo {
  std::string source;
  std::string format;      // "pdf", "markdown", "code", "webvtt", ...
  std::string language;    // code only
  uint64_t blocks = 0, anchors = 0, tokens = 0;
  uint32_t pages = 0;
};

struct CorpusStats {
  std::vector<DocumentInfo> documents;  // in corpus order
  std::vector<SkippedSource> skipped;
  uint64_t tokens = 0;          // corpus tokens (without instructions)
  uint64_t global_tokens = 0;
  std::string budget_note;      // what the global-token budget cut, if anything
  double ingest_s = 0, assemble_s = 0;
};

// ---------------------------------------------------------------------------
// Objects

class Corpus;
class Session;

namespace detail {
struct EngineImpl;
struct CorpusImpl;
struct SessionImpl;
}  // namespace detail

class FOLIO_CXX_API Engine {
 public:
  // Loads the model (mmap) and opens the store. Throws Exception: format for a
  // file that is not a usable GGUF model, io when it cannot be read.
  explicit Engine(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&);
  Engine& operator=(const Engine&);
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  ModelInfo model_info() const;
  Corpus corpus(const CorpusOptions& options = {}) const;
  // Ingests what is still pending, assembles the corpus, checks it fits the
  // context budget (Exception context_too_large otherwise, saying how many
  // tokens it has and how many fit), restores the longest stored prefix and
  // prefills the rest, then saves the snapshot.
  Session open_session(Corpus& corpus, const SessionOptions& options = {}) const;

 private:
  friend class Corpus;
  friend class Session;
  std::shared_ptr<detail::EngineImpl> impl_;
};

class FOLIO_CXX_API Corpus {
 public:
  ~Corpus();
  Corpus(const Corpus&);
  Corpus& operator=(const Corpus&);
  Corpus(Corpus&&) noexcept;
  Corpus& operator=(Corpus&&) noexcept;

  // Queues a file or a directory tree (PDF, Markdown, text, WebVTT, SRT,
  // speaker logs, source code). Returns at once; ingestion runs on the pool.
  void add_path(const std::string& path);
  // Queues text given in memory. `format`: "markdown", "text", "webvtt",
  // "srt", "transcript", or "" to guess from the name's extension.
  void add_text(const std::string& name, std::string text, const std::string& format = "");
  // Waits for everything queued. Throws Exception(cancelled) after cancel(),
  // or the first error of a strict corpus.
  void wait();
  // Stops queued and running ingestion as soon as possible (between files).
  void cancel();
  // Waits, assembles the token stream and reports what the corpus holds.
  CorpusStats stats();
  // Checks source locations written in `text` (§12.2, "Section 4", file:line,
  // [hh:mm:ss]) against the corpus: citations of kind `reference`.
  std::vector<Citation> resolve_references(std::string_view text);

 private:
  friend class Engine;
  friend class Session;
  explicit Corpus(std::shared_ptr<detail::CorpusImpl> impl);
  std::shared_ptr<detail::CorpusImpl> impl_;
};

// KV-cache memory of a session, in bytes.
struct KvMemory {
  uint64_t bytes = 0;         // everything the session references
  uint64_t shared_bytes = 0;  // of which shared with other sessions (forks) now
  // Distinct bytes held by the session, the one it was forked from and every
  // fork of either, shared blocks counted once: what the family costs.
  uint64_t family_bytes = 0;
};

class FOLIO_CXX_API Session {
 public:
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Answers one question about the corpus. Throws Exception(cancelled) only
  // when cancelled before generation started; a cancel during generation
  // returns the partial answer with stop_reason "cancelled".
  Answer ask(std::string_view question, const AskOptions& options = {});
  // A new session over the same prefilled corpus. The corpus KV is shared, not
  // copied: every full 64-token block is the same immutable memory in both
  // sessions; only the partial last block is copied, and each session appends
  // its own questions and answers after it, unseen by the other. Shared blocks
  // are freed with the last session holding them. (The CPU backend shares; the
  // CUDA backend copies the corpus KV on the device, a fork holding its own copy.)
  Session fork() const;
  // KV-cache memory of this session (0 where the backend does not report it).
  KvMemory kv_memory() const;
  // Cancels the ask running on this session (from any thread).
  void cancel() noexcept;
  // Forgets the conversation history (remembered asks).
  void reset();

  // Timings of opening the session (ingest, restore, prefill, save).
  Timings open_timings() const;
  CorpusStats corpus_stats() const;
  // Resolves references against this session's corpus.
  std::vector<Citation> resolve_references(std::string_view text) const;

 private:
  friend class Engine;
  explicit Session(std::unique_ptr<detail::SessionImpl> impl);
  std::unique_ptr<detail::SessionImpl> impl_;
};

}  // namespace folio
