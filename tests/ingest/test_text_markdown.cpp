// Heading patterns, definitions, Markdown and plain text.
#include <doctest/doctest.h>

#include "ingest/definitions.hpp"
#include "ingest/heading_patterns.hpp"
#include "ingest/markdown.hpp"
#include "ingest/text_util.hpp"
#include "runtime/common/error.hpp"

using namespace folio::ingest;

namespace {

std::vector<std::string> labels(const Document& d) {
  std::vector<std::string> out;
  for (const Anchor& a : d.outline.anchors())
    if (a.kind == AnchorKind::section) out.push_back(std::to_string(a.level) + " " + a.label());
  return out;
}

}  // namespace

TEST_CASE("numbering patterns") {
  auto m = match_numbered("12.2 Termination for Convenience");
  REQUIRE(m);
  CHECK(m->style == NumberStyle::decimal);
  CHECK(m->number == "12.2");
  CHECK(m->depth == 2);
  CHECK(m->title == "Termination for Convenience");
  m = match_numbered("  1.2.3. Scope");
  REQUIRE(m);
  CHECK(m->number == "1.2.3");
  CHECK(m->trailing_dot);
  CHECK(m->depth == 3);
  m = match_numbered("ARTICLE IV - Payment");
  REQUIRE(m);
  CHECK(m->style == NumberStyle::article);
  CHECK(m->number == "ARTICLE IV");
  CHECK(m->title == "Payment");
  m = match_numbered("Article iv");  // case-insensitive keyword, lower-case numeral
  REQUIRE(m);
  CHECK(m->style == NumberStyle::article);
  m = match_numbered("Section 5. Fees");
  REQUIRE(m);
  CHECK(m->style == NumberStyle::section_kw);
  CHECK(m->number == "Section 5");
  CHECK(m->title == "Fees");
  m = match_numbered("\xC2\xA7 7 Notices");
  REQUIRE(m);
  CHECK(m->number == "\xC2\xA7 7");
  m = match_numbered("SCHEDULE B: Service Levels");
  REQUIRE(m);
  CHECK(m->style == NumberStyle::schedule);
  CHECK(m->title == "Service Levels");
  m = match_numbered("(a) the Supplier shall");
  REQUIRE(m);
  CHECK(m->style == NumberStyle::letter_paren);
  m = match_numbered("(iv) any other");
  REQUIRE(m);
  CHECK(m->style == NumberStyle::roman_paren);
  // Not headings.
  CHECK_FALSE(match_numbered("7"));
  CHECK_FALSE(match_numbered("1.5 million dollars"));
  CHECK_FALSE(match_numbered("Sections are important"));
  CHECK_FALSE(match_numbered("Article about things"));
  CHECK_FALSE(match_numbered("2023-01-05 meeting"));
  CHECK(is_roman_numeral("XIV"));
  CHECK(is_roman_numeral("mcmxc"));
  CHECK_FALSE(is_roman_numeral("IIII"));
  CHECK_FALSE(is_roman_numeral("VX"));
  CHECK_FALSE(is_roman_numeral("Xi"));
  // Levels: ranks compressed; schedules beside the top numbered level.
  const int ranks[] = {match_numbered("ARTICLE I")->rank(), match_numbered("1.1 A")->rank(),
                       match_numbered("1.1.1 B")->rank(), match_numbered("Schedule A")->rank()};
  CHECK(rank_levels(ranks) == std::vector<uint16_t>{1, 2, 3, 1});
}

TEST_CASE("case-insensitive matching goes through ICU folding") {
  CHECK(iequals("ARTICLE", "article"));
  CHECK(iequals("STRASSE", "stra\xC3\x9F" "e"));  // ß folds to ss
  std::string_view rest;
  CHECK(istarts_with("\xC3\x84NDERUNG 3", "\xC3\xA4nderung", &rest));  // Ä / ä
  CHECK(rest == " 3");
  CHECK_FALSE(istarts_with("Art", "article"));
  // ASCII prefixes against text with non-ASCII characters after, inside or
  // instead of the prefix's span (the byte-wise shortcut must agree with ICU).
  CHECK(istarts_with("MEANS \xE2\x80\x9Cx\xE2\x80\x9D", "means", &rest));
  CHECK(rest == " \xE2\x80\x9Cx\xE2\x80\x9D");
  CHECK_FALSE(istarts_with("meant \xE2\x80\x9C", "means"));
  CHECK(istarts_with("\xE2\x84\xAA" "EY", "key", &rest));  // KELVIN SIGN folds to k
  CHECK(rest.empty());
  CHECK(istarts_with("Ma\xC3\x9F", "mass", &rest));  // ß folds to ss
  CHECK(rest.empty());
  CHECK_FALSE(istarts_with("\xC3\xA9t\xC3\xA9", "ete"));
  CHECK_FALSE(istarts_with("Pag", "page"));
  CHECK(istarts_with("PAGE", "page", &rest));
  CHECK(rest.empty());
}

TEST_CASE("UTF-16 to UTF-8") {
  const uint16_t text[] = {'A', 0xE9, 0x20AC, 0xD83D, 0xDE00};  // A é € 😀
  CHECK(utf16_to_utf8(text) == "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  const uint16_t lone[] = {0xDC00, 'x', 0xD800};  // unpaired surrogates
  CHECK(utf16_to_utf8(lone) == "\xEF\xBF\xBDx\xEF\xBF\xBD");
  CHECK(utf16_to_utf8({}).empty());
}

TEST_CASE("defined terms") {
  auto t = find_defined_terms("\"Confidential Information\" means any information disclosed.");
  REQUIRE(t.size() == 1);
  CHECK(t[0].term == "Confidential Information");
  CHECK(t[0].offset == 0);
  t = find_defined_terms("\xE2\x80\x9CLicensor\xE2\x80\x9D shall mean the copyright owner.");
  REQUIRE(t.size() == 1);
  CHECK(t[0].term == "Licensor");
  t = find_defined_terms("This agreement (the \"Agreement\") is made by Acme Corp (\"Supplier\") and \"You\" (or \"Your\") shall mean you.");
  REQUIRE(t.size() == 3);
  CHECK(t[0].term == "Agreement");
  CHECK(t[1].term == "Supplier");
  CHECK(t[2].term == "You");
  CHECK(find_defined_terms("He said \"hello there\" and left.").empty());
  CHECK(find_defined_terms("The word \"lowercase\" means nothing here.").empty());
  CHECK(find_defined_terms("unterminated \"Quote means").empty());
}

TEST_CASE("Markdown: ATX and setext headings, fences, lists, tables, numbered headings") {
  const std::string md =
      "# Master Services Agreement\n"
      "\n"
      "Intro paragraph\nspanning two lines.\n"
      "\n"
      "## 1.2 Scope ##\n"
      "\n"
      "- first item\n"
      "  continued\n"
      "- second item\n"
      "1. ordered item\n"
      "\n"
      "```cpp\n"
      "# not a heading\n"
      "int x = 1;\n"
      "```\n"
      "\n"
      "| Name | Fee |\n"
      "|------|----:|\n"
      "| Basic | 10 |\n"
      "\n"
      "Payment Terms\n"
      "-------------\n"
      "\n"
      "ARTICLE IV Termination\n"
      "\n"
      "---\n"
      "\n"
      "> quoted text\n";
  const Document d = parse_markdown(md, "msa.md");
  CHECK(labels(d) == std::vector<std::string>{"1 Master Services Agreement", "2 1.2 Scope", "2 Payment Terms",
                                              "3 ARTICLE IV Termination"});
  REQUIRE(d.blocks.size() == 11);  // the thematic break makes no block
  CHECK(d.blocks[1].kind == BlockKind::paragraph);
  CHECK(d.blocks[1].text == "Intro paragraph spanning two lines.");
  CHECK(std::get<TextLocation>(d.blocks[1].where).line_begin == 3);
  CHECK(std::get<TextLocation>(d.blocks[1].where).line_end == 4);
  CHECK(d.blocks[2].label == "1.2");
  CHECK(d.blocks[2].text == "Scope");
  CHECK(d.blocks[3].kind == BlockKind::list_item);
  CHECK(d.blocks[3].text == "first item continued");
  CHECK(d.blocks[5].label == "1.");
  CHECK(d.blocks[6].kind == BlockKind::code);
  CHECK(d.blocks[6].label == "cpp");
  CHECK(d.blocks[6].text == "# not a heading\nint x = 1;\n");
  CHECK(d.blocks[7].kind == BlockKind::table);
  CHECK(d.blocks[7].text == "Name | Fee\nBasic | 10");
  CHECK(d.blocks[8].kind == BlockKind::heading);
  CHECK(std::get<TextLocation>(d.blocks[8].where).line_begin == 22);
  CHECK(std::get<TextLocation>(d.blocks[8].where).line_end == 23);  // title + underline
  CHECK(d.blocks[10].text == "quoted text");
  // Byte ranges point at the source.
  const auto& loc = std::get<TextLocation>(d.blocks[2].where);
  CHECK(md.substr(loc.byte_begin, loc.byte_end - loc.byte_begin) == "## 1.2 Scope ##");
  CHECK(d.outline.path(*d.outline.find("1.2 Scope")) == "Master Services Agreement > 1.2 Scope");
}

TEST_CASE("Markdown: unclosed fence runs to the end; empty input") {
  const Document d = parse_markdown("text\n```\ncode\n", "x.md");
  REQUIRE(d.blocks.size() == 2);
  CHECK(d.blocks[1].text == "code\n");
  CHECK(parse_markdown("", "e.md").blocks.empty());
  CHECK(parse_markdown("\n\n\r\n", "e.md").blocks.empty());
}

TEST_CASE("plain text: licence-style headings, run-in headings, lists, hyphenation, definitions") {
  const std::string text =
      "SAMPLE AGREEMENT\n"
      "\n"
      "  1. Definitions.\n"
      "\n"
      "  \"Service\" shall mean the hosted software.\n"
      "\n"
      "  2. Fees. The Customer shall pay all fees within thirty days of the invoice\n"
      "  date, without set-off or deduction of any kind whatsoever.\n"
      "\n"
      "1.1. \"Customer\"\n"
      "    means the entity that signs this agreement.\n"
      "\n"
      "Section 3 Term\n"
      "\n"
      "The agreement starts on signature and the termi-\n"
      "nation right is in Section 3.\n"
      "  (a) first condition;\n"
      "  (b) second condition.\n"
      "- bullet one\n";
  const Document d = parse_text(text, "sample.txt");
  CHECK(labels(d) == std::vector<std::string>{"1 SAMPLE AGREEMENT", "3 1. Definitions.", "3 2. Fees.",
                                              "4 1.1. \"Customer\"", "2 Section 3 Term"});
  // Run-in heading body keeps the rest of the paragraph.
  const AnchorId fees = *d.outline.find("2. Fees.");
  const Block& body = d.blocks[d.outline[fees].block + 1];
  CHECK(body.text.starts_with("The Customer shall pay"));
  CHECK(body.text.ends_with("of any kind whatsoever."));
  // Definitions.
  bool service = false;
  for (const Anchor& a : d.outline.anchors())
    if (a.kind == AnchorKind::definition && a.title == "Service") {
      service = true;
      CHECK(d.outline[*a.parent].number == "1.");
      CHECK(d.blocks[a.block].kind == BlockKind::definition);
    }
  CHECK(service);
  // Hyphenation and list items.
  bool joined = false;
  for (const Block& b : d.blocks) joined = joined || b.text.find("termination right") != std::string::npos;
  CHECK(joined);
  size_t items = 0;
  for (const Block& b : d.blocks)
    if (b.kind == BlockKind::list_item) {
      ++items;
      CHECK((b.label == "(a)" || b.label == "(b)" || b.label == "-"));
    }
  CHECK(items == 3);
}

TEST_CASE("plain text on a real licence: Apache-2.0 sections and definitions") {
  const std::string text = read_file_limited("/usr/share/common-licenses/Apache-2.0", Limits{});
  const Document d = parse_text(text, "Apache-2.0");
  std::vector<std::string> numbers;
  std::vector<std::string> terms;
  for (const Anchor& a : d.outline.anchors()) {
    if (a.kind == AnchorKind::section && !a.number.empty()) numbers.push_back(a.number);
    if (a.kind == AnchorKind::definition && a.parent && d.outline[*a.parent].number == "1.") terms.push_back(a.title);
  }
  CHECK(numbers == std::vector<std::string>{"1.", "2.", "3.", "4.", "5.", "6.", "7.", "8.", "9."});
  CHECK(terms == std::vector<std::string>{"License", "Licensor", "Legal Entity", "You", "Source", "Object", "Work",
                                          "Derivative Works", "Contribution", "Contributor"});
  CHECK(d.outline[*d.outline.find("2. Grant of Copyright License.")].level == 2);
}

TEST_CASE("text limits and bad bytes") {
  Limits lim;
  lim.max_source_bytes = 16;
  CHECK_THROWS_AS(parse_text(std::string(17, 'a'), "big.txt", lim), folio::Error);
  lim = Limits{};
  lim.max_blocks = 2;
  CHECK_THROWS_AS(parse_text("a\n\nb\n\nc\n", "many.txt", lim), folio::Error);
  const Document d = parse_text("caf\xC3\xA9 \xC0\x80 ok\x01\n", "bad.txt");
  REQUIRE(d.blocks.size() == 1);
  CHECK(d.blocks[0].text == "caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD ok");
  CHECK(d.notes.size() == 1);
}
