// Tests of the strict JSON parser and writer (runtime/common/json.hpp).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <unistd.h>

#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"

using folio::json::Kind;
using folio::json::Value;
namespace json = folio::json;

namespace {

// The error message of parsing `text`, or "" when it parses.
std::string parse_error(std::string_view text, const json::ParseOptions& options = {}) {
  try {
    (void)json::parse(text, "t.json", options);
  } catch (const folio::Error& e) {
    CHECK(e.code() == folio::Errc::format);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("json: scalars and containers") {
  const Value v = json::parse(R"( {"a": 1, "b": [true, false, null, "x"], "c": {"d": -2.5}} )");
  REQUIRE(v.is_object());
  CHECK(v.size() == 3);
  CHECK(v["a"].as_int64() == 1);
  CHECK(v["b"].size() == 4);
  CHECK(v["b"][0].as_bool() == true);
  CHECK(v["b"][1].as_bool() == false);
  CHECK(v["b"][2].is_null());
  CHECK(v["b"][3].as_string() == "x");
  CHECK(v["c"]["d"].as_double() == -2.5);
  CHECK_FALSE(v["c"]["d"].is_integer());
  CHECK(v.find("zz") == nullptr);
  CHECK(v["b"].find("a") == nullptr);  // not an object
}

TEST_CASE("json: object keeps document order and finds keys") {
  std::string text = "{";
  std::mt19937 rng(7);
  std::vector<std::string> keys;
  for (int i = 0; i < 500; ++i) {
    std::string key = "k";
    key += std::to_string(rng());
    key += '_';
    key += std::to_string(i);
    if (i) text += ',';
    json::append_quoted(text, key);
    text += ':';
    text += std::to_string(i);
    keys.push_back(std::move(key));
  }
  text += "}";
  const Value v = json::parse(text);
  const auto& o = v.as_object();
  REQUIRE(o.size() == keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    CHECK(o.members()[i].key == keys[i]);
    REQUIRE(o.find(keys[i]) != nullptr);
    CHECK(o.find(keys[i])->as_int64() == int64_t(i));
  }
  CHECK(o.find("k") == nullptr);
}

TEST_CASE("json: numbers") {
  CHECK(json::parse("0").as_int64() == 0);
  CHECK(json::parse("-0").as_double() == 0.0);
  CHECK(std::signbit(json::parse("-0.0").as_double()));
  CHECK(json::parse("9223372036854775807").as_int64() == INT64_MAX);
  CHECK(json::parse("-9223372036854775808").as_int64() == INT64_MIN);
  // 2^53 + 1 is not a double but is kept exactly as an int64.
  CHECK(json::parse("9007199254740993").as_int64() == 9007199254740993LL);
  // Beyond int64: only a double.
  const Value big = json::parse("9223372036854775808");
  CHECK_FALSE(big.is_integer());
  CHECK(big.as_double() == 0x1p63);
  CHECK_THROWS_AS(big.as_int64(), folio::Error);
  CHECK(Value(uint64_t(1) << 63).as_double() == 0x1p63);
  CHECK_FALSE(Value(uint64_t(1) << 63).is_integer());
  CHECK(Value(uint64_t(7)).as_int64() == 7);
  CHECK(Value(-3).as_int64() == -3);
  CHECK(json::parse("1.0").as_int64() == 1);
  CHECK(json::parse("2e3").as_int64() == 2000);
  CHECK(json::parse("1e-2").as_double() == 0.01);
  CHECK(json::parse("1E+2").as_double() == 100.0);
  CHECK(json::parse("1000000.0").as_double() == 1e6);
  CHECK(json::parse("1e-400").as_double() == 0.0);
  CHECK(json::parse("0.1").as_double() == 0.1);
  CHECK(json::parse("1.5").is_integer() == false);
  CHECK(parse_error("1e400").find("out of the range") != std::string::npos);
  CHECK(parse_error("-1e309").find("out of the range") != std::string::npos);
  CHECK(parse_error("01").find("leading zero") != std::string::npos);
  CHECK(parse_error("1.").find("decimal point") != std::string::npos);
  CHECK(parse_error(".5") != "");
  CHECK(parse_error("+1") != "");
  CHECK(parse_error("1e") != "");
  CHECK(parse_error("-") != "");
  CHECK(parse_error("NaN") != "");
  CHECK(parse_error("Infinity") != "");
  CHECK(parse_error("0x10") != "");
}

TEST_CASE("json: strings, escapes and UTF-8") {
  CHECK(json::parse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string() == "a\"b\\c/d\b\f\n\r\t");
  CHECK(json::parse(R"("\u0041\u00e9\u4e2d")").as_string() == "A\xC3\xA9\xE4\xB8\xAD");
  CHECK(json::parse(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");  // U+1F600
  CHECK(json::parse(R"("\u0000")").as_string() == std::string(1, '\0'));
  CHECK(json::parse("\"\xE2\x82\xAC\"").as_string() == "\xE2\x82\xAC");
  CHECK(parse_error(R"("\ud83d")").find("surrogate") != std::string::npos);
  CHECK(parse_error(R"("\ud83dx")").find("surrogate") != std::string::npos);
  CHECK(parse_error(R"("\ude00")").find("surrogate") != std::string::npos);
  CHECK(parse_error(R"("\ud83d\u0041")").find("surrogate") != std::string::npos);
  CHECK(parse_error(R"("\u12")").find("\\u") != std::string::npos);
  CHECK(parse_error(R"("\u12g4")").find("hex digit") != std::string::npos);
  CHECK(parse_error(R"("\x")").find("invalid escape") != std::string::npos);
  CHECK(parse_error("\"a\nb\"").find("control character") != std::string::npos);
  CHECK(parse_error("\"abc").find("unterminated") != std::string::npos);
  CHECK(parse_error("\"\xC0\xAF\"").find("UTF-8") != std::string::npos);          // overlong '/'
  CHECK(parse_error("\"\xED\xA0\x80\"").find("UTF-8") != std::string::npos);      // encoded surrogate
  CHECK(parse_error("\"\xF4\x90\x80\x80\"").find("UTF-8") != std::string::npos);  // > U+10FFFF
  CHECK(parse_error("\"\xE2\x82\"").find("UTF-8") != std::string::npos);          // truncated
  CHECK(parse_error("\"\x80\"").find("UTF-8") != std::string::npos);              // stray continuation
  CHECK(json::is_valid_utf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  CHECK_FALSE(json::is_valid_utf8("\xFF"));
}

TEST_CASE("json: structural errors carry line, column and byte offset") {
  const std::string e = parse_error("{\n  \"a\": 1,\n  \"b\" 2\n}");
  CHECK(e.find("t.json:3:7 (byte 18)") != std::string::npos);
  CHECK(e.find("expected ':'") != std::string::npos);
  CHECK(parse_error("[1,]") != "");
  CHECK(parse_error("{\"a\":1,}") != "");
  CHECK(parse_error("[1 2]").find("expected ',' or ']'") != std::string::npos);
  CHECK(parse_error("{1:2}").find("string key") != std::string::npos);
  CHECK(parse_error("").find("end of input") != std::string::npos);
  CHECK(parse_error("   ").find("end of input") != std::string::npos);
  CHECK(parse_error("[1] 2").find("after the JSON value") != std::string::npos);
  CHECK(parse_error("tru") != "");
  CHECK(parse_error("nul") != "");
  CHECK(parse_error("// c\n1") != "");
  CHECK(parse_error("[") != "");
  CHECK(parse_error("{\"a\"") != "");
}

TEST_CASE("json: duplicate keys are refused unless allowed") {
  const std::string e = parse_error(R"({"x": 1, "y": 2, "x": 3})");
  CHECK(e.find("duplicate object key \"x\"") != std::string::npos);
  CHECK(e.find("(byte 17)") != std::string::npos);
  json::ParseOptions lax;
  lax.allow_duplicate_keys = true;
  const Value v = json::parse(R"({"x": 1, "y": 2, "x": 3})", "t", lax);
  CHECK(v["x"].as_int64() == 1);
  CHECK(v.size() == 3);
}

TEST_CASE("json: depth and size limits") {
  json::ParseOptions o;
  o.max_depth = 10;
  CHECK(parse_error(std::string(10, '[') + std::string(10, ']'), o) == "");
  CHECK(parse_error(std::string(11, '[') + std::string(11, ']'), o).find("nesting") != std::string::npos);
  // Default limit protects the stack against deep input.
  CHECK(parse_error(std::string(100000, '[')).find("nesting") != std::string::npos);
  o.max_bytes = 5;
  CHECK(parse_error("[1,2,3]", o).find("exceeds the limit") != std::string::npos);
}

TEST_CASE("json: wrong-kind accessors throw with the kinds named") {
  const Value v = json::parse(R"({"s": "x"})");
  try {
    (void)v["s"].as_int64();
    FAIL("expected an exception");
  } catch (const folio::Error& e) {
    CHECK(std::string(e.what()).find("expected a number, found a string") != std::string::npos);
  }
  CHECK_THROWS_AS((void)v["missing"], folio::Error);
  CHECK_THROWS_AS((void)v["s"].as_array(), folio::Error);
  CHECK_THROWS_AS((void)v.as_array(), folio::Error);
  CHECK_THROWS_AS((void)json::parse("[1]")[1], folio::Error);
}

TEST_CASE("json: serialize round-trips random documents") {
  std::mt19937_64 rng(42);
  auto random_string = [&] {
    static const char* pieces[] = {"a", "\"", "\\", "\n", "\x01", "\xC3\xA9", "\xF0\x9F\x98\x80", " ", "/", "\x7f"};
    std::string s;
    const int n = int(rng() % 6);
    for (int i = 0; i < n; ++i) s += pieces[rng() % 10];
    return s;
  };
  auto random_value = [&](auto& self, int depth) -> Value {
    switch (depth > 3 ? rng() % 4 : rng() % 6) {
      case 0: return Value(nullptr);
      case 1: return Value(rng() % 2 == 0);
      case 2: return rng() % 2 ? Value(int64_t(rng())) : Value(std::ldexp(double(int64_t(rng())), -int(rng() % 80)));
      case 3: return Value(random_string());
      case 4: {
        json::Array a;
        for (int i = int(rng() % 4); i > 0; --i) a.push_back(self(self, depth + 1));
        return Value(std::move(a));
      }
      default: {
        json::Object o;
        for (int i = int(rng() % 4); i > 0; --i) o.insert(random_string() + std::to_string(i), self(self, depth + 1));
        return Value(std::move(o));
      }
    }
  };
  for (int iter = 0; iter < 300; ++iter) {
    const Value v = random_value(random_value, 0);
    const std::string compact = json::serialize(v);
    const std::string pretty = json::serialize(v, 2);
    CHECK(json::parse(compact) == v);
    CHECK(json::parse(pretty) == v);
    CHECK(json::serialize(json::parse(compact)) == compact);
  }
}

TEST_CASE("json: builder insert replaces in place and serialize refuses bad input") {
  json::Object o;
  o.insert("b", 1);
  o.insert("a", 2);
  o.insert("b", 3);
  CHECK(json::serialize(Value(o)) == R"({"b":3,"a":2})");
  CHECK_THROWS_AS(json::serialize(Value(std::nan(""))), folio::Error);
  CHECK_THROWS_AS(json::serialize(Value(std::string("\xFF"))), folio::Error);
  std::string quoted;
  json::append_quoted(quoted, "a\xFF");
  CHECK(quoted == "\"a\xEF\xBF\xBD\"");
}

TEST_CASE("json: parse_file names the file") {
  const auto path = std::filesystem::temp_directory_path() / ("folio_json_test_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream f(path, std::ios::binary);
    f << "{\"a\": [1, 2,]}";
  }
  try {
    (void)json::parse_file(path);
    FAIL("expected an exception");
  } catch (const folio::Error& e) {
    CHECK(std::string(e.what()).find(path.string() + ":1:13") != std::string::npos);
  }
  std::filesystem::remove(path);
  try {
    (void)json::parse_file(path);
    FAIL("expected an exception");
  } catch (const folio::Error& e) {
    CHECK(e.code() == folio::Errc::io);
  }
}
