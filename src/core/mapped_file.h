// Read-only view of a whole file: mmap by default, or read into memory (--no-mmap).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/status.h"

namespace lathe {

enum class FileLoadMode { kMmap, kRead };

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  static Expected<MappedFile> open(const std::string& path, FileLoadMode mode = FileLoadMode::kMmap);

  // Wraps bytes already in memory (tests, fuzzing). The bytes are copied.
  static MappedFile from_bytes(std::span<const uint8_t> bytes);

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  bool is_mmapped() const { return mapped_; }

  // Asks the kernel to read a range ahead (weights about to be used). Harmless when not mapped.
  void prefetch(size_t offset, size_t length) const;

 private:
  void release();

  std::string path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
};

}  // namespace lathe
