// The cross-reference preflight: every way a file can make Poppler allocate a
// huge table is seen, a real file passes, and the scan stays linear.
#include <doctest/doctest.h>

#include <string>

#include "ingest/pdf.hpp"
#include "ingest/pdf_preflight.hpp"
#include "ingest/text_util.hpp"
#include "runtime/common/error.hpp"

using namespace folio::ingest;

namespace {

std::string minimal_pdf() {
  return read_file_limited(std::string(FOLIO_SOURCE_DIR) + "/tests/fuzz/corpus/fuzz_pdf/minimal.pdf", Limits{});
}

std::string replaced(std::string text, std::string_view from, std::string_view to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

// The message parse_pdf fails with, or "" when it succeeds.
std::string parse_error(const std::string& bytes) {
  try {
    parse_pdf(bytes, "in.pdf");
  } catch (const folio::Error& e) {
    CHECK(e.code() == folio::Errc::unsupported);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a well-formed PDF claims what it holds and still parses") {
  const std::string pdf = minimal_pdf();
  const PdfXrefClaim claim = largest_xref_claim(pdf);
  CHECK(claim.complete);
  CHECK(claim.entries == 11);  // "xref 0 11", "/Size 11", "10 0 obj"
  CHECK(parse_error(pdf).empty());
}

TEST_CASE("every number Poppler sizes its table from is seen") {
  const std::string pdf = minimal_pdf();
  struct Case {
    std::string bytes;
    std::string_view what;
  };
  const Case cases[] = {
      {replaced(pdf, "xref\n0 11", "xref\n0 30000000"), "xref subsection"},
      {replaced(pdf, "/Size 11", "/Size 30000000"), "/Size"},
      // Name escapes, a comment and a sign between name and value.
      {replaced(pdf, "/Size 11", "/S#69ze % the count\n +30000000"), "/Size"},
      {replaced(pdf, "/Size 11", "/Size 11 /Index [0 11 29999990 10]"), "/Index"},
      // The repair scan's "num gen obj", anywhere on a line.
      {replaced(pdf, "10 0 obj", "29999999 0 obj"), "object header"},
      {replaced(pdf, "10 0 obj", "10 0 obj 29999999\t0\r\nobj"), "object header"},
      // A second subsection after the first one's entries.
      {replaced(pdf, "trailer", "29999000 1000\n0000000000 00000 f \ntrailer"), "xref subsection"},
      // A startxref offset can point into the middle of a word.
      {replaced(pdf, "%%EOF", "%%EOF\nstartxref 0 30000000"), "xref subsection"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const PdfXrefClaim claim = largest_xref_claim(c.bytes);
    CHECK(claim.what == c.what);
    CHECK(claim.entries >= 29999999);
    CHECK(c.bytes.substr(claim.offset, 1).find_first_of("+0123456789") == 0);
    const std::string message = parse_error(c.bytes);
    CHECK(message.find("in.pdf: " + std::string(c.what) + " at byte ") == 0);
    CHECK(message.find("Limits::max_pdf_objects") != std::string::npos);
  }
}

TEST_CASE("numbers saturate instead of wrapping") {
  const PdfXrefClaim claim = largest_xref_claim("/Size 99999999999999999999999999999999");
  CHECK(claim.entries == uint64_t(1) << 40);
  // atoi would wrap 4294967297 to 1; the scan must not.
  CHECK(largest_xref_claim("4294967297 0 obj").entries == 4294967298u);
}

TEST_CASE("the allowance grows with the file and stops at the ceiling") {
  CHECK(allowed_xref_entries(100, 1u << 22) == 65636);
  CHECK(allowed_xref_entries(size_t(1) << 30, 1u << 22) == 1u << 22);
  Limits lim;
  lim.max_pdf_objects = 5;
  CHECK_THROWS_AS(parse_pdf(minimal_pdf(), "in.pdf", lim), folio::Error);
}

TEST_CASE("keywords nested in comments exhaust the walk budget instead of going quadratic") {
  // Each entry line carries a commented "xref": Poppler skips the comment, the
  // scan walks from it over every following entry. 3000 lines of 45 bytes
  // would walk about 200 MB; the budget is about 1.5 MB.
  std::string table = "%PDF-1.4\nxref\n0 3000\n";
  for (int i = 0; i < 3000; ++i) table += "0000000000 00000 n %xref 0 3000\n";
  const PdfXrefClaim claim = largest_xref_claim(table);
  CHECK_FALSE(claim.complete);
  CHECK(parse_error(table).find("nested too deeply") != std::string::npos);
  // The same table without the comments is walked once and passes the scan.
  std::string plain = "%PDF-1.4\nxref\n0 3000\n";
  for (int i = 0; i < 3000; ++i) plain += "0000000000 00000 n \n";
  CHECK(largest_xref_claim(plain).complete);
  CHECK(largest_xref_claim(plain).entries == 3000);
}
