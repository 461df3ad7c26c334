// libFuzzer target for the GGUF reader: any input either parses or throws
// folio::Error. When it parses, every typed getter and every tensor's data are
// exercised, so a bad bound that slipped through validation would be caught by
// ASan here.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/common/error.hpp"
#include "runtime/gguf/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace gguf = folio::gguf;
  try {
    const gguf::File f = gguf::File::parse(std::as_bytes(std::span(data, size)), "fuzz.gguf");
    for (const auto& [key, value] : f.metadata()) {
      try { (void)f.get_u64(key); } catch (const folio::Error&) {}
      try { (void)f.get_f64(key); } catch (const folio::Error&) {}
      try { (void)f.get_string(key); } catch (const folio::Error&) {}
      try { (void)f.get_string_array(key); } catch (const folio::Error&) {}
      try { (void)f.get_i64_array(key); } catch (const folio::Error&) {}
      try { (void)f.get_f64_array(key); } catch (const folio::Error&) {}
    }
    std::vector<float> row;
    for (const gguf::TensorInfo& t : f.tensors()) {
      if (f.find_tensor(t.name) != &t) __builtin_trap();
      // Dequantize the first and last (up to) 64 elements, whole q8_0 blocks.
      const uint64_t n = std::min<uint64_t>(t.n_elements, 64) / 32 * 32;
      row.assign(size_t(n), 0.0f);
      gguf::dequantize_row(t, 0, row);
      gguf::dequantize_row(t, t.n_elements - n - (t.n_elements - n) % 32, row);
    }
  } catch (const folio::Error&) {
  }
  return 0;
}
