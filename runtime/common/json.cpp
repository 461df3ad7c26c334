#include "runtime/common/json.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <system_error>

#include "runtime/common/error.hpp"

namespace folio::json {

namespace {

// Length of the valid UTF-8 sequence starting at s[0] (1..4), or 0 when the
// bytes there are not a valid, shortest-form, non-surrogate scalar value.
size_t utf8_sequence_length(const unsigned char* s, size_t avail) noexcept {
  const unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t n;
  unsigned lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;       // overlong
    if (c == 0xed) hi = 0x9f;       // UTF-16 surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;       // overlong
    if (c == 0xf4) hi = 0x8f;       // above U+10FFFF
  } else {
    return 0;
  }
  if (avail < n) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < n; ++i)
    if ((s[i] & 0xc0) != 0x80) return 0;
  return n;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xc0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xe0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(char(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(char(0xf0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(char(0x80 | (cp & 0x3f)));
  }
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

[[noreturn]] void wrong_kind(Kind want, Kind have) {
  fail(Errc::format, std::string("JSON: expected ") + (want == Kind::array ? "an " : "a ") + kind_name(want) +
                         ", found " + (have == Kind::array || have == Kind::object ? "an " : "a ") + kind_name(have));
}

// An int64 for a double that holds an integral value in [-2^63, 2^63).
bool exact_int64(double d, int64_t& out) noexcept {
  if (!(d >= -0x1p63 && d < 0x1p63) || std::trunc(d) != d) return false;
  out = int64_t(d);
  return true;
}

}  // namespace

const char* kind_name(Kind k) noexcept {
  switch (k) {
    case Kind::null: return "null";
    case Kind::boolean: return "boolean";
    case Kind::number: return "number";
    case Kind::string: return "string";
    case Kind::array: return "array";
    case Kind::object: return "object";
  }
  return "?";
}

bool is_valid_utf8(std::string_view text) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    if (p[i] < 0x80) { ++i; continue; }
    const size_t n = utf8_sequence_length(p + i, text.size() - i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// ---- Object ------------------------------------------------------------------

Object::Object() = default;
Object::Object(const Object&) = default;
Object::Object(Object&&) noexcept = default;
Object& Object::operator=(const Object&) = default;
Object& Object::operator=(Object&&) noexcept = default;
Object::~Object() = default;

size_t Object::size() const noexcept { return members_.size(); }
bool Object::empty() const noexcept { return members_.empty(); }
std::span<const Member> Object::members() const noexcept { return members_; }
const Member* Object::begin() const noexcept { return members_.data(); }
const Member* Object::end() const noexcept { return members_.data() + members_.size(); }

const Value* Object::find(std::string_view key) const noexcept {
  auto it = std::lower_bound(sorted_.begin(), sorted_.end(), key,
                             [&](uint32_t i, std::string_view k) { return members_[i].key < k; });
  if (it == sorted_.end() || members_[*it].key != key) return nullptr;
  return &members_[*it].value;
}

Value* Object::find(std::string_view key) noexcept {
  return const_cast<Value*>(static_cast<const Object*>(this)->find(key));
}

const Value& Object::at(std::string_view key) const {
  if (const Value* v = find(key)) return *v;
  fail(Errc::format, "JSON: missing key '" + std::string(key) + "'");
}

void Object::insert(std::string key, Value value) {
  if (Value* existing = find(key)) {
    *existing = std::move(value);
    return;
  }
  if (members_.size() >= std::numeric_limits<uint32_t>::max()) fail(Errc::invalid_argument, "JSON: object too large");
  auto it = std::upper_bound(sorted_.begin(), sorted_.end(), std::string_view(key),
                             [&](std::string_view k, uint32_t i) { return k < members_[i].key; });
  const auto index = uint32_t(members_.size());
  members_.push_back(Member{std::move(key), std::move(value)});
  sorted_.insert(it, index);
}

void Object::rebuild_index() {
  sorted_.resize(members_.size());
  for (size_t i = 0; i < sorted_.size(); ++i) sorted_[i] = uint32_t(i);
  std::stable_sort(sorted_.begin(), sorted_.end(),
                   [&](uint32_t a, uint32_t b) { return members_[a].key < members_[b].key; });
}

// ---- Value -------------------------------------------------------------------

Value::Value(double d) noexcept {
  Number n{d, 0, false};
  n.is_int = exact_int64(d, n.int_value);
  data_ = n;
}

bool Value::is_integer() const noexcept {
  const auto* n = std::get_if<Number>(&data_);
  return n && n->is_int;
}

bool Value::as_bool() const {
  if (const auto* b = std::get_if<bool>(&data_)) return *b;
  wrong_kind(Kind::boolean, kind());
}

double Value::as_double() const {
  if (const auto* n = std::get_if<Number>(&data_)) return n->value;
  wrong_kind(Kind::number, kind());
}

int64_t Value::as_int64() const {
  const auto* n = std::get_if<Number>(&data_);
  if (!n) wrong_kind(Kind::number, kind());
  if (!n->is_int) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, n->value);
    fail(Errc::format, "JSON: number " + std::string(buf, r.ptr) + " is not an integer that fits int64");
  }
  return n->int_value;
}

const std::string& Value::as_string() const {
  if (const auto* s = std::get_if<std::string>(&data_)) return *s;
  wrong_kind(Kind::string, kind());
}

const Array& Value::as_array() const {
  if (const auto* a = std::get_if<Array>(&data_)) return *a;
  wrong_kind(Kind::array, kind());
}

Array& Value::as_array() {
  if (auto* a = std::get_if<Array>(&data_)) return *a;
  wrong_kind(Kind::array, kind());
}

const Object& Value::as_object() const {
  if (const auto* o = std::get_if<Object>(&data_)) return *o;
  wrong_kind(Kind::object, kind());
}

Object& Value::as_object() {
  if (auto* o = std::get_if<Object>(&data_)) return *o;
  wrong_kind(Kind::object, kind());
}

const Value* Value::find(std::string_view key) const noexcept {
  const auto* o = std::get_if<Object>(&data_);
  return o ? o->find(key) : nullptr;
}

const Value& Value::operator[](std::string_view key) const { return as_object().at(key); }

const Value& Value::at_index(size_t index) const {
  const Array& a = as_array();
  if (index >= a.size())
    fail(Errc::format, "JSON: index " + std::to_string(index) + " out of range (array of " +
                           std::to_string(a.size()) + ")");
  return a[index];
}

size_t Value::size() const {
  if (const auto* a = std::get_if<Array>(&data_)) return a->size();
  if (const auto* o = std::get_if<Object>(&data_)) return o->size();
  fail(Errc::format, std::string("JSON: size() of a ") + kind_name(kind()));
}

bool operator==(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::null: return true;
    case Kind::boolean: return std::get<bool>(a.data_) == std::get<bool>(b.data_);
    case Kind::number: {
      const auto& x = std::get<Value::Number>(a.data_);
      const auto& y = std::get<Value::Number>(b.data_);
      if (x.is_int && y.is_int) return x.int_value == y.int_value;
      return x.value == y.value;
    }
    case Kind::string: return std::get<std::string>(a.data_) == std::get<std::string>(b.data_);
    case Kind::array: return std::get<Array>(a.data_) == std::get<Array>(b.data_);
    case Kind::object: {
      const auto& x = std::get<Object>(a.data_);
      const auto& y = std::get<Object>(b.data_);
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (x.members()[i].key != y.members()[i].key || !(x.members()[i].value == y.members()[i].value))
          return false;
      return true;
    }
  }
  return false;
}

// ---- Parser ------------------------------------------------------------------

class Parser {
 public:
  Parser(std::string_view text, std::string_view name, const ParseOptions& options)
      : text_(text), name_(name), options_(options) {}

  Value parse_document() {
    if (text_.size() > options_.max_bytes)
      fail(Errc::format, std::string(name_) + ": JSON text of " + std::to_string(text_.size()) +
                             " bytes exceeds the limit of " + std::to_string(options_.max_bytes));
    // RFC 8259 §8.1: a parser MAY ignore a byte order mark.
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    skip_ws();
    Value v = parse_value(0);
    skip_ws();
    if (pos_ != text_.size()) error("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) const { error_at(pos_, what); }

  [[noreturn]] void error_at(size_t offset, const std::string& what) const {
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < offset && i < text_.size(); ++i)
      if (text_[i] == '\n') { ++line; line_start = i + 1; }
    fail(Errc::format, std::string(name_) + ":" + std::to_string(line) + ":" + std::to_string(offset - line_start + 1) +
                           " (byte " + std::to_string(offset) + "): " + what);
  }

  std::string describe_here() const {
    if (pos_ >= text_.size()) return "end of input";
    const unsigned char c = static_cast<unsigned char>(text_[pos_]);
    if (c >= 0x21 && c < 0x7f) return std::string("'") + char(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
  }

  void skip_ws() noexcept {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  bool consume_literal(std::string_view lit) noexcept {
    if (text_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }

  Value parse_value(size_t depth) {
    if (pos_ >= text_.size()) error("unexpected end of input, expected a value");
    switch (text_[pos_]) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': return Value(parse_string());
      case 't': if (consume_literal("true")) return Value(true); break;
      case 'f': if (consume_literal("false")) return Value(false); break;
      case 'n': if (consume_literal("null")) return Value(nullptr); break;
      default:
        if (text_[pos_] == '-' || (text_[pos_] >= '0' && text_[pos_] <= '9')) return parse_number();
    }
    error("unexpected " + describe_here() + ", expected a value");
  }

  void check_depth(size_t depth) const {
    if (depth > options_.max_depth)
      error("nesting deeper than the limit of " + std::to_string(options_.max_depth));
  }

  Value parse_array(size_t depth) {
    check_depth(depth);
    ++pos_;  // '['
    Array items;
    skip_ws();
    if (pos_ < text_.size() && text_[pos_] == ']') { ++pos_; return Value(std::move(items)); }
    for (;;) {
      skip_ws();
      items.push_back(parse_value(depth));
      skip_ws();
      if (pos_ < text_.size() && text_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < text_.size() && text_[pos_] == ']') { ++pos_; break; }
      error("expected ',' or ']' in array, found " + describe_here());
    }
    return Value(std::move(items));
  }

  Value parse_object(size_t depth) {
    check_depth(depth);
    const size_t start = pos_;
    ++pos_;  // '{'
    Object obj;
    std::vector<size_t> key_offsets;
    skip_ws();
    if (pos_ < text_.size() && text_[pos_] == '}') { ++pos_; return Value(std::move(obj)); }
    for (;;) {
      skip_ws();
      if (pos_ >= text_.size() || text_[pos_] != '"') error("expected a string key in object, found " + describe_here());
      key_offsets.push_back(pos_);
      std::string key = parse_string();
      skip_ws();
      if (pos_ >= text_.size() || text_[pos_] != ':') error("expected ':' after object key, found " + describe_here());
      ++pos_;
      skip_ws();
      Value v = parse_value(depth);
      if (obj.members_.size() >= std::numeric_limits<uint32_t>::max()) error_at(start, "object has too many members");
      obj.members_.push_back(Member{std::move(key), std::move(v)});
      skip_ws();
      if (pos_ < text_.size() && text_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < text_.size() && text_[pos_] == '}') { ++pos_; break; }
      error("expected ',' or '}' in object, found " + describe_here());
    }
    obj.rebuild_index();
    if (!options_.allow_duplicate_keys) {
      for (size_t i = 1; i < obj.sorted_.size(); ++i) {
        const uint32_t a = obj.sorted_[i - 1], b = obj.sorted_[i];
        if (obj.members_[a].key == obj.members_[b].key)
          error_at(key_offsets[b], "duplicate object key \"" + printable(obj.members_[b].key) + "\"");
      }
    }
    return Value(std::move(obj));
  }

  static std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 200)) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f || u == '"' || u == '\\') {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", u);
        out += buf;
      } else {
        out.push_back(c);
      }
    }
    if (s.size() > 200) out += "...";
    return out;
  }

  uint32_t parse_hex4() {
    if (text_.size() - pos_ < 4) error_at(pos_, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const int d = hex_digit(text_[pos_ + size_t(i)]);
      if (d < 0) error_at(pos_ + size_t(i), "invalid hex digit in \\u escape");
      v = v * 16 + uint32_t(d);
    }
    pos_ += 4;
    return v;
  }

  std::string parse_string() {
    const size_t start = pos_;
    ++pos_;  // opening quote
    std::string out;
    const auto* bytes = reinterpret_cast<const unsigned char*>(text_.data());
    for (;;) {
      // Copy a run of plain ASCII at once.
      size_t run = pos_;
      while (run < text_.size() && bytes[run] >= 0x20 && bytes[run] < 0x80 && bytes[run] != '"' && bytes[run] != '\\')
        ++run;
      out.append(text_.data() + pos_, run - pos_);
      pos_ = run;
      if (pos_ >= text_.size()) error_at(start, "unterminated string");
      const unsigned char c = bytes[pos_];
      if (c == '"') { ++pos_; return out; }
      if (c < 0x20) error("control character 0x" + hex2(c) + " in string (must be escaped)");
      if (c >= 0x80) {
        const size_t n = utf8_sequence_length(bytes + pos_, text_.size() - pos_);
        if (n == 0) error("invalid UTF-8 in string");
        out.append(text_.data() + pos_, n);
        pos_ += n;
        continue;
      }
      // Backslash escape.
      const size_t esc = pos_;
      ++pos_;
      if (pos_ >= text_.size()) error_at(start, "unterminated string");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          uint32_t cp = parse_hex4();
          if (cp >= 0xdc00 && cp <= 0xdfff) error_at(esc, "lone low surrogate in \\u escape");
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (text_.substr(pos_, 2) != "\\u") error_at(esc, "high surrogate not followed by a low surrogate");
            pos_ += 2;
            const uint32_t lo = parse_hex4();
            if (lo < 0xdc00 || lo > 0xdfff) error_at(esc, "high surrogate not followed by a low surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          append_utf8(out, cp);
          break;
        }
        default: error_at(esc, "invalid escape \\" + printable(std::string_view(&e, 1)));
      }
    }
  }

  static std::string hex2(unsigned c) {
    char buf[4];
    std::snprintf(buf, sizeof buf, "%02x", c & 0xffu);
    return buf;
  }

  Value parse_number() {
    const size_t start = pos_;
    auto digit = [&](size_t i) { return i < text_.size() && text_[i] >= '0' && text_[i] <= '9'; };
    size_t p = pos_;
    if (text_[p] == '-') ++p;
    if (!digit(p)) error_at(p, "expected a digit in number");
    if (text_[p] == '0') {
      ++p;
      if (digit(p)) error_at(p, "leading zero in number");
    } else {
      while (digit(p)) ++p;
    }
    bool integral_syntax = true;
    if (p < text_.size() && text_[p] == '.') {
      integral_syntax = false;
      ++p;
      if (!digit(p)) error_at(p, "expected a digit after the decimal point");
      while (digit(p)) ++p;
    }
    if (p < text_.size() && (text_[p] == 'e' || text_[p] == 'E')) {
      integral_syntax = false;
      ++p;
      if (p < text_.size() && (text_[p] == '+' || text_[p] == '-')) ++p;
      if (!digit(p)) error_at(p, "expected a digit in the exponent");
      while (digit(p)) ++p;
    }
    pos_ = p;
    const char* first = text_.data() + start;
    const char* last = text_.data() + p;

    Value::Number n;
    if (integral_syntax) {
      auto r = std::from_chars(first, last, n.int_value);
      n.is_int = r.ec == std::errc() && r.ptr == last;
    }
    auto r = std::from_chars(first, last, n.value);
    if (r.ec == std::errc::result_out_of_range) {
      // Overflow is refused (JSON numbers here are finite doubles); underflow
      // becomes a signed zero.
      if (looks_like_overflow(std::string_view(first, size_t(last - first))))
        error_at(start, "number out of the range of a double");
      n.value = *first == '-' ? -0.0 : 0.0;
    } else if (r.ec != std::errc() || r.ptr != last) {
      error_at(start, "malformed number");
    }
    if (n.is_int) {
      n.value = double(n.int_value);
    } else {
      n.is_int = exact_int64(n.value, n.int_value);
    }
    return Value(n);
  }

  // Decimal exponent of the leading significant digit of a syntactically valid
  // JSON number is positive: the out-of-range value was too large, not too small.
  static bool looks_like_overflow(std::string_view s) {
    size_t i = s[0] == '-' ? 1 : 0;
    int64_t lead = 0;  // exponent of the first non-zero digit
    bool seen_nonzero = false, after_point = false;
    int64_t int_digits = 0, zero_fraction = 0;
    for (; i < s.size() && s[i] != 'e' && s[i] != 'E'; ++i) {
      if (s[i] == '.') { after_point = true; continue; }
      if (!after_point) {
        if (seen_nonzero || s[i] != '0') { seen_nonzero = true; ++int_digits; }
      } else if (!seen_nonzero) {
        if (s[i] == '0') ++zero_fraction; else seen_nonzero = true;
      }
    }
    lead = int_digits > 0 ? int_digits - 1 : -(zero_fraction + 1);
    int64_t exp = 0;
    if (i < s.size()) {
      ++i;
      bool neg = false;
      if (s[i] == '+' || s[i] == '-') neg = s[i++] == '-';
      for (; i < s.size(); ++i) {
        exp = std::min<int64_t>(exp * 10 + (s[i] - '0'), int64_t(1) << 40);
      }
      if (neg) exp = -exp;
    }
    return lead + exp > 0;
  }

  std::string_view text_;
  std::string_view name_;
  const ParseOptions& options_;
  size_t pos_ = 0;
};

Value parse(std::string_view text, std::string_view display_name, const ParseOptions& options) {
  return Parser(text, display_name, options).parse_document();
}

Value parse_file(const std::filesystem::path& path, const ParseOptions& options) {
  const std::string name = path.string();
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) fail(Errc::io, name + ": cannot read: " + ec.message());
  if (size > options.max_bytes)
    fail(Errc::format, name + ": JSON file of " + std::to_string(size) + " bytes exceeds the limit of " +
                           std::to_string(options.max_bytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(Errc::io, name + ": cannot open for reading");
  std::string text(size_t(size), '\0');
  in.read(text.data(), std::streamsize(size));
  if (in.gcount() != std::streamsize(size)) fail(Errc::io, name + ": short read");
  return parse(text, name, options);
}

// ---- Writer ------------------------------------------------------------------

void append_quoted(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  out.push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = p[i];
    if (c >= 0x80) {
      const size_t n = utf8_sequence_length(p + i, text.size() - i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD
        ++i;
      } else {
        out.append(text.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(char(c));
        }
    }
    ++i;
  }
  out.push_back('"');
}

namespace {

void newline(std::string& out, int indent, int level) {
  if (indent < 0) return;
  out.push_back('\n');
  out.append(size_t(indent) * size_t(level), ' ');
}

}  // namespace

std::string serialize(const Value& value, int indent) {
  std::string out;
  // Iteration by explicit recursion through a local lambda; depth is bounded
  // by the caller's construction (parsed values are bounded by max_depth).
  auto write = [&](auto& self, const Value& v, int level) -> void {
    switch (v.kind()) {
      case Kind::null: out += "null"; break;
      case Kind::boolean: out += v.as_bool() ? "true" : "false"; break;
      case Kind::number: {
        const auto& n = std::get<Value::Number>(v.data_);
        if (!std::isfinite(n.value)) fail(Errc::invalid_argument, "JSON: cannot serialize a non-finite number");
        char buf[32];
        auto r = n.is_int ? std::to_chars(buf, buf + sizeof buf, n.int_value)
                          : std::to_chars(buf, buf + sizeof buf, n.value);
        out.append(buf, r.ptr);
        break;
      }
      case Kind::string:
        if (!is_valid_utf8(v.as_string())) fail(Errc::invalid_argument, "JSON: cannot serialize a string that is not valid UTF-8");
        append_quoted(out, v.as_string());
        break;
      case Kind::array: {
        const Array& a = v.as_array();
        out.push_back('[');
        for (size_t i = 0; i < a.size(); ++i) {
          if (i) out.push_back(',');
          newline(out, indent, level + 1);
          self(self, a[i], level + 1);
        }
        if (!a.empty()) newline(out, indent, level);
        out.push_back(']');
        break;
      }
      case Kind::object: {
        const Object& o = v.as_object();
        out.push_back('{');
        bool first = true;
        for (const Member& m : o) {
          if (!first) out.push_back(',');
          first = false;
          newline(out, indent, level + 1);
          if (!is_valid_utf8(m.key)) fail(Errc::invalid_argument, "JSON: cannot serialize a key that is not valid UTF-8");
          append_quoted(out, m.key);
          out += indent < 0 ? ":" : ": ";
          self(self, m.value, level + 1);
        }
        if (!o.empty()) newline(out, indent, level);
        out.push_back('}');
        break;
      }
    }
  };
  write(write, value, 0);
  return out;
}

}  // namespace folio::json
