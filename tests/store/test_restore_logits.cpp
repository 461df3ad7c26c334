// End to end on the CPU backend: a session restored from the store produces
// bit-identical logits to a session that prefilled everything itself.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include "runtime/backend/cpu/cpu_backend.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/model/model.hpp"
#include "runtime/model/tiny_model.hpp"
#include "runtime/store/session_snapshot.hpp"
#include "store_test_util.hpp"

using namespace folio;
using namespace folio::store;
using namespace folio::store::test;

namespace {

struct TinyModel {
  std::shared_ptr<std::vector<std::byte>> bytes;
  std::shared_ptr<const gguf::File> file;
  std::unique_ptr<backend::Backend> backend;
  std::unique_ptr<model::Model> model;
};

TinyModel load_tiny(const std::string& arch, uint64_t seed) {
  auto cfg = model::tiny_preset(arch, "tiny");
  cfg.seed = seed;
  TinyModel m;
  m.bytes = std::make_shared<std::vector<std::byte>>(model::tiny_model_bytes(cfg));
  m.file = std::make_shared<const gguf::File>(gguf::File::parse(*m.bytes, "tiny-" + arch + ".gguf"));
  m.backend = cpu::make_cpu_backend({.n_threads = 2});
  m.model = std::make_unique<model::Model>(model::Model::load(m.file, *m.backend));
  return m;
}

}  // namespace

TEST_CASE("session restore: bit-identical logits to a fresh prefill, then identical decoding") {
  // Sparse attention scores blocks by their summaries: restored summaries must
  // be the same bits too for the plans (and so the logits) to agree.
  attn::SparseConfig sparse;
  sparse.window_tokens = 128;
  sparse.topk_blocks = 2;
  const struct {
    std::string arch;
    std::optional<attn::SparseConfig> sparse;
  } cases[] = {{"qwen3moe", std::nullopt}, {"qwen3", std::nullopt}, {"qwen3moe", sparse}};
  for (const auto& [arch, sparse_config] : cases) {
    CAPTURE(arch);
    CAPTURE(sparse_config.has_value());
    const model::SessionOptions options(1024, 512, sparse_config);
    const uint64_t seed = fresh_seed();
    INFO("seed " << seed);
    TempDir dir;
    auto m = load_tiny(arch, 1);
    const auto ctx = session_key_context(*m.model);
    uint64_t s = seed;
    std::vector<int32_t> toks(64 * 6 + 23);
    for (auto& t : toks) t = int32_t(splitmix(s) % uint64_t(m.model->hparams().n_vocab));
    const auto corpus = std::span(toks).first(64 * 6), question = std::span(toks).subspan(64 * 6);

    // Fresh: prefill the corpus, then the question.
    model::Session fresh(*m.model, options);
    fresh.prefill(corpus);
    const auto fresh_logits_span = fresh.prefill(question);
    const std::vector<float> fresh_logits(fresh_logits_span.begin(), fresh_logits_span.end());
    auto store = Store::open(dir / "kv.db");
    CHECK(save_session(store, ctx, fresh, toks, {}, "tiny corpus") == 6);

    // Restored: the corpus comes from the store, only the question is prefilled.
    model::Session restored(*m.model, options);
    REQUIRE(restore_session(store, ctx, restored, toks, {}) == 64 * 6);
    CHECK(restored.n_past() == 64 * 6);
    const auto restored_logits = restored.prefill(question);
    REQUIRE(restored_logits.size() == fresh_logits.size());
    CHECK(std::memcmp(restored_logits.data(), fresh_logits.data(), fresh_logits.size() * sizeof(float)) == 0);
    // And the next decode steps agree bit for bit as well.
    for (int step = 0; step < 3; ++step) {
      const int32_t next = int32_t(splitmix(s) % uint64_t(m.model->hparams().n_vocab));
      const auto a = fresh.decode_step(next);
      const std::vector<float> av(a.begin(), a.end());
      const auto b = restored.decode_step(next);
      CHECK(std::memcmp(av.data(), b.data(), av.size() * sizeof(float)) == 0);
    }

    // Another model's weights share nothing with this snapshot.
    auto other = load_tiny(arch, 2);
    const auto other_ctx = session_key_context(*other.model);
    CHECK(other_ctx.model != ctx.model);
    model::Session o(*other.model, model::SessionOptions(1024));
    CHECK(restore_session(store, other_ctx, o, toks, {}) == 0);
  }
}

TEST_CASE("session restore: a stream that is only a stored prefix keeps one token to prefill") {
  TempDir dir;
  auto m = load_tiny("qwen3moe", 1);
  const auto ctx = session_key_context(*m.model);
  std::vector<int32_t> toks(64 * 2);
  uint64_t s = fresh_seed();
  for (auto& t : toks) t = int32_t(splitmix(s) % uint64_t(m.model->hparams().n_vocab));
  model::Session a(*m.model, model::SessionOptions(512));
  a.prefill(toks);
  auto store = Store::open(dir / "kv.db");
  CHECK(save_session(store, ctx, a, toks, {}, "x") == 2);
  // Asking with exactly the stored tokens restores one block and leaves the
  // rest to prefill, so the caller gets the last token's logits.
  model::Session b(*m.model, model::SessionOptions(512));
  CHECK(restore_session(store, ctx, b, toks, {}) == 64);
}

TEST_CASE("session key context: the cache format is part of the key, and the host format's key is the old one") {
  auto m = load_tiny("qwen3moe", 1);
  const auto host = session_key_context(*m.model, FingerprintMode::full, KvFormat::host_f32);
  const auto gpu = session_key_context(*m.model, FingerprintMode::full, KvFormat::cuda_bf16);
  CHECK(host.model == gpu.model);          // the same weights
  CHECK(!(host.attention == gpu.attention));  // but GPU and CPU snapshots never share a block
  // Snapshots saved before the formats were named were keyed with this string:
  // they must stay readable.
  const auto& hp = m.model->hparams();
  char legacy[256];
  std::snprintf(legacy, sizeof legacy,
                "rope_theta=%.9g;n_layers=%d;n_kv_heads=%d;head_dim=%d;kv=f32;summary=mean+minmax;block=64",
                double(hp.rope_theta), hp.n_layers, hp.n_kv_heads, hp.head_dim);
  CHECK(host.attention == attention_fingerprint(legacy));
  CHECK(session_key_context(*m.model).attention == host.attention);  // the default is the host format
  // A CPU session keyed for the GPU format finds nothing a host-keyed save wrote.
  TempDir dir;
  std::vector<int32_t> toks(64 * 3);
  uint64_t s = fresh_seed();
  for (auto& t : toks) t = int32_t(splitmix(s) % uint64_t(hp.n_vocab));
  model::Session a(*m.model, model::SessionOptions(512));
  a.prefill(toks);
  auto store = Store::open(dir / "kv.db");
  CHECK(save_session(store, host, a, toks, {}, "x") == 3);
  model::Session b(*m.model, model::SessionOptions(512));
  CHECK(restore_session(store, gpu, b, toks, {}) == 0);
}
