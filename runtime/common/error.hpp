// Errors inside Folio.
//
// Inside the C++ runtime a failure is a folio::Error exception carrying a code
// and a message that names what failed ("model.gguf: tensor 'blk.3.attn_q.weight':
// data offset 812 past end of file (size 640)"). The C ABI catches every
// exception at its boundary and turns it into a folio_status plus a message, so
// no exception ever crosses into C or another language.
#pragma once

#include <stdexcept>
#include <string>

namespace folio {

enum class Errc {
  invalid_argument,  // the caller passed something that cannot work
  io,                // the operating system refused (open, read, mmap, write)
  format,            // a file or blob is malformed (bad magic, truncated, out of range)
  unsupported,       // well-formed but not something Folio can handle yet
  out_of_memory,     // an allocation (host or device) failed
  cancelled,         // the caller cancelled long work
  corrupt,           // a checksum or fingerprint did not match
  internal,          // a broken invariant inside Folio: a bug
};

// Short stable name of a code, e.g. "format".
const char* errc_name(Errc code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Errc code() const noexcept { return code_; }

 private:
  Errc code_;
};

// Throws Error(code, message). Kept out of line so call sites stay small.
[[noreturn]] void fail(Errc code, const std::string& message);

}  // namespace folio
