#include "args.h"

#include <cctype>
#include <cerrno>
#include <memory>
#include <cstdlib>
#include <sstream>

#include "core/cpu_features.h"

namespace lathe::cli {

Expected<int64_t> parse_int(std::string_view text) {
  std::string s(text);
  if (s.empty()) return invalid_argument("expected an integer, got an empty string");
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end == s.c_str() || *end != '\0') {
    return invalid_argument("expected an integer, got '", text, "'");
  }
  return static_cast<int64_t>(value);
}

Expected<double> parse_double(std::string_view text) {
  std::string s(text);
  if (s.empty()) return invalid_argument("expected a number, got an empty string");
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(s.c_str(), &end);
  if (errno != 0 || end == s.c_str() || *end != '\0') {
    return invalid_argument("expected a number, got '", text, "'");
  }
  return value;
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    parts.emplace_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

Expected<int> parse_on_off_auto(std::string_view text) {
  if (text == "on" || text == "1" || text == "true" || text == "yes") return 1;
  if (text == "off" || text == "0" || text == "false" || text == "no") return 0;
  if (text == "auto") return -1;
  return invalid_argument("expected on, off or auto, got '", text, "'");
}

Expected<int> resolve_threads(int64_t requested) {
  if (requested == 0) return default_thread_count();
  if (requested < 0 || requested > kMaxThreads) {
    return invalid_argument("expected a thread count from 1 to ", kMaxThreads,
                            ", or 0 for one per physical core, got ", requested);
  }
  return static_cast<int>(requested);
}

ArgParser::ArgParser(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void ArgParser::option(std::vector<std::string> names, std::string metavar, std::string help,
                       Setter set) {
  options_.push_back({std::move(names), std::move(metavar), std::move(help), std::move(set), true, {}});
}

void ArgParser::flag(std::vector<std::string> names, std::string help, std::function<void()> set) {
  options_.push_back({std::move(names), "", std::move(help), {}, false, std::move(set)});
}

void ArgParser::option(std::vector<std::string> names, std::string metavar, std::string help,
                       std::string* out) {
  option(std::move(names), std::move(metavar), std::move(help), [out](std::string_view v) {
    *out = std::string(v);
    return Status();
  });
}

void ArgParser::option(std::vector<std::string> names, std::string metavar, std::string help,
                       int* out) {
  option(std::move(names), std::move(metavar), std::move(help), [out](std::string_view v) {
    LATHE_ASSIGN_OR_RETURN(int64_t value, parse_int(v));
    if (value < INT32_MIN || value > INT32_MAX) return invalid_argument("value ", v, " is out of range");
    *out = static_cast<int>(value);
    return Status();
  });
}

void ArgParser::option(std::vector<std::string> names, std::string metavar, std::string help,
                       int64_t* out) {
  option(std::move(names), std::move(metavar), std::move(help), [out](std::string_view v) {
    LATHE_ASSIGN_OR_RETURN(*out, parse_int(v));
    return Status();
  });
}

void ArgParser::option(std::vector<std::string> names, std::string metavar, std::string help,
                       float* out) {
  option(std::move(names), std::move(metavar), std::move(help), [out](std::string_view v) {
    LATHE_ASSIGN_OR_RETURN(double value, parse_double(v));
    *out = static_cast<float>(value);
    return Status();
  });
}

void ArgParser::option(std::vector<std::string> names, std::string metavar, std::string help,
                       double* out) {
  option(std::move(names), std::move(metavar), std::move(help), [out](std::string_view v) {
    LATHE_ASSIGN_OR_RETURN(*out, parse_double(v));
    return Status();
  });
}

void ArgParser::flag(std::vector<std::string> names, std::string help, bool* out) {
  flag(std::move(names), std::move(help), [out] { *out = true; });
}

void ArgParser::list(std::vector<std::string> names, std::string metavar, std::string help,
                     std::vector<int>* out) {
  auto cleared = std::make_shared<bool>(false);
  option(std::move(names), std::move(metavar), std::move(help), [out, cleared](std::string_view v) {
    // The first use replaces the default list; later uses append.
    if (!*cleared) {
      out->clear();
      *cleared = true;
    }
    for (const auto& part : split(v, ',')) {
      LATHE_ASSIGN_OR_RETURN(int64_t value, parse_int(part));
      out->push_back(static_cast<int>(value));
    }
    return Status();
  });
}

namespace {

std::string thread_help(std::string help) {
  return help + "; 1 to " + std::to_string(kMaxThreads) + ", or 0 = one per physical core";
}

}  // namespace

void ArgParser::threads(std::vector<std::string> names, std::string help, int* out) {
  option(std::move(names), "N", thread_help(std::move(help)), [out](std::string_view v) {
    LATHE_ASSIGN_OR_RETURN(int64_t value, parse_int(v));
    LATHE_ASSIGN_OR_RETURN(*out, resolve_threads(value));
    return Status();
  });
}

void ArgParser::threads_list(std::vector<std::string> names, std::string help,
                             std::vector<int>* out) {
  auto cleared = std::make_shared<bool>(false);
  option(std::move(names), "N", thread_help(std::move(help)), [out, cleared](std::string_view v) {
    if (!*cleared) {
      out->clear();
      *cleared = true;
    }
    for (const auto& part : split(v, ',')) {
      LATHE_ASSIGN_OR_RETURN(int64_t value, parse_int(part));
      LATHE_ASSIGN_OR_RETURN(int threads, resolve_threads(value));
      out->push_back(threads);
    }
    return Status();
  });
}

void ArgParser::list(std::vector<std::string> names, std::string metavar, std::string help,
                     std::vector<std::string>* out) {
  auto cleared = std::make_shared<bool>(false);
  option(std::move(names), std::move(metavar), std::move(help), [out, cleared](std::string_view v) {
    if (!*cleared) {
      out->clear();
      *cleared = true;
    }
    for (auto& part : split(v, ',')) out->push_back(std::move(part));
    return Status();
  });
}

void ArgParser::positional(std::string name, std::string help, std::string* out, bool required) {
  positionals_.push_back({std::move(name), std::move(help), out, required});
}

Status ArgParser::parse(int argc, char** argv) {
  size_t next_positional = 0;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      help_requested_ = true;
      return Status();
    }
    if (arg.size() > 1 && arg[0] == '-' && !(arg.size() > 1 && (std::isdigit(arg[1]) || arg[1] == '.'))) {
      std::string_view name = arg;
      std::string_view inline_value;
      bool has_inline = false;
      if (arg.rfind("--", 0) == 0) {
        const size_t eq = arg.find('=');
        if (eq != std::string_view::npos) {
          name = arg.substr(0, eq);
          inline_value = arg.substr(eq + 1);
          has_inline = true;
        }
      }
      const Option* match = nullptr;
      for (const auto& opt : options_) {
        for (const auto& n : opt.names) {
          if (n == name) match = &opt;
        }
      }
      if (match == nullptr) {
        return invalid_argument("unknown flag '", name, "' (see lathe ", command_,
                                " --help)");
      }
      if (!match->takes_value) {
        if (has_inline) return invalid_argument("flag ", name, " takes no value");
        match->set_flag();
        continue;
      }
      std::string_view value;
      if (has_inline) {
        value = inline_value;
      } else {
        if (i + 1 >= argc) return invalid_argument("flag ", name, " needs a value (",
                                                   match->metavar, ")");
        value = argv[++i];
      }
      Status status = match->set(value);
      if (!status.ok()) return status.with_context(name);
      continue;
    }
    if (next_positional >= positionals_.size()) {
      return invalid_argument("unexpected argument '", arg, "'");
    }
    *positionals_[next_positional++].out = std::string(arg);
  }
  for (size_t k = next_positional; k < positionals_.size(); ++k) {
    if (positionals_[k].required) {
      return invalid_argument("missing ", positionals_[k].name, " (see lathe ",
                              command_, " --help)");
    }
  }
  return Status();
}

std::string ArgParser::help() const {
  std::ostringstream out;
  out << "usage: lathe " << command_ << " [options]";
  for (const auto& p : positionals_) out << (p.required ? " " : " [") << p.name << (p.required ? "" : "]");
  out << "\n\n" << summary_ << "\n";
  if (!positionals_.empty()) {
    out << "\narguments:\n";
    for (const auto& p : positionals_) out << "  " << p.name << "\n      " << p.help << "\n";
  }
  out << "\noptions:\n";
  for (const auto& opt : options_) {
    out << "  ";
    for (size_t k = 0; k < opt.names.size(); ++k) out << (k ? ", " : "") << opt.names[k];
    if (opt.takes_value) out << " " << opt.metavar;
    out << "\n      " << opt.help << "\n";
  }
  out << "  -h, --help\n      show this help\n";
  return out.str();
}

}  // namespace lathe::cli
