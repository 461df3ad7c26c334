// model_fingerprint(gguf::File): compiled only when the GGUF reader is built.
#include <algorithm>
#include <string>
#include <vector>

#include "runtime/gguf/gguf.hpp"
#include "runtime/store/fingerprint.hpp"

namespace folio::store {

namespace {

// Feeds one metadata value in a canonical, type-tagged form.
void hash_value(Hasher& h, const gguf::Value& value) {
  h.u32(uint32_t(value.type));
  std::visit(
      [&h](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          h.field(v);
        } else if constexpr (std::is_same_v<T, std::shared_ptr<gguf::Array>>) {
          if (!v) {
            h.u64(0);
            return;
          }
          h.u32(uint32_t(v->element_type)).u64(v->items.size());
          for (const auto& item : v->items) hash_value(h, item);
        } else if constexpr (std::is_same_v<T, bool>) {
          h.u32(v ? 1 : 0);
        } else {
          // Integers and floats: their exact bytes, little-endian hosts only
          // (Folio's GGUF reader already requires one).
          h.update(std::as_bytes(std::span(&v, 1)));
        }
      },
      value.data);
}

void hash_tensor_bytes(Hasher& h, std::span<const std::byte> data, FingerprintMode mode) {
  constexpr size_t kWindow = 4096, kWindows = 20;
  if (mode == FingerprintMode::full || data.size() <= kWindow * kWindows) {
    h.field(data);
    return;
  }
  // Windows at evenly spaced offsets, always including the first and last.
  h.u64(data.size());
  for (size_t w = 0; w < kWindows; ++w) {
    const size_t offset = (data.size() - kWindow) * w / (kWindows - 1);
    h.update(data.subspan(offset, kWindow));
  }
}

}  // namespace

Hash128 model_fingerprint(const gguf::File& file, FingerprintMode mode) {
  Hasher h;
  h.update(mode == FingerprintMode::full ? "folio.model.gguf.full.v1" : "folio.model.gguf.sampled.v1");
  for (const auto& [key, value] : file.metadata()) {  // std::map: sorted by key
    const bool descriptive = key.rfind("general.", 0) == 0 && key != "general.architecture";
    if (descriptive) continue;
    h.field(key);
    hash_value(h, value);
  }
  std::vector<const gguf::TensorInfo*> tensors;
  for (const auto& t : file.tensors()) tensors.push_back(&t);
  std::sort(tensors.begin(), tensors.end(),
            [](const gguf::TensorInfo* a, const gguf::TensorInfo* b) { return a->name < b->name; });
  h.u64(tensors.size());
  for (const auto* t : tensors) {
    h.field(t->name).u32(uint32_t(t->type)).u64(t->shape.size());
    for (uint64_t d : t->shape) h.u64(d);
    hash_tensor_bytes(h, t->data, mode);
  }
  return h.digest();
}

}  // namespace folio::store
