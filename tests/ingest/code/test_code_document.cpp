// Documents built from code outlines: blocks tile the file in order, provenance
// is exact, anchors form the definition tree, and the plain-text fallback keeps
// every non-blank line.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "ingest/code/code_document.hpp"
#include "ingest/code/code_parser.hpp"
#include "ingest/code/ingest_code.hpp"
#include "ingest/code/utf8.hpp"

using namespace folio::ingest;
using namespace folio::ingest::code;

namespace {

bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v'; }

size_t line_of(std::string_view source, uint64_t byte) {
  return 1 + size_t(std::count(source.begin(), source.begin() + std::ptrdiff_t(byte), '\n'));
}

// The invariants every code or text document must satisfy.
void check_tiling(const Document& doc, std::string_view source) {
  uint64_t cursor = 0;
  std::vector<uint8_t> covered(source.size(), 0);
  for (size_t i = 0; i < doc.blocks.size(); ++i) {
    const Block& block = doc.blocks[i];
    const auto* where = std::get_if<TextLocation>(&block.where);
    REQUIRE_MESSAGE(where != nullptr, doc.source << " block " << i);
    CHECK_MESSAGE(where->byte_begin >= cursor, doc.source << " block " << i << " overlaps its predecessor");
    CHECK(where->byte_end >= where->byte_begin);
    REQUIRE(where->byte_end <= source.size());
    std::string_view bytes = source.substr(where->byte_begin, where->byte_end - where->byte_begin);
    CHECK_MESSAGE(block.text == sanitized_utf8(bytes), doc.source << " block " << i);
    if (!bytes.empty()) {
      CHECK(where->line_begin == line_of(source, where->byte_begin));
      CHECK(where->line_end == line_of(source, where->byte_end - 1));
    }
    for (uint64_t b = where->byte_begin; b < where->byte_end; ++b) covered[b] = 1;
    cursor = std::max(cursor, where->byte_end);
  }
  size_t uncovered = 0;
  for (size_t b = 0; b < source.size(); ++b)
    if (!covered[b] && !is_space(source[b])) ++uncovered;
  CHECK_MESSAGE(uncovered == 0, doc.source << ": " << uncovered << " non-blank bytes in no block");
}

}  // namespace

TEST_CASE("code document: units, levels, labels, outline paths") {
  const std::string source =
      "#include <map>\n"
      "\n"
      "namespace folio {\n"
      "class Store {\n"
      " public:\n"
      "  void put(int k) { map_[k] = 1; }\n"
      "  int size() const { return 0; }\n"
      " private:\n"
      "  std::map<int, int> map_;\n"
      "};\n"
      "\n"
      "int free_function() { return 2; }\n"
      "}  // namespace folio\n";
  CodeParser parser;
  CodeOutline outline = parser.parse("/abs/src/store.cpp", source, Language::cpp);
  Document doc = code_document(outline, source, "src/store.cpp");
  check_tiling(doc, source);

  CHECK(doc.source == "/abs/src/store.cpp");
  CHECK(doc.format == SourceFormat::code);
  CHECK(doc.language == "cpp");
  CHECK(doc.source_bytes == source.size());
  CHECK(doc.content_hash.size() == 64);

  // file + namespace + class + 2 methods + function
  REQUIRE(doc.outline.size() == 6);
  const Anchor& file = doc.outline[0];
  CHECK(file.kind == AnchorKind::file);
  CHECK(file.title == "src/store.cpp");
  CHECK(doc.blocks[file.block].text == "#include <map>");

  auto put = doc.outline.find("folio::Store::put");
  REQUIRE(put.has_value());
  CHECK(doc.outline.path(*put) == "src/store.cpp > namespace folio > class Store > folio::Store::put");
  const Block& put_block = doc.blocks[doc.outline[*put].block];
  CHECK(put_block.kind == BlockKind::code_unit);
  CHECK(put_block.text == "  void put(int k) { map_[k] = 1; }");
  CHECK(put_block.label == "void folio::Store::put(int k)");
  CHECK(put_block.level == 4);
  const auto& where = std::get<TextLocation>(put_block.where);
  CHECK(where.line_begin == 6);
  CHECK(where.line_end == 6);

  // The class's own block ends where its first method starts; the text after
  // its last method is a continuation block at the class's level.
  auto store = doc.outline.find("class Store");
  REQUIRE(store.has_value());
  CHECK(doc.blocks[doc.outline[*store].block].text == "class Store {\n public:");
  bool found_tail = false;
  for (const auto& block : doc.blocks)
    if (!block.anchor && block.text == " private:\n  std::map<int, int> map_;\n};") {
      found_tail = true;
      CHECK(block.level == 3);
    }
  if (!found_tail)
    for (const auto& block : doc.blocks) MESSAGE("block level " << block.level << ": [" << block.text << "]");
  CHECK(found_tail);
  CHECK(doc.outline.find("folio::free_function").has_value());
}

TEST_CASE("code document: invalid UTF-8 is repaired and noted; byte ranges stay on the source") {
  const std::string source = "def f():\n    return '\xFF\xFE'\n";
  CodeParser parser;
  CodeOutline outline = parser.parse("bad.py", source, Language::python);
  Document doc = code_document(outline, source, "bad.py");
  check_tiling(doc, source);
  REQUIRE(!doc.notes.empty());
  CHECK(doc.notes.back().find("2 bytes of invalid UTF-8") != std::string::npos);
  for (const auto& block : doc.blocks) CHECK(count_invalid_utf8(block.text) == 0);
}

TEST_CASE("text fallback: paragraphs with line provenance, long runs split, nothing lost") {
  std::string source = "Title line\nsecond line\n\n\nAnother paragraph\n";
  for (int i = 0; i < 150; ++i) source += "line " + std::to_string(i) + "\n";
  Document doc = text_document("/x/README", source, "README");
  check_tiling(doc, source);
  CHECK(doc.format == SourceFormat::text);
  REQUIRE(doc.outline.size() == 1);
  CHECK(doc.outline[0].kind == AnchorKind::file);
  CHECK(doc.blocks.size() >= 3);
  for (const auto& block : doc.blocks) {
    const auto& where = std::get<TextLocation>(block.where);
    CHECK(where.line_end - where.line_begin < 60);
  }
  Document empty = text_document("/x/EMPTY", "", "EMPTY");
  CHECK(empty.blocks.size() == 1);
  CHECK(empty.outline.size() == 1);
}

TEST_CASE("code documents of this repository's own sources tile their files") {
  CodeIngestOptions options;
  options.keep_outlines = true;
  CodeIngestResult result = ingest_code_tree(std::filesystem::path(FOLIO_SOURCE_DIR) / "ingest", options);
  REQUIRE(result.documents.size() >= 10);
  size_t anchors = 0, symbols = 0;
  for (size_t i = 0; i < result.documents.size(); ++i) {
    const Document& doc = result.documents[i];
    std::ifstream in(doc.source, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    check_tiling(doc, ss.str());
    if (doc.format == SourceFormat::code) {
      anchors += doc.outline.size() - 1;
      symbols += result.outlines[i].symbols.size();
    }
  }
  CHECK(symbols > 100);
  CHECK(anchors == symbols);  // every definition became an anchor
}
