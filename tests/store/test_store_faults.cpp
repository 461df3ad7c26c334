// Damaged, truncated and mismatched data; unusable files; read-only stores; a
// full disk. Damage is done behind the store's back: by editing bytes of the
// database file on disk, or rows through a separate SQLite connection.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "runtime/common/error.hpp"
#include "store_test_util.hpp"

using namespace folio::store;
using namespace folio::store::test;

namespace {

std::vector<char> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::filesystem::path& p, const std::vector<char>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// Flips one byte of the database file inside the stored copy of `needle`.
void corrupt_in_file(const std::filesystem::path& db, std::span<const std::byte> needle) {
  auto bytes = read_file(db);
  const auto* n = reinterpret_cast<const char*>(needle.data());
  auto it = std::search(bytes.begin(), bytes.end(), n, n + needle.size());
  REQUIRE_MESSAGE(it != bytes.end(), "payload not found in the database file");
  it[needle.size() / 2] ^= 0x40;
  write_file(db, bytes);
}

void sql(const std::filesystem::path& db, const std::string& text) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(h, text.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(h);
  REQUIRE(rc == SQLITE_OK);
}

struct Reports {
  std::vector<std::string> lines;
  StoreOptions options() {
    StoreOptions o;
    o.report = [this](const std::string& line) { lines.push_back(line); };
    return o;
  }
};

struct Fixture {
  uint64_t seed = fresh_seed();
  TempDir dir;
  std::filesystem::path path = dir / "kv.db";
  KeyContext ctx = context(seed);
  std::vector<Hash128> keys = block_keys(ctx, tokens(seed, 64 * 8), {});
  static constexpr size_t kv_bytes = 50000;
  Fixture() {
    auto store = Store::open(path);
    write_stream(store, ctx, keys, seed, kv_bytes);
  }  // closed: the WAL is checkpointed into the file
  std::string key_hex(size_t b) const { return "x'" + keys[b].hex() + "'"; }
};

}  // namespace

TEST_CASE("faults: a byte damaged in the database file is detected, reported once, removed, recomputed") {
  Fixture f;
  INFO("seed " << f.seed);
  const auto kv5 = payload(f.seed, 5, 1, f.kv_bytes);
  corrupt_in_file(f.path, std::span(kv5).subspan(20000, 64));

  Reports reports;
  auto store = Store::open(f.path, reports.options());
  bool ok = false;
  CHECK(restore_and_check(store, f.ctx, f.keys, f.seed, f.kv_bytes, &ok) == 5);
  CHECK(ok);  // blocks 0..4 are intact and were used; block 5 was not
  REQUIRE(reports.lines.size() == 1);
  CHECK(reports.lines[0].find("checksum") != std::string::npos);
  CHECK(reports.lines[0].find("block 5") != std::string::npos);

  // Removed: the stream now has a 5-block stored prefix, and nothing is reported again.
  CHECK(store.lookup(f.keys) == 5);
  CHECK(store.list().at(0).n_blocks == 5);
  CHECK(restore_and_check(store, f.ctx, f.keys, f.seed, f.kv_bytes, &ok) == 5);
  CHECK(reports.lines.size() == 1);
  // The caller recomputes and stores the rest; the whole stream is back.
  write_stream(store, f.ctx, f.keys, f.seed, f.kv_bytes);
  CHECK(restore_and_check(store, f.ctx, f.keys, f.seed, f.kv_bytes, &ok) == 8);
  CHECK(ok);
  CHECK(store.verify().bad_parts == 0);
}

TEST_CASE("faults: damage inside a blob header is detected") {
  Fixture f;
  // Block key followed by model fingerprint occurs only in the headers of that
  // block's parts (the first is the kv part's): damage it in the file.
  std::vector<std::byte> needle(f.keys[2].bytes.begin(), f.keys[2].bytes.end());
  needle.insert(needle.end(), f.ctx.model.bytes.begin(), f.ctx.model.bytes.end());
  corrupt_in_file(f.path, needle);
  Reports reports;
  auto store = Store::open(f.path, reports.options());
  CHECK(restore_and_check(store, f.ctx, f.keys, f.seed, f.kv_bytes) == 2);
  REQUIRE(reports.lines.size() == 1);
  CHECK(reports.lines[0].find("header checksum") != std::string::npos);
}

TEST_CASE("faults: truncated, swapped and mismatched blobs are refused") {
  Fixture f;
  Reports reports;
  SUBCASE("truncated blob") {
    sql(f.path, "UPDATE parts SET data = substr(data, 1, length(data) - 10) WHERE block_key = " + f.key_hex(3) +
                    " AND kind = 1");
    auto store = Store::open(f.path, reports.options());
    CHECK(restore_and_check(store, f.ctx, f.keys, f.seed, f.kv_bytes) == 3);
    REQUIRE(reports.lines.size() == 1);
    CHECK(reports.lines[0].find("truncated") != std::string::npos);
  }
  SUBCASE("blob of another block") {
    sql(f.path, "UPDATE parts SET data = (SELECT data FROM parts WHERE block_key = " + f.key_hex(6) +
                    " AND kind = 1) WHERE block_key = " + f.key_hex(1) + " AND kind = 1");
    auto store = Store::open(f.path, reports.options());
    CHECK(restore_and_check(store, f.ctx, f.keys, f.seed, f.kv_bytes) == 1);
    REQUIRE(reports.lines.size() == 1);
    CHECK(reports.lines[0].find("another block") != std::string::npos);
  }
  SUBCASE("another model's fingerprint") {
    auto store = Store::open(f.path, reports.options());
    auto r = store.restore(hash128(payload(f.seed, 77, 0, 16)), f.keys);
    std::vector<std::byte> kv(f.kv_bytes);
    CHECK(r.read(0, PartId::of(PartKind::kv), kKvLayout, kv) == ReadStatus::bad);
    CHECK(r.n_blocks() == 0);
    r.finish();
    REQUIRE(reports.lines.size() == 1);
    CHECK(reports.lines[0].find("another model") != std::string::npos);
  }
  SUBCASE("a layout other than the reader's") {
    auto store = Store::open(f.path, reports.options());
    auto r = store.restore(f.ctx.model, f.keys);
    std::vector<std::byte> kv(f.kv_bytes);
    REQUIRE(r.read(0, PartId::of(PartKind::kv), kKvLayout, kv) == ReadStatus::ok);
    const Layout v2{kKvLayout.version + 1, kKvLayout.descriptor};
    CHECK(r.read(1, PartId::of(PartKind::kv), v2, kv) == ReadStatus::bad);
    CHECK(r.n_blocks() == 1);
    // Later blocks are unreachable now and are not reported again.
    CHECK(r.read(2, PartId::of(PartKind::kv), kKvLayout, kv) == ReadStatus::bad);
    r.finish();
    REQUIRE(reports.lines.size() == 1);
    CHECK(reports.lines[0].find("layout") != std::string::npos);
    CHECK(store.lookup(f.keys) == 1);
  }
  SUBCASE("a payload of another size than the reader expects") {
    auto store = Store::open(f.path, reports.options());
    auto r = store.restore(f.ctx.model, f.keys);
    std::vector<std::byte> kv(f.kv_bytes + 2);
    CHECK(r.read(0, PartId::of(PartKind::kv), kKvLayout, kv) == ReadStatus::bad);
  }
}

TEST_CASE("faults: verify finds damaged parts; removes them only when asked") {
  Fixture f;
  const auto kv2 = payload(f.seed, 2, 1, f.kv_bytes);
  const auto summary6 = payload(f.seed, 6, 2, 256);
  corrupt_in_file(f.path, std::span(kv2).subspan(100, 64));
  corrupt_in_file(f.path, std::span(summary6).first(64));
  Reports reports;
  auto store = Store::open(f.path, reports.options());
  const auto dry = store.verify(false);
  CHECK(dry.parts_checked == 16);
  CHECK(dry.bad_parts == 2);
  CHECK(dry.sqlite_ok);
  CHECK(store.lookup(f.keys) == 8);  // nothing removed yet
  const auto fix = store.verify(true);
  CHECK(fix.bad_parts == 2);
  CHECK(reports.lines.size() == 2);
  CHECK(store.lookup(f.keys) == 2);
  const auto again = store.verify(true);
  CHECK(again.bad_parts == 0);
  CHECK(again.parts_checked == 4);
  bool ok = false;
  CHECK(restore_and_check(store, f.ctx, f.keys, f.seed, f.kv_bytes, &ok) == 2);
  CHECK(ok);
}

TEST_CASE("faults: a file that is not a database, or a truncated one, gives a clear error") {
  Fixture f;
  SUBCASE("garbage") {
    const auto junk = payload(f.seed, 1, 1, 100000);
    write_file(f.path, std::vector<char>(reinterpret_cast<const char*>(junk.data()),
                                         reinterpret_cast<const char*>(junk.data()) + junk.size()));
    try {
      auto store = Store::open(f.path);
      FAIL("opened garbage");
    } catch (const folio::Error& e) {
      CHECK(e.code() == folio::Errc::corrupt);
      CHECK(std::string(e.what()).find(f.path.string()) != std::string::npos);
    }
  }
  SUBCASE("cut in half") {
    auto bytes = read_file(f.path);
    bytes.resize(bytes.size() / 2);
    write_file(f.path, bytes);
    // Either open or the first read that meets a missing page fails cleanly;
    // whatever is returned as ok is intact.
    try {
      Reports reports;
      auto store = Store::open(f.path, reports.options());
      bool ok = true;
      restore_and_check(store, f.ctx, f.keys, f.seed, f.kv_bytes, &ok);
      CHECK(ok);
      CHECK_FALSE(store.verify(false).problems.empty());
    } catch (const folio::Error& e) {
      CHECK(std::string(e.what()).find(f.path.string()) != std::string::npos);
    }
  }
}

TEST_CASE("faults: read-only store: lookups and restores work, writes fail clearly") {
  Fixture f;
  const bool root = ::geteuid() == 0;  // root ignores permission bits
  StoreOptions options;
  if (root) {
    options.read_only = true;
  } else {
    std::filesystem::permissions(f.path, std::filesystem::perms::owner_read);
  }
  auto store = Store::open(f.path, options);
  bool ok = false;
  CHECK(restore_and_check(store, f.ctx, f.keys, f.seed, f.kv_bytes, &ok) == 8);
  CHECK(ok);
  const auto other = block_keys(f.ctx, tokens(f.seed + 1, 64 * 2), {});
  try {
    write_stream(store, f.ctx, other, f.seed, 100);
    FAIL("wrote to a read-only store");
  } catch (const folio::Error& e) {
    CHECK(e.code() == folio::Errc::io);
    CHECK(std::string(e.what()).find("read-only") != std::string::npos);
  }
  // Still usable after the failed write.
  CHECK(store.lookup(f.keys) == 8);
}

TEST_CASE("faults: disk full: the write fails clearly, nothing partial is kept, the store goes on") {
  const uint64_t seed = fresh_seed();
  TempDir dir;
  const KeyContext ctx = context(seed);
  StoreOptions options;
  options.hard_limit_bytes = 3 << 20;  // SQLite's max_page_count: the file cannot grow past 3 MiB
  auto store = Store::open(dir / "kv.db", options);
  const auto small = block_keys(ctx, tokens(seed, 64 * 4), {});
  write_stream(store, ctx, small, seed, 100000);
  const auto big = block_keys(ctx, tokens(seed + 1, 64 * 40), {});
  try {
    write_stream(store, ctx, big, seed, 100000);
    FAIL("a 4 MB snapshot fit in 3 MiB");
  } catch (const folio::Error& e) {
    CHECK(e.code() == folio::Errc::io);
    CHECK(std::string(e.what()).find("disk full") != std::string::npos);
  }
  CHECK(store.lookup(big) == 0);
  bool ok = false;
  CHECK(restore_and_check(store, ctx, small, seed, 100000, &ok) == 4);
  CHECK(ok);
  const auto other = block_keys(ctx, tokens(seed + 2, 64 * 3), {});
  write_stream(store, ctx, other, seed, 100000);
  CHECK(store.lookup(other) == 3);
}
