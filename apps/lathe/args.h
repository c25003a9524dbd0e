// Command-line flags spelled like llama.cpp's (-m, -ngl, -ctk, -npl, ...).
//
// Multi-letter single-dash flags such as -ngl are not expressible in getopt-style parsers
// (CLI11 would read -ngl as -n -g -l), so lathe matches each flag name exactly.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace lathe::cli {

class ArgParser {
 public:
  ArgParser(std::string command, std::string summary);

  using Setter = std::function<Status(std::string_view)>;

  // A flag that takes a value; `names` like {"-m", "--model"}.
  void option(std::vector<std::string> names, std::string metavar, std::string help, Setter set);
  // A flag without a value.
  void flag(std::vector<std::string> names, std::string help, std::function<void()> set);
  // Typed conveniences.
  void option(std::vector<std::string> names, std::string metavar, std::string help,
              std::string* out);
  void option(std::vector<std::string> names, std::string metavar, std::string help, int* out);
  void option(std::vector<std::string> names, std::string metavar, std::string help, int64_t* out);
  void option(std::vector<std::string> names, std::string metavar, std::string help, float* out);
  void option(std::vector<std::string> names, std::string metavar, std::string help, double* out);
  void flag(std::vector<std::string> names, std::string help, bool* out);
  // A thread count (-t, -td), checked and resolved by resolve_threads; `help` gets the rule added.
  void threads(std::vector<std::string> names, std::string help, int* out);
  // A list of thread counts, as list() reads them, each checked and resolved by resolve_threads.
  void threads_list(std::vector<std::string> names, std::string help, std::vector<int>* out);
  // Comma-separated list; the flag may also repeat ("-p 64,128 -p 256").
  void list(std::vector<std::string> names, std::string metavar, std::string help,
            std::vector<int>* out);
  void list(std::vector<std::string> names, std::string metavar, std::string help,
            std::vector<std::string>* out);
  // Positional argument, in order.
  void positional(std::string name, std::string help, std::string* out, bool required = true);

  // Parses argv after the subcommand name. --help/-h sets help_requested().
  Status parse(int argc, char** argv);
  bool help_requested() const { return help_requested_; }
  std::string help() const;

 private:
  struct Option {
    std::vector<std::string> names;
    std::string metavar;
    std::string help;
    Setter set;
    bool takes_value;
    std::function<void()> set_flag;
  };
  struct Positional {
    std::string name;
    std::string help;
    std::string* out;
    bool required;
  };

  std::string command_;
  std::string summary_;
  std::vector<Option> options_;
  std::vector<Positional> positionals_;
  bool help_requested_ = false;
};

// Every command reads a thread count the same way: 0 means one thread per physical core
// (default_thread_count(), also what a command uses when the flag is absent), 1..kMaxThreads is
// taken as given. 1024 is above the logical core count of today's two-socket x86 servers (two
// EPYC 9965 have 768): past the logical cores more threads only take turns on them, and a count
// in the hundreds of thousands would run into the system's thread limits, not a clear error.
inline constexpr int kMaxThreads = 1024;
Expected<int> resolve_threads(int64_t requested);

// Parsing helpers shared by commands.
Expected<int64_t> parse_int(std::string_view text);
Expected<double> parse_double(std::string_view text);
std::vector<std::string> split(std::string_view text, char separator);
// "on"/"off"/"1"/"0"/"true"/"false"/"auto" -> -1 for auto.
Expected<int> parse_on_off_auto(std::string_view text);

}  // namespace lathe::cli
