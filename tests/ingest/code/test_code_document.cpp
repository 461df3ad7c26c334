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

TEST_CASE("code document: comments directly above a unit belong to it") {
  const std::string source =
      "int x = 1;  // trailing, stays with x\n"   // 1
      "\n"                                         // 2
      "// Adds one.\n"                             // 3
      "/* Really. */\n"                            // 4
      "int add(int v) { return v + 1; }\n"         // 5
      "// a loose remark\n"                        // 6
      "\n"                                         // 7
      "int sub(int v) { return v - 1; }\n";        // 8
  CodeParser parser;
  CodeOutline outline = parser.parse("c.cpp", source, Language::cpp);
  REQUIRE(outline.symbols.size() == 2);
  CHECK(outline.symbols[0].comment_line_begin == 3);
  CHECK(outline.symbols[0].line_begin == 5);
  CHECK(outline.symbols[1].comment_line_begin == 8);  // a blank line detaches the remark
  Document doc = code_document(outline, source, "c.cpp");
  check_tiling(doc, source);
  auto add = doc.outline.find("add");
  REQUIRE(add.has_value());
  const Block& block = doc.blocks[doc.outline[*add].block];
  CHECK(block.text == "// Adds one.\n/* Really. */\nint add(int v) { return v + 1; }");
  CHECK(std::get<TextLocation>(block.where).line_begin == 3);

  CodeOutline py = parser.parse("m.py", "import os\n# Helper.\n# Second line.\n@cache\ndef f():\n    pass\n",
                                Language::python);
  REQUIRE(py.symbols.size() == 1);
  CHECK(py.symbols[0].comment_line_begin == 2);
  CHECK(py.symbols[0].line_begin == 4);
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

TEST_CASE("a file the parser refuses is kept as plain text, with the reason in its notes") {
  CodeIngestOptions options;
  options.parse.max_file_bytes = 16;  // the parser's limit, below the walk's
  CodeParser parser(options.parse);
  const std::string source = "def long_enough_to_refuse():\n    return 1\n";
  CodeFileResult r = ingest_code_bytes("/x/m.py", "m.py", source, parser, options);
  REQUIRE(r.document.has_value());
  CHECK_FALSE(r.outline.has_value());
  CHECK(r.document->format == SourceFormat::text);
  CHECK(r.document->language == "python");
  REQUIRE(!r.document->notes.empty());
  CHECK(r.document->notes.front().find("not parsed as python") != std::string::npos);
  CHECK(r.document->notes.front().find("over the code parser's limit of 16 bytes") != std::string::npos);
  check_tiling(*r.document, source);
}
