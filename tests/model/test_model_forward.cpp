// Model-level checks on make-tiny models: the batched forward against a double
// reference, prefill vs decode, chunking, weight types, thread counts,
// determinism of make-tiny, and errors that name the tensor.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/backend/cpu/cpu_backend.hpp"
#include "runtime/common/error.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/model/model.hpp"
#include "runtime/model/tiny_model.hpp"
#include "tests/model/reference_forward.hpp"

using namespace folio;

namespace {

// A parsed model kept alive with the bytes it points into.
struct InMemoryModel {
  std::shared_ptr<std::vector<std::byte>> bytes;
  std::shared_ptr<const gguf::File> file;
};

InMemoryModel make_model(const model::TinyConfig& c) {
  InMemoryModel m;
  m.bytes = std::make_shared<std::vector<std::byte>>(model::tiny_model_bytes(c));
  m.file = std::make_shared<const gguf::File>(gguf::File::parse(*m.bytes, "tiny-" + c.arch + ".gguf"));
  return m;
}

std::vector<int32_t> random_tokens(size_t n, int32_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = int32_t(rng() % uint64_t(vocab));
  return t;
}

// max |a - b| / max |b|
template <class A, class B>
double rel_diff(const A& a, const B& b) {
  REQUIRE(a.size() == b.size());
  double mx = 0, err = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    mx = std::max(mx, std::fabs(double(b[i])));
    err = std::max(err, std::fabs(double(a[i]) - double(b[i])));
  }
  return err / mx;
}

std::vector<float> run_all(const InMemoryModel& im, const std::vector<int32_t>& toks, int threads,
                           int64_t chunk = 512) {
  auto be = cpu::make_cpu_backend({threads});
  const model::Model m = model::Model::load(im.file, *be);
  model::Session s(m, {int64_t(toks.size()) + 8, chunk});
  return s.prefill_all(toks);
}

}  // namespace

TEST_CASE("batched forward matches a double-precision reference (qwen3moe, qwen3, llama)") {
  for (const char* arch : {"qwen3moe", "qwen3", "llama"}) {
    model::TinyConfig c = model::tiny_preset(arch, "tiny");
    c.seed = 42;
    const InMemoryModel im = make_model(c);
    const auto toks = random_tokens(150, 600, 3);
    const auto got = run_all(im, toks, 2);
    const auto want = test::ReferenceForward(*im.file).logits(toks);
    INFO(arch);
    CHECK(rel_diff(got, want) < 1e-5);
  }
}

TEST_CASE("prefill of a whole prompt equals token-by-token decode") {
  for (const char* arch : {"qwen3moe", "qwen3"}) {
    model::TinyConfig c = model::tiny_preset(arch, "tiny");
    c.seed = 5;
    const InMemoryModel im = make_model(c);
    const auto toks = random_tokens(140, 600, 9);
    auto be = cpu::make_cpu_backend({2});
    const model::Model m = model::Model::load(im.file, *be);
    model::Session batched(m, {256, 512});
    const auto all = batched.prefill_all(toks);
    model::Session stepped(m, {256, 512});
    const size_t V = size_t(m.hparams().n_vocab);
    double worst = 0;
    for (size_t t = 0; t < toks.size(); ++t) {
      const auto lg = stepped.decode_step(toks[t]);
      const std::vector<float> row(all.begin() + ptrdiff_t(t * V), all.begin() + ptrdiff_t((t + 1) * V));
      worst = std::max(worst, rel_diff(std::vector<float>(lg.begin(), lg.end()), row));
    }
    INFO(arch);
    CHECK(worst < 1e-5);
    CHECK(stepped.n_past() == int64_t(toks.size()));
    // prefill() returns the last row of prefill_all
    model::Session last(m, {256, 512});
    const auto lg = last.prefill(toks);
    CHECK(rel_diff(std::vector<float>(lg.begin(), lg.end()),
                   std::vector<float>(all.end() - ptrdiff_t(V), all.end())) < 1e-6);
  }
}

TEST_CASE("chunked prefill equals one batch; truncate rewinds the context") {
  model::TinyConfig c = model::tiny_preset("qwen3moe", "tiny");
  const InMemoryModel im = make_model(c);
  const auto toks = random_tokens(200, 600, 4);
  const auto one = run_all(im, toks, 2, 512);
  const auto chunked = run_all(im, toks, 2, 48);  // chunk boundaries inside KV blocks
  CHECK(rel_diff(chunked, one) < 1e-5);

  auto be = cpu::make_cpu_backend({2});
  const model::Model m = model::Model::load(im.file, *be);
  model::Session s(m, {256, 64});
  s.prefill(toks);
  s.truncate(100);
  const auto again = s.prefill_all(std::vector<int32_t>(toks.begin() + 100, toks.end()));
  CHECK(rel_diff(again, std::vector<float>(one.begin() + 100 * ptrdiff_t(m.hparams().n_vocab), one.end())) < 1e-5);
  CHECK_THROWS_WITH_AS(s.prefill(random_tokens(100, 600, 1)), doctest::Contains("context full"), Error);
}

TEST_CASE("thread counts give bit-identical logits") {
  model::TinyConfig c = model::tiny_preset("qwen3moe", "small");
  c.n_layers = 2;
  const InMemoryModel im = make_model(c);
  const auto toks = random_tokens(100, 600, 8);
  const auto t1 = run_all(im, toks, 1), t2 = run_all(im, toks, 2), t3 = run_all(im, toks, 3);
  CHECK(t1 == t2);
  CHECK(t1 == t3);
}

TEST_CASE("F16, BF16 and Q8_0 weights stay close to F32") {
  // The same seed gives the same f32 values, rounded to each type. A dense model:
  // in a MoE, rounding can flip a near-tie in the router and change the experts,
  // which is a legitimate, discontinuous difference.
  struct Case { backend::WeightType type; double tol; };
  const Case cases[] = {{backend::WeightType::f16, 2e-3}, {backend::WeightType::bf16, 2e-2},
                        {backend::WeightType::q8_0, 2e-2}};
  model::TinyConfig c = model::tiny_preset("qwen3", "tiny");
  const auto toks = random_tokens(80, 600, 6);
  const auto ref = run_all(make_model(c), toks, 2);
  for (const Case& k : cases) {
    c.type = k.type;
    const InMemoryModel im = make_model(c);
    const auto got = run_all(im, toks, 2);
    const double d = rel_diff(got, ref);
    MESSAGE(std::string(backend::weight_type_name(k.type)) << " vs f32: max|dlogit|/max|logit| = " << d);
    CHECK(d < k.tol);
    CHECK(d > 0.0);  // the type really changed the weights
    // and the backend agrees with the double reference on the dequantised weights
    CHECK(rel_diff(got, test::ReferenceForward(*im.file).logits(toks)) < 1e-5);
  }
  // MoE: each weight type agrees with the double reference on its own dequantised weights.
  model::TinyConfig moe = model::tiny_preset("qwen3moe", "tiny");
  for (const Case& k : cases) {
    moe.type = k.type;
    const InMemoryModel im = make_model(moe);
    INFO("qwen3moe " << backend::weight_type_name(k.type));
    CHECK(rel_diff(run_all(im, toks, 2), test::ReferenceForward(*im.file).logits(toks)) < 1e-5);
  }
}

TEST_CASE("make-tiny is deterministic: same seed, same bytes") {
  model::TinyConfig c = model::tiny_preset("qwen3moe", "tiny");
  c.seed = 123;
  const auto a = model::tiny_model_bytes(c), b = model::tiny_model_bytes(c);
  CHECK(a == b);
  c.seed = 124;
  CHECK(model::tiny_model_bytes(c) != a);
  // The CLI writes the same bytes as the library.
  const auto dir = std::filesystem::temp_directory_path() / ("folio_test_model_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "t.gguf";
  const std::string cmd = std::string(FOLIO_BINARY) + " make-tiny --arch qwen3moe --seed 123 -o " + path.string() +
                          " 2>/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(file.size() == a.size());
  CHECK(std::memcmp(file.data(), a.data(), a.size()) == 0);
  std::filesystem::remove_all(dir);
}

namespace {

// Rebuilds a model file, dropping `drop` and reshaping `reshape` to `shape`.
InMemoryModel edited(const InMemoryModel& src, const std::string& drop, const std::string& reshape,
                     std::vector<uint64_t> shape) {
  gguf::Writer w;
  for (const auto& [key, value] : src.file->metadata())
    if (key != "general.alignment") w.set(key, value);
  for (const auto& t : src.file->tensors()) {
    if (t.name == drop) continue;
    if (t.name == reshape) {
      uint64_t n = 1;
      for (auto s : shape) n *= s;
      std::vector<std::byte> data(gguf::tensor_bytes(t.type, n));
      w.add_tensor(t.name, shape, t.type, data);
    } else {
      w.add_tensor(t.name, t.shape, t.type, t.data);
    }
  }
  InMemoryModel m;
  m.bytes = std::make_shared<std::vector<std::byte>>(w.to_bytes());
  m.file = std::make_shared<const gguf::File>(gguf::File::parse(*m.bytes, "edited.gguf"));
  return m;
}

}  // namespace

TEST_CASE("missing or misshapen tensors are errors that name the tensor") {
  const InMemoryModel im = make_model(model::tiny_preset("qwen3moe", "tiny"));
  auto be = cpu::make_cpu_backend({1});
  CHECK_THROWS_WITH_AS(model::Model::load(edited(im, "blk.1.attn_k_norm.weight", "", {}).file, *be),
                       doctest::Contains("tensor 'blk.1.attn_k_norm.weight' is missing"), Error);
  CHECK_THROWS_WITH_AS(model::Model::load(edited(im, "", "blk.0.ffn_up_exps.weight", {64, 32, 7}).file, *be),
                       doctest::Contains("'blk.0.ffn_up_exps.weight' has shape [64, 32, 7]"), Error);
  // Tied output: no output.weight is fine (the embeddings are used).
  const model::Model tied = model::Model::load(edited(im, "output.weight", "", {}).file, *be);
  CHECK(tied.tied_output());
}
