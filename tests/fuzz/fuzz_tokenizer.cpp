// libFuzzer target for the tokenizer. The first byte picks a built-in
// vocabulary (pre-tokenizer x normalizer) and the special-token mode; the rest
// is text. For any bytes: pre-tokenizer pieces cover the text exactly,
// decode(encode(s)) == s (canonically equivalent to s for a normalizing
// vocab, which normalizes the text between special tokens), NFC is idempotent,
// encode_with_offsets agrees with encode and its offsets are monotone (and
// exact when nothing was normalized), and a StreamDecoder fed the ids one by
// one yields the same bytes. Inputs that start with '{' are also read as a
// Hugging Face tokenizer.json: they must either load or fail with folio::Error.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/common/error.hpp"
#include "runtime/tokenizer/byte_level.hpp"
#include "runtime/tokenizer/hf_tokenizer_json.hpp"
#include "runtime/tokenizer/nfc.hpp"
#include "runtime/tokenizer/pretokenize.hpp"
#include "runtime/tokenizer/tokenizer.hpp"

using namespace folio::tok;

namespace {

#define CHECK_OR_TRAP(cond) \
  do {                      \
    if (!(cond)) __builtin_trap(); \
  } while (0)

Vocab small_vocab(PreTokenizer pre, Normalizer normalizer) {
  Vocab v;
  v.pre = pre;
  v.normalizer = normalizer;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(byte_level_encode(std::string(1, char(b))));
  // Merges in priority order, as raw byte pairs; each adds its concatenation.
  const std::pair<const char*, const char*> merges[] = {
      {" ", " "},   {"  ", "  "}, {"t", "h"},  {"th", "e"}, {" ", "the"}, {"i", "n"},  {"in", "g"},
      {" ", "a"},   {"e", "r"},   {"o", "n"},  {" ", "t"},  {"r", "e"},   {"\n", "\n"}, {"'", "s"},
      {"1", "2"},   {"12", "3"},  {"\xE4", "\xB8"}, {"\xE4\xB8", "\xAD"}, {"\xC3", "\xA9"}, {"e", "\xCC"},
      {"<", "|"},   {"|", ">"},   {"a", "a"},  {"aa", "aa"}, {"aaaa", "a"}, {"\r", "\n"}, {" ", "\t"},
  };
  for (const auto& [a, b] : merges) {
    const std::string joined = byte_level_encode(std::string(a) + b);
    bool seen = false;
    for (const auto& t : v.tokens) seen = seen || t == joined;
    if (!seen) v.tokens.push_back(joined);
    v.merges.push_back(byte_level_encode(a) + " " + byte_level_encode(b));
  }
  v.token_types.assign(v.tokens.size(), TokenType::normal);
  const std::pair<const char*, TokenType> specials[] = {{"<|im_start|>", TokenType::control},
                                                        {"<|im_end|>", TokenType::control},
                                                        {"<|im", TokenType::control},
                                                        {"<think>", TokenType::user_defined},
                                                        {"<unused>", TokenType::unused}};
  for (const auto& [text, type] : specials) {
    v.tokens.push_back(text);
    v.token_types.push_back(type);
  }
  v.eos = TokenId(v.tokens.size() - 4);
  return v;
}

const std::vector<Tokenizer>& tokenizers() {
  static const std::vector<Tokenizer> all = [] {
    std::vector<Tokenizer> t;
    for (PreTokenizer pre : {PreTokenizer::qwen2, PreTokenizer::llama3, PreTokenizer::gpt2})
      for (Normalizer n : {Normalizer::none, Normalizer::nfc}) t.emplace_back(small_vocab(pre, n));
    return t;
  }();
  return all;
}

void check_tokenizer(const Tokenizer& tok, std::string_view text, bool parse_special) {
  const std::vector<TokenId> ids = tok.encode(text, parse_special);
  const std::string decoded = tok.decode(ids);
  if (tok.vocab().normalizer == Normalizer::nfc) {
    // Text between special tokens is normalized piece by piece (as Hugging
    // Face does), so the result is canonically equivalent to the input.
    CHECK_OR_TRAP(to_nfc(decoded) == to_nfc(text));
    if (!nfc_may_change(text)) CHECK_OR_TRAP(decoded == text);
  } else {
    CHECK_OR_TRAP(decoded == text);
  }
  const Tokenizer::Encoding enc = tok.encode_with_offsets(text, parse_special);
  CHECK_OR_TRAP(enc.ids == ids && enc.offsets.size() == ids.size() + 1);
  CHECK_OR_TRAP(enc.offsets.front() == 0 && enc.offsets.back() == text.size());
  const bool exact = decoded == text;
  for (size_t i = 0; i < ids.size(); ++i) {
    CHECK_OR_TRAP(enc.offsets[i] <= enc.offsets[i + 1]);
    if (exact) CHECK_OR_TRAP(enc.offsets[i + 1] - enc.offsets[i] == tok.token_bytes(ids[i]).size());
  }
  StreamDecoder stream(tok);
  std::string streamed;
  for (const TokenId id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  CHECK_OR_TRAP(streamed == decoded);
  std::vector<Piece> pieces;
  pretokenize(tok.vocab().pre, text, pieces);
  size_t pos = 0;
  for (const Piece& p : pieces) {
    CHECK_OR_TRAP(p.offset == pos && p.length > 0);
    pos += p.length;
  }
  CHECK_OR_TRAP(pos == text.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto& all = tokenizers();
  check_tokenizer(all[data[0] % all.size()], text, (data[0] / all.size()) % 2 == 1);

  const std::string once = to_nfc(text);
  CHECK_OR_TRAP(to_nfc(once) == once);
  if (!nfc_may_change(text)) CHECK_OR_TRAP(once == text);

  if (!text.empty() && text[0] == '{') {
    try {
      const Tokenizer tok(vocab_from_hf_tokenizer_json_text(text, "fuzz/tokenizer.json"));
      (void)tok.encode(text.substr(0, 256), true);
    } catch (const folio::Error&) {
    }
  }
  return 0;
}
