// PDF ingestion through Poppler's C++ API (libpoppler-cpp): words with boxes,
// font sizes and names per page, the document outline, then pdf_layout.hpp.
//
// Errors (folio::Error, message names the source):
//   Errc::format       not a PDF, or damaged beyond what Poppler repairs
//   Errc::unsupported  encrypted and the password (if any) does not open it;
//                      more pages than Limits::max_pages; larger than
//                      Limits::max_source_bytes; claims more objects than
//                      the file could hold (pdf_preflight.hpp)
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "ingest/document.hpp"
#include "ingest/pdf_layout.hpp"

namespace folio::ingest {

struct PdfOptions {
  PdfLayoutOptions layout;
  std::string password;  // tried as both owner and user password
  bool use_outline = true;
  // Threads extracting pages (each opens its own Poppler document over the same
  // bytes); 0 = all hardware threads. Small documents use fewer (4 pages each).
  unsigned threads = 0;
  // Ask Poppler for font names and sizes (bold headings, exact sizes). Poppler
  // finds them by scanning each page's fonts, which roughly doubles extraction
  // time; without them sizes come from box heights and weights are unknown.
  bool font_info = true;
};

Document parse_pdf(std::string_view bytes, std::string source, const Limits& limits = {}, const PdfOptions& options = {});
Document parse_pdf_file(const std::filesystem::path& path, const Limits& limits = {}, const PdfOptions& options = {});

}  // namespace folio::ingest
