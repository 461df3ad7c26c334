// Fuzzes the code path: arbitrary bytes parsed as each supported language, the
// outline turned into a Document (whose invariants are checked), the plain-text
// fallback, .gitignore parsing and matching, and the content checks.
//
// The first byte picks the mode; the rest is the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "ingest/code/code_document.hpp"
#include "ingest/code/code_parser.hpp"
#include "ingest/code/file_checks.hpp"
#include "ingest/code/gitignore.hpp"
#include "ingest/code/utf8.hpp"
#include "runtime/common/error.hpp"

using namespace folio::ingest;
using namespace folio::ingest::code;

namespace {

// An invariant broken by some input is a bug: crash so libFuzzer records it.
void expect(bool ok) {
  if (!ok) std::abort();
}

void check_document(const Document& doc, std::string_view source) {
  uint64_t cursor = 0;
  for (const Block& block : doc.blocks) {
    const auto* where = std::get_if<TextLocation>(&block.where);
    expect(where != nullptr);
    expect(where->byte_begin >= cursor && where->byte_begin <= where->byte_end && where->byte_end <= source.size());
    expect(where->line_begin <= where->line_end);
    expect(count_invalid_utf8(block.text) == 0);
    cursor = where->byte_end;
  }
  expect(!doc.outline.empty());
  for (const Anchor& anchor : doc.outline.anchors()) expect(anchor.block < doc.blocks.size());
}

void fuzz_language(Language language, std::string_view source) {
  ParseLimits limits;
  limits.max_symbol_depth = 8;  // reach the depth cap with small inputs
  CodeParser parser(limits);
  CodeOutline outline;
  try {
    outline = parser.parse("fuzz", source, language, {.module = "fuzz.mod"});
  } catch (const folio::Error& e) {
    // Only a time budget may stop a parse of a small input.
    expect(e.code() == folio::Errc::unsupported);
    return;
  }
  for (const CodeSymbol& s : outline.symbols) {
    expect(s.byte_begin <= s.byte_end && s.byte_end <= source.size());
    expect(s.line_begin <= s.line_end);
    expect(s.parent == kNoParent || s.parent < outline.symbols.size());
    expect(s.depth < limits.max_symbol_depth);
    expect(count_invalid_utf8(s.signature) == 0 && count_invalid_utf8(s.label) == 0);
  }
  check_document(code_document(outline, source, "fuzz/file"), source);
}

void fuzz_gitignore(std::string_view input) {
  // "<patterns>\0<path>"
  size_t split = input.find('\0');
  std::string_view patterns = input.substr(0, split);
  std::string_view path = split == std::string_view::npos ? std::string_view("a/b.c") : input.substr(split + 1);
  if (path.size() > 512) path = path.substr(0, 512);
  IgnoreFile file("", patterns, ".gitignore");
  const IgnoreFile* chain[] = {&file};
  IgnoreVerdict v = ignore_verdict(chain, path, path.ends_with("/"));
  expect(!v.ignored || v.pattern != nullptr);
  for (const IgnorePattern& p : file.patterns()) (void)glob_match(p.glob, path);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0] % (kLanguageCount + 3);
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode < kLanguageCount) {
    fuzz_language(Language(mode), input);
  } else if (mode == kLanguageCount) {
    check_document(text_document("fuzz", input, "fuzz"), input);
  } else if (mode == kLanguageCount + 1) {
    fuzz_gitignore(input);
  } else {
    (void)binary_reason(input);
    (void)minified_reason("fuzz.js", input);
    (void)generated_reason(input);
    std::string repaired = sanitized_utf8(input);
    expect(count_invalid_utf8(repaired) == 0);
    expect(utf8_floor(input, input.size() / 2) <= input.size() / 2);
  }
  return 0;
}
