// Plain speaker-log transcripts ("[hh:mm:ss] Speaker: text") and their sniffing,
// plus the timestamp parser on the first line.
#include <cstddef>
#include <cstdint>

#include "ingest/transcript.hpp"
#include "runtime/common/error.hpp"
#include "tests/fuzz/fuzz_ingest_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)folio::ingest::looks_like_plain_transcript(bytes);
  (void)folio::ingest::parse_timestamp(bytes.substr(0, bytes.find('\n')));
  folio::ingest::Limits limits;
  limits.max_line_bytes = 4096;
  limits.max_blocks = 2000;
  try {
    folio::fuzz::check_document(folio::ingest::parse_plain_transcript(bytes, "fuzz.log", limits));
  } catch (const folio::Error&) {
  }
  return 0;
}
