// Unit tests of the BPE core: Unicode classes, byte-level alphabet,
// pre-tokenizers on hand-checked cases, merges against a naive reference,
// special tokens, decoding and streaming.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "runtime/common/error.hpp"
#include "runtime/tokenizer/byte_level.hpp"
#include "runtime/tokenizer/nfc.hpp"
#include "runtime/tokenizer/pretokenize.hpp"
#include "runtime/tokenizer/tokenizer.hpp"
#include "runtime/tokenizer/unicode.hpp"
#include "tests/tokenizer/test_support.hpp"

using namespace folio::tok;
using folio::tok::testing::make_vocab;

namespace {

std::vector<std::string> split(PreTokenizer kind, std::string_view text) {
  std::vector<Piece> pieces;
  pretokenize(kind, text, pieces);
  std::vector<std::string> out;
  for (const Piece& p : pieces) out.emplace_back(text.substr(p.offset, p.length));
  return out;
}

using Strings = std::vector<std::string>;

// Textbook BPE on strings: merge the lowest-ranked adjacent pair, leftmost first.
std::vector<std::string> naive_bpe(const std::string& piece, const std::map<std::pair<std::string, std::string>, int>& ranks) {
  std::vector<std::string> syms;
  for (char c : piece) syms.emplace_back(1, c);
  while (syms.size() > 1) {
    int best = -1, best_rank = 1 << 30;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      const auto it = ranks.find({syms[i], syms[i + 1]});
      if (it != ranks.end() && it->second < best_rank) best_rank = it->second, best = int(i);
    }
    if (best < 0) break;
    syms[size_t(best)] += syms[size_t(best) + 1];
    syms.erase(syms.begin() + best + 1);
  }
  return syms;
}

}  // namespace

TEST_CASE("unicode classes come from the generated tables") {
  using namespace folio::tok::unicode;
  CHECK(flags('a') == kLetter);
  CHECK(flags('7') == kNumber);
  CHECK(flags(' ') == kSpace);
  CHECK(flags('\n') == kSpace);
  CHECK(flags(0x0B) == kSpace);    // vertical tab
  CHECK(flags(0x1C) == 0);         // file separator: not White_Space
  CHECK(flags(0x85) == kSpace);    // NEL is White_Space
  CHECK(flags(0xA0) == kSpace);    // no-break space
  CHECK(flags(0xFEFF) == 0);       // BOM: not White_Space (JavaScript's \s differs)
  CHECK(flags(0x3000) == kSpace);  // ideographic space
  CHECK(flags(0x200B) == 0);       // zero width space is not White_Space
  CHECK(flags(0x4E2D) == kLetter); // 中
  CHECK(flags(0x0663) == kNumber); // Arabic-Indic 3
  CHECK(flags(0x00B2) == kNumber); // superscript two (No)
  CHECK(flags(0x2163) == kNumber); // roman numeral four (Nl)
  CHECK(flags(0x0301) == 0);       // combining acute (Mn) is not a letter
  CHECK(flags(0x01C5) == kLetter); // ǅ (Lt)
  CHECK(flags(0x02B0) == kLetter); // ʰ (Lm)
  CHECK(flags(0x1D400) == kLetter);  // 𝐀
  CHECK(flags(0x1F600) == 0);      // 😀
  CHECK(flags(0xD800) == 0);
  CHECK(flags(0x10FFFF) == 0);
  CHECK(flags(0x110000) == 0);
  CHECK(tables_version().size() >= 4);
}

TEST_CASE("decode_utf8 accepts RFC 3629 only") {
  using unicode::decode_utf8;
  auto one = [](std::string_view s) { return decode_utf8(s, 0); };
  CHECK(one("A").cp == 'A');
  CHECK(one("\xC3\xA9").cp == 0xE9);
  CHECK(one("\xC3\xA9").length == 2);
  CHECK(one("\xE4\xB8\xAD").cp == 0x4E2D);
  CHECK(one("\xF0\x9F\x98\x80").cp == 0x1F600);
  for (std::string_view bad : {"\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                               "\xF5\x80\x80\x80", "\x80", "\xBF", "\xC3", "\xE4\xB8", "\xF0\x9F\x98", "\xFF"}) {
    const auto d = one(bad);
    CHECK_FALSE(d.valid);
    CHECK(d.length == 1);
  }
}

TEST_CASE("byte-level alphabet round-trips every byte") {
  CHECK(byte_to_char(' ') == 0x120);   // Ġ
  CHECK(byte_to_char('\n') == 0x10A);  // Ċ
  CHECK(byte_to_char('A') == 'A');
  CHECK(byte_to_char(0xAD) == 0x143);  // soft hyphen is not printable
  std::string all;
  for (int b = 0; b < 256; ++b) {
    CHECK(char_to_byte(byte_to_char(static_cast<unsigned char>(b))) == b);
    all.push_back(char(b));
  }
  CHECK(byte_level_decode(byte_level_encode(all)) == all);
  CHECK(byte_level_encode(" hi") == "\xC4\xA0hi");
  CHECK_FALSE(byte_level_decode("a b").has_value());      // raw space is not in the alphabet
  CHECK_FALSE(byte_level_decode("\xE4\xB8\xAD").has_value());  // 中 is not either
  CHECK_FALSE(byte_level_decode("\xC4").has_value());     // invalid UTF-8
}

TEST_CASE("qwen2 pre-tokenizer on hand-checked cases") {
  const auto q = PreTokenizer::qwen2;
  CHECK(split(q, "Hello world") == Strings{"Hello", " world"});
  CHECK(split(q, "I'm HE'LL they'Re") == Strings{"I", "'m", " HE", "'LL", " they", "'Re"});
  CHECK(split(q, "12345") == Strings{"1", "2", "3", "4", "5"});
  CHECK(split(q, "a  b") == Strings{"a", " ", " b"});
  CHECK(split(q, "a \n\n b") == Strings{"a", " \n\n", " b"});
  CHECK(split(q, "x  ") == Strings{"x", "  "});
  CHECK(split(q, "x \r\n") == Strings{"x", " \r\n"});
  CHECK(split(q, "...\n\nok") == Strings{"...\n\n", "ok"});
  CHECK(split(q, " ...x") == Strings{" ...", "x"});
  CHECK(split(q, "(hello") == Strings{"(hello"});
  CHECK(split(q, "\thello") == Strings{"\thello"});
  CHECK(split(q, "\nhello") == Strings{"\n", "hello"});
  CHECK(split(q, " 7") == Strings{" ", "7"});
  CHECK(split(q, "  \t7") == Strings{"  ", "\t", "7"});
  CHECK(split(q, "'x") == Strings{"'x"});
  CHECK(split(q, "'") == Strings{"'"});
  CHECK(split(q, "\xFF\xFEz") == Strings{"\xFF\xFE", "z"});  // invalid bytes act as punctuation
  CHECK(split(q, "\xFFz") == Strings{"\xFFz"});
  CHECK(split(q, "") == Strings{});
}

TEST_CASE("llama3 groups up to three digits; gpt2 splits contractions case-sensitively") {
  CHECK(split(PreTokenizer::llama3, "1234567") == Strings{"123", "456", "7"});
  CHECK(split(PreTokenizer::llama3, "x 1234") == Strings{"x", " ", "123", "4"});
  CHECK(split(PreTokenizer::gpt2, "I'm I'M 42 x") == Strings{"I", "'m", " I", "'", "M", " 42", " x"});
  CHECK(split(PreTokenizer::gpt2, "a  b\n\nc") == Strings{"a", " ", " b", "\n", "\n", "c"});
  CHECK(split(PreTokenizer::gpt2, "x   ") == Strings{"x", "   "});
}

TEST_CASE("pre-tokenizer pieces always cover the input exactly") {
  std::mt19937 rng(7);
  const std::vector<std::string> atoms = {"a", "Z", " ", "  ", "\n", "\r\n", "\t", "'", "s", "LL", "7", "\xC3\xA9",
                                          "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\xC2\xA0", "\xFF", "\x80", "\xE4\xB8",
                                          ".", "!", "\xCC\x81"};
  for (int iter = 0; iter < 2000; ++iter) {
    std::string text;
    const int n = int(rng() % 20);
    for (int i = 0; i < n; ++i) text += atoms[rng() % atoms.size()];
    for (PreTokenizer kind : {PreTokenizer::qwen2, PreTokenizer::llama3, PreTokenizer::gpt2}) {
      std::string joined;
      for (const auto& p : split(kind, text)) {
        REQUIRE_FALSE(p.empty());
        joined += p;
      }
      REQUIRE(joined == text);
    }
  }
}

TEST_CASE("merges follow rank order, leftmost first, on short and long pieces") {
  // Random merges over a 4-letter alphabet; compare with the textbook algorithm
  // on pieces shorter and longer than the short-piece path's limit.
  std::mt19937 rng(1234);
  for (int vocab_round = 0; vocab_round < 8; ++vocab_round) {
    std::vector<std::string> known = {"a", "b", "c", "d"};
    std::vector<std::pair<std::string, std::string>> merges;
    std::map<std::pair<std::string, std::string>, int> ranks;
    while (merges.size() < 60) {
      const std::string l = known[rng() % known.size()], r = known[rng() % known.size()];
      if (ranks.count({l, r}) || l.size() + r.size() > 8) continue;
      ranks[{l, r}] = int(merges.size());
      merges.emplace_back(l, r);
      known.push_back(l + r);
    }
    Vocab v = make_vocab(merges, {}, PreTokenizer::qwen2);
    const Tokenizer tok(std::move(v));
    for (int iter = 0; iter < 100; ++iter) {
      const size_t len = 1 + rng() % (iter % 4 == 0 ? 400 : 40);
      std::string word;
      for (size_t i = 0; i < len; ++i) word.push_back(char('a' + rng() % 4));
      const std::vector<TokenId> ids = tok.encode(word);  // one letter run = one piece
      const std::vector<std::string> expect = naive_bpe(word, ranks);
      REQUIRE(ids.size() == expect.size());
      for (size_t i = 0; i < ids.size(); ++i) REQUIRE(tok.token_bytes(ids[i]) == expect[i]);
      REQUIRE(tok.decode(ids) == word);
    }
  }
}

TEST_CASE("special tokens: control only with parse_special, user-defined always, longest first") {
  Vocab v = make_vocab({{"h", "i"}, {" ", "hi"}},
                       {{"<|im_start|>", TokenType::control},
                        {"<|im_start|>x", TokenType::control},
                        {"<think>", TokenType::user_defined},
                        {"<|unused|>", TokenType::unused}});
  const Tokenizer tok(std::move(v));
  const TokenId im_start = *tok.find("<|im_start|>");
  const TokenId im_start_x = *tok.find("<|im_start|>x");
  const TokenId think = *tok.find("<think>");
  const TokenId hi = *tok.find("hi");
  const TokenId space_hi = *tok.find("\xC4\xA0hi");
  CHECK(tok.encode("<|im_start|>hi", true) == std::vector<TokenId>{im_start, hi});
  CHECK(tok.encode("<|im_start|>x hi", true) == std::vector<TokenId>{im_start_x, space_hi});
  CHECK(tok.encode("hi<think> hi", false) == std::vector<TokenId>{hi, think, space_hi});
  const auto plain = tok.encode("<|im_start|>hi", false);
  CHECK(plain.size() > 2);
  CHECK(tok.decode(plain) == "<|im_start|>hi");
  CHECK(tok.is_control(im_start));
  CHECK_FALSE(tok.is_control(think));
  CHECK(tok.token_type(think) == TokenType::user_defined);
  CHECK(tok.decode(std::vector<TokenId>{im_start, think}) == "<|im_start|><think>");
  // Unused tokens are never matched in text.
  CHECK(tok.decode(tok.encode("<|unused|>", true)) == "<|unused|>");
  CHECK(tok.encode("<|unused|>", true).size() > 1);
}

TEST_CASE("BOS is prepended only when the vocab asks for it") {
  Vocab v = make_vocab({}, {{"<s>", TokenType::control}});
  v.bos = TokenId(v.tokens.size() - 1);
  Vocab v2 = v;
  v.add_bos = true;
  const Tokenizer with(std::move(v)), without(std::move(v2));
  CHECK(with.encode_with_bos("a", false) == std::vector<TokenId>{256, 'a'});
  CHECK(without.encode_with_bos("a", false) == std::vector<TokenId>{'a'});
  CHECK(with.encode("a", false) == std::vector<TokenId>{'a'});
}

TEST_CASE("ignore_merges takes whole vocab entries") {
  // "abc" is in the vocab but the merges alone would stop at "ab" + "c".
  Vocab v = make_vocab({{"a", "b"}, {"b", "c"}, {"a", "bc"}});
  v.ignore_merges = false;
  Vocab v2 = v;
  v2.tokens.push_back(byte_level_encode("xyz"));
  v2.token_types.push_back(TokenType::normal);
  v2.ignore_merges = true;
  const Tokenizer merged(std::move(v)), whole(std::move(v2));
  CHECK(merged.encode("abc").size() == 2);  // ab + c: rank of (a,b) beats (b,c)
  CHECK(whole.encode("abc").size() == 1);
  CHECK(whole.encode("xyz") == std::vector<TokenId>{*whole.find("xyz")});
  CHECK(merged.encode("xyz").size() == 3);
}

TEST_CASE("decode handles any id sequence; bad ids are errors") {
  const Tokenizer tok(make_vocab({{"\xE4", "\xB8"}, {"\xE4\xB8", "\xAD"}}));
  const auto ids = tok.encode("\xE4\xB8\xAD!");
  CHECK(ids.size() == 2);
  // Partial characters decode to their raw bytes.
  CHECK(tok.decode(std::vector<TokenId>{0xE4}) == "\xE4");
  CHECK(tok.decode(std::vector<TokenId>{}) == "");
  try {
    (void)tok.decode(std::vector<TokenId>{int32_t(tok.vocab_size())});
    FAIL("expected an error");
  } catch (const folio::Error& e) {
    CHECK(e.code() == folio::Errc::invalid_argument);
    CHECK(std::string(e.what()).find("out of range") != std::string::npos);
  }
  CHECK_THROWS_AS((void)tok.token_bytes(-1), folio::Error);
  CHECK_FALSE(tok.is_control(-5));
}

TEST_CASE("StreamDecoder holds back unfinished characters") {
  const Tokenizer tok(make_vocab({}));
  StreamDecoder dec(tok);
  // 中 = E4 B8 AD, 😀 = F0 9F 98 80, one byte token each.
  CHECK(dec.push('a') == "a");
  CHECK(dec.push(0xE4) == "");
  CHECK(dec.push(0xB8) == "");
  CHECK(dec.push(0xAD) == "\xE4\xB8\xAD");
  CHECK(dec.push(0xF0) == "");
  CHECK(dec.push(0x9F) == "");
  CHECK(dec.push(0x98) == "");
  CHECK(dec.push(0x80) == "\xF0\x9F\x98\x80");
  // Bytes that can never complete a character are not held.
  CHECK(dec.push(0xFF) == "\xFF");
  CHECK(dec.push(0x80) == "\x80");
  CHECK(dec.push(0xE0) == "");
  CHECK(dec.push(0x80) == "\xE0\x80");  // E0 80 is an overlong prefix: give up and emit
  CHECK(dec.push(0xC3) == "");
  CHECK(dec.flush() == "\xC3");
  CHECK(dec.flush() == "");
}

TEST_CASE("encode/decode round-trips arbitrary bytes") {
  const Tokenizer tok(make_vocab({{"t", "h"}, {"th", "e"}, {" ", "the"}, {"\n", "\n"}},
                                 {{"<|end|>", TokenType::control}}));
  std::mt19937 rng(99);
  for (int iter = 0; iter < 500; ++iter) {
    std::string s;
    const int n = int(rng() % 64);
    for (int i = 0; i < n; ++i) s.push_back(char(rng() % 4 == 0 ? rng() % 256 : " the\n<|end|>"[rng() % 12]));
    REQUIRE(tok.decode(tok.encode(s, true)) == s);
    REQUIRE(tok.decode(tok.encode(s, false)) == s);
  }
}

TEST_CASE("bad vocabularies are refused with a message") {
  Vocab empty;
  CHECK_THROWS_AS(Tokenizer(std::move(empty)), folio::Error);
  Vocab bad_merge = make_vocab({});
  bad_merge.merges.push_back("a");
  CHECK_THROWS_WITH_AS(Tokenizer(std::move(bad_merge)), doctest::Contains("merge 0"), folio::Error);
  Vocab missing = make_vocab({});
  missing.merges.push_back("a zz");
  CHECK_THROWS_WITH_AS(Tokenizer(std::move(missing)), doctest::Contains("not in the vocabulary"), folio::Error);
  Vocab types = make_vocab({});
  types.token_types.pop_back();
  CHECK_THROWS_AS(Tokenizer(std::move(types)), folio::Error);
  Vocab bos = make_vocab({});
  bos.bos = 100000;
  CHECK_THROWS_WITH_AS(Tokenizer(std::move(bos)), doctest::Contains("bos"), folio::Error);
  // A vocab without a byte's token can still encode other text, and says which byte is missing.
  Vocab holes = make_vocab({});
  holes.tokens[0x41] = "[unused A]";
  holes.token_types[0x41] = TokenType::unused;
  const Tokenizer tok(std::move(holes));
  CHECK(tok.encode("b").size() == 1);
  CHECK_THROWS_WITH_AS((void)tok.encode("A"), doctest::Contains("0x41"), folio::Error);
}

TEST_CASE("NFC on hand-checked cases") {
  CHECK(to_nfc("e\xCC\x81") == "\xC3\xA9");                      // e + acute -> é
  CHECK(to_nfc("\xE2\x84\xAB") == "\xC3\x85");                   // Å angstrom sign -> Å
  CHECK(to_nfc("e\xCC\x82\xCC\xA3") == "\xE1\xBB\x87");          // e + circumflex + dot below -> ệ (reordered)
  CHECK(to_nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8") == "\xEA\xB0\x81");  // jamo -> 각
  CHECK(to_nfc("a\xFF" "e\xCC\x81") == "a\xFF\xC3\xA9");           // invalid bytes pass through
  CHECK(to_nfc("plain ascii") == "plain ascii");
  CHECK_FALSE(nfc_may_change("plain ascii, caf\xC3\xA9, \xE4\xB8\xAD"));
  CHECK(nfc_may_change("e\xCC\x81"));
  CHECK(nfc_may_change("\xE2\x84\xAB"));
  // An NFC vocab tokenizes the normalized text; a plain one keeps the bytes.
  Vocab v = make_vocab({});
  v.normalizer = Normalizer::nfc;
  const Tokenizer nfc(std::move(v)), raw(make_vocab({}));
  CHECK(nfc.decode(nfc.encode("cafe\xCC\x81")) == "caf\xC3\xA9");
  CHECK(raw.decode(raw.encode("cafe\xCC\x81")) == "cafe\xCC\x81");
}

TEST_CASE("long texts (cached pieces) encode like their short parts") {
  const Tokenizer tok(make_vocab({{"t", "h"}, {"th", "e"}, {" ", "the"}, {"i", "n"}, {" ", "a"}, {"e", "r"},
                                  {"\xC3", "\xA9"}, {" ", "\xC3\xA9"}, {"1", "2"}}));
  // Each paragraph starts with a letter and ends with a newline, so piece
  // boundaries fall between paragraphs and encode(P * k) == encode(P) * k.
  const std::string p = "The thinner  the\tbetter: 12 121 caf\xC3\xA9 \xC3\xA9t\xC3\xA9, in 1212 \xE4\xB8\xAD!\n";
  const std::vector<TokenId> one = tok.encode(p);
  std::string text;
  std::vector<TokenId> want;
  for (int k = 0; k < 400; ++k) {
    text += p;
    want.insert(want.end(), one.begin(), one.end());
  }
  REQUIRE(text.size() > 16384);
  CHECK(tok.encode(text) == want);
  CHECK(tok.decode(want) == text);
}

TEST_CASE("encode_with_offsets: byte offsets of every token in the original text") {
  Vocab v = make_vocab({{"t", "h"}, {"th", "e"}, {" ", "the"}, {"\xC3", "\xA9"}}, {{"<|s|>", TokenType::control}});
  Vocab v_nfc = v;
  v_nfc.normalizer = Normalizer::nfc;
  const Tokenizer raw(std::move(v)), nfc(std::move(v_nfc));
  // NFC text: offsets are the running sum of token lengths.
  const std::string text = "the<|s|> the caf\xC3\xA9 \xE4\xB8\xAD!";
  for (const Tokenizer* tok : {&raw, &nfc}) {
    const Tokenizer::Encoding e = tok->encode_with_offsets(text, true);
    CHECK(e.ids == tok->encode(text, true));
    REQUIRE(e.offsets.size() == e.ids.size() + 1);
    CHECK(e.offsets.front() == 0);
    CHECK(e.offsets.back() == text.size());
    for (size_t i = 0; i < e.ids.size(); ++i)
      CHECK(e.offsets[i + 1] - e.offsets[i] == tok->token_bytes(e.ids[i]).size());
  }
  // Not NFC: "abc e + U+0301 xyz" normalizes the "e\u0301" stretch (bytes 4..7)
  // to "é" (2 bytes, one token). Tokens after it map back to original offsets.
  const std::string decomposed = "abc e\xCC\x81 xyz";
  const Tokenizer::Encoding e = nfc.encode_with_offsets(decomposed);
  CHECK(nfc.decode(e.ids) == "abc \xC3\xA9 xyz");
  const std::vector<uint32_t> want = {0, 1, 2, 3, 4, 7, 8, 9, 10, 11};  // a b c ' ' é ' ' x y z, end
  CHECK(e.offsets == want);
  for (size_t i = 0; i + 1 < e.offsets.size(); ++i) CHECK(e.offsets[i] <= e.offsets[i + 1]);
}

TEST_CASE("offsets stay exact where NFC leaves a stretch unchanged") {
  Vocab v = make_vocab({});
  v.normalizer = Normalizer::nfc;
  const Tokenizer tok(std::move(v));
  const std::string text = "q\xCC\x83 ok";  // q + combining tilde: no precomposed form
  REQUIRE(nfc_may_change(text));
  const Tokenizer::Encoding e = tok.encode_with_offsets(text);
  CHECK(tok.decode(e.ids) == text);
  for (size_t i = 0; i < e.ids.size(); ++i) CHECK(e.offsets[i + 1] - e.offsets[i] == tok.token_bytes(e.ids[i]).size());
}
