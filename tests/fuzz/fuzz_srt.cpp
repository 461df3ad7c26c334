// SRT parser on arbitrary bytes.
#include <cstddef>
#include <cstdint>

#include "ingest/transcript.hpp"
#include "runtime/common/error.hpp"
#include "tests/fuzz/fuzz_ingest_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  folio::ingest::Limits limits;
  limits.max_line_bytes = 4096;  // small limits reach the limit paths too
  limits.max_blocks = 2000;
  try {
    folio::fuzz::check_document(folio::ingest::parse_srt(bytes, "fuzz.srt", limits));
  } catch (const folio::Error&) {
  }
  return 0;
}
