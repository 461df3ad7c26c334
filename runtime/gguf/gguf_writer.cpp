// gguf::Writer: builds a GGUF v3 image and writes it atomically.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>

#include "runtime/common/error.hpp"
#include "runtime/gguf/gguf.hpp"

namespace folio::gguf {

namespace {

constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;

class ByteSink {
 public:
  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out_.insert(out_.end(), p, p + s.size());
  }
  void pad_to(uint64_t alignment) {
    while (out_.size() % alignment) out_.push_back(std::byte{0});
  }
  std::vector<std::byte>& bytes() { return out_; }

 private:
  std::vector<std::byte> out_;
};

// Checks that the variant alternative matches the declared type (recursively)
// so the writer never emits a file its own reader would refuse.
void check_value(const Value& v, const std::string& key, uint32_t nesting) {
  bool ok = false;
  switch (v.type) {
    case ValueType::u8: ok = std::holds_alternative<uint8_t>(v.data); break;
    case ValueType::i8: ok = std::holds_alternative<int8_t>(v.data); break;
    case ValueType::u16: ok = std::holds_alternative<uint16_t>(v.data); break;
    case ValueType::i16: ok = std::holds_alternative<int16_t>(v.data); break;
    case ValueType::u32: ok = std::holds_alternative<uint32_t>(v.data); break;
    case ValueType::i32: ok = std::holds_alternative<int32_t>(v.data); break;
    case ValueType::f32: ok = std::holds_alternative<float>(v.data); break;
    case ValueType::boolean: ok = std::holds_alternative<bool>(v.data); break;
    case ValueType::string: ok = std::holds_alternative<std::string>(v.data); break;
    case ValueType::u64: ok = std::holds_alternative<uint64_t>(v.data); break;
    case ValueType::i64: ok = std::holds_alternative<int64_t>(v.data); break;
    case ValueType::f64: ok = std::holds_alternative<double>(v.data); break;
    case ValueType::array: {
      const auto* a = std::get_if<std::shared_ptr<Array>>(&v.data);
      ok = a && *a;
      if (ok) {
        if (nesting >= 8) fail(Errc::invalid_argument, "GGUF writer: key '" + key + "': arrays nested too deeply");
        for (const Value& item : (*a)->items) {
          if (item.type != (*a)->element_type)
            fail(Errc::invalid_argument, "GGUF writer: key '" + key + "': array element of type " +
                                             value_type_name(item.type) + " in an array of " +
                                             value_type_name((*a)->element_type));
          check_value(item, key, nesting + 1);
        }
      }
      break;
    }
  }
  if (!ok)
    fail(Errc::invalid_argument, "GGUF writer: key '" + key + "': value does not hold a " + value_type_name(v.type));
}

void put_value(ByteSink& sink, const Value& v) {
  switch (v.type) {
    case ValueType::u8: sink.put(std::get<uint8_t>(v.data)); break;
    case ValueType::i8: sink.put(std::get<int8_t>(v.data)); break;
    case ValueType::u16: sink.put(std::get<uint16_t>(v.data)); break;
    case ValueType::i16: sink.put(std::get<int16_t>(v.data)); break;
    case ValueType::u32: sink.put(std::get<uint32_t>(v.data)); break;
    case ValueType::i32: sink.put(std::get<int32_t>(v.data)); break;
    case ValueType::f32: sink.put(std::get<float>(v.data)); break;
    case ValueType::boolean: sink.put(uint8_t(std::get<bool>(v.data) ? 1 : 0)); break;
    case ValueType::string: sink.put_string(std::get<std::string>(v.data)); break;
    case ValueType::u64: sink.put(std::get<uint64_t>(v.data)); break;
    case ValueType::i64: sink.put(std::get<int64_t>(v.data)); break;
    case ValueType::f64: sink.put(std::get<double>(v.data)); break;
    case ValueType::array: {
      const Array& a = *std::get<std::shared_ptr<Array>>(v.data);
      sink.put(uint32_t(a.element_type));
      sink.put(uint64_t(a.items.size()));
      for (const Value& item : a.items) put_value(sink, item);
      break;
    }
  }
}

uint64_t product(const std::vector<uint64_t>& shape) {
  uint64_t n = 1;
  for (uint64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n)) fail(Errc::invalid_argument, "GGUF writer: tensor shape overflows");
  return n;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

template <class T>
Value make(ValueType type, T v) {
  Value out;
  out.type = type;
  out.data = std::move(v);
  return out;
}

// A file descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, std::span<const std::byte> bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, std::min<size_t>(bytes.size() - done, size_t(1) << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(Errc::io, path + ": write failed: " + std::strerror(errno));
    }
    done += size_t(n);
  }
}

}  // namespace

Writer::Writer(uint64_t alignment) : alignment_(alignment) {
  if (alignment == 0 || !std::has_single_bit(alignment) || alignment > (1u << 20))
    fail(Errc::invalid_argument, "GGUF writer: alignment " + std::to_string(alignment) + " is not a power of two <= 1 MiB");
}

void Writer::set(std::string key, Value value) {
  if (key.empty() || key.size() > 65535) fail(Errc::invalid_argument, "GGUF writer: key length must be 1..65535");
  check_value(value, key, 0);
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

void Writer::set_u32(std::string key, uint32_t v) { set(std::move(key), make(ValueType::u32, v)); }
void Writer::set_u64(std::string key, uint64_t v) { set(std::move(key), make(ValueType::u64, v)); }
void Writer::set_i32(std::string key, int32_t v) { set(std::move(key), make(ValueType::i32, v)); }
void Writer::set_f32(std::string key, float v) { set(std::move(key), make(ValueType::f32, v)); }
void Writer::set_bool(std::string key, bool v) { set(std::move(key), make(ValueType::boolean, v)); }
void Writer::set_string(std::string key, std::string v) { set(std::move(key), make(ValueType::string, std::move(v))); }

void Writer::set_string_array(std::string key, std::vector<std::string> v) {
  auto a = std::make_shared<Array>();
  a->element_type = ValueType::string;
  a->items.reserve(v.size());
  for (auto& s : v) a->items.push_back(make(ValueType::string, std::move(s)));
  set(std::move(key), make(ValueType::array, std::move(a)));
}

void Writer::set_i32_array(std::string key, std::span<const int32_t> v) {
  auto a = std::make_shared<Array>();
  a->element_type = ValueType::i32;
  a->items.reserve(v.size());
  for (int32_t x : v) a->items.push_back(make(ValueType::i32, x));
  set(std::move(key), make(ValueType::array, std::move(a)));
}

void Writer::set_f32_array(std::string key, std::span<const float> v) {
  auto a = std::make_shared<Array>();
  a->element_type = ValueType::f32;
  a->items.reserve(v.size());
  for (float x : v) a->items.push_back(make(ValueType::f32, x));
  set(std::move(key), make(ValueType::array, std::move(a)));
}

void Writer::check_new_tensor(const std::string& name, const std::vector<uint64_t>& shape, TensorType type) const {
  if (name.empty() || name.size() > 65535) fail(Errc::invalid_argument, "GGUF writer: tensor name length must be 1..65535");
  if (shape.empty() || shape.size() > 4)
    fail(Errc::invalid_argument, "GGUF writer: tensor '" + name + "': 1 to 4 dimensions required");
  if (!tensor_type_supported(uint32_t(type)))
    fail(Errc::unsupported, "GGUF writer: tensor '" + name + "': unsupported type " + tensor_type_name(uint32_t(type)));
  if (type == TensorType::q8_0 && shape[0] % kQ8BlockElems)
    fail(Errc::invalid_argument, "GGUF writer: tensor '" + name + "': q8_0 rows must be a multiple of 32 elements");
  for (const PendingTensor& t : tensors_)
    if (t.name == name) fail(Errc::invalid_argument, "GGUF writer: duplicate tensor '" + name + "'");
}

void Writer::add_tensor(std::string name, std::vector<uint64_t> shape, TensorType type,
                        std::span<const std::byte> data) {
  check_new_tensor(name, shape, type);
  const uint64_t n_bytes = tensor_bytes(type, product(shape));
  if (data.size() != n_bytes)
    fail(Errc::invalid_argument, "GGUF writer: tensor '" + name + "': " + std::to_string(data.size()) +
                                     " bytes given, shape and type need " + std::to_string(n_bytes));
  tensors_.push_back(PendingTensor{std::move(name), std::move(shape), type, n_bytes,
                                   std::vector<std::byte>(data.begin(), data.end()), nullptr});
}

void Writer::add_tensor_generated(std::string name, std::vector<uint64_t> shape, TensorType type, Fill fill) {
  check_new_tensor(name, shape, type);
  if (!fill) fail(Errc::invalid_argument, "GGUF writer: tensor '" + name + "': empty fill function");
  const uint64_t n_bytes = tensor_bytes(type, product(shape));
  tensors_.push_back(PendingTensor{std::move(name), std::move(shape), type, n_bytes, {}, std::move(fill)});
}

std::vector<std::byte> Writer::header_bytes() const {
  ByteSink sink;
  const bool add_alignment = alignment_ != kDefaultAlignment &&
                             std::none_of(metadata_.begin(), metadata_.end(),
                                          [](const auto& kv) { return kv.first == "general.alignment"; });
  for (const auto& [k, v] : metadata_) {
    if (k == "general.alignment" && v.as_u64("general.alignment") != alignment_)
      fail(Errc::invalid_argument, "GGUF writer: general.alignment differs from the writer's alignment");
  }
  sink.put<uint32_t>(0x46554747);
  sink.put<uint32_t>(kVersion);
  sink.put<uint64_t>(tensors_.size());
  sink.put<uint64_t>(metadata_.size() + (add_alignment ? 1 : 0));
  if (add_alignment) {
    sink.put_string("general.alignment");
    sink.put<uint32_t>(uint32_t(ValueType::u32));
    sink.put<uint32_t>(uint32_t(alignment_));
  }
  for (const auto& [k, v] : metadata_) {
    sink.put_string(k);
    sink.put<uint32_t>(uint32_t(v.type));
    put_value(sink, v);
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    sink.put_string(t.name);
    sink.put<uint32_t>(uint32_t(t.shape.size()));
    for (uint64_t d : t.shape) sink.put<uint64_t>(d);
    sink.put<uint32_t>(uint32_t(t.type));
    sink.put<uint64_t>(offset);
    offset = align_up(offset + t.n_bytes, alignment_);
  }
  sink.pad_to(alignment_);
  return std::move(sink.bytes());
}

std::vector<std::byte> Writer::to_bytes() const {
  std::vector<std::byte> out = header_bytes();
  for (const PendingTensor& t : tensors_) {
    const size_t start = out.size();
    out.resize(start + t.n_bytes);
    std::span<std::byte> dst(out.data() + start, t.n_bytes);
    if (t.fill) {
      t.fill(dst);
    } else if (t.n_bytes) {
      std::memcpy(dst.data(), t.data.data(), t.n_bytes);
    }
    out.resize(align_up(out.size(), alignment_), std::byte{0});
  }
  return out;
}

void Writer::write(const std::filesystem::path& path) const {
  const std::string target = path.string();
  const std::string tmp = target + ".tmp." + std::to_string(::getpid());
  struct Cleanup {
    const std::string& p;
    bool armed = true;
    ~Cleanup() {
      if (armed) ::unlink(p.c_str());
    }
  } cleanup{tmp};
  {
    Fd f;
    f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f.fd < 0) fail(Errc::io, tmp + ": cannot create: " + std::strerror(errno));
    const std::vector<std::byte> header = header_bytes();
    write_all(f.fd, header, tmp);
    std::vector<std::byte> buffer;
    static constexpr std::byte kZeros[1024] = {};
    for (const PendingTensor& t : tensors_) {
      if (t.fill) {
        buffer.assign(t.n_bytes, std::byte{0});
        t.fill(buffer);
        write_all(f.fd, buffer, tmp);
      } else {
        write_all(f.fd, t.data, tmp);
      }
      for (uint64_t pad = align_up(t.n_bytes, alignment_) - t.n_bytes; pad > 0;) {
        const size_t n = size_t(std::min<uint64_t>(pad, sizeof kZeros));
        write_all(f.fd, std::span<const std::byte>(kZeros, n), tmp);
        pad -= n;
      }
    }
    if (::fsync(f.fd) != 0) fail(Errc::io, tmp + ": fsync failed: " + std::strerror(errno));
    const int fd = f.fd;
    f.fd = -1;
    if (::close(fd) != 0) fail(Errc::io, tmp + ": close failed: " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0)
    fail(Errc::io, target + ": cannot rename the temporary file into place: " + std::strerror(errno));
  cleanup.armed = false;
}

}  // namespace folio::gguf
