// Model fingerprints: the identity of the function that produced a KV cache.
//
// A fingerprint hashes the architecture, the hyper-parameters and the weights,
// so a snapshot made with one checkpoint is never restored into another (not
// even a re-quantisation of the same one). It is one input of every block key.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "runtime/store/hash.hpp"

namespace folio::gguf {
class File;
}

namespace folio::store {

struct NamedBytes {
  std::string_view name;
  std::span<const std::byte> bytes;
};

// Fingerprint of a model given as named parts (for example "config" holding the
// canonical hyper-parameter text and one entry per tensor). The order of `parts`
// does not matter; duplicate names are refused with folio::Error(invalid_argument).
Hash128 model_fingerprint(std::span<const NamedBytes> parts);

enum class FingerprintMode {
  // Every weight byte is hashed (XXH3 runs at memory speed; the cost is reading
  // the weights once, which a full load does anyway).
  full,
  // Metadata, every tensor's name/shape/type and 20 windows of each tensor's
  // bytes: milliseconds instead of a full read for large checkpoints. Detects
  // any change of shape or type and any re-quantisation or fine-tune in
  // practice, but not a change confined to unsampled bytes.
  sampled,
};

// Fingerprint of a GGUF model: general.architecture and every non-"general."
// metadata key (hyper-parameters, tokenizer, ...; names, licences and URLs do
// not change the computation and are left out), and every tensor (name, shape,
// type, bytes). Defined only when Folio is built with the GGUF reader.
Hash128 model_fingerprint(const gguf::File& file, FingerprintMode mode = FingerprintMode::full);

}  // namespace folio::store
