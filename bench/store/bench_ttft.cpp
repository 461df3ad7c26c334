// bench_ttft: time to first token of a question over a corpus, prefilled from
// scratch vs restored from the store, on the CPU backend with a make-tiny model.
//
//   bench_ttft [--arch qwen3moe] [--size 0.5b|small|tiny] [--tokens 8192,32768]
//              [--question 64] [--threads 0] [--dir DIR] [--json FILE]
//
// For each corpus length N: a fresh session prefills N corpus tokens + the
// question and we time until the question's last-token logits exist (TTFT,
// prefill). The corpus KV is saved to a store. A new session then restores the
// corpus from the store (the database file dropped from the page cache first:
// a cold restore, as in a new process) and prefills only the question (TTFT,
// restore). The two sessions' logits are compared bit for bit. Tokens are
// fresh random ids; N is a multiple of 512 so both sessions run the question
// as the same batch.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/backend/cpu/cpu_backend.hpp"
#include "runtime/common/error.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/model/model.hpp"
#include "runtime/model/tiny_model.hpp"
#include "runtime/store/session_snapshot.hpp"

namespace fs = std::filesystem;
using namespace folio;
using clock_type = std::chrono::steady_clock;

namespace {

double since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

void drop_from_cache(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

std::vector<size_t> parse_list(const std::string& s) {
  std::vector<size_t> out;
  for (size_t at = 0; at <= s.size();) {
    const size_t comma = std::min(s.find(',', at), s.size());
    out.push_back(std::stoul(s.substr(at, comma - at)));
    at = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string arch = "qwen3moe", size = "0.5b", json;
  std::vector<size_t> lengths = {8192, 32768};
  size_t question = 64;
  int threads = 0;
  fs::path dir = fs::temp_directory_path();
  std::string command = argv[0];
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "bench_ttft: %s needs a value\n", a.c_str());
      return 2;
    }
    const std::string v = argv[++i];
    if (a == "--arch") arch = v;
    else if (a == "--size") size = v;
    else if (a == "--tokens") lengths = parse_list(v);
    else if (a == "--question") question = std::stoul(v);
    else if (a == "--threads") threads = std::stoi(v);
    else if (a == "--dir") dir = v;
    else if (a == "--json") json = v;
    else {
      std::fprintf(stderr, "bench_ttft: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  try {
    auto cfg = model::tiny_preset(arch, size);
    size_t max_len = 0;
    for (size_t n : lengths) {
      if (n % 512 != 0) folio::fail(Errc::invalid_argument, "--tokens must be multiples of 512");
      max_len = std::max(max_len, n);
    }
    cfg.context_length = int64_t(max_len + question + 64);
    auto t0 = clock_type::now();
    auto bytes = std::make_shared<std::vector<std::byte>>(model::tiny_model_bytes(cfg));
    auto file = std::make_shared<const gguf::File>(gguf::File::parse(*bytes, arch + "-" + size + ".gguf"));
    auto be = cpu::make_cpu_backend({.n_threads = threads});
    const auto m = model::Model::load(file, *be);
    const double make_s = since(t0);
    t0 = clock_type::now();
    const auto ctx = store::session_key_context(m);
    const double fingerprint_s = since(t0);
    const auto& hp = m.hparams();
    const size_t kv_bytes_per_token = size_t(hp.n_layers) * size_t(hp.n_kv_heads) * size_t(hp.head_dim) * 2 * 4;
    std::printf("model %s-%s: %.0fM params (%.0fM active), %d layers, %d kv heads x %d; %zu KV bytes/token (f32); "
                "%d threads; made in %.1f s, fingerprint (all %zu weight bytes) %.2f s\n",
                arch.c_str(), size.c_str(), double(hp.n_params(m.tied_output())) / 1e6,
                double(hp.n_active_params(m.tied_output())) / 1e6, hp.n_layers, hp.n_kv_heads, hp.head_dim,
                kv_bytes_per_token, cpu::cpu_backend_threads(*be), make_s, bytes->size(), fingerprint_s);

    std::mt19937_64 rng(std::random_device{}());
    std::string rows;
    for (size_t n : lengths) {
      std::vector<int32_t> toks(n + question);
      for (auto& t : toks) t = int32_t(rng() % uint64_t(hp.n_vocab));
      const fs::path db = dir / ("bench_ttft_" + std::to_string(n) + ".db");
      for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);

      model::Session fresh(m, model::SessionOptions(int64_t(n + question + 64)));
      t0 = clock_type::now();
      const auto fl = fresh.prefill(toks);
      const double ttft_prefill = since(t0);
      const std::vector<float> fresh_logits(fl.begin(), fl.end());

      double save_s = 0;
      uint64_t file_bytes = 0;
      {
        auto s = store::Store::open(db);
        t0 = clock_type::now();
        store::save_session(s, ctx, fresh, std::span(toks).first(n), {}, "bench corpus");
        save_s = since(t0);
        file_bytes = s.stats().file_bytes;
      }
      drop_from_cache(db);

      t0 = clock_type::now();
      auto s = store::Store::open(db);
      model::Session restored(m, model::SessionOptions(int64_t(n + question + 64)));
      const size_t done = store::restore_session(s, ctx, restored, toks, {});
      const double restore_s = since(t0);
      const auto rl = restored.prefill(std::span(toks).subspan(done));
      const double ttft_restore = since(t0);
      if (done != n) folio::fail(Errc::internal, "restored " + std::to_string(done) + " of " + std::to_string(n));
      const bool identical =
          rl.size() == fresh_logits.size() && std::memcmp(rl.data(), fresh_logits.data(), rl.size() * 4) == 0;
      const double gb = double(n) * double(kv_bytes_per_token) / 1e9;
      std::printf("%6zu tokens + %zu question: TTFT prefill %.2f s, restored %.3f s (restore %.3f s = %.2f GB/s) "
                  "-> %.1fx; save %.2f s; file %.0f MB (%.0f bytes/token); logits %s\n",
                  n, question, ttft_prefill, ttft_restore, restore_s, gb / restore_s, ttft_prefill / ttft_restore,
                  save_s, double(file_bytes) / 1e6, double(file_bytes) / double(n),
                  identical ? "bit-identical" : "DIFFER");
      char row[1024];
      std::snprintf(row, sizeof row,
                    "%s    {\"tokens\": %zu, \"question_tokens\": %zu, \"ttft_prefill_s\": %.4f, "
                    "\"ttft_restore_s\": %.4f, \"restore_s\": %.4f, \"restore_gbps\": %.3f, \"speedup\": %.2f, "
                    "\"save_s\": %.4f, \"file_bytes\": %llu, \"stored_bytes_per_token\": %.1f, "
                    "\"logits_bit_identical\": %s}",
                    rows.empty() ? "" : ",\n", n, question, ttft_prefill, ttft_restore, restore_s, gb / restore_s,
                    ttft_prefill / ttft_restore, save_s, (unsigned long long)file_bytes,
                    double(file_bytes) / double(n), identical ? "true" : "false");
      rows += row;
      for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
    }
    if (!json.empty()) {
      std::FILE* out = std::fopen(json.c_str(), "w");
      if (!out) folio::fail(Errc::io, json + ": cannot write");
      std::fprintf(out,
                   "{\n  \"benchmark\": \"store-ttft-cpu\",\n  \"command\": \"%s\",\n  \"model\": \"%s-%s\", "
                   "\"params\": %lld, \"active_params\": %lld, \"threads\": %d, \"kv_bytes_per_token\": %zu, "
                   "\"fingerprint_s\": %.3f,\n  \"runs\": [\n%s\n  ]\n}\n",
                   command.c_str(), arch.c_str(), size.c_str(), (long long)hp.n_params(m.tied_output()),
                   (long long)hp.n_active_params(m.tied_output()), cpu::cpu_backend_threads(*be), kv_bytes_per_token,
                   fingerprint_s, rows.c_str());
      std::fclose(out);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ttft: %s\n", e.what());
    return 1;
  }
  return 0;
}
