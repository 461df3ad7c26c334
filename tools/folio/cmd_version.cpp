// `folio version`: the library version, and which optional parts were built.
#include <cstdio>

#include "tools/folio/commands.hpp"

namespace folio::cli {

int run_version(Args) {
  std::printf("folio %s\n", FOLIO_VERSION_STRING);
  return 0;
}

}  // namespace folio::cli
