// Shared set-up of the SDK tests: a tiny random-weight model and a small mixed
// corpus (contract in Markdown, a negotiation call in WebVTT, a Python file)
// copied from examples/contract_review/sample into a fresh directory.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "folio/folio.hpp"
#include "runtime/model/tiny_model.hpp"

namespace folio::test {

inline std::filesystem::path fresh_dir(const std::string& name) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("folio-sdk-" + name + "-" + std::to_string(rd()) + "-" + std::to_string(counter++));
  std::filesystem::create_directories(dir);
  return dir;
}

struct SdkFixture {
  std::filesystem::path dir = fresh_dir("t");
  std::filesystem::path model = dir / "tiny.gguf";
  std::filesystem::path contract = dir / "master_services_agreement.md";
  std::filesystem::path call = dir / "negotiation_call.vtt";
  std::filesystem::path code = dir / "invoice_check.py";

  explicit SdkFixture(int64_t context = 4096) {
    model::TinyConfig c = model::tiny_preset("qwen3moe", "tiny");
    c.context_length = context;
    c.seed = 11;
    model::write_tiny_model(c, model);
    const std::filesystem::path sample = std::filesystem::path(FOLIO_SOURCE_DIR) / "examples/contract_review/sample";
    for (const auto& f : {contract, call, code}) std::filesystem::copy_file(sample / f.filename(), f);
  }
  ~SdkFixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  EngineOptions engine_options(const std::string& store = "") const {
    EngineOptions o;
    o.model_path = model.string();
    o.threads = 1;
    o.store_path = store;
    return o;
  }
  Corpus mixed_corpus(Engine& e) const {
    Corpus c = e.corpus();
    c.add_path(contract.string());
    c.add_path(call.string());
    c.add_path(code.string());
    return c;
  }
};

inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f << bytes;
}

}  // namespace folio::test
