// A read-only memory mapping of a whole file (RAII). Used for GGUF models and
// safetensors shards: weights are read in place, never copied at load time.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

namespace folio {

class MappedFile {
 public:
  // Maps `path` read-only. Throws folio::Error(io) naming the file when it
  // cannot be opened or mapped. An empty file maps to an empty span.
  explicit MappedFile(const std::filesystem::path& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  size_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }

 private:
  void release() noexcept;
  std::string path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace folio
