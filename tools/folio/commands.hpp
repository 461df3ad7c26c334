// The `folio` command-line tool: one function per subcommand.
//
// Each command lives in its own cmd_<name>.cpp, parses its own arguments (argv[0]
// is the subcommand name) and returns a process exit code: 0 success, 1 failure
// of the work, 2 bad usage. Errors are printed to stderr as "folio <cmd>: ...".
#pragma once

#include <span>
#include <string_view>

namespace folio::cli {

using Args = std::span<char* const>;

struct Command {
  std::string_view name;
  std::string_view summary;
  int (*run)(Args args);
};

// The table of subcommands, in the order `folio --help` lists them.
std::span<const Command> commands();

}  // namespace folio::cli
