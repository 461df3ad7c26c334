#include <doctest/doctest.h>

#include "runtime/common/error.hpp"
#include "runtime/store/block_key.hpp"
#include "runtime/store/fingerprint.hpp"
#include "store_test_util.hpp"

using namespace folio::store;
using namespace folio::store::test;

TEST_CASE("hash128: hex round trip and canonical form") {
  const auto bytes = payload(fresh_seed(), 1, 2, 1000);
  const Hash128 h = hash128(bytes);
  CHECK(Hash128::from_hex(h.hex()) == h);
  CHECK(h.hex().size() == 32);
  // Streaming over pieces equals one-shot hashing.
  Hasher s;
  s.update(std::span(bytes).first(300)).update(std::span(bytes).subspan(300));
  CHECK(s.digest() == h);
  CHECK_THROWS_AS(Hash128::from_hex("xyz"), folio::Error);
  CHECK_THROWS_AS(Hash128::from_hex(std::string(32, 'g')), folio::Error);
}

TEST_CASE("block keys: complete blocks only, chained, sensitive to every input") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  const KeyContext ctx = context(seed);
  auto toks = tokens(seed, 64 * 5 + 17);
  std::vector<uint8_t> global(toks.size(), 0);
  const auto keys = block_keys(ctx, toks, global);
  REQUIRE(keys.size() == 5);  // the trailing 17 tokens have no key
  // No flags given equals all-false flags.
  CHECK(block_keys(ctx, toks, {}) == keys);
  // All keys distinct.
  for (size_t i = 0; i < keys.size(); ++i)
    for (size_t j = i + 1; j < keys.size(); ++j) CHECK(keys[i] != keys[j]);

  SUBCASE("a changed token changes its block and every later block, not earlier ones") {
    auto t2 = toks;
    t2[64 * 2 + 5] ^= 1;
    const auto k2 = block_keys(ctx, t2, global);
    CHECK(k2[0] == keys[0]);
    CHECK(k2[1] == keys[1]);
    for (size_t i = 2; i < 5; ++i) CHECK(k2[i] != keys[i]);
  }
  SUBCASE("a changed global flag changes the key") {
    auto g2 = global;
    g2[64 * 3] = 1;
    const auto k2 = block_keys(ctx, toks, g2);
    CHECK(k2[2] == keys[2]);
    CHECK(k2[3] != keys[3]);
    CHECK(k2[4] != keys[4]);
  }
  SUBCASE("model and attention settings change every key") {
    KeyContext other_model = ctx;
    other_model.model = hash128(payload(seed, 99, 99, 64));
    KeyContext other_attention = ctx;
    other_attention.attention = attention_fingerprint("rope_base=500000;kv=bf16;summary=mean+minmax");
    const auto km = block_keys(other_model, toks, global);
    const auto ka = block_keys(other_attention, toks, global);
    for (size_t i = 0; i < 5; ++i) {
      CHECK(km[i] != keys[i]);
      CHECK(ka[i] != keys[i]);
    }
  }
  SUBCASE("the same block content at another position has another key") {
    std::vector<int32_t> shifted(toks.begin() + 64, toks.end());
    const auto ks = block_keys(ctx, shifted, {});
    CHECK(ks[0] != keys[1]);
  }
  CHECK_THROWS_AS(block_keys(ctx, toks, std::vector<uint8_t>(3)), folio::Error);
}

TEST_CASE("model fingerprint: order-independent, content-sensitive, refuses duplicates") {
  const uint64_t seed = fresh_seed();
  const auto a = payload(seed, 1, 0, 4096), b = payload(seed, 2, 0, 333);
  const NamedBytes p1[] = {{"a", a}, {"b", b}};
  const NamedBytes p2[] = {{"b", b}, {"a", a}};
  CHECK(model_fingerprint(p1) == model_fingerprint(p2));
  auto a2 = a;
  a2[4000] ^= std::byte{1};
  const NamedBytes p3[] = {{"a", a2}, {"b", b}};
  CHECK(model_fingerprint(p3) != model_fingerprint(p1));
  const NamedBytes p4[] = {{"a", b}, {"b", a}};  // same bytes under swapped names
  CHECK(model_fingerprint(p4) != model_fingerprint(p1));
  const NamedBytes dup[] = {{"a", a}, {"a", b}};
  CHECK_THROWS_AS(model_fingerprint(dup), folio::Error);
}
