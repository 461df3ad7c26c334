// Code ingestion entry points: a source tree (or one file, or bytes in memory)
// becomes Documents, in parallel over files.
//
//   CodeIngestOptions options;                 // defaults: .gitignore honoured,
//   options.threads = 0;                       //   vendored/generated/minified/
//   auto result = ingest_code_tree("src", options);  //   binary files skipped
//   for (auto& s : result.skipped) std::cout << s.source << ": " << s.reason << "\n";
//   add_to_corpus(std::move(result), corpus);
//
// Per file: binary content is skipped; the language is detected from the name
// (and a shebang); generated and minified files are skipped by default; a
// supported language is parsed with tree-sitter into code units (code_document),
// anything else becomes plain text with line provenance (text_document). A parse
// that runs out of time or a file over the parser's size limit also falls back
// to plain text, with a note saying why. Every skipped file is listed with its
// reason; nothing is dropped silently.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/code/code_outline.hpp"
#include "ingest/code/code_parser.hpp"
#include "ingest/code/walk.hpp"
#include "ingest/corpus.hpp"
#include "ingest/document.hpp"

namespace folio::ingest::code {

struct CodeIngestOptions {
  WalkOptions walk;
  ParseLimits parse;
  Limits limits;               // Document limits (blocks, outline depth)
  bool skip_generated = true;  // file_checks.hpp: generated_reason
  bool skip_minified = true;   // file_checks.hpp: minified_reason
  bool text_fallback = true;   // unknown languages as plain text (false: skipped, "unsupported language")
  unsigned threads = 0;        // worker threads; 0 = all hardware threads
  bool keep_outlines = false;  // also return each file's CodeOutline (tests and tools)
  // Called after each file with (files done, files total, path); serialised.
  std::function<void(size_t, size_t, std::string_view)> progress;
  // Set to non-zero to stop early: remaining files are skipped as "cancelled".
  const std::atomic<size_t>* cancel = nullptr;
};

struct CodeIngestStats {
  size_t files = 0;            // files the walk offered
  size_t code_documents = 0;   // parsed with tree-sitter
  size_t text_documents = 0;   // plain-text fallback
  size_t skipped = 0;          // walk and content skips
  uint64_t bytes = 0;          // bytes of the documents produced
  size_t symbols = 0;          // definitions found
  size_t blocks = 0;
  double seconds = 0;          // wall time of the whole call
};

struct CodeIngestResult {
  std::vector<Document> documents;     // in walk order (sorted by path)
  std::vector<CodeOutline> outlines;   // parallel to documents when keep_outlines (text documents: no symbols)
  std::vector<SkippedItem> skipped;    // walk skips, then content skips, each sorted by path
  CodeIngestStats stats;
};

CodeIngestResult ingest_code_tree(const std::filesystem::path& root, const CodeIngestOptions& options = {});

// One file's bytes. `path` becomes Document::source, `display_path` the file
// anchor's title and the base of Python module names. Either `document` is set
// or `skip_reason` says why not. Throws Errc::cancelled when options.cancel is set.
struct CodeFileResult {
  std::optional<Document> document;
  std::optional<CodeOutline> outline;  // when parsed as code
  std::string skip_reason;
};
CodeFileResult ingest_code_bytes(std::string_view path, std::string_view display_path, std::string_view bytes,
                                 CodeParser& parser, const CodeIngestOptions& options = {});

// Moves the documents and skipped items into `corpus`.
void add_to_corpus(CodeIngestResult&& result, Corpus& corpus);

}  // namespace folio::ingest::code
