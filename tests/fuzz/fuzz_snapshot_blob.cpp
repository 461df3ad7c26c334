// Fuzzes the snapshot blob decoder (runtime/store/blob_format.hpp): the header
// parser that every part read from a store goes through, whatever the bytes on
// disk became. Properties: never crashes or reads out of bounds; only
// folio::Error escapes; a blob that decodes re-encodes to the same header bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "runtime/common/error.hpp"
#include "runtime/store/blob_format.hpp"

using namespace folio::store;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  // 1. The input as a whole stored blob.
  try {
    BlobHeader h;
    const auto payload = decode_blob(bytes, "fuzz", &h);
    const auto header = encode_blob_header(h);
    if (header.size() != h.header_bytes() || header.size() + payload.size() != size ||
        std::memcmp(header.data(), data, header.size()) != 0)
      __builtin_trap();
  } catch (const folio::Error&) {
  }
  // 2. The first bytes as a header read through incremental blob I/O, with the
  // stored value's size taken from the input's last 4 bytes (any claim).
  if (size >= 4) {
    uint32_t claimed = 0;
    std::memcpy(&claimed, data + size - 4, 4);
    const auto prefix = bytes.first(std::min<size_t>(size - 4, kMaxBlobHeaderBytes));
    try {
      const BlobHeader h = parse_blob_header(prefix, std::max<uint64_t>(claimed, prefix.size()), "fuzz");
      if (h.header_bytes() > prefix.size()) __builtin_trap();
    } catch (const folio::Error&) {
    }
  }
  // 3. The input with a valid header checksum patched in, so that the fields
  // behind the checksum (sizes, layout text, payload checksum) are reached by
  // mutations too, not only by the seeds.
  if (size >= kBlobFixedHeaderBytes) {
    std::vector<std::byte> patched(bytes.begin(), bytes.end());
    uint32_t layout_len = 0;
    std::memcpy(&layout_len, data + 20, 4);
    if (layout_len <= kMaxLayoutBytes && 88 + size_t(layout_len) <= size) {
      const uint64_t check = hash64(std::span(patched).first(80 + layout_len));
      std::memcpy(patched.data() + 80 + layout_len, &check, 8);  // little-endian host
    }
    try {
      BlobHeader h;
      const auto payload = decode_blob(patched, "fuzz", &h);
      if (h.header_bytes() + payload.size() != size) __builtin_trap();
    } catch (const folio::Error&) {
    }
  }
  return 0;
}
