#include "runtime/common/error.hpp"

namespace folio {

const char* errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::io: return "io";
    case Errc::format: return "format";
    case Errc::unsupported: return "unsupported";
    case Errc::out_of_memory: return "out_of_memory";
    case Errc::cancelled: return "cancelled";
    case Errc::corrupt: return "corrupt";
    case Errc::internal: return "internal";
  }
  return "unknown";
}

void fail(Errc code, const std::string& message) { throw Error(code, message); }

}  // namespace folio
