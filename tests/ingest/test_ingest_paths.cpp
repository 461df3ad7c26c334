// File-type dispatch and directory ingestion: documents, code (when built),
// skipped items with reasons, stable ids, progress reports.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "ingest/ingest.hpp"
#include "ingest/text_util.hpp"
#include "runtime/common/error.hpp"

using namespace folio::ingest;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("folio-ingest-test-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  void write(const std::string& rel, std::string_view bytes) const {
    fs::create_directories((path / rel).parent_path());
    std::ofstream(path / rel, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  }
};

const Document* by_suffix(const Corpus& c, std::string_view suffix) {
  for (const auto& d : c.documents())
    if (d.source.ends_with(suffix)) return &d;
  return nullptr;
}

}  // namespace

TEST_CASE("format by extension") {
  CHECK(format_for_path("a/b/Contract.PDF") == SourceFormat::pdf);
  CHECK(format_for_path("talk.vtt") == SourceFormat::webvtt);
  CHECK(format_for_path("film.srt") == SourceFormat::srt);
  CHECK(format_for_path("README.md") == SourceFormat::markdown);
  CHECK(format_for_path("notes.txt") == SourceFormat::text);
  CHECK_FALSE(format_for_path("main.cpp").has_value());
}

TEST_CASE("a directory of mixed sources: documents, code, skips with reasons") {
  TempDir dir;
  dir.write("talks/meeting.vtt", read_file_limited(std::string(FOLIO_TEST_DATA) + "/transcripts/meeting.vtt", {}));
  dir.write("talks/chat.txt", "[00:00:01] Ann: hi\n[00:00:02] Bob: hello\n");
  dir.write("docs/guide.md", "# Guide\n\n## 1.2 Install\n\nRun it.\n");
  dir.write("docs/notes.txt", "NOTES\n\n1. First\n\nSome text.\n");
  dir.write("contracts/broken.pdf", "%PDF-1.7\nthis is not really a pdf\n");
  dir.write("contracts/fake.vtt", std::string("WEBVTT\n\n\0\0\0binary", 20));
  dir.write("src/store.cpp", "namespace folio {\nclass Store {\n public:\n  void put(int k) {}\n};\n}  // namespace folio\n");
  size_t progress_calls = 0;
  IngestOptions options;
  options.threads = 1;
  options.progress = [&](size_t, size_t, std::string_view) { ++progress_calls; };
  Corpus corpus;
  const size_t added = add_path(corpus, dir.path, options);
  CHECK(added == corpus.size());
  CHECK(progress_calls > 0);
  const Document* vtt = by_suffix(corpus, "meeting.vtt");
  REQUIRE(vtt);
  CHECK(vtt->format == SourceFormat::webvtt);
  const Document* chat = by_suffix(corpus, "chat.txt");
  REQUIRE(chat);
  CHECK(chat->format == SourceFormat::transcript);
  const Document* notes = by_suffix(corpus, "notes.txt");
  REQUIRE(notes);
  CHECK(notes->format == SourceFormat::text);
  REQUIRE(by_suffix(corpus, "guide.md"));
  CHECK(by_suffix(corpus, "guide.md")->outline.find("1.2 Install").has_value());
  // Broken and binary inputs are skipped with reasons naming the problem.
  std::map<std::string, std::string> skipped;
  for (const auto& s : corpus.skipped()) skipped[fs::path(s.source).filename().string()] = s.reason;
  REQUIRE(skipped.count("broken.pdf"));
  CHECK(skipped["broken.pdf"] == "damaged PDF that Poppler cannot open");
  REQUIRE(skipped.count("fake.vtt"));
  CHECK(skipped["fake.vtt"].find("binary content") != std::string::npos);
  const Document* code = by_suffix(corpus, "store.cpp");
  if (code_ingestion_available()) {
    REQUIRE(code);
    CHECK(code->format == SourceFormat::code);
    bool found = false;
    for (size_t i = 0; i < code->outline.size(); ++i)
      found = found || code->outline.path(AnchorId(i)).ends_with("Store::put");
    CHECK(found);
  } else {
    CHECK(code == nullptr);  // documents only without code ingestion
  }
  // Ids are stable: a second ingestion gives the same ids and hashes.
  Corpus again;
  add_path(again, dir.path, options);
  REQUIRE(again.size() == corpus.size());
  for (size_t i = 0; i < corpus.size(); ++i) {
    CHECK(again.ids()[i] == corpus.ids()[i]);
    CHECK(again.documents()[i].content_hash == corpus.documents()[i].content_hash);
    CHECK(again.unchanged(corpus.documents()[i].source, corpus.documents()[i].content_hash));
  }
}

TEST_CASE("single files: errors are skips, or thrown when strict") {
  TempDir dir;
  dir.write("bad.srt", "1\n00:00:01,000 --> 00:00:0x,000\nhi\n");
  Corpus c;
  CHECK(add_path(c, dir.path / "bad.srt") == 0);
  REQUIRE(c.skipped().size() == 1);
  CHECK(c.skipped()[0].reason == "2: malformed end timestamp '00:00:0x,000'");
  CHECK(add_path(c, dir.path / "missing.vtt") == 0);
  CHECK(c.skipped().back().reason == "no such file or directory");
  IngestOptions strict;
  strict.strict = true;
  CHECK_THROWS_WITH(add_path(c, dir.path / "bad.srt", strict), doctest::Contains("bad.srt:2: malformed end timestamp"));
  Limits small;
  small.max_source_bytes = 8;
  IngestOptions limited;
  limited.limits = small;
  dir.write("big.md", "# a big markdown file\n");
  Corpus d;
  add_path(d, dir.path / "big.md", limited);
  REQUIRE(d.skipped().size() == 1);
  CHECK(d.skipped()[0].reason.find("Limits::max_source_bytes") != std::string::npos);
}
