#include "ingest/code/ingest_code.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <mutex>
#include <new>
#include <thread>

#include "ingest/code/code_document.hpp"
#include "ingest/code/file_checks.hpp"
#include "ingest/code/language.hpp"
#include "runtime/common/error.hpp"

namespace folio::ingest::code {
namespace fs = std::filesystem;

namespace {

// Reads a whole file, refusing more than `limit` bytes (the file may have grown
// since the walk measured it).
std::optional<std::string> read_file(const fs::path& path, uint64_t limit, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open for reading";
    return std::nullopt;
  }
  std::string bytes;
  char buffer[65536];
  while (in) {
    in.read(buffer, sizeof buffer);
    bytes.append(buffer, size_t(in.gcount()));
    if (bytes.size() > limit) {
      error = "larger than the " + std::to_string(limit) + "-byte limit (grew while reading)";
      return std::nullopt;
    }
  }
  if (in.bad()) {
    error = "read error";
    return std::nullopt;
  }
  return bytes;
}

bool cancelled(const CodeIngestOptions& options) {
  return options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed) != 0;
}

}  // namespace

CodeFileResult ingest_code_bytes(std::string_view path, std::string_view display_path, std::string_view bytes,
                                 CodeParser& parser, const CodeIngestOptions& options) {
  CodeFileResult result;
  if (std::string reason = binary_reason(bytes); !reason.empty()) {
    result.skip_reason = std::move(reason);
    return result;
  }
  std::optional<Language> language = detect_language(display_path, bytes.substr(0, 4096));
  if (options.skip_minified) {
    if (std::string reason = minified_reason(display_path, bytes); !reason.empty()) {
      result.skip_reason = std::move(reason);
      return result;
    }
  }
  if (options.skip_generated) {
    if (std::string reason = generated_reason(bytes); !reason.empty()) {
      result.skip_reason = std::move(reason);
      return result;
    }
  }
  if (!language) {
    if (!options.text_fallback) {
      result.skip_reason = "unsupported language";
      return result;
    }
    result.document = text_document(path, bytes, display_path, {}, options.limits);
    return result;
  }
  ParseOptions parse_options;
  if (*language == Language::python) parse_options.module = python_module_name(display_path);
  parse_options.cancel = options.cancel;
  try {
    CodeOutline outline = parser.parse(path, bytes, *language, parse_options);
    result.document = code_document(outline, bytes, display_path, options.limits);
    result.outline = std::move(outline);
  } catch (const Error& e) {
    if (e.code() == Errc::cancelled) throw;
    if (e.code() != Errc::unsupported && e.code() != Errc::invalid_argument) throw;
    // Over time or size for the parser: keep the text, say why.
    std::string note = "not parsed as " + std::string(language_name(*language)) + ": " + e.what() +
                       "; kept as plain text";
    result.document = text_document(path, bytes, display_path, std::span<const std::string>(&note, 1), options.limits);
    result.document->language = std::string(language_name(*language));
  }
  return result;
}

CodeIngestResult ingest_code_tree(const fs::path& root, const CodeIngestOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  WalkResult walk = walk_tree(root, options.walk);
  const size_t total = walk.files.size();
  std::error_code ec;
  const fs::path root_dir = fs::is_directory(root, ec) ? root : root.parent_path();

  struct Slot {
    std::optional<Document> document;
    std::optional<CodeOutline> outline;
    std::string skip_reason;
    size_t symbols = 0;
  };
  std::vector<Slot> slots(total);
  std::atomic<size_t> next{0};
  std::mutex progress_mutex;
  size_t done = 0;

  auto work = [&] {
    CodeParser parser(options.parse);
    for (;;) {
      size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= total) return;
      const WalkedFile& file = walk.files[i];
      Slot& slot = slots[i];
      if (cancelled(options)) {
        slot.skip_reason = "cancelled";
      } else {
        try {
          std::string error;
          std::optional<std::string> bytes = read_file(file.path, options.walk.max_file_bytes, error);
          if (!bytes) {
            slot.skip_reason = std::move(error);
          } else {
            CodeFileResult r = ingest_code_bytes(file.path.generic_string(), file.relative, *bytes, parser, options);
            slot.document = std::move(r.document);
            if (r.outline) slot.symbols = r.outline->symbols.size();
            if (options.keep_outlines) slot.outline = std::move(r.outline);
            slot.skip_reason = std::move(r.skip_reason);
          }
        } catch (const Error& e) {
          slot.document.reset();
          slot.skip_reason = e.code() == Errc::cancelled ? std::string("cancelled") : std::string(e.what());
        } catch (const std::bad_alloc&) {
          slot.document.reset();
          slot.skip_reason = "out of memory while parsing";
        }
      }
      if (options.progress) {
        std::lock_guard lock(progress_mutex);
        options.progress(++done, total, file.relative);
      }
    }
  };

  unsigned threads = options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  threads = unsigned(std::min<size_t>(threads, std::max<size_t>(total, 1)));
  {
    std::vector<std::jthread> pool;
    pool.reserve(threads > 0 ? threads - 1 : 0);
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
    work();  // the calling thread is a worker too
  }

  CodeIngestResult result;
  result.stats.files = total;
  for (auto& skipped : walk.skipped)
    result.skipped.push_back(SkippedItem{(root_dir / skipped.path).generic_string(), std::move(skipped.reason)});
  for (size_t i = 0; i < total; ++i) {
    Slot& slot = slots[i];
    if (!slot.document) {
      result.skipped.push_back(SkippedItem{walk.files[i].path.generic_string(), std::move(slot.skip_reason)});
      continue;
    }
    Document& doc = *slot.document;
    result.stats.bytes += doc.source_bytes;
    result.stats.blocks += doc.blocks.size();
    if (doc.format == SourceFormat::code) ++result.stats.code_documents;
    else ++result.stats.text_documents;
    result.stats.symbols += slot.symbols;
    if (options.keep_outlines) result.outlines.push_back(slot.outline ? std::move(*slot.outline) : CodeOutline{});
    result.documents.push_back(std::move(doc));
  }
  result.stats.skipped = result.skipped.size();
  result.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

void add_to_corpus(CodeIngestResult&& result, Corpus& corpus) {
  for (auto& doc : result.documents) corpus.add(std::move(doc));
  for (auto& skipped : result.skipped) corpus.skip(std::move(skipped.source), std::move(skipped.reason));
  result.documents.clear();
  result.skipped.clear();
}

}  // namespace folio::ingest::code
