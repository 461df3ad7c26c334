// Parses one source file with tree-sitter and extracts its outline: namespaces,
// types and functions with qualified names, signatures and line/byte ranges.
//
// A CodeParser owns one tree-sitter parser and is NOT thread-safe; use one per
// thread (CodeTreeIngester does). Input is hostile: the size is bounded, the
// parse has a time budget and an optional cancellation flag, deep nesting is
// walked without recursion, and symbol depth and count are capped (what a cap
// leaves out is counted in CodeOutline::notes, and its text stays in the parent
// unit).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ingest/code/code_outline.hpp"
#include "ingest/code/language.hpp"

namespace folio::ingest::code {

struct ParseLimits {
  uint64_t max_file_bytes = uint64_t(4) << 20;  // larger files are refused (the walk skips them)
  uint16_t max_symbol_depth = 32;               // deeper definitions stay text of their parent
  uint32_t max_symbols = 200000;                // per file; the rest stay text of their parent
  size_t max_signature_bytes = 512;             // longer signatures end in "…" (the unit text is whole)
  // Parse time budget (wall clock): base + per_mib * size, rounded up to whole
  // seconds (see code_parser.cpp for why). It stops pathological inputs, not
  // slow machines: tree-sitter parses ~5-10 MB/s, so the budget leaves a wide
  // margin for a loaded host. A parse over budget fails with Errc::unsupported
  // (the ingester then keeps the file as plain text, with a note).
  std::chrono::milliseconds parse_timeout_base{5000};
  std::chrono::milliseconds parse_timeout_per_mib{5000};
};

struct ParseOptions {
  // Prefix of qualified names for languages whose module is named by the file's
  // location (Python: "email.mime.text"). Java and Go take theirs from the
  // package declaration in the source; C, C++, Rust, JS and TS need none.
  std::string module;
  // Set to non-zero (by another thread) to abandon the parse: Errc::cancelled.
  const std::atomic<size_t>* cancel = nullptr;
};

class CodeParser {
 public:
  explicit CodeParser(ParseLimits limits = {});
  ~CodeParser();
  CodeParser(const CodeParser&) = delete;
  CodeParser& operator=(const CodeParser&) = delete;
  CodeParser(CodeParser&&) noexcept;
  CodeParser& operator=(CodeParser&&) noexcept;

  // Parses `source` (the bytes of `path`) as `language`. Throws folio::Error:
  //   Errc::invalid_argument  source larger than limits.max_file_bytes
  //   Errc::unsupported       parse exceeded its time budget
  //   Errc::cancelled         options.cancel was set
  //   Errc::internal          tree-sitter refused the grammar (ABI mismatch)
  // Syntax errors are not failures: tree-sitter recovers, and the outline holds
  // what it found plus a note.
  CodeOutline parse(std::string_view path, std::string_view source, Language language,
                    const ParseOptions& options = {});

  const ParseLimits& limits() const noexcept { return limits_; }

 private:
  struct Impl;
  ParseLimits limits_;
  std::unique_ptr<Impl> impl_;
};

// "email/mime/text.py" -> "email.mime.text"; "pkg/__init__.py" -> "pkg";
// "setup.py" -> "setup"; "/abs/path/tool.py" -> "tool" (an absolute path names
// no package). Components that are not identifiers are kept as written.
std::string python_module_name(std::string_view relative_path);

}  // namespace folio::ingest::code
