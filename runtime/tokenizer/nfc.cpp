#include "runtime/tokenizer/nfc.hpp"

#include <algorithm>
#include <vector>

#include "runtime/tokenizer/unicode.hpp"

namespace folio::tok {

namespace {

#include "runtime/tokenizer/unicode_tables.inc"

constexpr unsigned char kRankMask = 63, kMaybe = 64, kDecomposes = 128;
// Invalid UTF-8 bytes travel through the algorithm as these values (never a
// code point, so they neither decompose nor compose).
constexpr char32_t kRawByte = 0x110000;

// Hangul syllables (Unicode 3.12, conjoining jamo behaviour).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

unsigned char nfc_bits(char32_t cp) noexcept {
  if (cp >= 0x110000) return 0;
  return kNfcStage2[size_t(kNfcStage1[cp >> 8]) * 256 + (cp & 255)];
}

void decompose(char32_t cp, std::vector<char32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (nfc_bits(cp) & kDecomposes) {
    const auto* e = std::lower_bound(std::begin(kDecomp), std::end(kDecomp), cp,
                                     [](const DecompEntry& d, char32_t c) { return d.cp < c; });
    if (e != std::end(kDecomp) && e->cp == cp) {
      out.insert(out.end(), kDecompPool + e->offset, kDecompPool + e->offset + e->length);
      return;
    }
  }
  out.push_back(cp);
}

// The primary composite of (a, b), or 0.
char32_t compose(char32_t a, char32_t b) noexcept {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const auto* e = std::lower_bound(std::begin(kCompose), std::end(kCompose), std::pair{a, b},
                                   [](const ComposeEntry& c, const std::pair<char32_t, char32_t>& k) {
                                     return c.first != k.first ? c.first < k.first : c.second < k.second;
                                   });
  if (e != std::end(kCompose) && e->first == a && e->second == b) return e->composite;
  return 0;
}

unsigned rank_of(char32_t cp) noexcept { return nfc_bits(cp) & kRankMask; }

}  // namespace

bool nfc_may_change(std::string_view text) noexcept {
  for (size_t pos = 0; pos < text.size();) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {  // ASCII is always NFC
      ++pos;
      continue;
    }
    const unicode::Decoded d = unicode::decode_utf8(text, pos);
    if (d.valid && (nfc_bits(d.cp) & kMaybe)) return true;
    pos += d.length;
  }
  return false;
}

namespace {

// NFC of a span that starts at a safe boundary and ends before one.
void normalize_span(std::string_view text, std::string& out) {
  // 1. Full canonical decomposition.
  std::vector<char32_t> chars;
  chars.reserve(text.size() + 8);
  for (size_t pos = 0; pos < text.size();) {
    const unicode::Decoded d = unicode::decode_utf8(text, pos);
    if (d.valid) decompose(d.cp, chars);
    else chars.push_back(kRawByte + d.cp);
    pos += d.length;
  }
  // 2. Canonical ordering: stable sort of each run of non-starters by class.
  for (size_t i = 0; i < chars.size();) {
    if (rank_of(chars[i]) == 0) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < chars.size() && rank_of(chars[end]) != 0) ++end;
    std::stable_sort(chars.begin() + ptrdiff_t(i), chars.begin() + ptrdiff_t(end),
                     [](char32_t a, char32_t b) { return rank_of(a) < rank_of(b); });
    i = end;
  }
  // 3. Canonical composition.
  std::vector<char32_t> result;
  result.reserve(chars.size());
  ptrdiff_t starter = -1;
  int last_rank = -1;  // class of the last character kept after the starter, -1 if none
  for (const char32_t c : chars) {
    const int r = int(rank_of(c));
    if (starter >= 0 && (last_rank == -1 || last_rank < r)) {
      if (const char32_t composite = compose(result[size_t(starter)], c)) {
        result[size_t(starter)] = composite;
        continue;
      }
    }
    if (r == 0) {
      starter = ptrdiff_t(result.size());
      last_rank = -1;
    } else {
      last_rank = r;
    }
    result.push_back(c);
  }
  // 4. Back to UTF-8.
  for (const char32_t c : result) {
    if (c >= kRawByte) out.push_back(char(c - kRawByte));
    else unicode::append_utf8(out, c);
  }
}

}  // namespace

// Text splits for normalization before any character that is a starter and
// NFC_Quick_Check=Yes (nothing before it can combine with it or move past it),
// so only the spans around "maybe" characters go through the full algorithm.
std::string to_nfc(std::string_view text) {
  std::vector<NfcSpan> spans;
  return to_nfc(text, spans);
}

std::string to_nfc(std::string_view text, std::vector<NfcSpan>& spans) {
  std::string out;
  out.reserve(text.size());
  size_t copied = 0;        // text[0, copied) is in `out`
  size_t safe = 0;          // start of the last safe character seen
  for (size_t pos = 0; pos < text.size();) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      safe = pos++;
      continue;
    }
    const unicode::Decoded d = unicode::decode_utf8(text, pos);
    if (!d.valid || !(nfc_bits(d.cp) & kMaybe)) {
      safe = pos;
      pos += d.length;
      continue;
    }
    // A span from the last safe character to the next one needs the algorithm.
    size_t end = pos + d.length;
    while (end < text.size()) {
      const unicode::Decoded e = unicode::decode_utf8(text, end);
      if (!e.valid || !(nfc_bits(e.cp) & kMaybe)) break;
      end += e.length;
    }
    const size_t start = std::max(safe, copied);
    out.append(text.substr(copied, start - copied));
    const size_t out_begin = out.size();
    normalize_span(text.substr(start, end - start), out);
    if (std::string_view(out).substr(out_begin) != text.substr(start, end - start))  // really rewritten
      spans.push_back({start, end, out_begin, out.size()});
    copied = end;
    safe = end;
    pos = end;
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace folio::tok
