// Recall against Universal Ctags on real trees: this repository and the Python
// standard library (the whole of /usr/lib/python3.N, about 670 files / 11 MB).
// Every function/class-like definition ctags reports for a file we parsed must
// be an anchor of ours with the same name on the same line (ctags_recall.hpp).
// ctags is installed by scripts/setup-debian; a missing ctags or standard
// library is a failure, not a skip.
#include <doctest/doctest.h>

#include "tests/ingest/code/ctags_recall.hpp"

using namespace folio::ingest::code;

TEST_CASE("ctags is Universal Ctags") {
  CHECK_MESSAGE(!recall::ctags_version().empty(), "install universal-ctags (scripts/setup-debian)");
}

TEST_CASE("ctags recall on this repository >= 99%") {
  recall::Result r = recall::measure(FOLIO_SOURCE_DIR);
  MESSAGE(r.describe("repository"));
  CHECK(r.tags > 500);
  CHECK(r.value() >= 0.99);
}

TEST_CASE("ctags recall on the Python standard library >= 99%") {
  auto stdlib = recall::newest_python_stdlib();
  REQUIRE_MESSAGE(!stdlib.empty(), "no /usr/lib/python3.N with os.py");
  recall::Result r = recall::measure(stdlib);
  MESSAGE(r.describe(stdlib.string()));
  CHECK(r.tags > 10000);
  CHECK(r.value() >= 0.99);
}
