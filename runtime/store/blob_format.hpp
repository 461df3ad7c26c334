// The self-describing format of one stored payload ("part") of a KV block.
//
// Every part blob starts with a header that says what the bytes are, how they
// are laid out, which block and model they belong to, and their checksum, so a
// blob is verifiable on its own: a blob that was damaged on disk, truncated,
// moved to another row, written by another model or in another layout is
// refused by the reader. All integers are little-endian.
//
//   offset  size  field
//        0     4  magic "FKVB"
//        4     2  format version (1)
//        6     2  header size in bytes (88 + layout length)
//        8     4  part kind (PartKind or an application value)
//       12     4  part index (e.g. the layer)
//       16     4  layout version
//       20     4  layout descriptor length L (1..kMaxLayoutBytes)
//       24     8  payload size in bytes
//       32    16  block key
//       48    16  model fingerprint
//       64    16  XXH3-128 of the payload
//       80     L  layout descriptor: printable ASCII, e.g.
//                 "kv.f32;layers=24;kv_heads=2;head_dim=64;order=kT,v"
//     80+L     8  XXH3-64 of bytes [0, 80+L): the header checksum
//     88+L     …  payload
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/store/hash.hpp"

namespace folio::store {

// Well-known part kinds. Applications may use other values.
enum class PartKind : uint32_t { kv = 1, summary = 2, anchors = 3 };

struct PartId {
  uint32_t kind = 0;
  uint32_t index = 0;
  friend bool operator==(const PartId&, const PartId&) = default;
  static PartId of(PartKind kind, uint32_t index = 0) { return {uint32_t(kind), index}; }
};

// How a payload's bytes are arranged, as the writer declared it. A reader
// passes the layout it expects; anything else is a mismatch.
struct Layout {
  uint32_t version = 0;
  std::string descriptor;
  friend bool operator==(const Layout&, const Layout&) = default;
};

inline constexpr char kBlobMagic[4] = {'F', 'K', 'V', 'B'};
inline constexpr uint16_t kBlobFormatVersion = 1;
inline constexpr size_t kBlobFixedHeaderBytes = 88;
inline constexpr size_t kMaxLayoutBytes = 1024;
inline constexpr size_t kMaxBlobHeaderBytes = kBlobFixedHeaderBytes + kMaxLayoutBytes;
// SQLite's default limit on one value is 1e9 bytes; a part is one block (64
// tokens) of one layer or of all layers, far below it.
inline constexpr uint64_t kMaxPayloadBytes = 900'000'000;

struct BlobHeader {
  PartId part;
  Layout layout;
  uint64_t payload_bytes = 0;
  Hash128 block_key;
  Hash128 model;
  Hash128 payload_checksum;

  size_t header_bytes() const noexcept { return kBlobFixedHeaderBytes + layout.descriptor.size(); }
};

// Throws folio::Error(invalid_argument) for an empty, too long or non-printable
// descriptor.
void validate_layout(const Layout& layout);

// The header bytes for `header` (its header checksum computed here).
std::vector<std::byte> encode_blob_header(const BlobHeader& header);

// Parses and checks the header at the start of `bytes` (the whole blob or at
// least its first min(total, kMaxBlobHeaderBytes) bytes). `total_blob_bytes` is
// the size of the stored value: header plus payload must equal it exactly.
// Throws folio::Error(format|corrupt) with a message starting with `what`.
BlobHeader parse_blob_header(std::span<const std::byte> bytes, uint64_t total_blob_bytes, std::string_view what);

// Parses a whole blob held in memory and verifies the payload checksum; returns
// the payload (a view into `blob`).
std::span<const std::byte> decode_blob(std::span<const std::byte> blob, std::string_view what,
                                       BlobHeader* header_out = nullptr);

}  // namespace folio::store
