// Small helpers shared by the model commands (generate, chat, make-tiny) to read
// "--name value" options with errors that say what to do.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "runtime/common/error.hpp"
#include "tools/folio/commands.hpp"

namespace folio::cli {

class ArgReader {
 public:
  ArgReader(Args args, std::string_view command) : args_(args), command_(command) {}

  bool done() const noexcept { return i_ >= args_.size(); }
  // Next option name (advances).
  std::string_view next() { return args_[i_++]; }
  // Value of the option just read.
  std::string_view value(std::string_view option) {
    if (i_ >= args_.size())
      fail(Errc::invalid_argument, std::string(option) + " needs a value (see `folio " + std::string(command_) +
                                       " --help`)");
    return args_[i_++];
  }
  int64_t integer(std::string_view option, int64_t lo, int64_t hi) {
    const std::string_view v = value(option);
    int64_t x = 0;
    const auto r = std::from_chars(v.data(), v.data() + v.size(), x);
    if (r.ec != std::errc() || r.ptr != v.data() + v.size() || x < lo || x > hi)
      fail(Errc::invalid_argument, std::string(option) + " expects an integer in [" + std::to_string(lo) + ", " +
                                       std::to_string(hi) + "], got '" + std::string(v) + "'");
    return x;
  }
  double real(std::string_view option, double lo, double hi) {
    const std::string v(value(option));
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size() || !(x >= lo && x <= hi))
      fail(Errc::invalid_argument, std::string(option) + " expects a number in [" + std::to_string(lo) + ", " +
                                       std::to_string(hi) + "], got '" + v + "'");
    return x;
  }
  [[noreturn]] void unknown(std::string_view option) const {
    fail(Errc::invalid_argument, "unknown option '" + std::string(option) + "' (see `folio " + std::string(command_) +
                                     " --help`)");
  }

 private:
  Args args_;
  std::string_view command_;
  size_t i_ = 1;  // args_[0] is the command name
};

}  // namespace folio::cli
