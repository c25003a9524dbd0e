// Errors as values: library code returns Status or Expected<T> and never aborts.
#pragma once

#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace lathe {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // the caller passed something unusable (flag, shape, option)
  kIo,               // the operating system refused (open, read, mmap)
  kFormat,           // a file's content is malformed, truncated or hostile
  kUnsupported,      // well-formed, but lathe does not handle it (type, architecture)
  kOutOfRange,       // a capacity was exceeded (context full, index past the end)
  kResourceExhausted,
  kInternal,
};

std::string_view error_code_name(ErrorCode code);

// Concatenates anything that streams, so error messages read naturally at the call site.
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Adds the outer context in front: "loading model.gguf: tensor blk.0.attn_q.weight: ...".
  Status with_context(std::string_view context) const {
    if (ok()) return *this;
    return Status(code_, cat(context, ": ", message_));
  }

  std::string to_string() const {
    if (ok()) return "ok";
    return message_;
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

template <typename... Args>
Status invalid_argument(const Args&... args) {
  return Status(ErrorCode::kInvalidArgument, cat(args...));
}
template <typename... Args>
Status io_error(const Args&... args) {
  return Status(ErrorCode::kIo, cat(args...));
}
template <typename... Args>
Status format_error(const Args&... args) {
  return Status(ErrorCode::kFormat, cat(args...));
}
template <typename... Args>
Status unsupported(const Args&... args) {
  return Status(ErrorCode::kUnsupported, cat(args...));
}
template <typename... Args>
Status out_of_range(const Args&... args) {
  return Status(ErrorCode::kOutOfRange, cat(args...));
}
template <typename... Args>
Status resource_exhausted(const Args&... args) {
  return Status(ErrorCode::kResourceExhausted, cat(args...));
}
template <typename... Args>
Status internal_error(const Args&... args) {
  return Status(ErrorCode::kInternal, cat(args...));
}

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Expected {
  static_assert(!std::is_same_v<T, Status>, "use Status directly");

 public:
  Expected(T value) : storage_(std::in_place_index<0>, std::move(value)) {}
  Expected(Status status) : storage_(std::in_place_index<1>, std::move(status)) {
    if (std::get<1>(storage_).ok()) {
      storage_.template emplace<1>(ErrorCode::kInternal, "Expected constructed from an ok Status");
    }
  }

  bool has_value() const { return storage_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(storage_); }
  const T& value() const& { return std::get<0>(storage_); }
  T&& value() && { return std::get<0>(std::move(storage_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Status& error() const { return std::get<1>(storage_); }
  Status status() const { return has_value() ? Status() : error(); }

 private:
  std::variant<T, Status> storage_;
};

}  // namespace lathe

#define LATHE_CONCAT_INNER(a, b) a##b
#define LATHE_CONCAT(a, b) LATHE_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when it is an error.
#define LATHE_RETURN_IF_ERROR(expr)                  \
  do {                                               \
    ::lathe::Status lathe_status_ = (expr);          \
    if (!lathe_status_.ok()) return lathe_status_;   \
  } while (0)

#define LATHE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.has_value()) return tmp.error();         \
  lhs = std::move(tmp).value()

// `LATHE_ASSIGN_OR_RETURN(auto x, make_x());` declares x or returns the error.
#define LATHE_ASSIGN_OR_RETURN(lhs, expr) \
  LATHE_ASSIGN_OR_RETURN_IMPL(LATHE_CONCAT(lathe_expected_, __LINE__), lhs, expr)
