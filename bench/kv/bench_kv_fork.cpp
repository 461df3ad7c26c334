// bench_kv_fork: what forking a session's corpus KV costs, time and memory,
// with shared pages (kv::PagedCache::fork, what Session::fork does now) next
// to a full copy of every block into a fresh cache (what it did before),
// measured in the same run on the same cache.
//
//   bench_kv_fork [--tokens 1000,4000] [--layers 48] [--kv-heads 4] [--head-dim 128]
//                 [--forks 5] [--json FILE]
//
// Defaults are a Qwen3-30B-A3B-shaped cache (48 layers, 4 KV heads of 128; the
// CPU cache keeps f32 K/V plus block summaries).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/common/json.hpp"
#include "runtime/kv/paged_cache.hpp"

using namespace folio;
using clock_type = std::chrono::steady_clock;

namespace {

struct Options {
  std::vector<int64_t> tokens = {1000, 4000};
  int layers = 48, kv_heads = 4, head_dim = 128, forks = 5;
  std::string json;
};

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// The pre-sharing fork: every block read out and written into a new cache.
kv::PagedCache full_copy(const kv::PagedCache& src) {
  const kv::CacheConfig& cc = src.config();
  const int row = cc.n_kv_heads * cc.head_dim, B = kv::kBlockTokens;
  kv::PagedCache dst(cc);
  std::vector<float> k(size_t(B * row)), v(k.size());
  for (int l = 0; l < cc.n_layers; ++l)
    for (int64_t b = 0; b < src.n_blocks(l); ++b) {
      const int fill = src.block_fill(l, b);
      for (int g = 0; g < cc.n_kv_heads; ++g) {
        const float* kt = src.keys_t(l, b, g);
        const float* vs = src.values(l, b, g);
        for (int t = 0; t < fill; ++t)
          for (int d = 0; d < cc.head_dim; ++d) {
            k[size_t(t * row + g * cc.head_dim + d)] = kt[d * B + t];
            v[size_t(t * row + g * cc.head_dim + d)] = vs[t * cc.head_dim + d];
          }
      }
      dst.write(l, b * B, fill, k.data(), row, v.data(), row);
    }
  return dst;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--tokens") {
      o.tokens.clear();
      std::string s = next();
      for (size_t p = 0; p < s.size();) {
        const size_t q = std::min(s.find(',', p), s.size());
        o.tokens.push_back(std::stoll(s.substr(p, q - p)));
        p = q + 1;
      }
    } else if (a == "--layers") o.layers = std::stoi(next());
    else if (a == "--kv-heads") o.kv_heads = std::stoi(next());
    else if (a == "--head-dim") o.head_dim = std::stoi(next());
    else if (a == "--forks") o.forks = std::max(1, std::stoi(next()));
    else if (a == "--json") o.json = next();
    else {
      std::fprintf(stderr, "usage: %s [--tokens N,..] [--layers N] [--kv-heads N] [--head-dim N] [--forks N] [--json FILE]\n",
                   argv[0]);
      return 2;
    }
  }
  json::Array runs;
  for (const int64_t n : o.tokens) {
    kv::CacheConfig cc;
    cc.n_layers = o.layers;
    cc.n_kv_heads = o.kv_heads;
    cc.head_dim = o.head_dim;
    cc.max_tokens = n + 1024;
    const int row = cc.n_kv_heads * cc.head_dim;
    kv::PagedCache src(cc);
    std::vector<float> k(size_t(n) * size_t(row)), v(k.size());
    for (size_t i = 0; i < k.size(); ++i) {
      k[i] = float(i % 97) * 0.01f;
      v[i] = float(i % 89) * 0.01f;
    }
    for (int l = 0; l < cc.n_layers; ++l) src.write(l, 0, n, k.data(), row, v.data(), row);
    const size_t base = src.family_bytes();

    std::vector<double> copy_s, share_s;
    size_t copy_bytes = 0;
    for (int i = 0; i < o.forks; ++i) {
      const auto t0 = clock_type::now();
      const kv::PagedCache c = full_copy(src);
      copy_s.push_back(seconds_since(t0));
      copy_bytes = c.bytes_allocated();
    }
    std::vector<kv::PagedCache> forks;
    for (int i = 0; i < o.forks; ++i) {
      const auto t0 = clock_type::now();
      forks.push_back(src.fork());
      share_s.push_back(seconds_since(t0));
    }
    const size_t share_bytes = (src.family_bytes() - base) / size_t(o.forks);
    std::printf("%lld tokens, cache %.1f MiB: full copy %.1f ms and +%.1f MiB per fork; shared %.2f ms and +%.2f MiB "
                "per fork (%.0fx faster, %.0fx less memory)\n",
                (long long)n, double(base) / 1048576, median(copy_s) * 1e3, double(copy_bytes) / 1048576,
                median(share_s) * 1e3, double(share_bytes) / 1048576, median(copy_s) / median(share_s),
                double(copy_bytes) / double(std::max<size_t>(share_bytes, 1)));
    json::Object r;
    r.insert("tokens", double(n));
    r.insert("cache_bytes", double(base));
    r.insert("full_copy_s_median", median(copy_s));
    r.insert("full_copy_bytes_per_fork", double(copy_bytes));
    r.insert("shared_s_median", median(share_s));
    r.insert("shared_bytes_per_fork", double(share_bytes));
    runs.push_back(json::Value(std::move(r)));
  }
  if (!o.json.empty()) {
    json::Object top;
    top.insert("benchmark", "kv-fork");
    top.insert("layers", double(o.layers));
    top.insert("kv_heads", double(o.kv_heads));
    top.insert("head_dim", double(o.head_dim));
    top.insert("forks", double(o.forks));
    top.insert("runs", json::Value(std::move(runs)));
    std::ofstream(o.json) << json::serialize(json::Value(std::move(top)), 2) << "\n";
  }
  return 0;
}
