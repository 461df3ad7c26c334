// A scan of a PDF's raw bytes, before Poppler sees them, for the numbers that
// size Poppler's cross-reference table.
//
// Poppler allocates its cross-reference table up front from counts the file
// states about itself: an xref table's subsection headers ("first count"), the
// /Size of a trailer or xref stream, the /Index pairs of an xref stream and,
// when it rebuilds a damaged file, the number of every "num gen obj" header.
// Each entry costs 40 bytes (Poppler 22.12) and the table grows by doubling,
// so a 200-byte file that names object 30,000,000 asks for 1.3 GB before a
// page is read, and every page worker opens its own copy. The fuzzer found
// exactly that (XRef::reserve, libFuzzer out-of-memory).
//
// The scan reads the same numbers more generously than Poppler does: anywhere
// in the file, inside strings and streams too, names with #xx escapes decoded.
// A number it sees that Poppler would not use can only make the claim larger,
// so the bound holds; the price is that a file which merely mentions a huge
// object number in text is refused with an error that says so.
//
// The scan is linear: the walks that follow an "xref" keyword or a /Size or
// /Index name share a budget of four bytes per byte of file (plus 1 MiB). Real
// files use a small fraction of it; only files built to nest those keywords in
// comments can exhaust it, and they are refused rather than scanned in
// quadratic time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace folio::ingest {

// The largest cross-reference table size any number in the file implies.
struct PdfXrefClaim {
  uint64_t entries = 0;    // table entries (object number + 1, first + count, /Size)
  size_t offset = 0;       // byte offset of what claimed it
  std::string_view what;   // "xref subsection", "/Size", "/Index", "object header"
  bool complete = true;    // false: the walk budget ran out (see above)
};

// Linear in bytes.size(); numbers saturate at 2^40, so nothing overflows.
PdfXrefClaim largest_xref_claim(std::string_view bytes);

// How many entries a file of `file_bytes` may claim: one per byte of file
// plus 65,536 (small files, sparse numbering, offset + generation pairs), at
// most `ceiling` (Limits::max_pdf_objects).
uint64_t allowed_xref_entries(size_t file_bytes, uint64_t ceiling);

// Throws folio::Error (Errc::unsupported, naming `source`, the claim, where it
// is and the limit) when the file claims more than allowed_xref_entries or the
// scan could not complete.
void check_pdf_xref_claims(std::string_view bytes, std::string_view source, uint64_t ceiling);

}  // namespace folio::ingest
