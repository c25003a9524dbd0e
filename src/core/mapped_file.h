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

  static Expected<MappedFile> open(const std::string& path,
                                   FileLoadMode mode = FileLoadMode::kMmap);

  // Wraps bytes already in memory (tests, fuzzing). The bytes are copied.
  static MappedFile from_bytes(std::span<const uint8_t> bytes);

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  bool is_mmapped() const { return mapped_; }

  // Asks the kernel to read a range ahead (weights about to be used). Harmless when not mapped.
  void prefetch(size_t offset, size_t length) const;

  // Drops the mapped pages of a range from this process's memory; a later read brings them back
  // from the page cache or the file. Only for mapped files (a no-op otherwise): it lets a copy
  // made at load (repacked weights) replace the mapping instead of doubling memory.
  void release(const void* begin, size_t length) const;

  // Copies bytes [offset, offset + length) into out. A mapped file reads them with pread, so the
  // pages are not mapped into this process: a few rows of a released weight (embedding lookups of a
  // tied output matrix) then cost no resident memory, where touching the mapping would bring back
  // a whole fault-around window (64 KiB, or a 2 MiB folio) per row.
  Status read(size_t offset, void* out, size_t length) const;

  // Identifies the file's content: device, inode, size and modification time. Two opens of an
  // unchanged file give the same value; 0 for bytes that came from memory.
  uint64_t identity() const { return identity_; }

 private:
  void release();

  std::string path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  int fd_ = -1;  // kept open while mapped, for read()
  uint64_t identity_ = 0;
};

}  // namespace lathe
