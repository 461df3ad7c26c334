// Helpers shared by the store tests: temporary directories, deterministic
// random streams and payloads (regenerable from a seed, so a checker in another
// process can tell exactly what a snapshot must contain).
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "runtime/store/block_key.hpp"
#include "runtime/store/fingerprint.hpp"
#include "runtime/store/store.hpp"

namespace folio::store::test {

inline uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

inline uint64_t fresh_seed() { return (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}(); }

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("folio-store-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
             std::to_string(fresh_seed() % 1000000));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Random bytes determined by (seed, a, b).
inline std::vector<std::byte> payload(uint64_t seed, uint64_t a, uint64_t b, size_t n) {
  uint64_t s = seed ^ (a * 0x100000001b3ull) ^ (b << 40) ^ 0x5bd1e995ull;
  std::vector<std::byte> out(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = splitmix(s);
    std::memcpy(out.data() + i, &v, 8);
  }
  const uint64_t v = splitmix(s);
  std::memcpy(out.data() + i, &v, n - i);
  return out;
}

inline std::vector<int32_t> tokens(uint64_t seed, size_t n) {
  uint64_t s = seed;
  std::vector<int32_t> out(n);
  for (auto& t : out) t = int32_t(splitmix(s) % 151000);
  return out;
}

inline KeyContext context(uint64_t seed = 1) {
  const auto model_bytes = payload(seed, 7, 7, 64);
  const NamedBytes parts[] = {{"weights", model_bytes}};
  return {model_fingerprint(parts), attention_fingerprint("rope_base=1000000;kv=bf16;summary=mean+minmax")};
}

inline const Layout kKvLayout{1, "kv.test;layers=2;order=k,v"};
inline const Layout kSummaryLayout{1, "summary.test;mean"};

// Writes a snapshot of `keys` whose block b holds a kv part of `kv_bytes` and a
// summary part, both payload(seed, b, kind, ...). Blocks already stored are skipped.
inline void write_stream(Store& store, const KeyContext& ctx, const std::vector<Hash128>& keys, uint64_t seed,
                         size_t kv_bytes, const std::string& label = "test") {
  auto w = store.write(ctx.model, keys, label);
  for (size_t b = 0; b < keys.size(); ++b) {
    if (w.stored(b)) continue;
    w.put(b, PartId::of(PartKind::kv), kKvLayout, payload(seed, b, 1, kv_bytes));
    w.put(b, PartId::of(PartKind::summary), kSummaryLayout, payload(seed, b, 2, 256));
  }
  w.commit();
}

// Restores the prefix of `keys` and checks every byte against payload(seed,...).
// Returns the number of blocks restored and verified.
inline size_t restore_and_check(Store& store, const KeyContext& ctx, const std::vector<Hash128>& keys, uint64_t seed,
                                size_t kv_bytes, bool* content_ok = nullptr) {
  auto r = store.restore(ctx.model, keys);
  bool ok = true;
  std::vector<std::byte> kv(kv_bytes), summary(256);
  size_t b = 0;
  for (; b < r.n_blocks(); ++b) {
    if (r.read(b, PartId::of(PartKind::kv), kKvLayout, kv) != ReadStatus::ok) break;
    if (r.read(b, PartId::of(PartKind::summary), kSummaryLayout, summary) != ReadStatus::ok) break;
    ok = ok && kv == payload(seed, b, 1, kv_bytes) && summary == payload(seed, b, 2, 256);
  }
  r.finish();
  if (content_ok) *content_ok = ok;
  return b;
}

}  // namespace folio::store::test
