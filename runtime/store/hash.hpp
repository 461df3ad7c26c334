// 128-bit content hashes for the snapshot store (XXH3-128).
//
// XXH3 is fast (tens of GB/s, so checksumming a restored KV cache costs a small
// fraction of reading it) and its output is frozen by the xxHash 0.8 format, so
// keys written today stay valid. It is not a cryptographic hash: a store is a
// local cache of state the same user computed, not a trust boundary. A stored
// blob is never trusted because its key matched; its checksum and header are
// verified on every read.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace folio::store {

struct Hash128 {
  std::array<std::byte, 16> bytes{};

  friend bool operator==(const Hash128&, const Hash128&) = default;
  std::span<const std::byte> span() const noexcept { return bytes; }
  // 32 lowercase hex digits.
  std::string hex() const;
  // Parses 32 hex digits; throws folio::Error(invalid_argument) otherwise.
  static Hash128 from_hex(std::string_view hex);
  // Takes 16 bytes; throws folio::Error(format) naming `what` on another size.
  static Hash128 from_bytes(std::span<const std::byte> bytes, std::string_view what);
};

Hash128 hash128(std::span<const std::byte> bytes);
uint64_t hash64(std::span<const std::byte> bytes);

// Streaming XXH3-128 over many pieces: same result as hash128 of their
// concatenation.
class Hasher {
 public:
  Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  ~Hasher();

  Hasher& update(std::span<const std::byte> bytes);
  Hasher& update(std::string_view text);
  // Length-prefixed, so that ("ab","c") and ("a","bc") hash differently.
  Hasher& field(std::string_view text);
  Hasher& field(std::span<const std::byte> bytes);
  Hasher& u64(uint64_t v);  // little-endian, 8 bytes
  Hasher& u32(uint32_t v);  // little-endian, 4 bytes
  Hasher& hash(const Hash128& h) { return update(h.span()); }
  Hash128 digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace folio::store
