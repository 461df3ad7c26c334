// WebVTT, SRT and plain speaker-log parsers. See transcript.hpp.
#include "ingest/transcript.hpp"

#include <algorithm>
#include <vector>

#include "ingest/sha256.hpp"
#include "ingest/text_util.hpp"
#include "runtime/common/error.hpp"

namespace folio::ingest {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Reads 1..max_digits decimal digits; false when none.
bool read_number(std::string_view& s, size_t min_digits, size_t max_digits, int64_t& out) {
  size_t n = 0;
  int64_t v = 0;
  while (n < s.size() && n < max_digits && is_digit(s[n])) v = v * 10 + (s[n++] - '0');
  if (n < min_digits || (n < s.size() && is_digit(s[n]))) return false;
  s.remove_prefix(n);
  out = v;
  return true;
}

// One cue before it becomes a block.
struct Cue {
  int64_t start = 0, end = 0;
  std::string speaker;
  std::string text;
  uint32_t line = 0;
  uint64_t byte_begin = 0, byte_end = 0;
};

// Appends cues as blocks; a change of speaker opens a turn.
class TurnWriter {
 public:
  TurnWriter(std::string source, SourceFormat format, const Limits& limits, std::string_view bytes)
      : b_(std::move(source), format, limits) {
    b_.doc().content_hash = sha256_hex(bytes);
    b_.doc().source_bytes = bytes.size();
  }

  void add(Cue cue) {
    size_t replaced = 0;
    Block block;
    block.kind = BlockKind::transcript_cue;
    block.text = collapse_spaces(clean_text(cue.text, &replaced));
    std::string speaker = collapse_spaces(clean_text(cue.speaker, &replaced));
    replaced_ += replaced;
    if (block.text.empty() && speaker.empty()) {
      ++empty_;
      return;
    }
    block.level = 1;
    block.where = CueLocation{cue.start, cue.end, speaker, cue.line};
    const bool turn = !started_ ? !speaker.empty() : speaker != last_speaker_ && (any_speaker_ || !speaker.empty());
    started_ = true;
    if (turn) {
      Anchor a;
      a.kind = AnchorKind::speaker_turn;
      a.number = format_timestamp(cue.start);
      a.title = speaker.empty() ? "(unknown speaker)" : speaker;
      a.level = 1;
      b_.add_anchored_under(std::move(block), std::move(a), std::nullopt);
    } else {
      b_.add(std::move(block));
    }
    if (!speaker.empty()) any_speaker_ = true;
    last_speaker_ = std::move(speaker);
  }

  Document finish() && {
    if (replaced_) b_.doc().notes.push_back(std::to_string(replaced_) + " invalid UTF-8 sequences replaced by U+FFFD");
    if (empty_) b_.doc().notes.push_back(std::to_string(empty_) + " cues without text skipped");
    return std::move(b_).finish();
  }

 private:
  DocumentBuilder b_;
  std::string last_speaker_;
  bool started_ = false;
  bool any_speaker_ = false;
  size_t replaced_ = 0;
  size_t empty_ = 0;
};

// Decodes the HTML character references WebVTT and SRT use.
void append_entity(std::string_view& s, std::string& out) {
  static constexpr std::pair<std::string_view, std::string_view> kNamed[] = {
      {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"},
      {"&nbsp;", " "}, {"&lrm;", ""}, {"&rlm;", ""}};
  for (auto [name, value] : kNamed) {
    if (s.starts_with(name)) {
      out += value;
      s.remove_prefix(name.size());
      return;
    }
  }
  if (s.starts_with("&#")) {
    std::string_view t = s.substr(2);
    const bool hex = !t.empty() && (t[0] == 'x' || t[0] == 'X');
    if (hex) t.remove_prefix(1);
    uint32_t cp = 0;
    size_t n = 0;
    while (n < t.size() && n < 7) {
      const char c = t[n];
      int d = is_digit(c) ? c - '0' : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10 : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) break;
      cp = cp * (hex ? 16 : 10) + uint32_t(d);
      ++n;
    }
    if (n > 0 && n < t.size() && t[n] == ';' && cp > 0 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF)) {
      if (cp < 0x80) out += char(cp);
      else if (cp < 0x800) { out += char(0xC0 | (cp >> 6)); out += char(0x80 | (cp & 0x3F)); }
      else if (cp < 0x10000) { out += char(0xE0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F)); }
      else { out += char(0xF0 | (cp >> 18)); out += char(0x80 | ((cp >> 12) & 0x3F)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F)); }
      s.remove_prefix(size_t(t.data() - s.data()) + n + 1);
      return;
    }
  }
  out += '&';
  s.remove_prefix(1);
}

// A run of cue text with the voice that speaks it.
struct VoiceRun {
  std::string speaker;
  std::string text;
};

// Strips cue markup. `<v Name>` / `<v.class Name>` start a voice run; `</v>`
// ends it. Other tags, SRT {\...} overrides and inline timestamps vanish.
std::vector<VoiceRun> strip_markup(std::string_view s) {
  std::vector<VoiceRun> runs(1);
  while (!s.empty()) {
    const char c = s[0];
    if (c == '<') {
      const size_t close = s.find('>');
      if (close == std::string_view::npos) {  // a lone '<' is text
        runs.back().text += '<';
        s.remove_prefix(1);
        continue;
      }
      std::string_view tag = s.substr(1, close - 1);
      s.remove_prefix(close + 1);
      if (tag.size() >= 1 && tag[0] == 'v' && (tag.size() == 1 || tag[1] == ' ' || tag[1] == '.' || tag[1] == '\t')) {
        const size_t sp = tag.find_first_of(" \t");
        std::string name = sp == std::string_view::npos ? std::string() : std::string(trim(tag.substr(sp + 1)));
        if (!runs.back().text.empty() || !runs.back().speaker.empty()) runs.emplace_back();
        runs.back().speaker = std::move(name);
      } else if (tag == "/v") {
        if (!runs.back().text.empty() || !runs.back().speaker.empty()) runs.emplace_back();
      }
      continue;
    }
    if (c == '{' && s.size() > 1 && s[1] == '\\') {  // SRT/ASS override block {\an8}
      const size_t close = s.find('}');
      if (close != std::string_view::npos) {
        s.remove_prefix(close + 1);
        continue;
      }
    }
    if (c == '&') {
      append_entity(s, runs.back().text);
      continue;
    }
    runs.back().text += c;
    s.remove_prefix(1);
  }
  std::erase_if(runs, [](const VoiceRun& r) { return is_blank(r.text); });
  return runs;
}

// "Name: text" at the start of a line of dialogue: a short name (<= 4 words,
// <= 40 bytes) that starts with a letter, has no sentence punctuation, and is
// followed by ": " (or ends the line). Used only on transcript lines, where a
// "Note:" label is as much a speaker as "Alice:".
bool split_speaker(std::string_view line, std::string_view& speaker, std::string_view& text) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 40) return false;
  if (colon + 1 < line.size() && line[colon + 1] != ' ' && line[colon + 1] != '\t') return false;
  const std::string_view name = trim(line.substr(0, colon));
  if (name.empty()) return false;
  const unsigned char first = static_cast<unsigned char>(name[0]);
  if (!(first >= 0x80 || (first >= 'A' && first <= 'Z') || (first >= 'a' && first <= 'z'))) return false;
  int words = 1;
  for (char c : name) {
    if (c == ' ') ++words;
    if (c == '.' || c == '?' || c == '!' || c == ',' || c == ';' || c == '"' || c == '[' || c == ']' || c == '(') return false;
  }
  if (words > 4) return false;
  speaker = name;
  text = trim(line.substr(colon + 1));
  return true;
}

// "start --> end[ settings]" with the given timestamp parser; errors name the line.
std::pair<int64_t, int64_t> parse_timing(const Line& line, std::string_view source) {
  const size_t arrow = line.text.find("-->");
  if (arrow == std::string_view::npos) fail_at(source, line.number, "expected a cue timing line 'start --> end'");
  const std::string_view lhs = trim(line.text.substr(0, arrow));
  std::string_view rhs = trim(line.text.substr(arrow + 3));
  const size_t sp = rhs.find_first_of(" \t");
  const std::string_view end_text = sp == std::string_view::npos ? rhs : rhs.substr(0, sp);
  const auto start = parse_timestamp(lhs);
  if (!start) fail_at(source, line.number, "malformed start timestamp '" + std::string(lhs.substr(0, 40)) + "'");
  const auto end = parse_timestamp(end_text);
  if (!end) fail_at(source, line.number, "malformed end timestamp '" + std::string(end_text.substr(0, 40)) + "'");
  if (*end < *start)
    fail_at(source, line.number, "cue ends (" + format_timestamp(*end) + ") before it starts (" +
                                     format_timestamp(*start) + ")");
  return {*start, *end};
}

// Collects the lines of a block (until a blank line) into cue text.
void read_payload(LineReader& lr, Cue& cue) {
  Line l;
  while (lr.peek(l) && !is_blank(l.text)) {
    lr.next(l);
    if (!cue.text.empty()) cue.text += '\n';
    cue.text += l.text;
    cue.byte_end = l.end;
  }
}

// Emits one cue; multi-voice cues (WebVTT <v>) become one block per voice, and
// "Name: text" first lines give the speaker when no voice span does.
void emit(TurnWriter& w, Cue cue) {
  std::vector<VoiceRun> runs = strip_markup(cue.text);
  if (runs.empty()) {
    cue.text.clear();
    w.add(std::move(cue));
    return;
  }
  for (VoiceRun& r : runs) {
    Cue part = cue;
    part.speaker = r.speaker;
    std::string_view text = trim(r.text);
    std::string_view sp, rest;
    if (part.speaker.empty() && split_speaker(text, sp, rest)) {
      part.speaker = std::string(sp);
      text = rest;
    }
    std::string joined(text);
    std::replace(joined.begin(), joined.end(), '\n', ' ');
    part.text = std::move(joined);
    w.add(std::move(part));
  }
}

void check_source_size(std::string_view bytes, const std::string& source, const Limits& limits) {
  if (bytes.size() > limits.max_source_bytes)
    fail(Errc::unsupported, source + ": " + std::to_string(bytes.size()) + " bytes is more than the limit of " +
                                std::to_string(limits.max_source_bytes) + " (Limits::max_source_bytes)");
}

}  // namespace

std::optional<int64_t> parse_timestamp(std::string_view t) {
  // Up to three colon-separated fields then an optional fraction.
  int64_t f[3] = {0, 0, 0};
  int fields = 0;
  std::string_view s = t;
  while (true) {
    int64_t v = 0;
    if (!read_number(s, 1, fields == 0 ? 9 : 2, v)) return std::nullopt;
    if (fields == 3) return std::nullopt;
    f[fields++] = v;
    if (!s.empty() && s[0] == ':') {
      s.remove_prefix(1);
      continue;
    }
    break;
  }
  if (fields < 2) return std::nullopt;
  int64_t ms = 0;
  if (!s.empty() && (s[0] == '.' || s[0] == ',')) {
    s.remove_prefix(1);
    int64_t frac = 0;
    const size_t before = s.size();
    if (!read_number(s, 1, 3, frac)) return std::nullopt;
    const size_t digits = before - s.size();
    ms = frac * (digits == 1 ? 100 : digits == 2 ? 10 : 1);
  }
  if (!s.empty()) return std::nullopt;
  const int64_t h = fields == 3 ? f[0] : 0, m = fields == 3 ? f[1] : f[0], sec = fields == 3 ? f[2] : f[1];
  if (m >= 60 || sec >= 60) return std::nullopt;
  if (fields == 2 && m > 59) return std::nullopt;
  return ((h * 60 + m) * 60 + sec) * 1000 + ms;
}

Document parse_webvtt(std::string_view bytes, std::string source, const Limits& limits) {
  check_source_size(bytes, source, limits);
  TurnWriter w(source, SourceFormat::webvtt, limits, bytes);
  LineReader lr(bytes, source, limits.max_line_bytes);
  Line l;
  if (!lr.next(l) || !l.text.starts_with("WEBVTT") ||
      (l.text.size() > 6 && l.text[6] != ' ' && l.text[6] != '\t'))
    fail_at(source, 1, "not a WebVTT file: the first line must be 'WEBVTT'");
  // Header lines up to the first blank line.
  while (lr.next(l) && !is_blank(l.text)) {
    if (l.text.find("-->") != std::string_view::npos)
      fail_at(source, l.number, "cue timing inside the WebVTT header (missing blank line after 'WEBVTT'?)");
  }
  while (lr.next(l)) {
    if (is_blank(l.text)) continue;
    const std::string_view t = l.text;
    auto is_keyword = [&](std::string_view k) {
      return t.starts_with(k) && (t.size() == k.size() || t[k.size()] == ' ' || t[k.size()] == '\t');
    };
    if (is_keyword("NOTE") || is_keyword("STYLE") || is_keyword("REGION")) {
      while (lr.peek(l) && !is_blank(l.text)) lr.next(l);
      continue;
    }
    Cue cue;
    cue.byte_begin = l.begin;
    if (t.find("-->") == std::string_view::npos) {  // a cue identifier; the timing follows
      if (!lr.next(l) || is_blank(l.text))
        fail_at(source, l.number, "cue '" + std::string(t.substr(0, 40)) + "' has no timing line");
    }
    std::tie(cue.start, cue.end) = parse_timing(l, source);
    cue.line = l.number;
    cue.byte_end = l.end;
    read_payload(lr, cue);
    emit(w, std::move(cue));
  }
  return std::move(w).finish();
}

Document parse_srt(std::string_view bytes, std::string source, const Limits& limits) {
  check_source_size(bytes, source, limits);
  TurnWriter w(source, SourceFormat::srt, limits, bytes);
  LineReader lr(bytes, source, limits.max_line_bytes);
  Line l;
  while (lr.next(l)) {
    if (is_blank(l.text)) continue;
    Cue cue;
    cue.byte_begin = l.begin;
    if (l.text.find("-->") == std::string_view::npos) {
      const std::string_view index = trim(l.text);
      if (!std::all_of(index.begin(), index.end(), is_digit))
        fail_at(source, l.number, "expected a cue number or timing line, found '" + std::string(index.substr(0, 40)) + "'");
      if (!lr.next(l) || is_blank(l.text))
        fail_at(source, l.number, "cue " + std::string(index.substr(0, 20)) + " has no timing line");
    }
    std::tie(cue.start, cue.end) = parse_timing(l, source);
    cue.line = l.number;
    cue.byte_end = l.end;
    read_payload(lr, cue);
    emit(w, std::move(cue));
  }
  return std::move(w).finish();
}

namespace {

// "[01:02:03]", "(01:02)", or a bare "01:02:03" at the start of a log line.
// Returns the time and strips it; nullopt when the line has no timestamp. A
// bracketed token that is not a valid timestamp but looks like one (digits and
// colons) is an error naming the line.
std::optional<int64_t> take_log_timestamp(std::string_view& s, std::string_view source, uint32_t line) {
  if (s.empty()) return std::nullopt;
  const char open = s[0];
  if (open == '[' || open == '(') {
    const char close = open == '[' ? ']' : ')';
    const size_t end = s.find(close);
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view inner = trim(s.substr(1, end - 1));
    const bool timeish = !inner.empty() && is_digit(inner[0]) && inner.find(':') != std::string_view::npos &&
                         std::all_of(inner.begin(), inner.end(), [](char c) { return c != ' '; });
    if (!timeish) return std::nullopt;
    const auto ms = parse_timestamp(inner);
    if (!ms) fail_at(source, line, "malformed timestamp '" + std::string(inner.substr(0, 40)) + "'");
    s = trim(s.substr(end + 1));
    return ms;
  }
  if (is_digit(open)) {
    const size_t sp = s.find_first_of(" \t");
    const std::string_view tok = s.substr(0, sp);
    if (tok.find(':') == std::string_view::npos) return std::nullopt;
    const auto ms = parse_timestamp(tok);
    if (!ms) {
      // "10:30 meeting notes" style text is not a log line; only tokens made of
      // digits, colons and a fraction are timestamps.
      if (std::all_of(tok.begin(), tok.end(), [](char c) { return is_digit(c) || c == ':' || c == '.' || c == ','; }))
        fail_at(source, line, "malformed timestamp '" + std::string(tok.substr(0, 40)) + "'");
      return std::nullopt;
    }
    s = sp == std::string_view::npos ? std::string_view() : trim(s.substr(sp));
    if (!s.empty() && (s[0] == '-' || s[0] == '|')) s = trim(s.substr(1));
    return ms;
  }
  return std::nullopt;
}

}  // namespace

bool looks_like_plain_transcript(std::string_view bytes) {
  LineReader lr(bytes.substr(0, 1 << 16), "", size_t(1) << 20);
  Line l;
  int lines = 0, hits = 0;
  try {
    while (lines < 50 && lr.next(l)) {
      std::string_view t = trim(l.text);
      if (t.empty()) continue;
      ++lines;
      std::string_view sp, rest;
      bool timed = false;
      try {
        timed = take_log_timestamp(t, "", l.number).has_value();
      } catch (const Error&) {
        timed = true;  // a malformed timestamp still marks a log line
      }
      if (timed || split_speaker(t, sp, rest)) ++hits;
    }
  } catch (const Error&) {
    return false;
  }
  return lines > 0 && hits * 10 >= lines * 7;
}

Document parse_plain_transcript(std::string_view bytes, std::string source, const Limits& limits) {
  check_source_size(bytes, source, limits);
  TurnWriter w(source, SourceFormat::transcript, limits, bytes);
  LineReader lr(bytes, source, limits.max_line_bytes);
  std::vector<Cue> cues;
  std::string current_speaker;
  int64_t last_time = 0;
  bool any_time = false;
  Line l;
  while (lr.next(l)) {
    std::string_view t = trim(l.text);
    if (t.empty()) continue;
    Cue cue;
    cue.line = l.number;
    cue.byte_begin = l.begin;
    cue.byte_end = l.end;
    const auto ms = take_log_timestamp(t, source, l.number);
    if (ms) {  // out-of-order times are kept as written
      last_time = *ms;
      any_time = true;
    }
    std::string_view sp, rest;
    if (split_speaker(t, sp, rest)) {
      current_speaker = std::string(sp);
      t = rest;
    } else if (ms) {
      current_speaker.clear();  // a timed line without a speaker: speaker unknown
    }
    // Continuation lines (no time, no speaker) keep the current speaker.
    cue.start = any_time ? last_time : 0;
    cue.speaker = current_speaker;
    cue.text = std::string(t);
    cues.push_back(std::move(cue));
    if (cues.size() > limits.max_blocks)
      fail(Errc::unsupported, source + ": more than " + std::to_string(limits.max_blocks) + " lines (Limits::max_blocks)");
  }
  // A line lasts until the next line with a different time starts (one
  // backward pass: `next` is the first later start that differs).
  std::optional<int64_t> next;
  for (size_t i = cues.size(); i-- > 0;) {
    if (i + 1 < cues.size() && cues[i + 1].start != cues[i].start) next = cues[i + 1].start;
    cues[i].end = next ? std::max(cues[i].start, *next) : cues[i].start;
  }
  // Plain logs carry no markup: '<' and '&' are text here.
  for (Cue& c : cues) w.add(std::move(c));
  return std::move(w).finish();
}

}  // namespace folio::ingest
