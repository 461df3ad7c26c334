#include "runtime/convert/safetensors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "runtime/common/error.hpp"
#include "runtime/common/half.hpp"
#include "runtime/common/json.hpp"

namespace folio::safetensors {

namespace {

// The safetensors library refuses headers over 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr size_t kMaxDims = 8;

struct DtypeName {
  Dtype dtype;
  const char* name;
};
constexpr DtypeName kDtypes[] = {
    {Dtype::f32, "F32"}, {Dtype::f16, "F16"}, {Dtype::bf16, "BF16"}, {Dtype::f64, "F64"},
    {Dtype::i64, "I64"}, {Dtype::i32, "I32"}, {Dtype::i16, "I16"},   {Dtype::i8, "I8"},
    {Dtype::u8, "U8"},   {Dtype::boolean, "BOOL"},
};

// Sizes of dtypes Folio does not convert but must still bounds-check.
size_t other_dtype_size(std::string_view name) {
  if (name == "F8_E4M3" || name == "F8_E5M2") return 1;
  if (name == "U16") return 2;
  if (name == "U32") return 4;
  if (name == "U64") return 8;
  return 0;
}

[[noreturn]] void bad(const std::string& file, const std::string& what) { fail(Errc::format, file + ": " + what); }

}  // namespace

size_t dtype_size(Dtype d) noexcept {
  switch (d) {
    case Dtype::f64:
    case Dtype::i64: return 8;
    case Dtype::f32:
    case Dtype::i32: return 4;
    case Dtype::f16:
    case Dtype::bf16:
    case Dtype::i16: return 2;
    case Dtype::i8:
    case Dtype::u8:
    case Dtype::boolean: return 1;
    case Dtype::other: return 0;
  }
  return 0;
}

const char* dtype_name(Dtype d) noexcept {
  for (const auto& e : kDtypes)
    if (e.dtype == d) return e.name;
  return "other";
}

File File::open(const std::filesystem::path& path) {
  File file;
  file.mapping_.emplace(path);
  file.bytes_ = file.mapping_->bytes();
  file.name_ = path.string();
  file.parse_image();
  return file;
}

File File::parse(std::span<const std::byte> bytes, std::string display_name) {
  File file;
  file.bytes_ = bytes;
  file.name_ = std::move(display_name);
  file.parse_image();
  return file;
}

void File::parse_image() {
  File& file = *this;
  const std::string& name = name_;
  const std::span<const std::byte> bytes = bytes_;

  if (bytes.size() < 8) bad(name, "truncated: " + std::to_string(bytes.size()) + " bytes, too short for a safetensors header");
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  if (header_len > kMaxHeaderBytes)
    bad(name, "header length " + std::to_string(header_len) + " exceeds the limit of " + std::to_string(kMaxHeaderBytes));
  if (header_len > bytes.size() - 8)
    bad(name, "header length " + std::to_string(header_len) + " runs past the end of the file (size " +
        std::to_string(bytes.size()) + ")");
  const std::string_view header(reinterpret_cast<const char*>(bytes.data() + 8), size_t(header_len));
  json::ParseOptions options;
  options.max_depth = 16;
  const json::Value root = json::parse(header, name + " (header)", options);
  if (!root.is_object()) bad(name, "header: expected a JSON object");

  const uint64_t buffer_start = 8 + header_len;
  const uint64_t buffer_size = bytes.size() - buffer_start;
  for (const json::Member& m : root.as_object()) {
    if (m.key == "__metadata__") {
      if (!m.value.is_object()) bad(name, "header: __metadata__ must be an object of strings");
      for (const json::Member& kv : m.value.as_object()) {
        if (!kv.value.is_string()) bad(name, "header: __metadata__['" + kv.key + "'] must be a string");
        file.metadata_.emplace(kv.key, kv.value.as_string());
      }
      continue;
    }
    const std::string where = "tensor '" + m.key + "'";
    if (m.key.empty()) bad(name, "header: empty tensor name");
    if (!m.value.is_object()) bad(name, where + ": expected an object with dtype, shape and data_offsets");
    const json::Value* dtype = m.value.find("dtype");
    const json::Value* shape = m.value.find("shape");
    const json::Value* offsets = m.value.find("data_offsets");
    if (!dtype || !dtype->is_string()) bad(name, where + ": missing or non-string 'dtype'");
    if (!shape || !shape->is_array()) bad(name, where + ": missing or non-array 'shape'");
    if (!offsets || !offsets->is_array() || offsets->size() != 2) bad(name, where + ": 'data_offsets' must be [begin, end]");

    Tensor t;
    t.name = m.key;
    t.dtype_text = dtype->as_string();
    t.dtype = Dtype::other;
    for (const auto& e : kDtypes)
      if (t.dtype_text == e.name) t.dtype = e.dtype;
    const size_t elem = t.dtype == Dtype::other ? other_dtype_size(t.dtype_text) : dtype_size(t.dtype);
    if (elem == 0) fail(Errc::unsupported, name + ": " + where + ": unknown dtype '" + t.dtype_text + "'");

    if (shape->size() > kMaxDims) bad(name, where + ": more than " + std::to_string(kMaxDims) + " dimensions");
    uint64_t n = 1;
    for (const json::Value& d : shape->as_array()) {
      if (!d.is_integer() || d.as_int64() < 0) bad(name, where + ": shape entries must be non-negative integers");
      t.shape.push_back(uint64_t(d.as_int64()));
      if (__builtin_mul_overflow(n, t.shape.back(), &n)) bad(name, where + ": shape product overflows");
    }
    t.n_elements = n;
    uint64_t n_bytes;
    if (__builtin_mul_overflow(n, uint64_t(elem), &n_bytes)) bad(name, where + ": byte size overflows");

    const json::Value& b = (*offsets)[0];
    const json::Value& e = (*offsets)[1];
    if (!b.is_integer() || !e.is_integer() || b.as_int64() < 0 || e.as_int64() < 0)
      bad(name, where + ": data_offsets must be non-negative integers");
    const auto begin = uint64_t(b.as_int64()), end = uint64_t(e.as_int64());
    if (begin > end) bad(name, where + ": data_offsets begin " + std::to_string(begin) + " > end " + std::to_string(end));
    if (end > buffer_size)
      bad(name, where + ": data_offsets end " + std::to_string(end) + " past the end of the data (" +
          std::to_string(buffer_size) + " bytes)");
    if (end - begin != n_bytes)
      bad(name, where + ": data_offsets span " + std::to_string(end - begin) + " bytes, but " + t.dtype_text + " x " +
          std::to_string(n) + " elements need " + std::to_string(n_bytes));
    t.data = bytes.subspan(size_t(buffer_start + begin), size_t(n_bytes));
    file.index_.emplace(t.name, file.tensors_.size());
    file.tensors_.push_back(std::move(t));
  }

  // No two tensors may share bytes.
  std::vector<const Tensor*> order;
  for (const Tensor& t : file.tensors_)
    if (!t.data.empty()) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const Tensor* a, const Tensor* b) { return a->data.data() < b->data.data(); });
  for (size_t i = 1; i < order.size(); ++i)
    if (order[i - 1]->data.data() + order[i - 1]->data.size() > order[i]->data.data())
      bad(name, "tensor '" + order[i]->name + "': data overlaps tensor '" + order[i - 1]->name + "'");
}

const Tensor* File::find(std::string_view name) const noexcept {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void to_f32(const Tensor& t, uint64_t first, std::span<float> out) {
  if (first > t.n_elements || out.size() > t.n_elements - first)
    fail(Errc::invalid_argument, "tensor '" + t.name + "': element range out of bounds");
  const std::byte* src = t.data.data();
  switch (t.dtype) {
    case Dtype::f32:
      if (!out.empty()) std::memcpy(out.data(), src + first * 4, out.size() * 4);
      return;
    case Dtype::f16:
    case Dtype::bf16:
      for (size_t i = 0; i < out.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, src + (first + i) * 2, 2);
        out[i] = t.dtype == Dtype::f16 ? f16_to_f32(h) : bf16_to_f32(h);
      }
      return;
    default:
      fail(Errc::unsupported, "tensor '" + t.name + "': dtype " + t.dtype_text +
                                  " is not supported (Folio converts F32, F16 and BF16 weights)");
  }
}

void write(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
           const std::map<std::string, std::string>& metadata) {
  json::Object header;
  if (!metadata.empty()) {
    json::Object meta;
    for (const auto& [k, v] : metadata) meta.insert(k, v);
    header.insert("__metadata__", std::move(meta));
  }
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    uint64_t n = 1;
    json::Array shape;
    for (uint64_t d : t.shape) {
      n *= d;
      shape.push_back(json::Value(int64_t(d)));
    }
    if (n * dtype_size(t.dtype) != t.data.size() || t.dtype == Dtype::other)
      fail(Errc::invalid_argument, "safetensors writer: tensor '" + t.name + "': data size does not match dtype x shape");
    json::Object o;
    o.insert("dtype", dtype_name(t.dtype));
    o.insert("shape", std::move(shape));
    o.insert("data_offsets", json::Array{json::Value(int64_t(offset)), json::Value(int64_t(offset + t.data.size()))});
    header.insert(t.name, std::move(o));
    offset += t.data.size();
  }
  std::string text = json::serialize(json::Value(std::move(header)));
  while (text.size() % 8) text.push_back(' ');

  const std::string p = path.string();
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(Errc::io, p + ": cannot create: " + std::strerror(errno));
  auto put = [&](const void* data, size_t n) {
    const auto* c = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd, c, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::close(fd);
        fail(Errc::io, p + ": write failed: " + std::strerror(err));
      }
      c += w;
      n -= size_t(w);
    }
  };
  const uint64_t len = text.size();
  put(&len, 8);
  put(text.data(), text.size());
  for (const TensorToWrite& t : tensors) put(t.data.data(), t.data.size());
  if (::close(fd) != 0) fail(Errc::io, p + ": close failed: " + std::strerror(errno));
}

}  // namespace folio::safetensors
