#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace lathe {

namespace {

constexpr size_t kHeapAlignment = 64;

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// FNV-1a over the fields that change whenever the file's content can have changed.
uint64_t file_identity(const struct stat& st) {
  const uint64_t fields[] = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                             static_cast<uint64_t>(st.st_size),
                             static_cast<uint64_t>(st.st_mtim.tv_sec),
                             static_cast<uint64_t>(st.st_mtim.tv_nsec)};
  uint64_t h = 1469598103934665603ull;
  for (uint64_t field : fields) {
    for (int byte = 0; byte < 8; ++byte) {
      h ^= (field >> (8 * byte)) & 0xff;
      h *= 1099511628211ull;
    }
  }
  return h == 0 ? 1 : h;
}

uint8_t* aligned_alloc_bytes(size_t size) {
  size_t rounded = (size + kHeapAlignment - 1) / kHeapAlignment * kHeapAlignment;
  if (rounded == 0) rounded = kHeapAlignment;
  return static_cast<uint8_t*>(std::aligned_alloc(kHeapAlignment, rounded));
}

}  // namespace

MappedFile::~MappedFile() {
  release();
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(other.data_),
      size_(other.size_),
      mapped_(other.mapped_),
      fd_(other.fd_),
      identity_(other.identity_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.mapped_ = false;
  other.fd_ = -1;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    mapped_ = other.mapped_;
    fd_ = other.fd_;
    identity_ = other.identity_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.mapped_ = false;
    other.fd_ = -1;
  }
  return *this;
}

void MappedFile::release() {
  if (data_ != nullptr) {
    if (mapped_) {
      ::munmap(data_, size_);
    } else {
      std::free(data_);
    }
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  data_ = nullptr;
  size_ = 0;
  mapped_ = false;
}

Expected<MappedFile> MappedFile::open(const std::string& path, FileLoadMode mode) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open ", path, ": ", std::strerror(errno));
  FdCloser closer{fd};

  struct stat st {};
  if (::fstat(fd, &st) != 0) return io_error("cannot stat ", path, ": ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return io_error(path, " is not a regular file");
  const size_t size = static_cast<size_t>(st.st_size);

  MappedFile file;
  file.path_ = path;
  file.size_ = size;
  file.identity_ = file_identity(st);
  if (size == 0) {
    // mmap of length 0 fails; an empty file is simply empty.
    file.data_ = aligned_alloc_bytes(0);
    if (file.data_ == nullptr) return resource_exhausted("out of memory opening ", path);
    return file;
  }

  if (mode == FileLoadMode::kMmap) {
    void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr != MAP_FAILED) {
      file.data_ = static_cast<uint8_t*>(addr);
      file.mapped_ = true;
      file.fd_ = closer.fd;
      closer.fd = -1;
      return file;
    }
    // Some filesystems cannot map; reading still works.
  }

  file.data_ = aligned_alloc_bytes(size);
  if (file.data_ == nullptr) {
    return resource_exhausted("cannot allocate ", size, " bytes to read ", path);
  }
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, file.data_ + done, size - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot read ", path, " at offset ", done, ": ", std::strerror(errno));
    }
    if (n == 0) return io_error(path, " shrank while being read (", done, " of ", size, " bytes)");
    done += static_cast<size_t>(n);
  }
  return file;
}

MappedFile MappedFile::from_bytes(std::span<const uint8_t> bytes) {
  MappedFile file;
  file.path_ = "<memory>";
  file.size_ = bytes.size();
  file.data_ = aligned_alloc_bytes(bytes.size());
  if (file.data_ != nullptr && !bytes.empty()) std::memcpy(file.data_, bytes.data(), bytes.size());
  if (file.data_ == nullptr) file.size_ = 0;
  return file;
}

void MappedFile::release(const void* begin, size_t length) const {
  if (!mapped_ || length == 0) return;
  const auto* p = static_cast<const uint8_t*>(begin);
  if (p < data_ || p + length > data_ + size_) return;
  // Only whole pages inside the range: the neighbours' bytes stay.
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  const uintptr_t last = (reinterpret_cast<uintptr_t>(p) + length) & ~(page - 1);
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

Status MappedFile::read(size_t offset, void* out, size_t length) const {
  if (offset > size_ || length > size_ - offset) {
    return invalid_argument("read of ", length, " bytes at offset ", offset, " is outside ", path_,
                            " (", size_, " bytes)");
  }
  if (fd_ < 0) {
    if (length > 0) std::memcpy(out, data_ + offset, length);
    return Status();
  }
  auto* dst = static_cast<uint8_t*>(out);
  size_t done = 0;
  while (done < length) {
    const ssize_t n = ::pread(fd_, dst + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot read ", path_, " at offset ", offset + done, ": ",
                      std::strerror(errno));
    }
    if (n == 0) return io_error(path_, " shrank while being read");
    done += static_cast<size_t>(n);
  }
  return Status();
}

void MappedFile::prefetch(size_t offset, size_t length) const {
  if (!mapped_ || offset >= size_) return;
  if (length > size_ - offset) length = size_ - offset;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t begin = reinterpret_cast<uintptr_t>(data_ + offset) & ~(page - 1);
  uintptr_t end = reinterpret_cast<uintptr_t>(data_ + offset + length);
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_WILLNEED);
}

}  // namespace lathe
