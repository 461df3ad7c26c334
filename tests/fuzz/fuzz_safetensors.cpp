// libFuzzer target for the safetensors reader used by `folio convert`: any
// input either parses or throws folio::Error; every tensor a parsed file
// declares must be readable within the input (ASan checks the bounds).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/common/error.hpp"
#include "runtime/convert/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace st = folio::safetensors;
  try {
    const st::File f = st::File::parse(std::as_bytes(std::span(data, size)), "fuzz.safetensors");
    std::vector<float> row;
    for (const st::Tensor& t : f.tensors()) {
      if (f.find(t.name) != &t) __builtin_trap();
      volatile std::byte sink{0};
      for (std::byte b : t.data) sink = sink ^ b;
      const uint64_t n = std::min<uint64_t>(t.n_elements, 64);
      row.assign(size_t(n), 0.0f);
      try {
        st::to_f32(t, t.n_elements - n, row);
      } catch (const folio::Error&) {
      }
    }
  } catch (const folio::Error&) {
  }
  return 0;
}
