// A small, strict JSON (RFC 8259) parser and writer for hostile input.
//
// Used for tokenizer.json, config.json, safetensors headers and JSON requests.
// The parser accepts exactly RFC 8259 text: no comments, no trailing commas, no
// NaN/Infinity, no leading zeros, no control characters inside strings. It
// validates UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF),
// decodes \u escapes including surrogate pairs (a lone surrogate is an error),
// limits nesting depth and input size, and refuses duplicate object keys.
// Errors are folio::Error(Errc::format) with the display name, the line and
// column (1-based, column counted in bytes) and the byte offset:
//   "tokenizer.json:12:7 (byte 301): expected ':' after object key"
//
// API at a glance:
//   json::Value v = json::parse(text, "config.json");        // or parse_file(path)
//   int64_t n = v["num_hidden_layers"].as_int64();             // throws if missing / wrong kind
//   if (const json::Value* t = v.find("rope_theta")) theta = t->as_double();
//   for (const json::Member& m : v["model"]["vocab"].as_object()) { m.key; m.value.as_int64(); }
//   for (const json::Value& x : v["merges"].as_array()) { ... }
//   std::string text = json::serialize(v, /*indent=*/2);
//   json::Object o; o.insert("a", 1); json::Value built(std::move(o));
//
// Numbers: every number has a double value (as_double). A number also has an
// exact int64 value (is_integer / as_int64) when its text is an integer that
// fits int64 ("-12", "9007199254740993" exactly), or when it has a fraction or
// exponent but its value is integral and fits ("1.0", "2e3"). Integers outside
// int64 keep only their (rounded) double value.
//
// Objects keep their members in document order; lookups by key are
// O(log n) through a sorted index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace folio::json {

enum class Kind { null, boolean, number, string, array, object };
// "null", "boolean", "number", "string", "array", "object".
const char* kind_name(Kind k) noexcept;

struct ParseOptions {
  size_t max_bytes = size_t(1) << 30;  // larger input is refused before parsing
  size_t max_depth = 512;              // nesting of arrays + objects
  bool allow_duplicate_keys = false;   // when true, the first occurrence wins for lookups
};

class Value;
struct Member;
using Array = std::vector<Value>;

// A JSON object: members in insertion (document) order plus a sorted index.
class Object {
 public:
  Object();
  Object(const Object&);
  Object(Object&&) noexcept;
  Object& operator=(const Object&);
  Object& operator=(Object&&) noexcept;
  ~Object();

  size_t size() const noexcept;
  bool empty() const noexcept;
  // nullptr when the key is absent.
  const Value* find(std::string_view key) const noexcept;
  Value* find(std::string_view key) noexcept;
  // Throws folio::Error(format) "missing key 'k'" when absent.
  const Value& at(std::string_view key) const;
  bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }
  // Appends a member; replaces the value (keeping its position) when the key exists.
  void insert(std::string key, Value value);

  std::span<const Member> members() const noexcept;
  const Member* begin() const noexcept;
  const Member* end() const noexcept;

 private:
  friend class Parser;
  void rebuild_index();
  std::vector<Member> members_;
  std::vector<uint32_t> sorted_;  // indices into members_, sorted by key (stable)
};

class Value {
 public:
  Value() noexcept = default;  // null
  Value(std::nullptr_t) noexcept {}
  Value(bool b) noexcept : data_(b) {}
  Value(double d) noexcept;
  // Integers are exact; unsigned values above INT64_MAX keep only a double.
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
  Value(I i) noexcept
      : Value(std::is_unsigned_v<I> && uint64_t(i) > uint64_t(INT64_MAX) ? Number{double(i), 0, false}
                                                                           : Number::from_int(int64_t(i))) {}
  Value(std::string s) noexcept : data_(std::move(s)) {}
  Value(std::string_view s) : data_(std::string(s)) {}
  Value(const char* s) : data_(std::string(s)) {}
  Value(Array a) noexcept : data_(std::move(a)) {}
  Value(Object o) noexcept : data_(std::move(o)) {}

  Kind kind() const noexcept { return Kind(data_.index()); }
  bool is_null() const noexcept { return kind() == Kind::null; }
  bool is_bool() const noexcept { return kind() == Kind::boolean; }
  bool is_number() const noexcept { return kind() == Kind::number; }
  bool is_integer() const noexcept;  // a number with an exact int64 value
  bool is_string() const noexcept { return kind() == Kind::string; }
  bool is_array() const noexcept { return kind() == Kind::array; }
  bool is_object() const noexcept { return kind() == Kind::object; }

  // Accessors throw folio::Error(format) "expected a number, found a string"
  // (as_int64: "... not an integer that fits int64") on the wrong kind.
  bool as_bool() const;
  double as_double() const;
  int64_t as_int64() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Object lookup: nullptr when this is not an object or the key is absent.
  const Value* find(std::string_view key) const noexcept;
  // Object member / array element; throws when absent or the wrong kind.
  const Value& operator[](std::string_view key) const;
  const Value& operator[](const char* key) const { return (*this)[std::string_view(key)]; }
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
  const Value& operator[](I index) const {
    return at_index(index < 0 ? size_t(-1) : size_t(index));
  }
  const Value& at_index(size_t index) const;
  // Elements of an array or members of an object; throws for other kinds.
  size_t size() const;

 private:
  struct Number {
    double value = 0;
    int64_t int_value = 0;
    bool is_int = false;
    static Number from_int(int64_t i) noexcept { return {double(i), i, true}; }
  };
  explicit Value(Number n) noexcept : data_(n) {}
  friend class Parser;
  friend std::string serialize(const Value&, int);
  friend bool operator==(const Value&, const Value&);

  // The order of alternatives matches Kind.
  std::variant<std::nullptr_t, bool, Number, std::string, Array, Object> data_{nullptr};
};

struct Member {
  std::string key;
  Value value;
};

// Deep equality; numbers compare by value (and exact int64 when both have one),
// objects compare members in order.
bool operator==(const Value& a, const Value& b);

// Parses one JSON text (surrounding whitespace allowed, nothing else).
// `display_name` prefixes every error message.
Value parse(std::string_view text, std::string_view display_name = "<json>",
            const ParseOptions& options = {});
// Reads and parses a file; errors name the file (io on read failure, format on bad JSON).
Value parse_file(const std::filesystem::path& path, const ParseOptions& options = {});

// Compact JSON when indent < 0, otherwise pretty-printed with `indent` spaces.
// Doubles use the shortest text that round-trips; integers print exactly.
// Throws folio::Error(invalid_argument) on NaN/Inf or strings that are not valid UTF-8.
std::string serialize(const Value& value, int indent = -1);
// Appends `text` as a JSON string literal (quotes and escapes) to `out`.
// Bytes that are not valid UTF-8 are written as U+FFFD (for reports of
// arbitrary binary strings); serialize() refuses them instead.
void append_quoted(std::string& out, std::string_view text);

// True when `text` is valid UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view text) noexcept;

}  // namespace folio::json
