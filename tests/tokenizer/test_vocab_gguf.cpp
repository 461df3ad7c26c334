// Vocab -> GGUF metadata -> Vocab, through the GGUF writer and reader.
#include <doctest/doctest.h>

#include <string>

#include "runtime/common/error.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/tokenizer/tokenizer.hpp"
#include "tests/tokenizer/test_support.hpp"

using namespace folio;
using namespace folio::tok;

TEST_CASE("write_vocab and vocab_from_gguf round-trip every field") {
  for (PreTokenizer pre : {PreTokenizer::qwen2, PreTokenizer::llama3, PreTokenizer::gpt2}) {
    Vocab v = testing::make_vocab({{"a", "b"}, {"ab", "c"}},
                                  {{"<|im_start|>", TokenType::control}, {"<think>", TokenType::user_defined}}, pre);
    v.bos = 258;
    v.eos = 259;
    v.pad = 1;
    v.add_bos = pre == PreTokenizer::llama3;
    v.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}";
    v.normalizer = pre == PreTokenizer::gpt2 ? Normalizer::nfc : Normalizer::none;
    gguf::Writer w;
    write_vocab(w, v);
    const std::vector<std::byte> bytes = w.to_bytes();
    const gguf::File f = gguf::File::parse(bytes, "vocab.gguf");
    const Vocab r = vocab_from_gguf(f);
    CHECK(r.tokens == v.tokens);
    CHECK(r.merges == v.merges);
    CHECK(r.token_types == v.token_types);
    CHECK(r.pre == pre);
    CHECK(r.bos == v.bos);
    CHECK(r.eos == v.eos);
    CHECK(r.pad == v.pad);
    CHECK(r.add_bos == v.add_bos);
    CHECK(r.chat_template == v.chat_template);
    CHECK(r.normalizer == v.normalizer);
    CHECK(r.ignore_merges == (pre == PreTokenizer::llama3));  // llama.cpp applies it to llama-bpe
    const Tokenizer a{Vocab(v)}, b{Vocab(r)};
    CHECK(a.encode("abc <|im_start|><think>", true) == b.encode("abc <|im_start|><think>", true));
  }
}

TEST_CASE("without Folio's normalizer key, qwen2 vocabularies normalize to NFC") {
  for (PreTokenizer pre : {PreTokenizer::qwen2, PreTokenizer::llama3}) {
    gguf::Writer w;
    write_vocab(w, testing::make_vocab({}, {}, pre));
    gguf::Writer copy;  // the same keys minus tokenizer.folio.normalizer, as llama.cpp writes them
    const std::vector<std::byte> bytes = w.to_bytes();
    const gguf::File f = gguf::File::parse(bytes, "a.gguf");
    for (const auto& [key, value] : f.metadata())
      if (key != "tokenizer.folio.normalizer") copy.set(key, value);
    const std::vector<std::byte> bytes2 = copy.to_bytes();
    const Vocab v = vocab_from_gguf(gguf::File::parse(bytes2, "b.gguf"));
    CHECK(v.normalizer == (pre == PreTokenizer::qwen2 ? Normalizer::nfc : Normalizer::none));
  }
}

TEST_CASE("vocab_from_gguf refuses what it cannot read") {
  auto load = [](const gguf::Writer& w) {
    const std::vector<std::byte> bytes = w.to_bytes();
    return vocab_from_gguf(gguf::File::parse(bytes, "m.gguf"));
  };
  Vocab v = testing::make_vocab({});
  {
    gguf::Writer w;
    write_vocab(w, v);
    w.set_string("tokenizer.ggml.model", "llama");
    CHECK_THROWS_WITH_AS(load(w), doctest::Contains("tokenizer.ggml.model"), Error);
  }
  {
    gguf::Writer w;
    write_vocab(w, v);
    w.set_string("tokenizer.ggml.pre", "deepseek-coder");
    CHECK_THROWS_WITH_AS(load(w), doctest::Contains("deepseek-coder"), Error);
  }
  {
    gguf::Writer w;
    write_vocab(w, v);
    w.set_u32("tokenizer.ggml.eos_token_id", 5000);
    CHECK_THROWS_WITH_AS(load(w), doctest::Contains("eos_token_id"), Error);
  }
  {
    gguf::Writer w;
    write_vocab(w, v);
    const int32_t types[2] = {1, 1};
    w.set_i32_array("tokenizer.ggml.token_type", types);
    CHECK_THROWS_WITH_AS(load(w), doctest::Contains("token_type"), Error);
  }
  {
    gguf::Writer w;
    write_vocab(w, v);
    std::vector<int32_t> types(v.tokens.size(), 1);
    types[3] = 42;
    w.set_i32_array("tokenizer.ggml.token_type", types);
    CHECK_THROWS_WITH_AS(load(w), doctest::Contains("token_type[3]"), Error);
  }
  {
    gguf::Writer w;
    w.set_string("general.architecture", "qwen3");
    CHECK_THROWS_WITH_AS(load(w), doctest::Contains("m.gguf"), Error);
  }
}
