// PDFs typeset by groff from the licence texts in /usr/share/common-licenses
// (made by make_license_pdfs.py as a CTest fixture), one and two columns, with
// running headers and page-number footers. Checks against the ground truth the
// script wrote: every numbered heading found with its number, title, page and
// a consistent level; no header/footer line in the body; reading order (word
// 5-grams of the source found in order-preserving extraction).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "ingest/pdf.hpp"
#include "ingest/text_util.hpp"
#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"

using namespace folio;
using namespace folio::ingest;

namespace {

std::string normalise(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isalnum(c)) out += char(std::tolower(c));
  }
  return out;
}

// Lower-case words of letters and digits only (quotes and punctuation vary
// between the text file and the typeset PDF: ' vs ’, " vs “).
std::vector<std::string> words_of(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  for (unsigned char c : s) {
    if (std::isalnum(c)) {
      cur += char(std::tolower(c));
    } else if (c == ' ' || c == '\n' || c == '\t') {
      if (!cur.empty()) words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

void check_pdf(const std::string& name, bool font_info) {
  const std::filesystem::path dir = FOLIO_PDF_FIXTURES;
  const json::Value truth = json::parse_file(dir / (name + ".json"));
  PdfOptions options;
  options.font_info = font_info;
  const Document d = parse_pdf_file(dir / (name + ".pdf"), {}, options);
  const std::string label = name + (font_info ? " (font info)" : " (no font info)");
  INFO("document: ", label);
  CHECK(d.pages == uint32_t(truth["pages"].as_int64()));

  // Numbered section anchors of the document, by number.
  std::map<std::string, AnchorId> by_number;
  size_t numbered = 0;
  for (size_t i = 0; i < d.outline.size(); ++i) {
    const Anchor& a = d.outline[AnchorId(i)];
    if (a.kind == AnchorKind::section && !a.number.empty() && std::isdigit(static_cast<unsigned char>(a.number[0]))) {
      ++numbered;
      CHECK_MESSAGE(by_number.emplace(a.number, AnchorId(i)).second, "duplicate heading ", a.number);
    }
  }
  const auto& headings = truth["headings"].as_array();
  if (!font_info) {
    // Without font names Poppler gives no weights: a heading at body size set
    // tight above its body is not told from a numbered paragraph. Measured, not
    // exact: most headings found, each on the right page, nothing invented.
    size_t found = 0;
    for (const json::Value& h : headings) {
      auto it = by_number.find(h["number"].as_string());
      if (it != by_number.end() &&
          std::get<PdfLocation>(d.blocks[d.outline[it->second].block].where).page == uint32_t(h["page"].as_int64()))
        ++found;
    }
    MESSAGE(label, ": headings found ", found, " of ", headings.size());
    CHECK(numbered <= headings.size());
    CHECK(found * 3 >= headings.size() * 2);
  }
  if (font_info) CHECK(numbered == headings.size());  // nothing missed, nothing invented
  std::map<int64_t, std::set<uint16_t>> levels_by_depth;
  for (const json::Value& h : font_info ? headings : json::Array{}) {
    const std::string number = h["number"].as_string();
    INFO("heading ", number, " ", h["title"].as_string());
    auto it = by_number.find(number);
    REQUIRE_MESSAGE(it != by_number.end(), "heading not found");
    const Anchor& a = d.outline[it->second];
    CHECK(normalise(a.title) == normalise(h["title"].as_string()));
    CHECK(std::get<PdfLocation>(d.blocks[a.block].where).page == uint32_t(h["page"].as_int64()));
    levels_by_depth[h["depth"].as_int64()].insert(a.level);
    // "1.2." sits under "1.".
    if (h["depth"].as_int64() > 1) {
      const std::string parent_number = number.substr(0, number.rfind('.', number.size() - 2) + 1);
      REQUIRE(a.parent.has_value());
      CHECK(d.outline[*a.parent].number == parent_number);
    }
  }
  // One level per numbering depth, consecutive.
  for (const auto& [depth, levels] : levels_by_depth) {
    INFO("depth ", depth);
    CHECK(levels.size() == 1);
    if (levels_by_depth.count(depth + 1))
      CHECK(*levels_by_depth[depth + 1].begin() == *levels.begin() + 1);
  }

  // No running header or footer in any block.
  const std::string header_left = truth["header_left"].as_string();
  const std::string header_right = truth["header_right"].as_string();
  const std::regex page_footer("Page [0-9]+");
  for (const Block& b : d.blocks) {
    INFO("block: ", b.text.substr(0, 120));
    CHECK(b.text.find(header_left) == std::string::npos);
    CHECK(b.text.find(header_right) == std::string::npos);
    CHECK_FALSE(std::regex_search(b.text, page_footer));
  }
  bool noted = false;
  for (const auto& n : d.notes) noted = noted || n.find("running header/footer") != std::string::npos;
  CHECK(noted);

  // Reading order and hyphenation: word 5-grams of the source text appear in
  // the extracted text (rendered in block order), at least 97% of them.
  std::string extracted;
  for (const Block& b : d.blocks) {
    extracted += b.label;
    extracted += ' ';
    extracted += b.text;
    extracted += ' ';
  }
  const auto src = words_of(truth["text"].as_string());
  const auto got = words_of(extracted);
  std::set<std::string> got_grams;
  for (size_t i = 0; i + 5 <= got.size(); ++i)
    got_grams.insert(got[i] + " " + got[i + 1] + " " + got[i + 2] + " " + got[i + 3] + " " + got[i + 4]);
  size_t found = 0, total = 0;
  for (size_t i = 0; i + 5 <= src.size(); ++i, ++total)
    found += got_grams.count(src[i] + " " + src[i + 1] + " " + src[i + 2] + " " + src[i + 3] + " " + src[i + 4]);
  const double recall = total ? double(found) / double(total) : 0;
  MESSAGE(label, ": 5-gram recall ", recall, ", ", numbered, " numbered headings");
  CHECK(recall >= 0.97);
}

}  // namespace

TEST_CASE("licence PDFs: GPL-3, one column") {
  check_pdf("GPL-3-1col", true);
  check_pdf("GPL-3-1col", false);
}
TEST_CASE("licence PDFs: GPL-3, two columns") {
  check_pdf("GPL-3-2col", true);
  check_pdf("GPL-3-2col", false);
}
TEST_CASE("licence PDFs: Apache-2.0, one column") {
  check_pdf("Apache-2.0-1col", true);
  check_pdf("Apache-2.0-1col", false);
}
TEST_CASE("licence PDFs: Apache-2.0, two columns") {
  check_pdf("Apache-2.0-2col", true);
  check_pdf("Apache-2.0-2col", false);
}
TEST_CASE("licence PDFs: MPL-2.0, one column") {
  check_pdf("MPL-2.0-1col", true);
  check_pdf("MPL-2.0-1col", false);
}
TEST_CASE("licence PDFs: MPL-2.0, two columns") {
  check_pdf("MPL-2.0-2col", true);
  check_pdf("MPL-2.0-2col", false);
}

TEST_CASE("licence PDFs: Apache-2.0 defined terms are definition anchors under 1. Definitions.") {
  for (const char* name : {"Apache-2.0-1col", "Apache-2.0-2col"}) {
    const Document d = parse_pdf_file(std::filesystem::path(FOLIO_PDF_FIXTURES) / (std::string(name) + ".pdf"));
    std::vector<std::string> terms;
    for (const Anchor& a : d.outline.anchors())
      if (a.kind == AnchorKind::definition && a.parent && d.outline[*a.parent].number == "1.") terms.push_back(a.title);
    INFO(name);
    CHECK(terms == std::vector<std::string>{"License", "Licensor", "Legal Entity", "You", "Source", "Object", "Work",
                                            "Derivative Works", "Contribution", "Contributor"});
  }
}

TEST_CASE("licence PDFs: encrypted and truncated files") {
  const std::filesystem::path dir = FOLIO_PDF_FIXTURES;
  try {
    parse_pdf_file(dir / "encrypted.pdf");
    FAIL("an encrypted PDF opened without its password");
  } catch (const folio::Error& e) {
    CHECK(e.code() == folio::Errc::unsupported);
    CHECK(std::string(e.what()) == (dir / "encrypted.pdf").string() + ": encrypted PDF: a password is required");
  }
  PdfOptions wrong;
  wrong.password = "guess";
  CHECK_THROWS_WITH(parse_pdf_file(dir / "encrypted.pdf", {}, wrong),
                    doctest::Contains("encrypted PDF: wrong password"));
  PdfOptions right;
  right.password = "secret";
  const Document d = parse_pdf_file(dir / "encrypted.pdf", {}, right);
  CHECK(d.outline.find("9.").has_value());
  // Truncations of a real PDF: an error that names the file, or a document
  // (Poppler reconstructs what it can); never a crash.
  const std::string bytes = read_file_limited(dir / "GPL-3-1col.pdf", Limits{});
  for (size_t cut : {size_t(10), bytes.size() / 3, bytes.size() / 2, bytes.size() - 100}) {
    try {
      const Document t = parse_pdf(std::string_view(bytes).substr(0, cut), "cut.pdf");
      CHECK(t.pages <= 9);
    } catch (const folio::Error& e) {
      CHECK(std::string(e.what()).starts_with("cut.pdf: "));
    }
  }
}
