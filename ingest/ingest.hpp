// Entry points of ingestion: files, directories and buffers of any supported
// kind become Documents in a Corpus.
//
//   Corpus corpus;
//   IngestOptions options;
//   add_path(corpus, "contracts/", options);   // PDFs, transcripts, Markdown, code
//   TokenStream stream = assemble(corpus, tokenizer);
//
// Document formats are recognised by extension (.pdf, .vtt, .srt, .md /
// .markdown, .txt / .text / .log; text that reads as a speaker log is a transcript).
// Everything else in a directory goes to code ingestion (ingest/code/: tree-
// sitter, .gitignore, vendored/binary/generated skips) when it is built, or is
// read as plain text otherwise. A file that cannot be ingested (damaged,
// encrypted, too large, binary) is added to Corpus::skipped() with the reason;
// with `strict`, the error is thrown instead.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ingest/corpus.hpp"
#include "ingest/document.hpp"
#include "ingest/pdf.hpp"

namespace folio::ingest {

struct IngestOptions {
  Limits limits;
  PdfOptions pdf;
  bool strict = false;         // throw on the first file that fails instead of skipping it
  bool include_code = true;    // directories: also ingest source code (when built with ingest/code)
  unsigned threads = 0;        // code ingestion workers; 0 = all hardware threads
  // Called after each file or skipped entry with a running count, the total
  // when known (0 otherwise) and the item; the CLI draws its progress from it.
  std::function<void(size_t done, size_t total, std::string_view item)> progress;
};

// Whether this build includes code ingestion (ingest/code/, tree-sitter).
bool code_ingestion_available() noexcept;

// The document format a file name suggests, or nullopt (code / unknown).
std::optional<SourceFormat> format_for_path(const std::filesystem::path& path);

// Parses bytes as `format` ("text" with a speaker-log look becomes a transcript).
Document parse_buffer(std::string_view bytes, std::string source, SourceFormat format, const IngestOptions& options = {});

// Ingests one file (any format; code when built) into a Document. Throws on failure.
Document ingest_file(const std::filesystem::path& path, const IngestOptions& options = {});

// Adds a file or a directory tree to the corpus; failures become skipped items
// unless options.strict. Returns the number of documents added.
size_t add_path(Corpus& corpus, const std::filesystem::path& path, const IngestOptions& options = {});

}  // namespace folio::ingest
