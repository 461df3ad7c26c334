// Reading Hugging Face tokenizer.json files (small ones written here).
#include <doctest/doctest.h>

#include <string>

#include "runtime/common/error.hpp"
#include "runtime/tokenizer/hf_tokenizer_json.hpp"
#include "runtime/tokenizer/tokenizer.hpp"

using namespace folio::tok;

namespace {

// A tiny byte-level BPE: bytes 'a' 'b' 'c' and the space byte (Ġ), merges
// a+b and Ġ+ab, two added tokens.
std::string tiny_json(std::string_view merges, std::string_view pre) {
  return std::string(R"({
  "version": "1.0",
  "added_tokens": [
    {"id": 6, "content": "<|end|>", "special": true},
    {"id": 8, "content": "<tool>", "special": false}
  ],
  "normalizer": {"type": "NFC"},
  "pre_tokenizer": )") + std::string(pre) + R"(,
  "model": {"type": "BPE", "ignore_merges": false,
            "vocab": {"a": 0, "b": 1, "c": 2, "\u0120": 3, "ab": 4, "\u0120ab": 5},
            "merges": )" + std::string(merges) + R"(}
})";
}

constexpr std::string_view kQwenPre = R"({"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]})";
constexpr std::string_view kLlamaPre = R"({"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})";
constexpr std::string_view kGpt2Pre = R"({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true})";

}  // namespace

TEST_CASE("both merge spellings give the same vocab") {
  const Vocab a = vocab_from_hf_tokenizer_json_text(tiny_json(R"(["a b", "\u0120 ab"])", kQwenPre), "a.json");
  const Vocab b = vocab_from_hf_tokenizer_json_text(tiny_json(R"([["a", "b"], ["\u0120", "ab"]])", kQwenPre), "b.json");
  CHECK(a.merges == b.merges);
  CHECK(a.merges == std::vector<std::string>{"a b", "\xC4\xA0 ab"});
  CHECK(a.pre == PreTokenizer::qwen2);
  CHECK(a.normalizer == Normalizer::nfc);
  REQUIRE(a.tokens.size() == 9);
  CHECK(a.tokens[6] == "<|end|>");
  CHECK(a.token_types[6] == TokenType::control);
  CHECK(a.tokens[7] == "[PAD7]");  // a hole in the ids
  CHECK(a.token_types[7] == TokenType::unused);
  CHECK(a.token_types[8] == TokenType::user_defined);
  CHECK(a.token_types[0] == TokenType::normal);

  const Tokenizer tok{Vocab(a)};
  CHECK(tok.encode("ab ab<|end|>", true) == std::vector<TokenId>{4, 5, 6});
  CHECK(tok.encode("c<tool>", false) == std::vector<TokenId>{2, 8});
}

TEST_CASE("the pre-tokenizer is recognised from its regex") {
  CHECK(vocab_from_hf_tokenizer_json_text(tiny_json("[]", kLlamaPre), "l.json").pre == PreTokenizer::llama3);
  CHECK(vocab_from_hf_tokenizer_json_text(tiny_json("[]", kGpt2Pre), "g.json").pre == PreTokenizer::gpt2);
  const std::string other = R"({"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated"}, {"type": "ByteLevel", "use_regex": false}]})";
  try {
    (void)vocab_from_hf_tokenizer_json_text(tiny_json("[]", other), "o.json");
    FAIL("expected an error");
  } catch (const folio::Error& e) {
    CHECK(e.code() == folio::Errc::unsupported);
    CHECK(std::string(e.what()).find("o.json") == 0);
    CHECK(std::string(e.what()).find("\\w+") != std::string::npos);
  }
}

TEST_CASE("tokenizer_config.json supplies bos/eos/pad and the chat template") {
  const std::string config = R"({"bos_token": null, "eos_token": "<|end|>", "pad_token": {"content": "c"},
                                 "add_bos_token": false, "chat_template": "{{ messages }}"})";
  const Vocab v = vocab_from_hf_tokenizer_json_text(tiny_json("[]", kQwenPre), "t.json", config);
  CHECK_FALSE(v.bos.has_value());
  CHECK(v.eos == TokenId(6));
  CHECK(v.pad == TokenId(2));
  CHECK(v.chat_template == "{{ messages }}");
  const std::string bad = R"({"eos_token": "<|nope|>"})";
  CHECK_THROWS_WITH_AS(vocab_from_hf_tokenizer_json_text(tiny_json("[]", kQwenPre), "t.json", bad),
                       doctest::Contains("<|nope|>"), folio::Error);
}

TEST_CASE("malformed files name the file and the field") {
  auto err = [](const std::string& json) -> std::string {
    try {
      (void)vocab_from_hf_tokenizer_json_text(json, "bad.json");
    } catch (const folio::Error& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK(err("{").find("bad.json") == 0);
  CHECK(err(R"({"model": {}})").find("pre_tokenizer") != std::string::npos);
  CHECK(err(tiny_json(R"([["a"]])", kQwenPre)).find("model.merges[0]") != std::string::npos);
  CHECK(err(tiny_json(R"([1])", kQwenPre)).find("model.merges[0]") != std::string::npos);
  std::string dup = tiny_json("[]", kQwenPre);
  dup.replace(dup.find("\"c\": 2"), 6, "\"c\": 1");
  CHECK(err(dup).find("id 1") != std::string::npos);
  std::string negative = tiny_json("[]", kQwenPre);
  negative.replace(negative.find("\"c\": 2"), 6, "\"c\": -2");
  CHECK(err(negative).find("out of range") != std::string::npos);
  std::string huge = tiny_json("[]", kQwenPre);
  huge.replace(huge.find("\"c\": 2"), 6, "\"c\": 99999999999");
  CHECK(err(huge).find("out of range") != std::string::npos);
  std::string gap = tiny_json("[]", kQwenPre);
  gap.replace(gap.find("\"c\": 2"), 6, "\"c\": 9000000");
  CHECK(err(gap).find("too large a gap") != std::string::npos);
  std::string wordpiece = tiny_json("[]", kQwenPre);
  wordpiece.replace(wordpiece.find("\"BPE\""), 5, "\"WordPiece\"");
  CHECK(err(wordpiece).find("model.type") != std::string::npos);
}

TEST_CASE("a missing file is an io error naming it") {
  try {
    (void)vocab_from_hf_tokenizer_json("/nonexistent/dir/tokenizer.json");
    FAIL("expected an error");
  } catch (const folio::Error& e) {
    CHECK(e.code() == folio::Errc::io);
    CHECK(std::string(e.what()).find("/nonexistent/dir/tokenizer.json") != std::string::npos);
  }
}
