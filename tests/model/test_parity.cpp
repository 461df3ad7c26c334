// Numerical parity with Hugging Face transformers (fixtures in
// tests/data/parity/<name>/, format in the parity contract): convert the HF
// directory with `folio convert --outtype f32`, run every prompt with batched
// prefill, compare all logits, and compare the 32-token greedy continuation
// (decode_step path) token for token.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "runtime/backend/cpu/cpu_backend.hpp"
#include "runtime/common/json.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/model/model.hpp"
#include "runtime/sampling/sampler.hpp"

using namespace folio;
namespace fs = std::filesystem;

namespace {

std::vector<float> read_floats(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(bool(in), "cannot open " << p.string());
  in.seekg(0, std::ios::end);
  const auto size = size_t(in.tellg());
  in.seekg(0);
  std::vector<float> v(size / 4);
  in.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * 4));
  return v;
}

void check_parity(const std::string& name) {
  const fs::path dir = fs::path(FOLIO_TEST_DATA) / "parity" / name;
  const fs::path tmp = fs::temp_directory_path() / ("folio_parity_" + name + "_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  const fs::path gguf_path = tmp / (name + ".gguf");
  const std::string cmd = std::string(FOLIO_BINARY) + " convert " + dir.string() + " -o " + gguf_path.string() +
                          " --outtype f32 > " + (tmp / "convert.log").string() + " 2>&1";
  REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, "folio convert failed: see " << (tmp / "convert.log").string());

  const json::Value ref = json::parse_file(dir / "reference.json");
  const std::vector<float> bin = read_floats(dir / "reference.bin");
  const double tol = ref.find("tolerance") ? ref["tolerance"].as_double() : 1e-4;
  auto file = std::make_shared<const gguf::File>(gguf::File::open(gguf_path));
  auto be = cpu::make_cpu_backend({0});
  const model::Model m = model::Model::load(file, *be);
  const int64_t V = m.hparams().n_vocab;
  REQUIRE(ref["vocab_size"].as_int64() == V);

  std::vector<std::vector<int32_t>> prompts;
  std::vector<int64_t> expert_tokens(size_t(std::max(m.hparams().n_expert, 0)), 0);
  for (const json::Value& p : ref["prompts"].as_array()) {
    std::vector<int32_t> ids;
    for (const json::Value& t : p["ids"].as_array()) ids.push_back(int32_t(t.as_int64()));
    const int64_t P = p["n_positions"].as_int64();
    const auto off = size_t(p["logits_offset"].as_double());
    REQUIRE(P == int64_t(ids.size()));
    REQUIRE(off + size_t(P * V) <= bin.size());
    model::Session s(m, {P + 64, 512});
    const std::vector<float> got = s.prefill_all(ids);
    double mx = 0, err = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      mx = std::max(mx, std::fabs(double(bin[off + i])));
      err = std::max(err, std::fabs(double(got[i]) - double(bin[off + i])));
    }
    MESSAGE(name << " prompt of " << P << " tokens: max|dlogit| = " << err << ", max|logit| = " << mx
                 << ", ratio " << err / mx);
    CHECK(err / mx < tol);
    for (size_t e = 0; e < expert_tokens.size(); ++e) expert_tokens[e] += s.stats().tokens_per_expert[e];
    prompts.push_back(std::move(ids));
  }
  for (size_t e = 0; e < expert_tokens.size(); ++e) {
    INFO("expert " << e);
    CHECK(expert_tokens[e] > 0);  // the fixture routes tokens to every expert
  }
  for (const json::Value& g : ref["greedy"].as_array()) {
    const auto& ids = prompts.at(size_t(g["prompt"].as_int64()));
    std::vector<int32_t> want;
    for (const json::Value& t : g["tokens"].as_array()) want.push_back(int32_t(t.as_int64()));
    model::Session s(m, {int64_t(ids.size() + want.size()) + 8, 512});
    std::span<const float> logits = s.prefill(ids);
    std::vector<int32_t> got;
    for (size_t i = 0; i < want.size(); ++i) {
      got.push_back(sampling::argmax(logits));
      if (i + 1 < want.size()) logits = s.decode_step(got.back());
    }
    INFO(name << " greedy continuation of prompt " << g["prompt"].as_int64());
    CHECK(got == want);
  }
  fs::remove_all(tmp);
}

}  // namespace

TEST_CASE("parity with transformers: qwen3moe") { check_parity("qwen3moe"); }
TEST_CASE("parity with transformers: qwen3") { check_parity("qwen3"); }
