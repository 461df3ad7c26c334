// safetensors: Hugging Face's weight container, read memory-mapped.
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"k": "v"}}, then the data buffer; offsets are relative to
// the buffer. The file is hostile input: the header length, the JSON, every
// shape and offset are checked (sizes match dtype x shape, offsets inside the
// buffer, no two tensors overlap) before any tensor is touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/gguf/mapped_file.hpp"

namespace folio::safetensors {

enum class Dtype { f32, f16, bf16, f64, i64, i32, i16, i8, u8, boolean, other };

// Bytes per element (0 for `other`); "F32" etc. <-> Dtype.
size_t dtype_size(Dtype d) noexcept;
const char* dtype_name(Dtype d) noexcept;

struct Tensor {
  std::string name;
  Dtype dtype = Dtype::f32;
  std::string dtype_text;        // as written in the header ("F32", "F8_E4M3", ...)
  std::vector<uint64_t> shape;   // outermost first, as PyTorch
  uint64_t n_elements = 0;
  std::span<const std::byte> data;  // inside the mapping
};

class File {
 public:
  // Maps and validates `path`; errors are folio::Error(format|io|unsupported)
  // naming the file and the tensor or field.
  static File open(const std::filesystem::path& path);
  // Validates an in-memory image (fuzzing, tests); `bytes` must outlive the File.
  static File parse(std::span<const std::byte> bytes, std::string display_name);

  const std::string& path() const noexcept { return name_; }
  const std::vector<Tensor>& tensors() const noexcept { return tensors_; }
  const Tensor* find(std::string_view name) const noexcept;
  const std::map<std::string, std::string, std::less<>>& metadata() const noexcept { return metadata_; }

 private:
  File() = default;
  void parse_image();
  std::optional<MappedFile> mapping_;
  std::span<const std::byte> bytes_;
  std::string name_;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string, std::less<>> metadata_;
};

// Converts `count` elements starting at element `first` of a F32/F16/BF16
// tensor to f32. Other dtypes: folio::Error(unsupported) naming the tensor.
void to_f32(const Tensor& t, uint64_t first, std::span<float> out);

// A tensor to write: name, dtype, shape and raw little-endian bytes.
struct TensorToWrite {
  std::string name;
  Dtype dtype = Dtype::f32;
  std::vector<uint64_t> shape;
  std::span<const std::byte> data;
};

// Writes a safetensors file (header padded to 8 bytes, tensors in the given
// order). Used by tests and tools that build Hugging Face directories.
void write(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
           const std::map<std::string, std::string>& metadata = {});

}  // namespace folio::safetensors
