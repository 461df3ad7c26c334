// GGUF reader/writer: round trips of every value and tensor type, and one test
// per kind of hostile input (bad files are made with the Writer plus byte edits).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "runtime/common/error.hpp"
#include "runtime/common/half.hpp"
#include "runtime/gguf/gguf.hpp"

namespace gguf = folio::gguf;
using gguf::TensorType;
using gguf::Value;
using gguf::ValueType;

namespace {

template <class T>
Value make(ValueType type, T v) {
  Value out;
  out.type = type;
  out.data = std::move(v);
  return out;
}

Value make_array(ValueType element_type, std::vector<Value> items) {
  auto a = std::make_shared<gguf::Array>();
  a->element_type = element_type;
  a->items = std::move(items);
  return make(ValueType::array, std::move(a));
}

bool same(const Value& a, const Value& b) {
  if (a.type != b.type || a.data.index() != b.data.index()) return false;
  if (a.type == ValueType::array) {
    const auto& x = *std::get<std::shared_ptr<gguf::Array>>(a.data);
    const auto& y = *std::get<std::shared_ptr<gguf::Array>>(b.data);
    if (x.element_type != y.element_type || x.items.size() != y.items.size()) return false;
    for (size_t i = 0; i < x.items.size(); ++i)
      if (!same(x.items[i], y.items[i])) return false;
    return true;
  }
  return a.data == b.data;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::span<const std::byte> as_bytes(const std::vector<float>& v) { return std::as_bytes(std::span(v)); }

// Offset of the first occurrence of `needle` in `bytes` (REQUIREd to exist).
size_t find_bytes(const std::vector<std::byte>& bytes, std::string_view needle) {
  for (size_t i = 0; i + needle.size() <= bytes.size(); ++i)
    if (std::memcmp(bytes.data() + i, needle.data(), needle.size()) == 0) return i;
  FAIL("needle not found: " << needle);
  return 0;
}

template <class T>
void poke(std::vector<std::byte>& bytes, size_t offset, T v) {
  REQUIRE(offset + sizeof(T) <= bytes.size());
  std::memcpy(bytes.data() + offset, &v, sizeof(T));
}

// A small valid file: two keys, two f32 tensors of 8 x 4 (sizes multiples of 32
// bytes, so the file ends exactly at the end of the last tensor's data).
struct Sample {
  std::vector<std::byte> bytes;
  size_t key_a = 0, key_b = 0;          // offsets of the u64 length of each key
  size_t tensor_a = 0, tensor_b = 0;    // offsets of the u64 length of each tensor name
};

Sample sample_file() {
  gguf::Writer w;
  w.set_u32("key.aaa", 7);
  w.set_string("key.bbb", "hello");
  const auto a = random_floats(32, 1), b = random_floats(32, 2);
  w.add_tensor("tensor.a", {8, 4}, TensorType::f32, as_bytes(a));
  w.add_tensor("tensor.b", {8, 4}, TensorType::f32, as_bytes(b));
  Sample s;
  s.bytes = w.to_bytes();
  s.key_a = find_bytes(s.bytes, "key.aaa") - 8;
  s.key_b = find_bytes(s.bytes, "key.bbb") - 8;
  s.tensor_a = find_bytes(s.bytes, "tensor.a") - 8;
  s.tensor_b = find_bytes(s.bytes, "tensor.b") - 8;
  return s;
}

// Offsets inside a tensor info whose name (length 8) starts at `info`.
size_t n_dims_at(size_t info) { return info + 8 + 8; }
size_t dim_at(size_t info, size_t d) { return info + 8 + 8 + 4 + 8 * d; }
size_t type_at(size_t info, size_t n_dims) { return info + 8 + 8 + 4 + 8 * n_dims; }
size_t offset_at(size_t info, size_t n_dims) { return type_at(info, n_dims) + 4; }

// Parses `bytes` expecting failure; returns the message (checked to name the file).
std::string parse_error(const std::vector<std::byte>& bytes, folio::Errc expected = folio::Errc::format) {
  try {
    (void)gguf::File::parse(bytes, "bad.gguf");
  } catch (const folio::Error& e) {
    const std::string msg = e.what();
    CHECK(e.code() == expected);
    CHECK(msg.rfind("bad.gguf: ", 0) == 0);
    return msg;
  }
  FAIL("expected the file to be refused");
  return "";
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("gguf: every metadata value type round-trips") {
  gguf::Writer w;
  std::vector<std::pair<std::string, Value>> values = {
      {"t.u8", make(ValueType::u8, uint8_t(250))},
      {"t.i8", make(ValueType::i8, int8_t(-120))},
      {"t.u16", make(ValueType::u16, uint16_t(65000))},
      {"t.i16", make(ValueType::i16, int16_t(-32000))},
      {"t.u32", make(ValueType::u32, uint32_t(4000000000u))},
      {"t.i32", make(ValueType::i32, int32_t(-2000000000))},
      {"t.f32", make(ValueType::f32, 3.25f)},
      {"t.bool", make(ValueType::boolean, true)},
      {"t.string", make(ValueType::string, std::string("caf\xC3\xA9 \0 nul", 12))},
      {"t.u64", make(ValueType::u64, uint64_t(1) << 63)},
      {"t.i64", make(ValueType::i64, int64_t(-1) << 62)},
      {"t.f64", make(ValueType::f64, -1.0e300)},
      {"t.empty_array", make_array(ValueType::f32, {})},
      {"t.string_array", make_array(ValueType::string, {make(ValueType::string, std::string("a")),
                                                        make(ValueType::string, std::string(""))})},
      {"t.nested", make_array(ValueType::array, {make_array(ValueType::i16, {make(ValueType::i16, int16_t(-3))}),
                                                 make_array(ValueType::boolean, {make(ValueType::boolean, false)})})},
  };
  for (const auto& [k, v] : values) w.set(k, v);
  const std::vector<std::byte> bytes = w.to_bytes();
  const gguf::File f = gguf::File::parse(bytes, "mem.gguf");
  CHECK(f.version() == 3);
  CHECK(f.metadata().size() == values.size());
  REQUIRE(f.metadata_keys_in_file_order().size() == values.size());
  for (size_t i = 0; i < values.size(); ++i) CHECK(f.metadata_keys_in_file_order()[i] == values[i].first);
  for (const auto& [k, v] : values) {
    const Value* got = f.find(k);
    REQUIRE_MESSAGE(got != nullptr, k);
    CHECK_MESSAGE(same(*got, v), k);
  }
  CHECK(f.tensors().empty());
}

TEST_CASE("gguf: typed getters convert losslessly and refuse otherwise") {
  gguf::Writer w;
  w.set_u32("n", 12);
  w.set_i32("neg", -5);
  w.set_f32("theta", 1e6f);
  w.set_bool("flag", true);
  w.set_string("s", "x");
  w.set_string_array("tokens", {"a", "b", "c"});
  const int32_t ids[] = {3, -1, 7};
  w.set_i32_array("ids", ids);
  const float fs[] = {0.5f, 2.0f};
  w.set_f32_array("fs", fs);
  const auto bytes = w.to_bytes();
  const gguf::File f = gguf::File::parse(bytes, "m.gguf");
  CHECK(f.get_u64("n") == 12);
  CHECK(f.get_u64_or("missing", 9) == 9);
  CHECK(f.get_f64("n") == 12.0);
  CHECK(f.get_f64("theta") == 1e6);
  CHECK(f.get_f64_or("missing", 2.5) == 2.5);
  CHECK(f.get_bool_or("flag", false) == true);
  CHECK(f.get_bool_or("missing", true) == true);
  CHECK(f.get_string("s") == "x");
  CHECK(f.get_string_opt("missing") == std::nullopt);
  CHECK(f.get_string_array("tokens") == std::vector<std::string>{"a", "b", "c"});
  CHECK(f.get_i64_array("ids") == std::vector<int64_t>{3, -1, 7});
  CHECK(f.get_f64_array("fs") == std::vector<double>{0.5, 2.0});
  try {
    (void)f.get_u64("neg");
    FAIL("negative to unsigned must throw");
  } catch (const folio::Error& e) {
    CHECK(contains(e.what(), "m.gguf"));
    CHECK(contains(e.what(), "'neg'"));
    CHECK(contains(e.what(), "negative"));
  }
  try {
    (void)f.get_string("nope");
    FAIL("missing key must throw");
  } catch (const folio::Error& e) {
    CHECK(contains(e.what(), "m.gguf: missing metadata key 'nope'"));
  }
  CHECK_THROWS_AS((void)f.get_u64("s"), folio::Error);
  CHECK_THROWS_AS((void)f.get_bool_or("n", false), folio::Error);
  CHECK_THROWS_AS((void)f.get_string_array("ids"), folio::Error);
  CHECK_THROWS_AS((void)f.get_u64_or("theta", 1), folio::Error);
  CHECK_THROWS_AS((void)f.tensor("missing.weight"), folio::Error);
}

TEST_CASE("gguf: every tensor type round-trips through write/open") {
  const std::vector<uint64_t> shape = {64, 3, 2};
  const size_t n = 64 * 3 * 2;
  const auto src = random_floats(n, 11, 2.0f);
  gguf::Writer w(64);
  std::vector<std::vector<std::byte>> encoded;
  const TensorType types[] = {TensorType::f32, TensorType::f16, TensorType::bf16, TensorType::q8_0};
  for (TensorType t : types) {
    encoded.emplace_back(gguf::tensor_bytes(t, n));
    gguf::quantize_row(t, src, encoded.back());
    w.add_tensor("w." + gguf::tensor_type_name(uint32_t(t)), shape, t, encoded.back());
  }
  // A generated tensor is produced during write().
  w.add_tensor_generated("w.generated", {32}, TensorType::f32, [&](std::span<std::byte> out) {
    std::memcpy(out.data(), src.data(), out.size());
  });
  const auto dir = std::filesystem::temp_directory_path() / ("folio_gguf_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "model.gguf";
  w.write(path);
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
  {
    const gguf::File f = gguf::File::open(path);
    CHECK(f.alignment() == 64);
    CHECK(f.get_u64("general.alignment") == 64);
    CHECK(f.data_offset() % 64 == 0);
    REQUIRE(f.tensors().size() == 5);
    for (TensorType t : types) {
      const gguf::TensorInfo& ti = f.tensor("w." + gguf::tensor_type_name(uint32_t(t)));
      CHECK(ti.type == t);
      CHECK(ti.shape == shape);
      CHECK(ti.n_elements == n);
      CHECK(ti.offset % 64 == 0);
      CHECK(ti.data.size() == gguf::tensor_bytes(t, n));
      std::vector<float> got(n);
      gguf::dequantize_row(ti, 0, got);
      float max_err = 0;
      for (size_t i = 0; i < n; ++i) {
        float want = src[i];
        if (t == TensorType::f16) want = folio::f16_to_f32(folio::f32_to_f16(src[i]));
        if (t == TensorType::bf16) want = folio::bf16_to_f32(folio::f32_to_bf16(src[i]));
        max_err = std::max(max_err, std::fabs(got[i] - want));
      }
      if (t == TensorType::q8_0) {
        CHECK(max_err < 0.05f);  // |x| up to ~8: d <= 8/127, error <= d/2 plus f16 rounding of d
        CHECK(max_err > 0.0f);
      } else {
        CHECK(max_err == 0.0f);
      }
      // A partial row from the middle matches the full dequantization.
      std::vector<float> part(64);
      gguf::dequantize_row(ti, 128, part);
      CHECK(std::equal(part.begin(), part.end(), got.begin() + 128));
      CHECK_THROWS_AS(gguf::dequantize_row(ti, n - 32, part), folio::Error);
    }
    std::vector<float> gen(32);
    gguf::dequantize_row(f.tensor("w.generated"), 0, gen);
    CHECK(std::equal(gen.begin(), gen.end(), src.begin()));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("gguf: q8_0 blocks decode as d * q with an f16 scale") {
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[size_t(i)] = float(i - 16) * 0.37f;
  std::vector<std::byte> q(gguf::kQ8BlockBytes);
  gguf::quantize_row(TensorType::q8_0, x, q);
  uint16_t d16;
  std::memcpy(&d16, q.data(), 2);
  const float d = folio::f16_to_f32(d16);
  CHECK(d == folio::f16_to_f32(folio::f32_to_f16(16 * 0.37f / 127)));
  gguf::TensorInfo t;
  t.name = "q";
  t.type = TensorType::q8_0;
  t.n_elements = 32;
  t.shape = {32};
  t.data = q;
  std::vector<float> y(32);
  gguf::dequantize_row(t, 0, y);
  for (int i = 0; i < 32; ++i) {
    const auto qi = static_cast<int8_t>(q[2 + size_t(i)]);
    CHECK(y[size_t(i)] == d * float(qi));
  }
  CHECK(static_cast<int8_t>(q[2]) == -127);  // the largest magnitude maps to 127
}

TEST_CASE("gguf: version 2 files are read") {
  Sample s = sample_file();
  poke<uint32_t>(s.bytes, 4, 2);
  const gguf::File f = gguf::File::parse(s.bytes, "v2.gguf");
  CHECK(f.version() == 2);
  CHECK(f.tensors().size() == 2);
  CHECK(f.get_string("key.bbb") == "hello");
}

TEST_CASE("gguf: the writer refuses what the reader would refuse") {
  gguf::Writer w;
  const auto a = random_floats(32, 3);
  w.add_tensor("x", {32}, TensorType::f32, as_bytes(a));
  CHECK_THROWS_AS(w.add_tensor("x", {32}, TensorType::f32, as_bytes(a)), folio::Error);        // duplicate
  CHECK_THROWS_AS(w.add_tensor("y", {31}, TensorType::f32, as_bytes(a)), folio::Error);        // wrong size
  CHECK_THROWS_AS(w.add_tensor("z", {1, 1, 1, 1, 32}, TensorType::f32, as_bytes(a)), folio::Error);  // 5 dims
  CHECK_THROWS_AS(w.add_tensor("q", {16, 2}, TensorType::q8_0, std::span<const std::byte>()), folio::Error);
  CHECK_THROWS_AS(w.add_tensor("k", {32}, TensorType(12), as_bytes(a)), folio::Error);         // q4_K
  CHECK_THROWS_AS(gguf::Writer(48), folio::Error);
  CHECK_THROWS_AS(w.set("bad", make(ValueType::u32, std::string("not a u32"))), folio::Error);
  CHECK_THROWS_AS(w.set("bad", make_array(ValueType::u8, {make(ValueType::i8, int8_t(1))})), folio::Error);
  CHECK_THROWS_AS(w.write("/nonexistent-dir/x.gguf"), folio::Error);
}

// ---- hostile input: one test per failure kind --------------------------------

TEST_CASE("gguf hostile: every truncation of a valid file is refused") {
  const Sample s = sample_file();
  for (size_t len = 0; len < s.bytes.size(); ++len) {
    const std::vector<std::byte> cut(s.bytes.begin(), s.bytes.begin() + std::ptrdiff_t(len));
    const std::string msg = parse_error(cut);
    CHECK_MESSAGE((contains(msg, "truncated") || contains(msg, "past the end") || contains(msg, "cannot fit")), msg);
  }
}

TEST_CASE("gguf hostile: wrong magic") {
  Sample s = sample_file();
  s.bytes[0] = std::byte{'X'};
  CHECK(contains(parse_error(s.bytes), "magic"));
}

TEST_CASE("gguf hostile: unsupported versions") {
  Sample s = sample_file();
  poke<uint32_t>(s.bytes, 4, 1);
  CHECK(contains(parse_error(s.bytes, folio::Errc::unsupported), "unsupported GGUF version 1"));
  poke<uint32_t>(s.bytes, 4, 4);
  CHECK(contains(parse_error(s.bytes, folio::Errc::unsupported), "version 4"));
  poke<uint32_t>(s.bytes, 4, 0x03000000);
  CHECK(contains(parse_error(s.bytes, folio::Errc::unsupported), "big-endian"));
}

TEST_CASE("gguf hostile: absurd tensor and metadata counts") {
  Sample s = sample_file();
  poke<uint64_t>(s.bytes, 8, uint64_t(1) << 60);
  CHECK(contains(parse_error(s.bytes), "tensor count"));
  s = sample_file();
  poke<uint64_t>(s.bytes, 16, ~uint64_t(0));
  CHECK(contains(parse_error(s.bytes), "metadata count"));
}

TEST_CASE("gguf hostile: absurd key and string lengths") {
  Sample s = sample_file();
  poke<uint64_t>(s.bytes, s.key_a, uint64_t(1) << 62);
  CHECK(contains(parse_error(s.bytes), "exceeds the limit"));
  s = sample_file();
  poke<uint64_t>(s.bytes, s.key_a, 70000);  // over the 65535-byte key limit
  CHECK(contains(parse_error(s.bytes), "metadata entry 0 key"));
  s = sample_file();
  // The string value of key.bbb: after key (8 + 7) and type (4).
  const size_t value_len = s.key_b + 8 + 7 + 4;
  poke<uint64_t>(s.bytes, value_len, 1000000);
  CHECK(contains(parse_error(s.bytes), "'key.bbb'"));
}

TEST_CASE("gguf hostile: absurd array length") {
  gguf::Writer w;
  const int32_t ids[] = {1, 2, 3};
  w.set_i32_array("arr", ids);
  auto bytes = w.to_bytes();
  const size_t len_at = find_bytes(bytes, "arr") + 3 + 4 + 4;  // key, type, element type
  poke<uint64_t>(bytes, len_at, uint64_t(1) << 40);
  const std::string msg = parse_error(bytes);
  CHECK(contains(msg, "'arr'"));
  CHECK(contains(msg, "array length"));
}

TEST_CASE("gguf hostile: unknown value type and bad bool") {
  Sample s = sample_file();
  poke<uint32_t>(s.bytes, s.key_a + 8 + 7, 13);
  CHECK(contains(parse_error(s.bytes), "unknown value type 13"));
  gguf::Writer w;
  w.set_bool("flag", true);
  auto bytes = w.to_bytes();
  bytes[find_bytes(bytes, "flag") + 4 + 4] = std::byte{2};
  CHECK(contains(parse_error(bytes), "neither 0 nor 1"));
}

TEST_CASE("gguf hostile: arrays nested too deeply") {
  Value v = make_array(ValueType::u8, {make(ValueType::u8, uint8_t(1))});
  for (int i = 0; i < 7; ++i) v = make_array(ValueType::array, {v});
  gguf::Writer w;
  w.set("deep", v);  // 8 levels: the limit
  CHECK_NOTHROW((void)gguf::File::parse(w.to_bytes(), "ok.gguf"));
  // Make a 9-level file by hand: the writer itself refuses it.
  std::vector<std::byte> bytes = w.to_bytes();
  const size_t key = find_bytes(bytes, "deep");
  // Replace the innermost u8 array (type 0, count 1, value 1) by an array of
  // one empty array of u8: grow the file by 12 bytes.
  const size_t inner = key + 4 + 4 + 7 * 12;  // value type + 7 nested array headers
  CHECK(std::to_integer<uint32_t>(bytes[inner]) == uint32_t(ValueType::u8));
  std::vector<std::byte> tail(bytes.begin() + std::ptrdiff_t(inner + 12 + 1), bytes.end());
  bytes.resize(inner);
  auto put = [&](auto x) {
    const auto* p = reinterpret_cast<const std::byte*>(&x);
    bytes.insert(bytes.end(), p, p + sizeof x);
  };
  put(uint32_t(ValueType::array));
  put(uint64_t(1));
  put(uint32_t(ValueType::u8));
  put(uint64_t(0));
  bytes.insert(bytes.end(), tail.begin(), tail.end());
  CHECK(contains(parse_error(bytes), "nested deeper"));
}

TEST_CASE("gguf hostile: tensor data offset past the end") {
  Sample s = sample_file();
  poke<uint64_t>(s.bytes, offset_at(s.tensor_b, 2), uint64_t(1) << 40);
  const std::string msg = parse_error(s.bytes);
  CHECK(contains(msg, "tensor 'tensor.b'"));
  CHECK(contains(msg, "past the end"));
}

TEST_CASE("gguf hostile: tensor shape past the end") {
  Sample s = sample_file();
  poke<uint64_t>(s.bytes, dim_at(s.tensor_b, 1), 5);  // 8 x 5 f32 = 160 bytes, 128 present
  const std::string msg = parse_error(s.bytes);
  CHECK(contains(msg, "tensor 'tensor.b'"));
  CHECK(contains(msg, "past the end"));
}

TEST_CASE("gguf hostile: overflow in the shape product") {
  Sample s = sample_file();
  poke<uint64_t>(s.bytes, dim_at(s.tensor_a, 0), uint64_t(1) << 32);
  poke<uint64_t>(s.bytes, dim_at(s.tensor_a, 1), uint64_t(1) << 32);
  const std::string msg = parse_error(s.bytes);
  CHECK(contains(msg, "tensor 'tensor.a'"));
  CHECK(contains(msg, "overflow"));
  // A product that fits in 64 bits but whose byte size does not.
  s = sample_file();
  poke<uint64_t>(s.bytes, dim_at(s.tensor_a, 0), uint64_t(1) << 31);
  poke<uint64_t>(s.bytes, dim_at(s.tensor_a, 1), uint64_t(1) << 31);
  CHECK(contains(parse_error(s.bytes), "tensor 'tensor.a'"));
}

TEST_CASE("gguf hostile: bad dimension counts") {
  Sample s = sample_file();
  poke<uint32_t>(s.bytes, n_dims_at(s.tensor_a), 0);
  CHECK(contains(parse_error(s.bytes), "dimension count 0"));
  poke<uint32_t>(s.bytes, n_dims_at(s.tensor_a), 5);
  CHECK(contains(parse_error(s.bytes), "dimension count 5"));
}

TEST_CASE("gguf hostile: misaligned data offset") {
  Sample s = sample_file();
  poke<uint64_t>(s.bytes, offset_at(s.tensor_b, 2), 4);
  const std::string msg = parse_error(s.bytes);
  CHECK(contains(msg, "tensor 'tensor.b'"));
  CHECK(contains(msg, "not a multiple of the alignment 32"));
}

TEST_CASE("gguf hostile: overlapping tensor data") {
  Sample s = sample_file();
  poke<uint64_t>(s.bytes, offset_at(s.tensor_b, 2), 32);  // aligned, but inside tensor.a (128 bytes)
  CHECK(contains(parse_error(s.bytes), "overlaps tensor 'tensor.a'"));
}

TEST_CASE("gguf hostile: bad general.alignment") {
  gguf::Writer w(64);
  w.set_u32("k", 1);
  auto bytes = w.to_bytes();
  const size_t value = find_bytes(bytes, "general.alignment") + 17 + 4;
  poke<uint32_t>(bytes, value, 48);
  CHECK(contains(parse_error(bytes), "metadata key 'general.alignment'"));
  poke<uint32_t>(bytes, value, 0);
  CHECK(contains(parse_error(bytes), "alignment 0 is not a power of two"));
  poke<uint32_t>(bytes, value - 4, uint32_t(ValueType::f32));
  poke<float>(bytes, value, 32.0f);
  CHECK(contains(parse_error(bytes), "'general.alignment': expected an integer, found f32"));
}

TEST_CASE("gguf hostile: duplicate tensor names") {
  Sample s = sample_file();
  std::memcpy(s.bytes.data() + s.tensor_b + 8, "tensor.a", 8);
  const std::string msg = parse_error(s.bytes);
  CHECK(contains(msg, "tensor 'tensor.a'"));
  CHECK(contains(msg, "duplicate tensor name"));
}

TEST_CASE("gguf hostile: duplicate metadata keys") {
  Sample s = sample_file();
  std::memcpy(s.bytes.data() + s.key_b + 8, "key.aaa", 7);
  const std::string msg = parse_error(s.bytes);
  CHECK(contains(msg, "'key.aaa'"));
  CHECK(contains(msg, "duplicate key"));
}

TEST_CASE("gguf hostile: unsupported tensor type names the tensor and the type") {
  Sample s = sample_file();
  poke<uint32_t>(s.bytes, type_at(s.tensor_b, 2), 12);
  const std::string msg = parse_error(s.bytes, folio::Errc::unsupported);
  CHECK(contains(msg, "tensor 'tensor.b'"));
  CHECK(contains(msg, "q4_K"));
  poke<uint32_t>(s.bytes, type_at(s.tensor_b, 2), 999);
  CHECK(contains(parse_error(s.bytes, folio::Errc::unsupported), "type 999"));
}

TEST_CASE("gguf hostile: q8_0 rows that are not whole blocks") {
  gguf::Writer w;
  std::vector<std::byte> q(2 * gguf::kQ8BlockBytes);
  gguf::quantize_row(TensorType::q8_0, random_floats(64, 5), q);
  w.add_tensor("q.weight", {32, 2}, TensorType::q8_0, q);
  auto bytes = w.to_bytes();
  const size_t info = find_bytes(bytes, "q.weight") - 8;
  poke<uint64_t>(bytes, dim_at(info, 0), 16);
  poke<uint64_t>(bytes, dim_at(info, 1), 4);
  CHECK(contains(parse_error(bytes), "not a multiple of 32"));
}

TEST_CASE("gguf hostile: open() names a missing or non-GGUF file") {
  const auto path = std::filesystem::temp_directory_path() / ("folio_not_gguf_" + std::to_string(::getpid()));
  try {
    (void)gguf::File::open(path);
    FAIL("expected failure");
  } catch (const folio::Error& e) {
    CHECK(e.code() == folio::Errc::io);
    CHECK(contains(e.what(), path.string()));
  }
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    std::fclose(f);
  }
  try {
    (void)gguf::File::open(path);
    FAIL("expected failure");
  } catch (const folio::Error& e) {
    CHECK(e.code() == folio::Errc::format);
    CHECK(contains(e.what(), path.string() + ": magic"));
  }
  std::filesystem::remove(path);
}

TEST_CASE("gguf: random byte corruption never crashes and errors name the file") {
  const Sample s = sample_file();
  std::mt19937 rng(99);
  int refused = 0, accepted = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<std::byte> b = s.bytes;
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits; ++e) b[rng() % b.size()] = std::byte(rng() & 0xff);
    try {
      const gguf::File f = gguf::File::parse(b, "fuzz.gguf");
      for (const auto& t : f.tensors()) {
        std::vector<float> row(size_t(std::min<uint64_t>(t.n_elements, 64)) / 32 * 32);
        gguf::dequantize_row(t, 0, row);
      }
      ++accepted;
    } catch (const folio::Error& e) {
      CHECK_MESSAGE(std::string(e.what()).rfind("fuzz.gguf: ", 0) == 0, e.what());
      ++refused;
    }
  }
  CHECK(refused > 0);
  CHECK(accepted > 0);
}
