// PDF layout analysis on synthetic pages (no Poppler): lines, columns, running
// lines, headings, hyphenation, definitions; and Poppler-level errors.
#include <doctest/doctest.h>

#include <random>

#include "ingest/pdf.hpp"
#include "ingest/pdf_layout.hpp"
#include "runtime/common/error.hpp"

using namespace folio::ingest;

namespace {

constexpr double kChar = 5.0;  // width of a character at 10 pt in these pages

// Adds the words of `text` as one line starting at (x, y).
void line(PdfPage& p, double x, double y, std::string_view text, double size = 10, bool bold = false) {
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') {
      ++i;
      x += kChar * size / 10;
    }
    size_t j = i;
    while (j < text.size() && text[j] != ' ') ++j;
    if (j == i) break;
    PdfWord w;
    w.text = std::string(text.substr(i, j - i));
    const double width = double(j - i) * kChar * size / 10;
    w.box = {x, y, x + width, y + size};
    w.font_size = size;
    w.bold = bold;
    w.space_after = j < text.size();
    p.words.push_back(std::move(w));
    x += width;
    i = j;
  }
}

Document layout(const std::vector<PdfPage>& pages, std::vector<PdfOutlineEntry> outline = {}) {
  DocumentBuilder b("synthetic.pdf", SourceFormat::pdf);
  layout_pdf(pages, outline, b);
  return std::move(b).finish();
}

std::string all_text(const Document& d) {
  std::string s;
  for (const Block& b : d.blocks) s += (b.label.empty() ? "" : b.label + " ") + b.text + "\n";
  return s;
}

// A two-column page: header, footer with the page number, a full-width title
// on page 1, and body lines "L<page>.<n>" / "R<page>.<n>" in each column.
PdfPage two_column_page(uint32_t number) {
  PdfPage p;
  p.number = number;
  line(p, 72, 30, "ACME Master Agreement");
  line(p, 400, 30, "Confidential");
  line(p, 290, 760, "Page " + std::to_string(number));
  double y = 80;
  if (number == 1) {
    line(p, 150, y, "MASTER SERVICES AGREEMENT BETWEEN ACME AND CLIENT", 16, true);
    y += 30;
  }
  // Section numbers grow from page to page, as real ones do (a repeated
  // heading would look like a running header).
  line(p, 72, y, std::to_string(2 * number - 1) + ". Scope", 10, true);
  line(p, 320, y, std::to_string(2 * number) + ". Fees", 10, true);
  y += 14;
  for (int n = 0; n < 12; ++n, y += 12) {
    line(p, 72, y, "left column text L" + std::to_string(number) + "." + std::to_string(n) + " more words here");
    line(p, 320, y, "right column text R" + std::to_string(number) + "." + std::to_string(n) + " more words");
  }
  return p;
}

}  // namespace

TEST_CASE("two columns read left then right; running lines and page numbers are removed") {
  std::vector<PdfPage> pages = {two_column_page(1), two_column_page(2), two_column_page(3)};
  const Document d = layout(pages);
  const std::string text = all_text(d);
  CHECK(text.find("ACME Master Agreement") == std::string::npos);
  CHECK(text.find("Confidential") == std::string::npos);
  CHECK(text.find("Page ") == std::string::npos);
  // Within each page: all of the left column, then the right column.
  for (int pg = 1; pg <= 3; ++pg) {
    const std::string p = std::to_string(pg);
    const size_t l0 = text.find("L" + p + ".0 "), l11 = text.find("L" + p + ".11 ");
    const size_t r0 = text.find("R" + p + ".0 "), r11 = text.find("R" + p + ".11 ");
    REQUIRE(l0 != std::string::npos);
    REQUIRE(r11 != std::string::npos);
    CHECK(l0 < l11);
    CHECK(l11 < r0);
    CHECK(r0 < r11);
  }
  REQUIRE(!d.notes.empty());
  CHECK(d.notes[0] == "removed 9 running header/footer and page-number lines");
  // The title spans both columns and is larger: the top heading.
  REQUIRE(d.outline.size() >= 7);
  CHECK(d.outline[0].title == "MASTER SERVICES AGREEMENT BETWEEN ACME AND CLIENT");
  CHECK(d.outline[0].level == 1);
  CHECK(d.outline[1].label() == "1. Scope");
  CHECK(d.outline[1].level == 2);
  CHECK(std::get<PdfLocation>(d.blocks[d.outline[1].block].where).page == 1);
}

TEST_CASE("hyphenated line ends are joined; paragraphs split at gaps and indents") {
  PdfPage p;
  p.number = 1;
  line(p, 72, 100, "The Supplier shall provide the termi-");
  line(p, 72, 112, "nation assistance described in the well-");
  line(p, 72, 124, "Known schedule.");
  line(p, 72, 160, "A second paragraph after a gap.");
  line(p, 90, 172, "An indented third paragraph starts here and");
  line(p, 72, 184, "continues on the next line.");
  const Document d = layout({p});
  REQUIRE(d.blocks.size() == 3);
  CHECK(d.blocks[0].text == "The Supplier shall provide the termination assistance described in the well- Known schedule.");
  CHECK(d.blocks[1].text == "A second paragraph after a gap.");
  CHECK(d.blocks[2].text == "An indented third paragraph starts here and continues on the next line.");
  const auto& where = std::get<PdfLocation>(d.blocks[0].where);
  CHECK(where.page == 1);
  CHECK(where.bbox.y0 == doctest::Approx(100));
  CHECK(where.bbox.y1 == doctest::Approx(134));
}

TEST_CASE("contract headings: ARTICLE / Section / (a) levels, definitions, outline depth wins") {
  PdfPage p;
  p.number = 1;
  double y = 60;
  auto add = [&](std::string_view t, bool bold = false, double gap = 24) {
    line(p, 72, y, t, 10, bold);
    y += gap;
  };
  add("ARTICLE I DEFINITIONS", true);
  add("\"Confidential Information\" means all non-public information disclosed by a party.");
  add("Section 1.1 Interpretation", true);
  add("Headings are for convenience only.");
  add("(a) the singular includes the plural;", false, 12);
  add("(b) \"Business Day\" means a weekday.");
  add("ARTICLE II PAYMENT", true);
  add("Section 2.1 Fees", true);
  add("Fees are due monthly.");
  add("Schedule A Pricing", true);
  const Document d = layout({p});
  std::vector<std::string> sections;
  for (const Anchor& a : d.outline.anchors())
    if (a.kind == AnchorKind::section) sections.push_back(std::to_string(a.level) + " " + a.label());
  CHECK(sections == std::vector<std::string>{"1 ARTICLE I DEFINITIONS", "2 Section 1.1 Interpretation",
                                             "1 ARTICLE II PAYMENT", "2 Section 2.1 Fees", "1 Schedule A Pricing"});
  std::vector<std::string> terms;
  for (const Anchor& a : d.outline.anchors())
    if (a.kind == AnchorKind::definition) {
      terms.push_back(a.title);
      REQUIRE(a.parent.has_value());
    }
  CHECK(terms == std::vector<std::string>{"Confidential Information", "Business Day"});
  size_t items = 0;
  for (const Block& b : d.blocks)
    if (b.kind == BlockKind::list_item) ++items;
  CHECK(items == 2);
  // The PDF outline's depth overrides the inferred level.
  const Document o = layout({p}, {{"ARTICLE I DEFINITIONS", 1}, {"Section 1.1 Interpretation", 3}});
  CHECK(o.outline[*o.outline.find("Section 1.1 Interpretation")].level == 3);
}

TEST_CASE("hostile layout input: NaN boxes, empty words, huge pages, random words") {
  PdfPage p;
  p.number = 1;
  PdfWord nan;
  nan.text = "nan";
  nan.box = {std::nan(""), 0, 1, 1};
  p.words.push_back(nan);
  PdfWord empty;
  empty.box = {1, 1, 2, 2};
  p.words.push_back(empty);
  PdfWord inverted;
  inverted.text = "inv";
  inverted.box = {10, 10, 5, 5};
  p.words.push_back(inverted);
  CHECK(layout({p}).blocks.empty());
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::vector<PdfPage> pages(1 + rng() % 4);
    for (size_t i = 0; i < pages.size(); ++i) {
      pages[i].number = uint32_t(i + 1);
      for (int w = 0; w < 300; ++w) {
        PdfWord word;
        word.text = std::string(1 + rng() % 8, char('a' + rng() % 26));
        const double x = double(rng() % 600), y = double(rng() % 800), s = 4 + double(rng() % 20);
        word.box = {x, y, x + s * double(word.text.size()) / 2, y + s};
        word.font_size = rng() % 5 == 0 ? 0 : s;
        word.bold = rng() % 7 == 0;
        pages[i].words.push_back(std::move(word));
      }
    }
    const Document d = layout(pages);
    size_t chars = 0;
    for (const Block& b : d.blocks) chars += b.text.size() + b.label.size();
    CHECK(chars > 0);
  }
}

TEST_CASE("PDF errors name the file and the problem") {
  auto message = [](std::string_view bytes) {
    try {
      parse_pdf(bytes, "in.pdf");
    } catch (const folio::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(message("hello") == "in.pdf: not a PDF (no %PDF- header)");
  CHECK(message("%PDF-1.4\n garbage garbage \n%%EOF") == "in.pdf: damaged PDF that Poppler cannot open");
  CHECK(message("%PDF-1.4\n1 0 obj << /Encrypt 2 0 R >> endobj\n%%EOF").find("encrypted PDF") != std::string::npos);
  Limits lim;
  lim.max_source_bytes = 4;
  CHECK_THROWS_AS(parse_pdf("%PDF-1.4", "big.pdf", lim), folio::Error);
}
