#include "core/log.h"

#include <string>

namespace lathe {

Expected<LogLevel> parse_log_level(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn" || name == "warning") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  if (name == "silent" || name == "none") return LogLevel::kSilent;
  return invalid_argument("unknown log level '", name, "' (expected debug, info, warn, error, silent)");
}

const Logger& Logger::default_logger() {
  static const Logger logger(LogLevel::kWarn, stderr);
  return logger;
}

void Logger::write(LogLevel level, std::string_view message) const {
  if (!enabled(level)) return;
  static constexpr const char* kPrefix[] = {"debug: ", "", "warning: ", "error: ", ""};
  std::string line = kPrefix[static_cast<int>(level)];
  line.append(message);
  line.push_back('\n');
  // One fwrite per line keeps lines from different threads whole.
  std::fwrite(line.data(), 1, line.size(), sink_);
}

}  // namespace lathe
