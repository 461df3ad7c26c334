// Byte counts as a person reads them in messages: "300 B", "12.5 KiB", "1.2 GiB".
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace folio {

inline std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace folio
