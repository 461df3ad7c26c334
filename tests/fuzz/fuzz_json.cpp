// libFuzzer target for the strict JSON parser: any input either parses or
// throws folio::Error; a parsed value must serialize and re-parse to itself.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace json = folio::json;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  json::ParseOptions options;
  options.max_depth = 64;
  try {
    const json::Value v = json::parse(text, "fuzz", options);
    const std::string again = json::serialize(v);
    const json::Value w = json::parse(again, "fuzz-reparse", options);
    if (!(v == w)) __builtin_trap();
    (void)json::serialize(v, 2);
  } catch (const folio::Error&) {
  }
  return 0;
}
