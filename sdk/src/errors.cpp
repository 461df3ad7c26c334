// Mapping of internal errors onto the public Status codes.
#include <new>
#include <system_error>

#include "runtime/common/error.hpp"
#include "sdk/src/internal.hpp"

namespace folio {

const char* version_string() noexcept { return FOLIO_VERSION_STRING; }

const char* status_name(Status s) noexcept {
  switch (s) {
    case Status::ok: return "ok";
    case Status::invalid_argument: return "invalid_argument";
    case Status::io: return "io";
    case Status::format: return "format";
    case Status::unsupported: return "unsupported";
    case Status::out_of_memory: return "out_of_memory";
    case Status::cancelled: return "cancelled";
    case Status::corrupt: return "corrupt";
    case Status::context_too_large: return "context_too_large";
    case Status::internal: return "internal";
  }
  return "unknown";
}

namespace detail {

Status status_of(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument: return Status::invalid_argument;
    case Errc::io: return Status::io;
    case Errc::format: return Status::format;
    case Errc::unsupported: return Status::unsupported;
    case Errc::out_of_memory: return Status::out_of_memory;
    case Errc::cancelled: return Status::cancelled;
    case Errc::corrupt: return Status::corrupt;
    case Errc::internal: return Status::internal;
  }
  return Status::internal;
}

void rethrow_as_public() {
  try {
    throw;
  } catch (const Exception&) {
    throw;
  } catch (const Error& e) {
    throw Exception(status_of(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    throw Exception(Status::out_of_memory, "out of memory");
  } catch (const std::system_error& e) {
    throw Exception(Status::io, e.what());
  } catch (const std::exception& e) {
    throw Exception(Status::internal, std::string("internal error: ") + e.what());
  } catch (...) {
    throw Exception(Status::internal, "internal error: unknown exception");
  }
}

}  // namespace detail
}  // namespace folio
