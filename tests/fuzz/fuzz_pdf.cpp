// PDF ingestion on a buffer: Poppler parses, our layout analysis structures.
// The PDF itself is Poppler's to survive; what this target watches is our
// glue and layout code on whatever Poppler hands back.
#include <cstddef>
#include <cstdint>

#include "ingest/pdf.hpp"
#include "runtime/common/error.hpp"
#include "tests/fuzz/fuzz_ingest_common.hpp"

// Poppler looks fonts up through fontconfig, which keeps a process-wide cache
// that LeakSanitizer reports at exit. It is not a leak per input (and not ours);
// everything else is still checked.
extern "C" const char* __lsan_default_suppressions() { return "leak:libfontconfig.so\n"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  folio::ingest::Limits limits;
  limits.max_pages = 64;
  limits.max_blocks = 20000;
  try {
    folio::fuzz::check_document(folio::ingest::parse_pdf(bytes, "fuzz.pdf", limits));
  } catch (const folio::Error&) {
  }
  return 0;
}
