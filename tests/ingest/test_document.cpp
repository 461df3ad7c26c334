// Document model, rendering, corpus and token-stream assembly.
#include <doctest/doctest.h>

#include <random>

#include "ingest/corpus.hpp"
#include "ingest/document.hpp"
#include "ingest/render.hpp"
#include "ingest/sha256.hpp"
#include "runtime/common/error.hpp"

using namespace folio::ingest;

namespace {

Block heading(std::string number, std::string title, uint32_t page) {
  Block b;
  b.kind = BlockKind::heading;
  b.label = std::move(number);
  b.text = std::move(title);
  b.where = PdfLocation{page, {10, 20, 200, 32}};
  return b;
}

Block para(std::string text, uint32_t page) {
  Block b;
  b.text = std::move(text);
  b.where = PdfLocation{page, {10, 40, 500, 80}};
  return b;
}

Anchor section(std::string number, std::string title, uint16_t level) {
  Anchor a;
  a.kind = AnchorKind::section;
  a.number = std::move(number);
  a.title = std::move(title);
  a.level = level;
  return a;
}

// A contract-like document: 12 > 12.1, 12.2 ; 13.
Document contract() {
  DocumentBuilder b("msa.pdf", SourceFormat::pdf);
  b.add(para("Preamble text.", 1));
  b.add_anchored(heading("12", "Termination", 3), section("12", "Termination", 1));
  b.add(para("Either party may terminate.", 3));
  b.add_anchored(heading("12.1", "Termination for Cause", 3), section("12.1", "Termination for Cause", 2));
  b.add(para("Material breach.", 3));
  b.add_anchored(heading("12.2", "Termination for Convenience", 4), section("12.2", "Termination for Convenience", 2));
  b.add(para("On 30 days notice.", 4));
  b.add_anchored(heading("13", "Governing Law", 5), section("13", "Governing Law", 1));
  b.add(para("The laws of Delaware.", 5));
  return std::move(b).finish();
}

}  // namespace

TEST_CASE("outline nests anchors by level and answers parent, children and path") {
  const Document d = contract();
  REQUIRE(d.outline.size() == 4);
  const AnchorId s12 = *d.outline.find("12");
  const AnchorId s122 = *d.outline.find("12.2 Termination for Convenience");
  const AnchorId s13 = *d.outline.find("13");
  CHECK(d.outline.path(s122) == "12 Termination > 12.2 Termination for Convenience");
  CHECK(d.outline.parent(s122) == s12);
  CHECK_FALSE(d.outline.parent(s13).has_value());
  REQUIRE(d.outline.children(s12).size() == 2);
  CHECK(d.outline[d.outline.children(s12)[0]].number == "12.1");
  CHECK(d.outline.roots().size() == 2);
  CHECK(d.blocks[d.outline[s122].block].label == "12.2");
  // Enclosing anchors: the preamble has none; body text belongs to its heading.
  CHECK_FALSE(d.enclosing_anchor(0).has_value());
  CHECK(d.enclosing_anchor(6) == s122);
  CHECK(d.enclosing_anchor(8) == s13);
  CHECK_THROWS_AS(d.outline[99], folio::Error);
}

TEST_CASE("explicit parents: code-style outline paths") {
  DocumentBuilder b("src/store.cpp", SourceFormat::code);
  Block file_block;
  file_block.kind = BlockKind::code_unit;
  file_block.where = TextLocation{1, 1, 0, 10};
  Anchor file{AnchorKind::file, "", "src/store.cpp", 1, 0, {}, {}};
  const AnchorId f = b.add_anchored_under(file_block, file, std::nullopt);
  Block cls = file_block;
  cls.label = "class Store";
  const AnchorId c = b.add_anchored_under(cls, Anchor{AnchorKind::type, "", "class Store", 2, 0, {}, {}}, f);
  Block fn = file_block;
  fn.label = "Store::put";
  fn.text = "void Store::put(int k) {}";
  fn.where = TextLocation{120, 145, 4000, 4800};
  const AnchorId p = b.add_anchored_under(fn, Anchor{AnchorKind::function, "", "Store::put", 3, 0, {}, {}}, c);
  Block closing = file_block;  // text after put(): the class's closing brace
  closing.text = "};";
  closing.level = 2;
  b.add(closing);
  Block tail = file_block;  // text after the class, at file level
  tail.level = 1;
  b.add(tail);
  const Document d = std::move(b).finish();
  CHECK(d.outline.path(p) == "src/store.cpp > class Store > Store::put");
  CHECK(d.enclosing_anchor(2) == p);
  CHECK(d.enclosing_anchor(3) == c);
  CHECK(d.enclosing_anchor(4) == f);
  const RenderedBlock r = render_block(d, 2);
  CHECK(r.text.starts_with("// src/store.cpp:120-145 Store::put\nvoid Store::put(int k) {}\n"));
  CHECK(r.text.substr(r.anchor_begin, r.anchor_end - r.anchor_begin) == "// src/store.cpp:120-145 Store::put");
  CHECK(r.text.substr(r.body_offset, 4) == "void");
}

TEST_CASE("rendering keeps numbers, titles, timestamps and speakers") {
  const Document d = contract();
  const std::string text = render(d);
  CHECK(text.starts_with("<document source=\"msa.pdf\">\nPreamble text.\n\n# 12 Termination\n\n"));
  CHECK(text.find("## 12.2 Termination for Convenience\n\nOn 30 days notice.\n\n") != std::string::npos);
  CHECK(text.ends_with("</document>\n\n"));

  DocumentBuilder t("call.vtt", SourceFormat::webvtt);
  Block cue;
  cue.kind = BlockKind::transcript_cue;
  cue.text = "Let's begin.";
  cue.where = CueLocation{3723500, 3725000, "Alice", 4};
  t.add_anchored(cue, Anchor{AnchorKind::speaker_turn, "", "Alice", 1, 0, {}, {}});
  cue.text = "Go on.";
  std::get<CueLocation>(cue.where).start_ms = 3725000;
  t.add(cue);
  const Document td = std::move(t).finish();
  const RenderedBlock r0 = render_block(td, 0);
  CHECK(r0.text == "[01:02:03.500] Alice: Let's begin.\n");
  CHECK(r0.text.substr(r0.anchor_begin, r0.anchor_end) == "[01:02:03.500] Alice:");
  const RenderedBlock r1 = render_block(td, 1);
  CHECK(r1.text == "[01:02:05.000] Alice: Go on.\n");
  CHECK(r1.anchor_end == r1.anchor_begin);  // not a turn start: no anchor text
  CHECK(describe(td.blocks[0].where) == "01:02:03.500-01:02:05.000 Alice");
}

TEST_CASE("sha256 matches FIPS 180-4 test vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");  // 448 bits: two blocks
  Sha256 s;  // streaming in odd pieces gives the same digest
  std::string million(1000000, 'a');
  for (size_t i = 0; i < million.size(); i += 997) s.update(std::string_view(million).substr(i, 997));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t b : s.finish()) { hex += kHex[b >> 4]; hex += kHex[b & 15]; }
  CHECK(hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("corpus: stable ids, duplicates refused, unchanged detection, skipped items") {
  Corpus c;
  Document d = contract();
  d.content_hash = sha256_hex("v1");
  const DocumentId id = c.add(d);
  CHECK(id == document_id_for("msa.pdf"));
  CHECK(id != document_id_for("msa2.pdf"));
  CHECK(c.find(id)->source == "msa.pdf");
  CHECK(c.unchanged("msa.pdf", sha256_hex("v1")));
  CHECK_FALSE(c.unchanged("msa.pdf", sha256_hex("v2")));
  CHECK_THROWS_AS(c.add(d), folio::Error);
  c.skip("logo.png", "binary file");
  REQUIRE(c.skipped().size() == 1);
  CHECK(c.skipped()[0].reason == "binary file");
}

TEST_CASE("assemble: tokens map back to blocks and provenance; anchor text is global") {
  Corpus c;
  c.add(contract());
  ByteTokenizer tok;
  AssembleOptions opt;
  opt.global_budget = 1.0;
  const TokenStream s = assemble(c, tok, opt);
  const std::string text = render(c.documents()[0]);
  REQUIRE(s.size() == text.size());
  // Byte tokenizer: the stream is the rendered text.
  for (size_t i = 0; i < s.size(); ++i) REQUIRE(s.tokens[i] == int32_t(static_cast<unsigned char>(text[i])));
  const size_t at = text.find("On 30 days");
  const TokenLocation loc = locate(c, s, at);
  REQUIRE(loc.block.has_value());
  CHECK(*loc.block == 6);
  CHECK(std::get<PdfLocation>(loc.where).page == 4);
  CHECK(loc.anchor_path == "12 Termination > 12.2 Termination for Convenience");
  CHECK(loc.describe() == "msa.pdf p. 4 (12 Termination > 12.2 Termination for Convenience)");
  CHECK(s.origin[at].offset == 0);
  CHECK(s.origin[at + 3].offset == 3);
  // Every byte of every heading line is global, nothing else is.
  size_t expected_global = 0;
  for (const char* h : {"# 12 Termination", "## 12.1 Termination for Cause", "## 12.2 Termination for Convenience",
                        "# 13 Governing Law"}) {
    const size_t p = text.find(h);
    REQUIRE(p != std::string::npos);
    for (size_t i = 0; i < std::string_view(h).size(); ++i) CHECK(s.global[p + i] == 1);
    expected_global += std::string_view(h).size();
  }
  CHECK(s.budget.global_tokens == expected_global);
  size_t flagged = 0;
  for (auto g : s.global) flagged += g;
  CHECK(flagged == expected_global);
  CHECK_FALSE(s.budget.cut());
  CHECK_FALSE(locate(c, s, 0).block.has_value());  // document header markup
  CHECK_THROWS_AS(locate(c, s, s.size()), folio::Error);
}

TEST_CASE("assemble: the global budget drops the deepest levels first and says so") {
  Corpus c;
  c.add(contract());
  ByteTokenizer tok;
  const size_t total = assemble(c, tok, {1.0}).size();
  const size_t level1 = std::string_view("# 12 Termination").size() + std::string_view("# 13 Governing Law").size();
  // Budget that fits level 1 but not level 2.
  AssembleOptions opt;
  opt.global_budget = double(level1 + 5) / double(total);
  const TokenStream s = assemble(c, tok, opt);
  CHECK(s.budget.global_tokens == level1);
  CHECK(s.budget.levels_dropped == std::vector<uint16_t>{2});
  CHECK_FALSE(s.budget.partial_level.has_value());
  CHECK(s.budget.anchors_kept == 2);
  CHECK(s.budget.anchors_total == 4);
  CHECK(s.budget.global_tokens <= s.budget.budget_tokens);
  CHECK(s.budget.describe().find("dropped levels 2") != std::string::npos);
  // Budget smaller than level 1: a prefix of level 1 is kept, the rest reported.
  opt.global_budget = double(std::string_view("# 12 Termination").size() + 2) / double(total);
  const TokenStream p = assemble(c, tok, opt);
  CHECK(p.budget.anchors_kept == 1);
  CHECK(p.budget.partial_level == uint16_t(1));
  CHECK(p.budget.partial_level_anchors_dropped == 1);
  CHECK(p.budget.global_tokens <= p.budget.budget_tokens);
  // Zero budget: nothing global.
  const TokenStream z = assemble(c, tok, {0.0});
  CHECK(z.budget.global_tokens == 0);
  CHECK_THROWS_AS(assemble(c, tok, {1.5}), folio::Error);
}

TEST_CASE("assemble: random corpora keep the budget invariant") {
  std::mt19937 rng(12345);
  for (int round = 0; round < 20; ++round) {
    DocumentBuilder b("doc" + std::to_string(round), SourceFormat::markdown);
    const int n = 5 + int(rng() % 60);
    for (int i = 0; i < n; ++i) {
      if (rng() % 3 == 0) {
        const uint16_t lvl = uint16_t(1 + rng() % 4);
        Block h;
        h.kind = BlockKind::heading;
        h.text = std::string(1 + rng() % 40, char('a' + rng() % 26));
        b.add_anchored(h, section("", h.text, lvl));
      } else {
        b.add(para(std::string(1 + rng() % 300, char('a' + rng() % 26)), 1));
      }
    }
    Corpus c;
    c.add(std::move(b).finish());
    const double budget = double(rng() % 100) / 400.0;
    const TokenStream s = assemble(c, ByteTokenizer{}, {budget});
    size_t flagged = 0;
    for (auto g : s.global) flagged += g;
    CHECK(flagged == s.budget.global_tokens);
    CHECK(s.budget.global_tokens <= s.budget.budget_tokens);
    CHECK(s.budget.anchors_kept <= s.budget.anchors_total);
    CHECK(s.budget.cut() == (s.budget.anchors_kept < s.budget.anchors_total));
    // Dropped levels are the deepest ones.
    for (size_t i = 1; i < s.budget.levels_dropped.size(); ++i)
      CHECK(s.budget.levels_dropped[i] < s.budget.levels_dropped[i - 1]);
  }
}

TEST_CASE("builder enforces limits with errors naming the source") {
  Limits lim;
  lim.max_blocks = 3;
  DocumentBuilder b("big.md", SourceFormat::markdown, lim);
  b.add(para("a", 1));
  b.add(para("b", 1));
  b.add(para("c", 1));
  try {
    b.add(para("d", 1));
    FAIL("expected a limit error");
  } catch (const folio::Error& e) {
    CHECK(std::string(e.what()).find("big.md") != std::string::npos);
    CHECK(std::string(e.what()).find("max_blocks") != std::string::npos);
  }
}
