// Assembly through the model's tokenizer (byte-level BPE): token bytes
// concatenate to the rendered text, offsets follow real token lengths, and
// anchor tokens are flagged global.
#include <doctest/doctest.h>

#ifdef FOLIO_INGEST_HAVE_TOKENIZER

#include "ingest/corpus.hpp"
#include "ingest/render.hpp"
#include "ingest/tokenizer_adapter.hpp"
#include "ingest/transcript.hpp"
#include "runtime/tokenizer/byte_level.hpp"

using namespace folio;
using namespace folio::ingest;

namespace {

// 256 byte tokens plus merges for a few frequent pairs.
tok::Tokenizer tiny_bpe() {
  tok::Vocab v;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(tok::byte_level_encode(std::string(1, char(b))));
  const std::pair<std::string, std::string> merges[] = {{"e", "s"}, {"i", "n"}, {" ", "t"}, {"o", "n"},
                                                        {"0", "0"}, {"e", "n"}, {"es", "t"}, {" t", "h"}};
  for (const auto& [a, b] : merges) {
    v.merges.push_back(tok::byte_level_encode(a) + " " + tok::byte_level_encode(b));
    v.tokens.push_back(tok::byte_level_encode(a + b));
  }
  return tok::Tokenizer(std::move(v));
}

}  // namespace

TEST_CASE("ModelTokenizer: BPE tokens map back to rendered bytes and anchors") {
  const std::string vtt =
      "WEBVTT\n\n00:00.000 --> 00:02.000\n<v Alice>Testing the ingestion pipeline.\n\n"
      "00:02.000 --> 00:04.000\n<v Bob>Then the tokens mention the tests.\n";
  Corpus corpus;
  corpus.add(parse_webvtt(vtt, "talk.vtt"));
  const ModelTokenizer tokenizer(tiny_bpe(), "tiny");
  const TokenStream s = assemble(corpus, tokenizer, {0.5});
  CHECK(s.tokenizer == "tiny");
  const std::string text = render(corpus.documents()[0]);
  CHECK(s.size() < text.size());  // merges happened
  std::string joined;
  for (int32_t id : s.tokens) joined += tokenizer.tokenizer().token_bytes(id);
  CHECK(joined == text);
  // Offsets: each token starts where the previous one ended, within its block.
  for (size_t i = 1; i < s.size(); ++i) {
    if (s.origin[i].block != s.origin[i - 1].block) {
      CHECK(s.origin[i].offset == 0);
      continue;
    }
    CHECK(s.origin[i].offset == s.origin[i - 1].offset + tokenizer.token_length(s.tokens[i - 1]));
  }
  // Global tokens are exactly those of "[00:00:00.000] Alice:" and "[00:00:02.000] Bob:".
  std::string global_text;
  for (size_t i = 0; i < s.size(); ++i)
    if (s.global[i]) global_text += tokenizer.tokenizer().token_bytes(s.tokens[i]);
  CHECK(global_text == "[00:00:00.000] Alice:[00:00:02.000] Bob:");
  // Token -> time.
  const size_t at = text.find("tokens");
  size_t token = 0;
  for (size_t pos = 0; token < s.size(); ++token) {
    const size_t len = tokenizer.token_length(s.tokens[token]);
    if (pos + len > at) break;
    pos += len;
  }
  const TokenLocation loc = locate(corpus, s, token);
  CHECK(std::get<CueLocation>(loc.where).start_ms == 2000);
  CHECK(std::get<CueLocation>(loc.where).speaker == "Bob");
  CHECK(loc.describe() == "talk.vtt 00:00:02.000-00:00:04.000 Bob (00:00:02.000 Bob)");
}

#endif  // FOLIO_INGEST_HAVE_TOKENIZER
