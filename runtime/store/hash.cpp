#include "runtime/store/hash.hpp"

#include <xxhash.h>

#include <cstring>

#include "runtime/common/error.hpp"

namespace folio::store {

namespace {

Hash128 from_xxh(XXH128_hash_t h) {
  // Canonical (big-endian) form, so the bytes and the hex agree with xxhsum.
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, h);
  Hash128 out;
  std::memcpy(out.bytes.data(), canonical.digest, 16);
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string Hash128::hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(32, '0');
  for (size_t i = 0; i < 16; ++i) {
    const auto b = std::to_integer<unsigned>(bytes[i]);
    out[2 * i] = kDigits[b >> 4];
    out[2 * i + 1] = kDigits[b & 15];
  }
  return out;
}

Hash128 Hash128::from_hex(std::string_view hex) {
  if (hex.size() != 32) fail(Errc::invalid_argument, "hash '" + std::string(hex) + "': expected 32 hex digits");
  Hash128 out;
  for (size_t i = 0; i < 16; ++i) {
    const int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) fail(Errc::invalid_argument, "hash '" + std::string(hex) + "': not hexadecimal");
    out.bytes[i] = std::byte(hi * 16 + lo);
  }
  return out;
}

Hash128 Hash128::from_bytes(std::span<const std::byte> bytes, std::string_view what) {
  if (bytes.size() != 16)
    fail(Errc::format, std::string(what) + ": expected a 16-byte hash, found " + std::to_string(bytes.size()) + " bytes");
  Hash128 out;
  std::memcpy(out.bytes.data(), bytes.data(), 16);
  return out;
}

Hash128 hash128(std::span<const std::byte> bytes) { return from_xxh(XXH3_128bits(bytes.data(), bytes.size())); }

uint64_t hash64(std::span<const std::byte> bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

struct Hasher::State {
  XXH3_state_t* xxh = nullptr;
  State() : xxh(XXH3_createState()) {
    if (!xxh) fail(Errc::out_of_memory, "XXH3_createState failed");
    XXH3_128bits_reset(xxh);
  }
  ~State() { XXH3_freeState(xxh); }
  State(const State&) = delete;
  State& operator=(const State&) = delete;
};

Hasher::Hasher() : state_(std::make_unique<State>()) {}
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

Hasher& Hasher::update(std::span<const std::byte> bytes) {
  if (!bytes.empty()) XXH3_128bits_update(state_->xxh, bytes.data(), bytes.size());
  return *this;
}

Hasher& Hasher::update(std::string_view text) { return update(std::as_bytes(std::span(text.data(), text.size()))); }

Hasher& Hasher::field(std::string_view text) { return u64(text.size()).update(text); }
Hasher& Hasher::field(std::span<const std::byte> bytes) { return u64(bytes.size()).update(bytes); }

Hasher& Hasher::u64(uint64_t v) {
  std::array<std::byte, 8> le;
  for (size_t i = 0; i < 8; ++i) le[i] = std::byte((v >> (8 * i)) & 0xff);
  return update(le);
}

Hasher& Hasher::u32(uint32_t v) {
  std::array<std::byte, 4> le;
  for (size_t i = 0; i < 4; ++i) le[i] = std::byte((v >> (8 * i)) & 0xff);
  return update(le);
}

Hash128 Hasher::digest() const { return from_xxh(XXH3_128bits_digest(state_->xxh)); }

}  // namespace folio::store
