// The subcommand table. Add a command: write cmd_<name>.cpp defining
// `int run_<name>(Args)`, declare it here and add a row.
#include "tools/folio/commands.hpp"

namespace folio::cli {

int run_version(Args args);

namespace {
constexpr Command kCommands[] = {
    {"version", "print Folio's version", run_version},
};
}  // namespace

std::span<const Command> commands() { return kCommands; }

}  // namespace folio::cli
