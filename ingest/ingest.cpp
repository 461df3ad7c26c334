// File-type dispatch and directory ingestion.
#include "ingest/ingest.hpp"

#include <algorithm>

#include "ingest/markdown.hpp"
#include "ingest/text_util.hpp"
#include "ingest/transcript.hpp"
#include "runtime/common/error.hpp"

#ifdef FOLIO_HAVE_INGEST_CODE
#include "ingest/code/ingest_code.hpp"
#include "ingest/code/walk.hpp"
#endif

namespace folio::ingest {
namespace {

std::string lower_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext)
    if (c >= 'A' && c <= 'Z') c = char(c + 32);
  return ext;
}

constexpr std::string_view kDocumentGlobs[] = {"*.pdf", "*.PDF", "*.vtt", "*.VTT", "*.srt", "*.SRT", "*.md",
                                              "*.MD", "*.markdown", "*.txt", "*.TXT", "*.text", "*.log"};

void report(const IngestOptions& o, size_t done, size_t total, std::string_view item) {
  if (o.progress) o.progress(done, total, item);
}

// Ingests one document-format file into the corpus, or records why not.
bool add_document_file(Corpus& corpus, const std::filesystem::path& path, const std::string& display,
                       const IngestOptions& options) {
  try {
    Document d = ingest_file(path, options);
    d.source = display;
    corpus.add(std::move(d));
    return true;
  } catch (const Error& e) {
    if (options.strict) throw;
    std::string reason = e.what();
    // The message usually starts with the path; the skipped entry names it already.
    if (reason.starts_with(path.string() + ": ")) reason.erase(0, path.string().size() + 2);
    else if (reason.starts_with(path.string() + ":")) reason.erase(0, path.string().size() + 1);
    corpus.skip(display, std::move(reason));
    return false;
  }
}

}  // namespace

bool code_ingestion_available() noexcept {
#ifdef FOLIO_HAVE_INGEST_CODE
  return true;
#else
  return false;
#endif
}

std::optional<SourceFormat> format_for_path(const std::filesystem::path& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".pdf") return SourceFormat::pdf;
  if (ext == ".vtt") return SourceFormat::webvtt;
  if (ext == ".srt") return SourceFormat::srt;
  if (ext == ".md" || ext == ".markdown") return SourceFormat::markdown;
  // Logs are text; parse_buffer reads one that looks like a speaker log as a transcript.
  if (ext == ".txt" || ext == ".text" || ext == ".log") return SourceFormat::text;
  return std::nullopt;
}

Document parse_buffer(std::string_view bytes, std::string source, SourceFormat format, const IngestOptions& options) {
  const Limits& limits = options.limits;
  if (format != SourceFormat::pdf && looks_binary(bytes))
    fail(Errc::unsupported, source + ": binary content (NUL bytes) in a " + source_format_name(format) + " file");
  switch (format) {
    case SourceFormat::pdf: return parse_pdf(bytes, std::move(source), limits, options.pdf);
    case SourceFormat::webvtt: return parse_webvtt(bytes, std::move(source), limits);
    case SourceFormat::srt: return parse_srt(bytes, std::move(source), limits);
    case SourceFormat::transcript: return parse_plain_transcript(bytes, std::move(source), limits);
    case SourceFormat::markdown: return parse_markdown(bytes, std::move(source), limits);
    case SourceFormat::text:
      if (looks_like_plain_transcript(bytes)) return parse_plain_transcript(bytes, std::move(source), limits);
      return parse_text(bytes, std::move(source), limits);
    case SourceFormat::code:
      break;
  }
  fail(Errc::invalid_argument, source + ": parse_buffer cannot parse code; use ingest_file or add_path");
}

Document ingest_file(const std::filesystem::path& path, const IngestOptions& options) {
  const std::string bytes = read_file_limited(path, options.limits);
  if (auto format = format_for_path(path)) return parse_buffer(bytes, path.string(), *format, options);
#ifdef FOLIO_HAVE_INGEST_CODE
  code::CodeIngestOptions co;
  co.limits = options.limits;
  co.threads = 1;
  code::CodeParser parser(co.parse);
  code::CodeFileResult r = code::ingest_code_bytes(path.string(), path.string(), bytes, parser, co);
  if (!r.document) fail(Errc::unsupported, path.string() + ": " + r.skip_reason);
  return std::move(*r.document);
#else
  if (looks_binary(bytes)) fail(Errc::unsupported, path.string() + ": binary content");
  return parse_text(bytes, path.string(), options.limits);
#endif
}

size_t add_path(Corpus& corpus, const std::filesystem::path& path, const IngestOptions& options) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    if (options.strict) fail(Errc::io, path.string() + ": no such file or directory");
    corpus.skip(path.string(), "no such file or directory");
    return 0;
  }
  const size_t before = corpus.size();
  if (!std::filesystem::is_directory(status)) {
    add_document_file(corpus, path, path.string(), options);
    report(options, 1, 1, path.string());
    return corpus.size() - before;
  }
#ifdef FOLIO_HAVE_INGEST_CODE
  // Documents: one walk (same .gitignore and vendored rules) keeping only
  // document formats; code: the code ingester with document formats excluded.
  code::WalkResult walked = code::walk_tree(path);
  std::vector<code::WalkedFile> docs;
  for (auto& f : walked.files)
    if (format_for_path(f.path)) docs.push_back(std::move(f));
  size_t done = 0;
  for (const auto& f : docs) {
    add_document_file(corpus, f.path, (path / f.relative).lexically_normal().string(), options);
    report(options, ++done, 0, f.relative);
  }
  if (options.include_code) {
    code::CodeIngestOptions co;
    co.limits = options.limits;
    co.threads = options.threads;
    for (auto g : kDocumentGlobs) co.walk.extra_ignores.emplace_back(g);
    if (options.progress)
      co.progress = [&](size_t n, size_t total, std::string_view item) { options.progress(done + n, done + total, item); };
    code::CodeIngestResult r = code::ingest_code_tree(path, co);
    // Files excluded only by the document globs above (origin "options") were
    // ingested as documents already.
    std::erase_if(r.skipped, [](const SkippedItem& s) { return s.reason.starts_with("ignored by options:"); });
    code::add_to_corpus(std::move(r), corpus);
  }
#else
  // Without code ingestion: a plain recursive walk for document formats only.
  size_t done = 0;
  std::vector<std::filesystem::path> files;
  for (auto it = std::filesystem::recursive_directory_iterator(
           path, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && format_for_path(it->path())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    add_document_file(corpus, f, f.string(), options);
    report(options, ++done, files.size(), f.string());
  }
#endif
  return corpus.size() - before;
}

}  // namespace folio::ingest
