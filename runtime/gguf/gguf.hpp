// GGUF: the model container llama.cpp writes (versions 2 and 3).
//
// A GGUF file is a header (magic "GGUF", version, tensor count, metadata count),
// typed key/value metadata, tensor infos (name, shape, type, offset), padding to
// `general.alignment` (default 32) and then the tensor data. gguf::File maps the
// file read-only and validates every count, length, offset and shape against the
// file size before anything is used: the file is hostile input.
//
// Shapes are listed innermost dimension first, as GGUF stores them: a weight
// with shape {4096, 1024} has rows of 4096 contiguous elements, 1024 rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace folio::gguf {

enum class ValueType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};

// Tensor element types Folio reads and writes. Other ggml types (k-quants, ...)
// are recognised by number so errors can name them, and refused.
enum class TensorType : uint32_t { f32 = 0, f16 = 1, q8_0 = 8, bf16 = 30 };

const char* value_type_name(ValueType t) noexcept;
// Name of any ggml type number ("q4_K", "bf16", ...) or "type 123" if unknown.
std::string tensor_type_name(uint32_t ggml_type);
bool tensor_type_supported(uint32_t ggml_type) noexcept;
// Q8_0: blocks of 32 elements, one f16 scale + 32 int8 = 34 bytes.
inline constexpr size_t kQ8BlockElems = 32;
inline constexpr size_t kQ8BlockBytes = 34;
// Bytes for n elements of type t (n must be a multiple of 32 for q8_0).
size_t tensor_bytes(TensorType t, uint64_t n_elements);

struct Value;
struct Array {
  ValueType element_type = ValueType::u8;
  std::vector<Value> items;
};

// One metadata value, keeping the exact GGUF type it was stored with.
struct Value {
  using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                               std::string, std::shared_ptr<Array>, uint64_t, int64_t, double>;
  ValueType type = ValueType::u8;
  Storage data;

  // Lossless numeric reads; throw folio::Error(format) naming `what` on a type
  // that cannot represent the value (negative to unsigned, string to number, ...).
  uint64_t as_u64(std::string_view what) const;
  int64_t as_i64(std::string_view what) const;
  double as_f64(std::string_view what) const;
  bool as_bool(std::string_view what) const;
  const std::string& as_string(std::string_view what) const;
  const Array& as_array(std::string_view what) const;
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> shape;  // innermost first, 1..4 dimensions
  TensorType type = TensorType::f32;
  uint64_t offset = 0;          // relative to the start of the data section
  uint64_t n_elements = 0;
  std::span<const std::byte> data;  // inside the mapping; valid while the File lives
};

class File {
 public:
  // Maps and validates `path`. Throws folio::Error(io|format|unsupported) with a
  // message naming the file and the offending field.
  static File open(const std::filesystem::path& path);
  // Validates an in-memory image (used by the fuzz target and tests). The bytes
  // must outlive the File.
  static File parse(std::span<const std::byte> bytes, std::string display_name);

  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  const std::string& name() const noexcept;
  uint32_t version() const noexcept;
  uint64_t alignment() const noexcept;
  uint64_t file_size() const noexcept;
  uint64_t data_offset() const noexcept;  // start of the tensor data section

  const std::map<std::string, Value, std::less<>>& metadata() const noexcept;
  const Value* find(std::string_view key) const noexcept;
  // The keys in the order the file stores them (metadata() is sorted by key).
  const std::vector<std::string_view>& metadata_keys_in_file_order() const noexcept;
  // Typed getters: throw folio::Error(format) naming file and key when the key
  // is missing or has an incompatible type. The _or variants return `fallback`
  // when the key is missing (but still throw on a wrong type).
  uint64_t get_u64(std::string_view key) const;
  uint64_t get_u64_or(std::string_view key, uint64_t fallback) const;
  double get_f64(std::string_view key) const;
  double get_f64_or(std::string_view key, double fallback) const;
  bool get_bool_or(std::string_view key, bool fallback) const;
  std::string get_string(std::string_view key) const;
  std::optional<std::string> get_string_opt(std::string_view key) const;
  std::vector<std::string> get_string_array(std::string_view key) const;
  std::vector<int64_t> get_i64_array(std::string_view key) const;
  std::vector<double> get_f64_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const noexcept;
  const TensorInfo* find_tensor(std::string_view name) const noexcept;
  // Throws folio::Error(format) naming the file and tensor when missing.
  const TensorInfo& tensor(std::string_view name) const;

 private:
  struct Impl;
  explicit File(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Builds a GGUF v3 file. Metadata and tensors are written in insertion order;
// tensor data is aligned to `alignment` (general.alignment is written when it
// differs from 32).
class Writer {
 public:
  explicit Writer(uint64_t alignment = 32);
  void set(std::string key, Value value);  // replaces an existing key
  void set_u32(std::string key, uint32_t v);
  void set_u64(std::string key, uint64_t v);
  void set_i32(std::string key, int32_t v);
  void set_f32(std::string key, float v);
  void set_bool(std::string key, bool v);
  void set_string(std::string key, std::string v);
  void set_string_array(std::string key, std::vector<std::string> v);
  void set_i32_array(std::string key, std::span<const int32_t> v);
  void set_f32_array(std::string key, std::span<const float> v);
  // `data` must hold exactly tensor_bytes(type, product(shape)) bytes; it is
  // copied. Duplicate names are refused.
  void add_tensor(std::string name, std::vector<uint64_t> shape, TensorType type,
                  std::span<const std::byte> data);
  // Same, but the bytes are produced only while writing: `fill` receives a
  // buffer of exactly tensor_bytes(type, product(shape)) bytes to fill. Lets a
  // converter stream a model larger than memory into the file.
  using Fill = std::function<void(std::span<std::byte> out)>;
  void add_tensor_generated(std::string name, std::vector<uint64_t> shape, TensorType type, Fill fill);
  size_t tensor_count() const noexcept { return tensors_.size(); }
  // Writes to `path` atomically (temporary file + rename).
  void write(const std::filesystem::path& path) const;
  std::vector<std::byte> to_bytes() const;

 private:
  struct PendingTensor {
    std::string name;
    std::vector<uint64_t> shape;
    TensorType type;
    uint64_t n_bytes = 0;
    std::vector<std::byte> data;  // used when `fill` is empty
    Fill fill;
  };
  void check_new_tensor(const std::string& name, const std::vector<uint64_t>& shape, TensorType type) const;
  std::vector<std::byte> header_bytes() const;  // everything before the data section, padded
  uint64_t alignment_;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<PendingTensor> tensors_;
};

// Converts any supported tensor's elements [first, first + out.size()) to f32.
// For q8_0, `first` and out.size() must be multiples of 32.
void dequantize_row(const TensorInfo& t, uint64_t first, std::span<float> out);

// Converts f32 values to `type` (f32, f16, bf16 round to nearest even; q8_0 as
// llama.cpp quantizes it: per block of 32, d = max|x| / 127, q = round(x / d)).
// `out` must hold exactly tensor_bytes(type, in.size()) bytes.
void quantize_row(TensorType type, std::span<const float> in, std::span<std::byte> out);

}  // namespace folio::gguf
