// The subcommand table. Add a command: write cmd_<name>.cpp defining
// `int run_<name>(Args)`, declare it here and add a row.
#include "tools/folio/commands.hpp"

#include <array>

namespace folio::cli {

namespace {
constexpr std::array<Command, 0> kCommands = {{
}};
}  // namespace

std::span<const Command> commands() { return kCommands; }

}  // namespace folio::cli
