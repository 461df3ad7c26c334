// gguf::File: validates a GGUF image (memory-mapped or in memory) as hostile
// input. Every read is bounds-checked against the image; every count is
// checked against the bytes that remain before anything is allocated for it.
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <optional>

#include "runtime/common/error.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/gguf/mapped_file.hpp"

static_assert(std::endian::native == std::endian::little, "GGUF is read in place: little-endian hosts only");

namespace folio::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;           // "GGUF" read as a little-endian u32
constexpr uint64_t kMaxKeyBytes = 65535;           // the GGUF spec's limit for keys
constexpr uint64_t kMaxTensorNameBytes = 65535;
constexpr uint64_t kMaxMetadataBytes = 256ull << 20;  // all key/value bytes together
constexpr uint64_t kMaxMetadataValues = 8u << 20;     // values incl. array elements (memory bound)
constexpr uint32_t kMaxArrayNesting = 8;
constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kMaxAlignment = 1u << 20;

// Minimum encoded sizes, used to bound counts by the bytes that remain.
constexpr uint64_t kMinKvBytes = 8 + 0 + 4 + 1;          // key length, empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, one dim, type, offset

// Bounds-checked little-endian reading with errors that name the file, the
// field and the offset.
class Cursor {
 public:
  Cursor(std::span<const std::byte> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  uint64_t pos() const noexcept { return pos_; }
  uint64_t remaining() const noexcept { return bytes_.size() - pos_; }

  [[noreturn]] void error(const std::string& field, const std::string& problem) const {
    fail(Errc::format, name_ + ": " + field + ": " + problem);
  }

  void need(uint64_t n, const std::string& field) const {
    if (n > remaining())
      error(field, "truncated file: need " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) +
                       ", file has " + std::to_string(remaining()) + " left");
  }

  template <class T>
  T read(const std::string& field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const std::string& field, uint64_t max_len) {
    const auto len = read<uint64_t>(field + " length");
    if (len > max_len) error(field, "string length " + std::to_string(len) + " exceeds the limit of " + std::to_string(max_len));
    need(len, field);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), size_t(len));
    pos_ += len;
    return s;
  }

 private:
  std::span<const std::byte> bytes_;
  const std::string& name_;
  uint64_t pos_ = 0;
};

// Printable form of a key or tensor name for error messages.
std::string name_quoted(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 120)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || u == '\'') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  if (s.size() > 120) out += "...";
  return out + "'";
}

class MetadataReader {
 public:
  MetadataReader(Cursor& cur, uint64_t start) : cur_(cur), start_(start) {}

  Value read_value(ValueType type, const std::string& field, uint32_t nesting) {
    count_value(field);
    Value v;
    v.type = type;
    switch (type) {
      case ValueType::u8: v.data = cur_.read<uint8_t>(field); break;
      case ValueType::i8: v.data = cur_.read<int8_t>(field); break;
      case ValueType::u16: v.data = cur_.read<uint16_t>(field); break;
      case ValueType::i16: v.data = cur_.read<int16_t>(field); break;
      case ValueType::u32: v.data = cur_.read<uint32_t>(field); break;
      case ValueType::i32: v.data = cur_.read<int32_t>(field); break;
      case ValueType::f32: v.data = cur_.read<float>(field); break;
      case ValueType::u64: v.data = cur_.read<uint64_t>(field); break;
      case ValueType::i64: v.data = cur_.read<int64_t>(field); break;
      case ValueType::f64: v.data = cur_.read<double>(field); break;
      case ValueType::boolean: {
        const auto b = cur_.read<uint8_t>(field);
        if (b > 1) cur_.error(field, "bool value " + std::to_string(b) + " is neither 0 nor 1");
        v.data = b == 1;
        break;
      }
      case ValueType::string: v.data = cur_.read_string(field, kMaxMetadataBytes); break;
      case ValueType::array: v.data = read_array(field, nesting); break;
      default: cur_.error(field, "unknown value type " + std::to_string(uint32_t(type)));
    }
    check_budget(field);
    return v;
  }

  ValueType read_type(const std::string& field) {
    const auto t = cur_.read<uint32_t>(field + " type");
    if (t > uint32_t(ValueType::f64)) cur_.error(field, "unknown value type " + std::to_string(t));
    return ValueType(t);
  }

  void check_budget(const std::string& field) const {
    if (cur_.pos() - start_ > kMaxMetadataBytes)
      cur_.error(field, "metadata exceeds the limit of " + std::to_string(kMaxMetadataBytes) + " bytes");
  }

 private:
  std::shared_ptr<Array> read_array(const std::string& field, uint32_t nesting) {
    if (nesting >= kMaxArrayNesting)
      cur_.error(field, "arrays nested deeper than " + std::to_string(kMaxArrayNesting));
    auto arr = std::make_shared<Array>();
    arr->element_type = read_type(field + " element");
    const auto count = cur_.read<uint64_t>(field + " array length");
    // Every element takes at least one byte (strings and arrays at least 8),
    // so a count larger than the remaining bytes is a lie.
    const uint64_t min_elem = element_min_bytes(arr->element_type);
    if (count > cur_.remaining() / min_elem)
      cur_.error(field, "array length " + std::to_string(count) + " exceeds what the remaining " +
                            std::to_string(cur_.remaining()) + " bytes can hold");
    if (count > kMaxMetadataValues - values_)
      cur_.error(field, "more than " + std::to_string(kMaxMetadataValues) + " metadata values in total");
    arr->items.reserve(size_t(count));
    const std::string element_field = field + " array element";
    for (uint64_t i = 0; i < count; ++i) arr->items.push_back(read_value(arr->element_type, element_field, nesting + 1));
    return arr;
  }

  static uint64_t element_min_bytes(ValueType t) {
    switch (t) {
      case ValueType::u16:
      case ValueType::i16: return 2;
      case ValueType::u32:
      case ValueType::i32:
      case ValueType::f32: return 4;
      case ValueType::u64:
      case ValueType::i64:
      case ValueType::f64:
      case ValueType::string: return 8;
      case ValueType::array: return 12;  // element type + length
      default: return 1;
    }
  }

  void count_value(const std::string& field) {
    if (++values_ > kMaxMetadataValues)
      cur_.error(field, "more than " + std::to_string(kMaxMetadataValues) + " metadata values in total");
  }

  Cursor& cur_;
  uint64_t start_;
  uint64_t values_ = 0;
};

uint64_t align_up(uint64_t x, uint64_t a, bool& overflow) {
  const uint64_t r = x % a;
  if (r == 0) return x;
  uint64_t out = 0;
  if (__builtin_add_overflow(x, a - r, &out)) overflow = true;
  return out;
}

}  // namespace

struct File::Impl {
  std::string name;
  std::optional<MappedFile> mapping;
  std::span<const std::byte> bytes;
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;
  std::map<std::string, Value, std::less<>> metadata;
  std::vector<std::string_view> key_order;  // views of the map's keys (nodes are stable)
  std::vector<TensorInfo> tensors;
  std::map<std::string, size_t, std::less<>> tensor_index;

  void parse();
  [[noreturn]] void missing(std::string_view key) const {
    fail(Errc::format, name + ": missing metadata key " + name_quoted(key));
  }
  std::string what(std::string_view key) const { return name + ": metadata key " + name_quoted(key); }
};

void File::Impl::parse() {
  Cursor cur(bytes, name);
  const auto magic = cur.read<uint32_t>("magic");
  if (magic != kMagic) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "0x%08x", magic);
    cur.error("magic", std::string("not a GGUF file (magic ") + buf + ", expected \"GGUF\")");
  }
  version = cur.read<uint32_t>("version");
  if (version != 2 && version != 3) {
    std::string hint;
    if (version == 1) hint = " (GGUF v1 is obsolete: re-convert the model)";
    if (version >= 0x01000000) hint = " (a big-endian GGUF? only little-endian files are supported)";
    fail(Errc::unsupported, name + ": version: unsupported GGUF version " + std::to_string(version) + hint);
  }
  const auto n_tensors = cur.read<uint64_t>("tensor count");
  const auto n_kv = cur.read<uint64_t>("metadata count");
  if (n_kv > cur.remaining() / kMinKvBytes)
    cur.error("metadata count", std::to_string(n_kv) + " key/value pairs cannot fit in the remaining " +
                                    std::to_string(cur.remaining()) + " bytes");
  if (n_tensors > cur.remaining() / kMinTensorInfoBytes)
    cur.error("tensor count", std::to_string(n_tensors) + " tensor infos cannot fit in the remaining " +
                                  std::to_string(cur.remaining()) + " bytes");

  // Metadata.
  MetadataReader meta(cur, cur.pos());
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string index = "metadata entry " + std::to_string(i);
    std::string key = cur.read_string(index + " key", kMaxKeyBytes);
    const std::string field = "metadata key " + name_quoted(key);
    if (key.empty()) cur.error(index, "empty key");
    const ValueType type = meta.read_type(field);
    Value v = meta.read_value(type, field, 0);
    meta.check_budget(field);
    if (metadata.count(key)) cur.error(field, "duplicate key");
    auto it = metadata.emplace(std::move(key), std::move(v)).first;
    key_order.push_back(it->first);
  }

  if (auto it = metadata.find("general.alignment"); it != metadata.end()) {
    const Value* a = &it->second;
    alignment = a->as_u64(name + ": metadata key 'general.alignment'");
    if (alignment == 0 || !std::has_single_bit(alignment) || alignment > kMaxAlignment)
      cur.error("metadata key 'general.alignment'", "alignment " + std::to_string(alignment) +
                                                        " is not a power of two in [1, " + std::to_string(kMaxAlignment) + "]");
  }

  // Tensor infos.
  tensors.reserve(size_t(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const std::string index = "tensor info " + std::to_string(i);
    TensorInfo t;
    t.name = cur.read_string(index + " name", kMaxTensorNameBytes);
    const std::string field = "tensor " + name_quoted(t.name);
    if (t.name.empty()) cur.error(index, "empty tensor name");
    const auto n_dims = cur.read<uint32_t>(field + " dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
      cur.error(field, "dimension count " + std::to_string(n_dims) + " is not in [1, " + std::to_string(kMaxDims) + "]");
    t.shape.resize(n_dims);
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      t.shape[d] = cur.read<uint64_t>(field + " dimension " + std::to_string(d));
      if (__builtin_mul_overflow(n, t.shape[d], &n) || n > uint64_t(std::numeric_limits<int64_t>::max()))
        cur.error(field, "shape overflows: element count exceeds 2^63");
    }
    t.n_elements = n;
    const auto type = cur.read<uint32_t>(field + " type");
    t.offset = cur.read<uint64_t>(field + " data offset");
    if (!tensor_type_supported(type))
      fail(Errc::unsupported, name + ": " + field + ": unsupported tensor type " + tensor_type_name(type) +
                                  " (Folio reads f32, f16, bf16 and q8_0)");
    t.type = TensorType(type);
    if (t.type == TensorType::q8_0 && t.shape[0] % kQ8BlockElems != 0)
      cur.error(field, "q8_0 row length " + std::to_string(t.shape[0]) + " is not a multiple of 32");
    if (n > bytes.size())  // every supported type takes at least one byte per element
      cur.error(field, "shape has " + std::to_string(n) + " elements, more than the file has bytes (" +
                           std::to_string(bytes.size()) + "): data would extend past the end of the file");
    if (t.offset % alignment != 0)
      cur.error(field, "data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                           std::to_string(alignment));
    if (tensor_index.count(t.name)) cur.error(field, "duplicate tensor name");
    tensor_index.emplace(t.name, tensors.size());
    tensors.push_back(std::move(t));
  }

  // Data section: starts at the next multiple of the alignment.
  bool overflow = false;
  data_offset = align_up(cur.pos(), alignment, overflow);
  if (tensors.empty()) {
    data_offset = std::min<uint64_t>(data_offset, bytes.size());
    return;
  }
  if (overflow || data_offset > bytes.size())
    cur.error("data section", "starts at offset " + std::to_string(data_offset) + ", past the end of the file (size " +
                                  std::to_string(bytes.size()) + ")");
  const uint64_t data_size = bytes.size() - data_offset;
  for (TensorInfo& t : tensors) {
    const uint64_t n_bytes = tensor_bytes(t.type, t.n_elements);
    if (t.offset > data_size || n_bytes > data_size - t.offset)
      cur.error("tensor " + name_quoted(t.name), "data [" + std::to_string(data_offset + t.offset) + ", +" +
                                                std::to_string(n_bytes) + ") extends past the end of the file (size " +
                                                std::to_string(bytes.size()) + ")");
    t.data = bytes.subspan(size_t(data_offset + t.offset), size_t(n_bytes));
  }
  // Tensors must not share bytes: an overlap means a corrupt or crafted file.
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(tensors.size());
  for (const TensorInfo& t : tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& prev = *by_offset[i - 1];
    const TensorInfo& cur_t = *by_offset[i];
    if (prev.offset + prev.data.size() > cur_t.offset && !prev.data.empty() && !cur_t.data.empty())
      cur.error("tensor " + name_quoted(cur_t.name), "data at offset " + std::to_string(cur_t.offset) +
                                                    " overlaps tensor " + name_quoted(prev.name));
  }
}

// ---- File ------------------------------------------------------------------------

File::File(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::open(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  impl->name = path.string();
  impl->mapping.emplace(path);
  impl->bytes = impl->mapping->bytes();
  impl->parse();
  return File(std::move(impl));
}

File File::parse(std::span<const std::byte> bytes, std::string display_name) {
  auto impl = std::make_unique<Impl>();
  impl->name = std::move(display_name);
  impl->bytes = bytes;
  impl->parse();
  return File(std::move(impl));
}

const std::string& File::name() const noexcept { return impl_->name; }
uint32_t File::version() const noexcept { return impl_->version; }
uint64_t File::alignment() const noexcept { return impl_->alignment; }
uint64_t File::file_size() const noexcept { return impl_->bytes.size(); }
uint64_t File::data_offset() const noexcept { return impl_->data_offset; }

const std::map<std::string, Value, std::less<>>& File::metadata() const noexcept { return impl_->metadata; }

const std::vector<std::string_view>& File::metadata_keys_in_file_order() const noexcept { return impl_->key_order; }

const Value* File::find(std::string_view key) const noexcept {
  auto it = impl_->metadata.find(key);
  return it == impl_->metadata.end() ? nullptr : &it->second;
}

uint64_t File::get_u64(std::string_view key) const {
  const Value* v = find(key);
  if (!v) impl_->missing(key);
  return v->as_u64(impl_->what(key));
}

uint64_t File::get_u64_or(std::string_view key, uint64_t fallback) const {
  const Value* v = find(key);
  return v ? v->as_u64(impl_->what(key)) : fallback;
}

double File::get_f64(std::string_view key) const {
  const Value* v = find(key);
  if (!v) impl_->missing(key);
  return v->as_f64(impl_->what(key));
}

double File::get_f64_or(std::string_view key, double fallback) const {
  const Value* v = find(key);
  return v ? v->as_f64(impl_->what(key)) : fallback;
}

bool File::get_bool_or(std::string_view key, bool fallback) const {
  const Value* v = find(key);
  return v ? v->as_bool(impl_->what(key)) : fallback;
}

std::string File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) impl_->missing(key);
  return v->as_string(impl_->what(key));
}

std::optional<std::string> File::get_string_opt(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  return v->as_string(impl_->what(key));
}

std::vector<std::string> File::get_string_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) impl_->missing(key);
  const std::string what = impl_->what(key);
  const Array& a = v->as_array(what);
  std::vector<std::string> out;
  out.reserve(a.items.size());
  for (size_t i = 0; i < a.items.size(); ++i) out.push_back(a.items[i].as_string(what + "[" + std::to_string(i) + "]"));
  return out;
}

std::vector<int64_t> File::get_i64_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) impl_->missing(key);
  const std::string what = impl_->what(key);
  const Array& a = v->as_array(what);
  std::vector<int64_t> out;
  out.reserve(a.items.size());
  for (size_t i = 0; i < a.items.size(); ++i) out.push_back(a.items[i].as_i64(what + "[" + std::to_string(i) + "]"));
  return out;
}

std::vector<double> File::get_f64_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v) impl_->missing(key);
  const std::string what = impl_->what(key);
  const Array& a = v->as_array(what);
  std::vector<double> out;
  out.reserve(a.items.size());
  for (size_t i = 0; i < a.items.size(); ++i) out.push_back(a.items[i].as_f64(what + "[" + std::to_string(i) + "]"));
  return out;
}

const std::vector<TensorInfo>& File::tensors() const noexcept { return impl_->tensors; }

const TensorInfo* File::find_tensor(std::string_view name) const noexcept {
  auto it = impl_->tensor_index.find(name);
  return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

const TensorInfo& File::tensor(std::string_view name) const {
  if (const TensorInfo* t = find_tensor(name)) return *t;
  fail(Errc::format, impl_->name + ": missing tensor " + name_quoted(name));
}

}  // namespace folio::gguf
