// Markdown and plain-text parsers (headings, numbering patterns, definitions)
// on arbitrary bytes. The first byte picks the parser.
#include <cstddef>
#include <cstdint>

#include "ingest/markdown.hpp"
#include "runtime/common/error.hpp"
#include "tests/fuzz/fuzz_ingest_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool text = data[0] & 1;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  folio::ingest::Limits limits;
  limits.max_line_bytes = 4096;
  limits.max_blocks = 2000;
  limits.max_depth = 8;
  try {
    folio::fuzz::check_document(text ? folio::ingest::parse_text(bytes, "fuzz.txt", limits)
                                     : folio::ingest::parse_markdown(bytes, "fuzz.md", limits));
  } catch (const folio::Error&) {
  }
  return 0;
}
