// Entry point of the `folio` tool: dispatches to a subcommand and turns any
// escaped folio::Error into a one-line message and exit code 1.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>

#include "runtime/common/error.hpp"
#include "tools/folio/commands.hpp"

namespace {

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: folio <command> [options]\n\ncommands:\n");
  for (const auto& cmd : folio::cli::commands())
    std::fprintf(out, "  %-10.*s %.*s\n", int(cmd.name.size()), cmd.name.data(), int(cmd.summary.size()),
                 cmd.summary.data());
  std::fprintf(out, "\n`folio <command> --help` describes a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string_view name = argv[1];
  for (const auto& cmd : folio::cli::commands()) {
    if (cmd.name != name) continue;
    try {
      return cmd.run(folio::cli::Args(argv + 1, size_t(argc - 1)));
    } catch (const folio::Error& e) {
      std::fprintf(stderr, "folio %s: %s\n", argv[1], e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "folio %s: unexpected error: %s\n", argv[1], e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "folio: unknown command '%s'\n\n", argv[1]);
  print_usage(stderr);
  return 2;
}
