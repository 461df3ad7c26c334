// bench_store: how fast the KV-snapshot store writes and restores the K/V of a
// prefilled stream, next to the disk's sequential read speed measured in the
// same run on the same file system.
//
//   bench_store [--dir DIR] [--tokens 8192,32768] [--layers 24] [--kv-heads 2]
//               [--head-dim 64] [--dtype-bytes 2] [--parts per-layer|per-block]
//               [--disk-mib 1024] [--repeat 3] [--page-size BYTES] [--mmap-mib N]
//               [--json FILE]
//
// Defaults are a Qwen2.5-0.5B-shaped cache (24 layers, 2 KV heads of 64, bf16):
// 12 KiB of K/V per token. Payloads are fresh random bytes. "Cold" reads come
// after the database file was flushed and dropped from the page cache
// (fdatasync + posix_fadvise DONTNEED), like the disk figure; "warm" reads
// come from the page cache.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "runtime/common/error.hpp"
#include "runtime/store/block_key.hpp"
#include "runtime/store/store.hpp"

namespace fs = std::filesystem;
using namespace folio::store;
using clock_type = std::chrono::steady_clock;

namespace {

struct Options {
  fs::path dir = fs::temp_directory_path();
  std::vector<size_t> tokens = {8192, 32768};
  size_t layers = 24, kv_heads = 2, head_dim = 64, dtype_bytes = 2;
  bool per_layer = true;
  size_t disk_mib = 1024;
  int repeat = 3;
  uint32_t page_size = 0;
  uint64_t mmap_bytes = 0;
  std::string json;
  StoreOptions store_options() const {
    StoreOptions so;
    so.page_size = page_size;
    so.mmap_bytes = mmap_bytes;
    return so;
  }
};

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

void fill_random(std::vector<std::byte>& buf, std::mt19937_64& rng) {
  for (size_t i = 0; i + 8 <= buf.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(buf.data() + i, &v, 8);
  }
}

// Flushes a file and asks the kernel to drop its cached pages.
void drop_from_cache(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// Sequential read speed of the disk under `dir`: a fresh random file, written,
// synced, dropped from the page cache and read back in 8 MiB reads. Also
// reports the write speed (write + fsync) of that file.
double disk_read_gbps(const fs::path& dir, size_t mib, std::mt19937_64& rng, double* write_gbps) {
  const fs::path path = dir / "bench_store_disk.tmp";
  std::vector<std::byte> buf(8 << 20);
  {
    std::vector<std::byte> data(mib << 20);
    fill_random(data, rng);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) folio::fail(folio::Errc::io, path.string() + ": cannot create");
    const auto t0 = clock_type::now();
    for (size_t at = 0; at < data.size(); at += buf.size())
      if (::write(fd, data.data() + at, buf.size()) != ssize_t(buf.size()))
        folio::fail(folio::Errc::io, "disk file write");
    ::fsync(fd);
    *write_gbps = double(data.size()) / seconds_since(t0) / 1e9;
    ::close(fd);
  }
  drop_from_cache(path);
  const int fd = ::open(path.c_str(), O_RDONLY);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  const auto t0 = clock_type::now();
  size_t total = 0;
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) total += size_t(n);
  const double s = seconds_since(t0);
  ::close(fd);
  fs::remove(path);
  return double(total) / s / 1e9;
}

struct Figures {
  size_t tokens = 0;
  uint64_t payload_bytes = 0;
  uint64_t file_bytes = 0;
  double write_s = 0, commit_s = 0, read_cold_s = 0, read_warm_s = 0, lookup_ms = 0;
};

Figures run_one(const Options& o, size_t n_tokens, std::mt19937_64& rng) {
  const fs::path db = o.dir / "bench_store.db";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
  const size_t n_blocks = n_tokens / kBlockTokens;
  // One (block, layer) part: K and V of all KV heads for 64 tokens.
  const size_t layer_bytes = o.kv_heads * o.head_dim * kBlockTokens * 2 * o.dtype_bytes;
  const size_t part_bytes = o.per_layer ? layer_bytes : layer_bytes * o.layers;
  const size_t parts_per_block = o.per_layer ? o.layers : 1;
  const Layout layout{1, "kv.bench;dtype_bytes=" + std::to_string(o.dtype_bytes)};

  std::vector<int32_t> toks(n_tokens);
  for (auto& t : toks) t = int32_t(rng() % 151000);
  const KeyContext ctx{hash128(std::as_bytes(std::span(toks))), attention_fingerprint("bench")};
  const auto keys = block_keys(ctx, toks, {});

  // The "cache": all K/V in memory, as a prefill leaves it.
  std::vector<std::byte> cache(n_blocks * parts_per_block * part_bytes);
  fill_random(cache, rng);

  Figures f;
  f.tokens = n_tokens;
  f.payload_bytes = cache.size();
  {
    auto store = Store::open(db, o.store_options());
    const auto t0 = clock_type::now();
    auto w = store.write(ctx.model, keys, "bench");
    for (size_t b = 0; b < n_blocks; ++b)
      for (size_t p = 0; p < parts_per_block; ++p)
        w.put(b, PartId::of(PartKind::kv, uint32_t(p)), layout,
              std::span(cache).subspan((b * parts_per_block + p) * part_bytes, part_bytes));
    const auto t1 = clock_type::now();
    w.commit();
    f.commit_s = seconds_since(t1);
    f.write_s = seconds_since(t0);
    f.file_bytes = store.stats().file_bytes;
  }  // closing checkpoints the WAL into the file

  std::vector<std::byte> restored(cache.size());
  auto restore_all = [&]() {
    auto store = Store::open(db, o.store_options());
    const auto t0 = clock_type::now();
    auto r = store.restore(ctx.model, keys);
    if (r.n_blocks() != n_blocks) folio::fail(folio::Errc::internal, "bench: snapshot not found");
    for (size_t b = 0; b < n_blocks; ++b)
      for (size_t p = 0; p < parts_per_block; ++p)
        if (r.read(b, PartId::of(PartKind::kv, uint32_t(p)), layout,
                   std::span(restored).subspan((b * parts_per_block + p) * part_bytes, part_bytes)) != ReadStatus::ok)
          folio::fail(folio::Errc::internal, "bench: a part did not verify");
    r.finish();
    return seconds_since(t0);
  };
  f.read_cold_s = 1e30;
  f.read_warm_s = 1e30;
  for (int i = 0; i < o.repeat; ++i) {
    drop_from_cache(db);
    f.read_cold_s = std::min(f.read_cold_s, restore_all());
    f.read_warm_s = std::min(f.read_warm_s, restore_all());
  }
  if (restored != cache) folio::fail(folio::Errc::internal, "bench: restored bytes differ");
  {
    auto store = Store::open(db, o.store_options());
    const auto t0 = clock_type::now();
    const size_t n = store.lookup(keys);
    f.lookup_ms = seconds_since(t0) * 1e3;
    if (n != n_blocks) folio::fail(folio::Errc::internal, "bench: lookup");
  }
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
  return f;
}

std::vector<size_t> parse_list(const std::string& s) {
  std::vector<size_t> out;
  size_t at = 0;
  while (at <= s.size()) {
    const size_t comma = std::min(s.find(',', at), s.size());
    out.push_back(std::stoul(s.substr(at, comma - at)));
    at = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string command = argv[0];
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_store: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--dir") o.dir = next();
    else if (a == "--tokens") o.tokens = parse_list(next());
    else if (a == "--layers") o.layers = std::stoul(next());
    else if (a == "--kv-heads") o.kv_heads = std::stoul(next());
    else if (a == "--head-dim") o.head_dim = std::stoul(next());
    else if (a == "--dtype-bytes") o.dtype_bytes = std::stoul(next());
    else if (a == "--parts") o.per_layer = next() == "per-layer";
    else if (a == "--disk-mib") o.disk_mib = std::stoul(next());
    else if (a == "--repeat") o.repeat = std::stoi(next());
    else if (a == "--json") o.json = next();
    else if (a == "--page-size") o.page_size = uint32_t(std::stoul(next()));
    else if (a == "--mmap-mib") o.mmap_bytes = uint64_t(std::stoull(next())) << 20;
    else {
      std::fprintf(stderr, "bench_store: unknown option %s (see the comment at the top of bench_store.cpp)\n", a.c_str());
      return 2;
    }
  }
  try {
    std::mt19937_64 rng(std::random_device{}());
    const size_t bytes_per_token = o.layers * o.kv_heads * o.head_dim * 2 * o.dtype_bytes;
    std::printf("cache shape: %zu layers x %zu kv heads x %zu dims x (K,V) x %zu bytes = %zu bytes/token; parts %s\n",
                o.layers, o.kv_heads, o.head_dim, o.dtype_bytes, bytes_per_token,
                o.per_layer ? "per (block, layer)" : "per block (all layers)");
    double disk_write = 0;
    const double disk = disk_read_gbps(o.dir, o.disk_mib, rng, &disk_write);
    std::printf("disk sequential read (%zu MiB, page cache dropped): %.2f GB/s; write+fsync %.2f GB/s\n", o.disk_mib,
                disk, disk_write);
    std::vector<Figures> all;
    for (size_t n : o.tokens) {
      const Figures f = run_one(o, n, rng);
      const double gb = double(f.payload_bytes) / 1e9;
      std::printf(
          "%6zu tokens: payload %.1f MB, file %.1f MB (%.0f bytes/token stored); write %.3f s (%.2f GB/s; "
          "commit %.3f s); restore cold %.3f s (%.2f GB/s = %.0f%% of disk), warm %.3f s (%.2f GB/s); lookup %.2f ms\n",
          n, gb * 1e3, double(f.file_bytes) / 1e6, double(f.file_bytes) / double(n), f.write_s, gb / f.write_s,
          f.commit_s, f.read_cold_s, gb / f.read_cold_s, 100 * gb / f.read_cold_s / disk, f.read_warm_s, gb / f.read_warm_s,
          f.lookup_ms);
      all.push_back(f);
    }
    if (!o.json.empty()) {
      std::FILE* out = std::fopen(o.json.c_str(), "w");
      if (!out) folio::fail(folio::Errc::io, o.json + ": cannot write");
      std::fprintf(out, "{\n  \"benchmark\": \"store\",\n  \"command\": \"%s\",\n", command.c_str());
      std::fprintf(out,
                   "  \"cache\": {\"layers\": %zu, \"kv_heads\": %zu, \"head_dim\": %zu, \"dtype_bytes\": %zu, "
                   "\"bytes_per_token\": %zu, \"parts\": \"%s\"},\n",
                   o.layers, o.kv_heads, o.head_dim, o.dtype_bytes, bytes_per_token,
                   o.per_layer ? "per-layer" : "per-block");
      std::fprintf(out, "  \"page_size\": %u, \"mmap_bytes\": %llu,\n", o.page_size ? o.page_size : kDefaultPageSize,
                   (unsigned long long)o.mmap_bytes);
      std::fprintf(out, "  \"disk_seq_read_gbps\": %.3f,\n  \"disk_seq_write_fsync_gbps\": %.3f,\n  \"runs\": [\n",
                   disk, disk_write);
      for (size_t i = 0; i < all.size(); ++i) {
        const auto& f = all[i];
        const double gb = double(f.payload_bytes) / 1e9;
        std::fprintf(out,
                     "    {\"tokens\": %zu, \"payload_bytes\": %llu, \"file_bytes\": %llu, "
                     "\"stored_bytes_per_token\": %.1f, \"write_s\": %.4f, \"commit_s\": %.4f, \"write_gbps\": %.3f, "
                     "\"restore_cold_s\": %.4f, \"restore_cold_gbps\": %.3f, \"restore_cold_vs_disk\": %.3f, "
                     "\"restore_warm_s\": %.4f, \"restore_warm_gbps\": %.3f, \"lookup_ms\": %.3f}%s\n",
                     f.tokens, (unsigned long long)f.payload_bytes, (unsigned long long)f.file_bytes,
                     double(f.file_bytes) / double(f.tokens), f.write_s, f.commit_s, gb / f.write_s, f.read_cold_s,
                     gb / f.read_cold_s, gb / f.read_cold_s / disk, f.read_warm_s, gb / f.read_warm_s, f.lookup_ms,
                     i + 1 < all.size() ? "," : "");
      }
      std::fprintf(out, "  ]\n}\n");
      std::fclose(out);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_store: %s\n", e.what());
    return 1;
  }
  return 0;
}
