#include "runtime/store/blob_format.hpp"

#include <cstring>

#include "runtime/common/error.hpp"

namespace folio::store {

namespace {

void put_u16(std::byte* p, uint16_t v) {
  for (size_t i = 0; i < 2; ++i) p[i] = std::byte((v >> (8 * i)) & 0xff);
}
void put_u32(std::byte* p, uint32_t v) {
  for (size_t i = 0; i < 4; ++i) p[i] = std::byte((v >> (8 * i)) & 0xff);
}
void put_u64(std::byte* p, uint64_t v) {
  for (size_t i = 0; i < 8; ++i) p[i] = std::byte((v >> (8 * i)) & 0xff);
}
uint64_t get_le(const std::byte* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t(std::to_integer<uint8_t>(p[i])) << (8 * i);
  return v;
}

}  // namespace

void validate_layout(const Layout& layout) {
  if (layout.descriptor.empty() || layout.descriptor.size() > kMaxLayoutBytes)
    fail(Errc::invalid_argument, "layout descriptor must be 1.." + std::to_string(kMaxLayoutBytes) +
                                     " bytes, got " + std::to_string(layout.descriptor.size()));
  for (char c : layout.descriptor)
    if (c < 0x20 || c > 0x7e) fail(Errc::invalid_argument, "layout descriptor must be printable ASCII");
}

std::vector<std::byte> encode_blob_header(const BlobHeader& header) {
  validate_layout(header.layout);
  if (header.payload_bytes > kMaxPayloadBytes)
    fail(Errc::invalid_argument, "part payload of " + std::to_string(header.payload_bytes) +
                                     " bytes exceeds the limit of " + std::to_string(kMaxPayloadBytes));
  const size_t layout_len = header.layout.descriptor.size();
  std::vector<std::byte> out(header.header_bytes());
  std::byte* p = out.data();
  std::memcpy(p, kBlobMagic, 4);
  put_u16(p + 4, kBlobFormatVersion);
  put_u16(p + 6, uint16_t(out.size()));
  put_u32(p + 8, header.part.kind);
  put_u32(p + 12, header.part.index);
  put_u32(p + 16, header.layout.version);
  put_u32(p + 20, uint32_t(layout_len));
  put_u64(p + 24, header.payload_bytes);
  std::memcpy(p + 32, header.block_key.bytes.data(), 16);
  std::memcpy(p + 48, header.model.bytes.data(), 16);
  std::memcpy(p + 64, header.payload_checksum.bytes.data(), 16);
  std::memcpy(p + 80, header.layout.descriptor.data(), layout_len);
  put_u64(p + 80 + layout_len, hash64(std::span(out.data(), 80 + layout_len)));
  return out;
}

BlobHeader parse_blob_header(std::span<const std::byte> bytes, uint64_t total_blob_bytes, std::string_view what) {
  const std::string where(what);
  auto bad = [&](Errc code, const std::string& problem) -> void { fail(code, where + ": " + problem); };
  if (bytes.size() > total_blob_bytes) bad(Errc::internal, "more header bytes than the blob holds");
  if (bytes.size() < kBlobFixedHeaderBytes)
    bad(Errc::format, "blob truncated: " + std::to_string(total_blob_bytes) + " bytes, a header needs at least " +
                          std::to_string(kBlobFixedHeaderBytes));
  const std::byte* p = bytes.data();
  if (std::memcmp(p, kBlobMagic, 4) != 0) bad(Errc::format, "not a Folio KV blob (bad magic)");
  const auto version = uint16_t(get_le(p + 4, 2));
  if (version != kBlobFormatVersion)
    bad(Errc::unsupported, "blob format version " + std::to_string(version) + " (this build reads version " +
                               std::to_string(kBlobFormatVersion) + ")");
  const auto layout_len = get_le(p + 20, 4);
  if (layout_len == 0 || layout_len > kMaxLayoutBytes)
    bad(Errc::format, "layout descriptor length " + std::to_string(layout_len) + " out of range 1.." +
                          std::to_string(kMaxLayoutBytes));
  const uint64_t header_bytes = kBlobFixedHeaderBytes + layout_len;
  if (get_le(p + 6, 2) != header_bytes)
    bad(Errc::format, "header size field " + std::to_string(get_le(p + 6, 2)) + " disagrees with layout length");
  if (bytes.size() < header_bytes)
    bad(Errc::format, "blob truncated inside its header (" + std::to_string(bytes.size()) + " of " +
                          std::to_string(header_bytes) + " bytes)");
  const uint64_t stored_check = get_le(p + 80 + layout_len, 8);
  if (hash64(bytes.first(80 + layout_len)) != stored_check) bad(Errc::corrupt, "header checksum mismatch");

  BlobHeader h;
  h.part = {uint32_t(get_le(p + 8, 4)), uint32_t(get_le(p + 12, 4))};
  h.layout.version = uint32_t(get_le(p + 16, 4));
  h.layout.descriptor.assign(reinterpret_cast<const char*>(p + 80), layout_len);
  for (char c : h.layout.descriptor)
    if (c < 0x20 || c > 0x7e) bad(Errc::format, "layout descriptor is not printable ASCII");
  h.payload_bytes = get_le(p + 24, 8);
  if (h.payload_bytes > kMaxPayloadBytes)
    bad(Errc::format, "payload size " + std::to_string(h.payload_bytes) + " exceeds the limit");
  if (header_bytes + h.payload_bytes != total_blob_bytes)
    bad(Errc::format, "blob is " + std::to_string(total_blob_bytes) + " bytes but its header declares " +
                          std::to_string(header_bytes + h.payload_bytes) + " (truncated or extended)");
  std::memcpy(h.block_key.bytes.data(), p + 32, 16);
  std::memcpy(h.model.bytes.data(), p + 48, 16);
  std::memcpy(h.payload_checksum.bytes.data(), p + 64, 16);
  return h;
}

std::span<const std::byte> decode_blob(std::span<const std::byte> blob, std::string_view what,
                                       BlobHeader* header_out) {
  const auto prefix = blob.first(std::min<size_t>(blob.size(), kMaxBlobHeaderBytes));
  BlobHeader h = parse_blob_header(prefix, blob.size(), what);
  const auto payload = blob.subspan(h.header_bytes());
  if (hash128(payload) != h.payload_checksum) fail(Errc::corrupt, std::string(what) + ": payload checksum mismatch");
  if (header_out) *header_out = std::move(h);
  return payload;
}

}  // namespace folio::store
