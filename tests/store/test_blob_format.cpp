#include <doctest/doctest.h>

#include <cstring>

#include "runtime/common/error.hpp"
#include "runtime/store/blob_format.hpp"
#include "store_test_util.hpp"

using namespace folio::store;
using namespace folio::store::test;

namespace {

std::vector<std::byte> make_blob(uint64_t seed, size_t payload_bytes, BlobHeader* out = nullptr) {
  const auto body = payload(seed, 3, 3, payload_bytes);
  BlobHeader h;
  h.part = {1, 7};
  h.layout = {3, "kv.bf16;layers=24;kv_heads=2;head_dim=64"};
  h.payload_bytes = body.size();
  h.block_key = hash128(payload(seed, 4, 4, 16));
  h.model = hash128(payload(seed, 5, 5, 16));
  h.payload_checksum = hash128(body);
  auto blob = encode_blob_header(h);
  blob.insert(blob.end(), body.begin(), body.end());
  if (out) *out = h;
  return blob;
}

}  // namespace

TEST_CASE("blob format: round trip") {
  const uint64_t seed = fresh_seed();
  BlobHeader h;
  const auto blob = make_blob(seed, 5000, &h);
  BlobHeader parsed;
  const auto body = decode_blob(blob, "test", &parsed);
  CHECK(body.size() == 5000);
  CHECK(parsed.part == h.part);
  CHECK(parsed.layout == h.layout);
  CHECK(parsed.block_key == h.block_key);
  CHECK(parsed.model == h.model);
  CHECK(std::memcmp(body.data(), blob.data() + h.header_bytes(), 5000) == 0);
  // The header alone (a prefix) parses when the total size is given.
  const auto prefix = std::span(blob).first(h.header_bytes());
  CHECK(parse_blob_header(prefix, blob.size(), "test").payload_bytes == 5000);
}

TEST_CASE("blob format: every damaged byte is detected") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  const auto blob = make_blob(seed, 300);
  // Flip each byte of the blob in turn: the decoder must refuse every one.
  for (size_t i = 0; i < blob.size(); ++i) {
    auto bad = blob;
    bad[i] ^= std::byte{0x20};
    CAPTURE(i);
    CHECK_THROWS_AS(decode_blob(bad, "test"), folio::Error);
  }
}

TEST_CASE("blob format: truncation, extension and hostile fields") {
  const uint64_t seed = fresh_seed();
  BlobHeader h;
  const auto blob = make_blob(seed, 1000, &h);
  for (size_t n : {size_t(0), size_t(10), size_t(87), h.header_bytes() - 1, h.header_bytes(), blob.size() - 1}) {
    CAPTURE(n);
    CHECK_THROWS_AS(decode_blob(std::span(blob).first(n), "test"), folio::Error);
  }
  auto longer = blob;
  longer.push_back(std::byte{0});
  CHECK_THROWS_AS(decode_blob(longer, "test"), folio::Error);

  // A consistent header (valid checksum) that declares an absurd size.
  BlobHeader huge = h;
  huge.payload_bytes = uint64_t(1) << 40;
  CHECK_THROWS_AS(encode_blob_header(huge), folio::Error);
  // Bad layouts are refused at write time.
  BlobHeader bad_layout = h;
  bad_layout.layout.descriptor = "tab\there";
  CHECK_THROWS_AS(encode_blob_header(bad_layout), folio::Error);
  bad_layout.layout.descriptor = "";
  CHECK_THROWS_AS(encode_blob_header(bad_layout), folio::Error);
  bad_layout.layout.descriptor = std::string(kMaxLayoutBytes + 1, 'x');
  CHECK_THROWS_AS(encode_blob_header(bad_layout), folio::Error);
  // The message names the blob.
  try {
    decode_blob(std::span(blob).first(20), "store.db: block 3");
    FAIL("expected an error");
  } catch (const folio::Error& e) {
    CHECK(std::string(e.what()).find("store.db: block 3") != std::string::npos);
  }
}
