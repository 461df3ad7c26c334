// The store's SQL schema and its migrations.
//
// PRAGMA user_version holds the schema version and PRAGMA application_id marks
// the file as a Folio store. Opening runs every migration from the file's
// version to kSchemaVersion inside one write transaction; a file with a newer
// version (written by a newer Folio) is refused rather than misread.
#pragma once

#include <cstdint>

#include "runtime/store/sqlite.hpp"

namespace folio::store {

inline constexpr int kSchemaVersion = 1;
inline constexpr int32_t kApplicationId = 0x464f4c4f;  // "FOLO"

// Checks the file's identity and version and migrates it to kSchemaVersion.
// Must run inside a write transaction (read transaction when `read_only`: then
// the file must already be at kSchemaVersion). Throws folio::Error naming the
// file on a foreign database, a newer schema or an older one that cannot be
// migrated read-only.
void migrate(sqlite::Db& db, bool read_only);

}  // namespace folio::store
