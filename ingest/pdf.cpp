// Poppler glue: load, check, extract words and outline, hand over to layout.
#include "ingest/pdf.hpp"

#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>
#include <poppler/cpp/poppler-toc.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>

#include "ingest/pdf_preflight.hpp"
#include "ingest/sha256.hpp"
#include "ingest/text_util.hpp"
#include "runtime/common/error.hpp"

namespace folio::ingest {
namespace {

// Poppler reports parse trouble through a process-wide callback that prints to
// stderr by default. Ingestion reports problems itself (errors or notes), so
// the callback is replaced by one that discards, once.
void silence_poppler() {
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr); });
}

// ustring is a std::basic_string of UTF-16 code units.
static_assert(std::is_same_v<poppler::ustring::value_type, uint16_t>);
std::string utf8(const poppler::ustring& s) { return utf16_to_utf8(std::span<const uint16_t>(s.data(), s.size())); }

bool bold_font(std::string_view name) {
  // Subset prefixes ("ABCDEF+Times-Bold") and styles: Bold, Black, Heavy,
  // Semibold/Demibold count as bold.
  for (std::string_view k : {"Bold", "bold", "BOLD", "Black", "Heavy", "Semibold", "SemiBold", "Demi"})
    if (name.find(k) != std::string_view::npos) return true;
  return false;
}

// Returns the number of words skipped because they are set vertically (they
// cannot join horizontal reading lines; the caller notes how many).
size_t extract_page(const poppler::page& p, PdfPage& page, bool font_info) {
  size_t vertical = 0;
  const poppler::rectf rect = p.page_rect(poppler::media_box);
  page.width = rect.width();
  page.height = rect.height();
  if (p.orientation() == poppler::page::landscape || p.orientation() == poppler::page::seascape)
    std::swap(page.width, page.height);
  std::vector<poppler::text_box> boxes =
      font_info ? p.text_list(poppler::page::text_list_include_font) : p.text_list();
  page.words.reserve(boxes.size());
  for (poppler::text_box& b : boxes) {
    if (b.get_wmode() == poppler::text_box::vertical_wmode) {
      ++vertical;
      continue;
    }
    PdfWord w;
    w.text = utf8(b.text());
    if (w.text.empty()) continue;
    const poppler::rectf r = b.bbox();
    w.box = {r.left(), r.top(), r.right(), r.bottom()};
    if (b.has_font_info()) {
      w.font_size = b.get_font_size();
      w.bold = bold_font(b.get_font_name());
    }
    w.space_after = b.has_space_after();
    page.words.push_back(std::move(w));
  }
  return vertical;
}

void collect_outline(const poppler::toc_item* item, uint16_t depth, std::vector<PdfOutlineEntry>& out, size_t& budget) {
  if (!item || depth > 32) return;
  for (const poppler::toc_item* child : item->children()) {
    if (budget == 0) return;
    --budget;
    out.push_back({collapse_spaces(clean_text(utf8(child->title()))), depth});
    collect_outline(child, uint16_t(depth + 1), out, budget);
  }
}

}  // namespace

Document parse_pdf(std::string_view bytes, std::string source, const Limits& limits, const PdfOptions& options) {
  silence_poppler();
  if (bytes.size() > limits.max_source_bytes)
    fail(Errc::unsupported, source + ": " + std::to_string(bytes.size()) + " bytes is more than the limit of " +
                                std::to_string(limits.max_source_bytes) + " (Limits::max_source_bytes)");
  if (bytes.size() > size_t(INT32_MAX)) fail(Errc::unsupported, source + ": PDF larger than 2 GiB");
  if (bytes.substr(0, 1024).find("%PDF-") == std::string_view::npos)
    fail(Errc::format, source + ": not a PDF (no %PDF- header)");
  check_pdf_xref_claims(bytes, source, limits.max_pdf_objects);
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(bytes.data(), int(bytes.size()), options.password, options.password));
  if (!doc) {
    // Poppler returns null both for damaged files and for encrypted ones it
    // cannot open; an /Encrypt entry tells them apart.
    if (bytes.find("/Encrypt") != std::string_view::npos)
      fail(Errc::unsupported, source + ": encrypted PDF" +
                                  (options.password.empty() ? ": a password is required" : ": wrong password"));
    fail(Errc::format, source + ": damaged PDF that Poppler cannot open");
  }
  if (doc->is_locked())
    fail(Errc::unsupported, source + ": encrypted PDF" +
                                (options.password.empty() ? ": a password is required" : ": wrong password"));
  const int n = doc->pages();
  if (n < 0) fail(Errc::format, source + ": damaged PDF (negative page count)");
  if (uint32_t(n) > limits.max_pages)
    fail(Errc::unsupported, source + ": " + std::to_string(n) + " pages is more than the limit of " +
                                std::to_string(limits.max_pages) + " (Limits::max_pages)");

  DocumentBuilder builder(source, SourceFormat::pdf, limits);
  builder.doc().content_hash = sha256_hex(bytes);
  builder.doc().source_bytes = bytes.size();
  builder.doc().pages = uint32_t(n);

  // Pages are extracted in parallel: each worker opens its own poppler::document
  // over the same bytes (Poppler documents are not shared between threads) and
  // takes an interleaved share of the pages.
  std::vector<PdfPage> pages(static_cast<size_t>(n));
  unsigned workers = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  workers = std::max(1u, std::min<unsigned>(workers, unsigned((n + 3) / 4)));
  std::atomic<size_t> total_words{0}, unreadable{0}, vertical{0};
  const size_t max_words = limits.max_blocks * 64;
  std::atomic<bool> over_limit{false};
  auto extract = [&](unsigned worker, const poppler::document& d) {
    for (int i = int(worker); i < n && !over_limit.load(); i += int(workers)) {
      PdfPage& page = pages[size_t(i)];
      page.number = uint32_t(i + 1);
      std::unique_ptr<poppler::page> p(d.create_page(i));
      if (!p) {
        ++unreadable;
        continue;
      }
      vertical += extract_page(*p, page, options.font_info);
      if ((total_words += page.words.size()) > max_words) over_limit = true;
    }
  };
  if (workers == 1) {
    extract(0, *doc);
  } else {
    std::vector<std::exception_ptr> errors(workers);
    {
      std::vector<std::jthread> threads;
      for (unsigned w = 1; w < workers; ++w)
        threads.emplace_back([&, w] {
          try {
            std::unique_ptr<poppler::document> own(poppler::document::load_from_raw_data(
                bytes.data(), int(bytes.size()), options.password, options.password));
            if (!own || own->is_locked()) fail(Errc::format, source + ": Poppler could not reopen the PDF");
            extract(w, *own);
          } catch (...) {
            errors[w] = std::current_exception();
            over_limit = true;
          }
        });
      try {
        extract(0, *doc);
      } catch (...) {
        errors[0] = std::current_exception();
        over_limit = true;
      }
    }
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }
  if (over_limit || total_words > max_words)
    fail(Errc::unsupported, source + ": more than " + std::to_string(max_words) + " words (Limits::max_blocks x 64)");
  if (vertical)
    builder.doc().notes.push_back(std::to_string(vertical.load()) + " words of vertical text skipped (not supported)");
  if (unreadable) builder.doc().notes.push_back(std::to_string(unreadable.load()) + " pages Poppler could not open");
  if (total_words == 0 && n > 0)
    builder.doc().notes.push_back("no text layer (scanned PDF?): nothing extracted; OCR is not supported");

  std::vector<PdfOutlineEntry> outline;
  if (options.use_outline) {
    std::unique_ptr<poppler::toc> toc(doc->create_toc());
    size_t budget = 100000;
    if (toc) collect_outline(toc->root(), 1, outline, budget);
  }
  PdfLayoutOptions layout = options.layout;
  layout.font_info = options.font_info;
  layout_pdf(pages, outline, builder, layout);
  return std::move(builder).finish();
}

Document parse_pdf_file(const std::filesystem::path& path, const Limits& limits, const PdfOptions& options) {
  const std::string bytes = read_file_limited(path, limits);
  return parse_pdf(bytes, path.string(), limits, options);
}

}  // namespace folio::ingest
