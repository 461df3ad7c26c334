// `folio inspect MODEL.gguf`: what a GGUF file holds — header, metadata (long
// arrays summarised), tensors with shape, type and size, and totals — as text
// or, with --json, as one JSON document for scripts.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"
#include "runtime/gguf/gguf.hpp"
#include "tools/folio/commands.hpp"

namespace folio::cli {

namespace {

constexpr const char* kUsage =
    "usage: folio inspect MODEL.gguf [--json] [--items N] [--no-tensors]\n"
    "\n"
    "Prints a GGUF file's header, metadata and tensors, then totals (tensor count,\n"
    "parameter count, bytes per type). Arrays longer than N items (default 8) are\n"
    "shown as their type, length and first N items; long strings are shortened.\n"
    "\n"
    "  --json         one JSON document on stdout instead of text\n"
    "  --items N      array items (and, x 8, string bytes) to show (default 8)\n"
    "  --no-tensors   omit the per-tensor list (totals are still printed)\n"
    "  -h, --help     this help\n";

std::string float_text(float f) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, f);
  return std::string(buf, r.ptr);
}

std::string double_text(double d) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

// A JSON-quoted, possibly shortened rendering of a metadata string.
std::string string_text(const std::string& s, size_t max_bytes) {
  std::string out;
  if (s.size() <= max_bytes) {
    json::append_quoted(out, s);
    return out;
  }
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;  // whole UTF-8 chars
  json::append_quoted(out, std::string_view(s).substr(0, cut));
  out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string scalar_text(const gguf::Value& v, size_t max_string) {
  switch (v.type) {
    case gguf::ValueType::f32: return float_text(std::get<float>(v.data));
    case gguf::ValueType::f64: return double_text(std::get<double>(v.data));
    case gguf::ValueType::boolean: return std::get<bool>(v.data) ? "true" : "false";
    case gguf::ValueType::string: return string_text(std::get<std::string>(v.data), max_string);
    case gguf::ValueType::array: return "[array]";
    case gguf::ValueType::u8:
    case gguf::ValueType::u16:
    case gguf::ValueType::u32:
    case gguf::ValueType::u64: return std::to_string(v.as_u64(""));
    default: return std::to_string(v.as_i64(""));
  }
}

std::string type_text(const gguf::Value& v) {
  if (v.type != gguf::ValueType::array) return gguf::value_type_name(v.type);
  const gguf::Array& a = v.as_array("");
  return std::string("[") + gguf::value_type_name(a.element_type) + " x " + std::to_string(a.items.size()) + "]";
}

std::string value_text(const gguf::Value& v, size_t items) {
  const size_t max_string = items * 8;
  if (v.type != gguf::ValueType::array) return scalar_text(v, max_string);
  const gguf::Array& a = v.as_array("");
  std::string out;
  for (size_t i = 0; i < a.items.size() && i < items; ++i) {
    if (i) out += ", ";
    const gguf::Value& item = a.items[i];
    out += item.type == gguf::ValueType::array ? type_text(item) : scalar_text(item, max_string);
  }
  if (a.items.size() > items) out += ", ...";
  return out;
}

// Metadata strings may hold any bytes; JSON needs UTF-8 (invalid bytes -> U+FFFD).
json::Value json_string(const std::string& s) {
  if (json::is_valid_utf8(s)) return json::Value(s);
  std::string quoted;
  json::append_quoted(quoted, s);
  return json::parse(quoted);
}

json::Value json_scalar(const gguf::Value& v) {
  switch (v.type) {
    case gguf::ValueType::f32: {
      // The shortest decimal that round-trips the float, not the widened double.
      const std::string t = float_text(std::get<float>(v.data));
      double d = 0;
      std::from_chars(t.data(), t.data() + t.size(), d);
      return std::isfinite(d) ? json::Value(d) : json::Value(t);
    }
    case gguf::ValueType::f64: {
      const double d = std::get<double>(v.data);
      return std::isfinite(d) ? json::Value(d) : json::Value(double_text(d));
    }
    case gguf::ValueType::boolean: return json::Value(std::get<bool>(v.data));
    case gguf::ValueType::string: return json_string(std::get<std::string>(v.data));
    case gguf::ValueType::u64: {
      const uint64_t u = std::get<uint64_t>(v.data);
      return u <= uint64_t(INT64_MAX) ? json::Value(int64_t(u)) : json::Value(double(u));
    }
    default: return json::Value(v.as_i64(""));
  }
}

json::Value json_value(const gguf::Value& v, size_t items) {
  if (v.type != gguf::ValueType::array) return json_scalar(v);
  const gguf::Array& a = v.as_array("");
  json::Object o;
  o.insert("element_type", gguf::value_type_name(a.element_type));
  o.insert("length", a.items.size());
  json::Array shown;
  for (size_t i = 0; i < a.items.size() && i < items; ++i) shown.push_back(json_value(a.items[i], items));
  o.insert("items", std::move(shown));
  o.insert("truncated", a.items.size() > items);
  return json::Value(std::move(o));
}

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// 1234567 -> "1.23 M"; bytes -> "4.71 MiB".
std::string human(double x, bool binary) {
  const char* units_dec[] = {"", " K", " M", " B", " T"};
  const char* units_bin[] = {" B", " KiB", " MiB", " GiB", " TiB"};
  const double base = binary ? 1024.0 : 1000.0;
  int u = 0;
  while (x >= base && u < 4) {
    x /= base;
    ++u;
  }
  char buf[48];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%.0f%s", x, binary ? units_bin[0] : units_dec[0]);
  else
    std::snprintf(buf, sizeof buf, "%.2f%s", x, binary ? units_bin[u] : units_dec[u]);
  return buf;
}

struct TypeTotals {
  uint64_t tensors = 0, parameters = 0, bytes = 0;
};

}  // namespace

int run_inspect(Args args) {
  std::string path;
  bool as_json = false, show_tensors = true;
  size_t items = 8;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--json") {
      as_json = true;
    } else if (a == "--no-tensors") {
      show_tensors = false;
    } else if (a == "--items") {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "folio inspect: --items needs a number\n");
        return 2;
      }
      const std::string_view n = args[++i];
      auto r = std::from_chars(n.data(), n.data() + n.size(), items);
      if (r.ec != std::errc() || r.ptr != n.data() + n.size()) {
        std::fprintf(stderr, "folio inspect: --items: '%.*s' is not a number\n", int(n.size()), n.data());
        return 2;
      }
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "folio inspect: unknown option '%.*s'\n%s", int(a.size()), a.data(), kUsage);
      return 2;
    } else if (path.empty()) {
      path = std::string(a);
    } else {
      std::fprintf(stderr, "folio inspect: one file at a time (got '%s' and '%.*s')\n", path.c_str(), int(a.size()),
                   a.data());
      return 2;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "folio inspect: which file? give a .gguf path\n%s", kUsage);
    return 2;
  }

  const gguf::File f = gguf::File::open(path);
  std::map<std::string, TypeTotals> by_type;
  TypeTotals total;
  for (const gguf::TensorInfo& t : f.tensors()) {
    TypeTotals& tt = by_type[gguf::tensor_type_name(uint32_t(t.type))];
    for (TypeTotals* x : {&tt, &total}) {
      x->tensors += 1;
      x->parameters += t.n_elements;
      x->bytes += t.data.size();
    }
  }

  if (as_json) {
    json::Object root;
    root.insert("file", json_string(f.name()));
    root.insert("version", f.version());
    root.insert("file_size", f.file_size());
    root.insert("alignment", f.alignment());
    root.insert("data_offset", f.data_offset());
    json::Array meta;
    for (const std::string_view key : f.metadata_keys_in_file_order()) {
      const gguf::Value& value = *f.find(key);
      json::Object m;
      m.insert("key", json_string(std::string(key)));
      m.insert("type", gguf::value_type_name(value.type));
      m.insert("value", json_value(value, items));
      meta.push_back(json::Value(std::move(m)));
    }
    root.insert("metadata", std::move(meta));
    if (show_tensors) {
      json::Array tensors;
      for (const gguf::TensorInfo& t : f.tensors()) {
        json::Object o;
        o.insert("name", json_string(t.name));
        o.insert("type", gguf::tensor_type_name(uint32_t(t.type)));
        json::Array shape;
        for (uint64_t d : t.shape) shape.push_back(json::Value(int64_t(d)));
        o.insert("shape", std::move(shape));
        o.insert("elements", int64_t(t.n_elements));
        o.insert("offset", int64_t(t.offset));
        o.insert("bytes", int64_t(t.data.size()));
        tensors.push_back(json::Value(std::move(o)));
      }
      root.insert("tensors", std::move(tensors));
    }
    json::Object totals;
    totals.insert("tensors", int64_t(total.tensors));
    totals.insert("parameters", int64_t(total.parameters));
    totals.insert("bytes", int64_t(total.bytes));
    json::Object types;
    for (const auto& [name, tt] : by_type) {
      json::Object o;
      o.insert("tensors", int64_t(tt.tensors));
      o.insert("parameters", int64_t(tt.parameters));
      o.insert("bytes", int64_t(tt.bytes));
      types.insert(name, std::move(o));
    }
    totals.insert("by_type", std::move(types));
    root.insert("totals", std::move(totals));
    std::printf("%s\n", json::serialize(json::Value(std::move(root)), 2).c_str());
    return 0;
  }

  std::printf("file:       %s\n", f.name().c_str());
  const std::string size_text = f.file_size() < 1024 ? std::to_string(f.file_size()) + " bytes"
                                                      : human(double(f.file_size()), true) + " (" +
                                                            std::to_string(f.file_size()) + " bytes)";
  std::printf("format:     GGUF v%u, %s, alignment %llu, tensor data at offset %llu\n", f.version(),
              size_text.c_str(), (unsigned long long)f.alignment(), (unsigned long long)f.data_offset());
  std::printf("\nmetadata (%zu keys):\n", f.metadata().size());
  size_t key_width = 0;
  for (const auto& [key, value] : f.metadata()) key_width = std::max(key_width, key.size());
  key_width = std::min<size_t>(key_width, 48);
  for (const std::string_view key : f.metadata_keys_in_file_order()) {
    const gguf::Value& value = *f.find(key);
    std::string k;
    json::append_quoted(k, key);
    k = k.substr(1, k.size() - 2);  // escaped, without quotes
    std::printf("  %-*s  %-16s %s\n", int(key_width), k.c_str(), type_text(value).c_str(),
                value_text(value, items).c_str());
  }
  if (show_tensors) {
    size_t name_width = 4;
    for (const gguf::TensorInfo& t : f.tensors()) name_width = std::max(name_width, t.name.size());
    name_width = std::min<size_t>(name_width, 48);
    std::printf("\ntensors (%zu; shape innermost first, as GGUF stores it):\n", f.tensors().size());
    std::printf("  %-*s  %-5s %-22s %14s\n", int(name_width), "name", "type", "shape", "bytes");
    for (const gguf::TensorInfo& t : f.tensors()) {
      std::string n;
      json::append_quoted(n, t.name);
      n = n.substr(1, n.size() - 2);
      std::printf("  %-*s  %-5s %-22s %14llu\n", int(name_width), n.c_str(),
                  gguf::tensor_type_name(uint32_t(t.type)).c_str(), shape_text(t.shape).c_str(),
                  (unsigned long long)t.data.size());
    }
  }
  std::printf("\ntotals:     %llu tensors, %llu parameters (%s), %llu bytes of tensor data (%s)\n",
              (unsigned long long)total.tensors, (unsigned long long)total.parameters,
              human(double(total.parameters), false).c_str(), (unsigned long long)total.bytes,
              human(double(total.bytes), true).c_str());
  for (const auto& [name, tt] : by_type)
    std::printf("  %-6s %6llu tensors %16llu parameters %16llu bytes\n", name.c_str(), (unsigned long long)tt.tensors,
                (unsigned long long)tt.parameters, (unsigned long long)tt.bytes);
  return 0;
}

}  // namespace folio::cli
