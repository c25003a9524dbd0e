// Levelled logging. A Logger is a small value passed to whoever logs; there is no global logger.
#pragma once

#include <cstdio>
#include <string_view>

#include "core/status.h"

namespace lathe {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kSilent = 4 };

Expected<LogLevel> parse_log_level(std::string_view name);

class Logger {
 public:
  Logger() = default;
  Logger(LogLevel level, std::FILE* sink) : level_(level), sink_(sink) {}

  // Warnings and errors to stderr: what library code uses when the caller gave no logger.
  static const Logger& default_logger();

  LogLevel level() const { return level_; }
  bool enabled(LogLevel level) const { return sink_ != nullptr && level >= level_; }

  void write(LogLevel level, std::string_view message) const;

  template <typename... Args>
  void debug(const Args&... args) const {
    if (enabled(LogLevel::kDebug)) write(LogLevel::kDebug, cat(args...));
  }
  template <typename... Args>
  void info(const Args&... args) const {
    if (enabled(LogLevel::kInfo)) write(LogLevel::kInfo, cat(args...));
  }
  template <typename... Args>
  void warn(const Args&... args) const {
    if (enabled(LogLevel::kWarn)) write(LogLevel::kWarn, cat(args...));
  }
  template <typename... Args>
  void error(const Args&... args) const {
    if (enabled(LogLevel::kError)) write(LogLevel::kError, cat(args...));
  }

 private:
  LogLevel level_ = LogLevel::kWarn;
  std::FILE* sink_ = stderr;
};

}  // namespace lathe
