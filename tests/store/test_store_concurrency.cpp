// Several processes (and threads) writing and reading one store at once: nothing
// is lost, nothing half-written is seen, and no SQLITE_BUSY reaches the caller.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "runtime/common/error.hpp"
#include "store_test_util.hpp"

using namespace folio::store;
using namespace folio::store::test;

namespace {

constexpr int kWorkers = 4;
constexpr int kOps = 50;
constexpr size_t kBlocks = 4;
constexpr size_t kShared = 2;  // every stream starts with the same 2 blocks: writers race on them
constexpr size_t kKvBytes = 20000;

std::vector<int32_t> stream_tokens(uint64_t base, int worker, int op) {
  auto t = tokens(base, 64 * kShared);
  const auto tail = tokens(base + 1 + uint64_t(worker) * 1000 + uint64_t(op), 64 * (kBlocks - kShared));
  t.insert(t.end(), tail.begin(), tail.end());
  return t;
}

// Payloads derive from the block key, so a block shared by many streams has one
// right content whichever writer stored it.
std::vector<std::byte> block_payload(const Hash128& key, uint64_t kind, size_t n) {
  return payload(hash64(key.span()), kind, 0, n);
}

// One worker's run: even ops write a new stream, odd ops restore a random
// stream of any worker and check it if present. Returns the number of failures.
int run_worker(Store& store, const KeyContext& ctx, uint64_t base, int worker) {
  std::mt19937 rng(uint32_t(base) + uint32_t(worker));
  int failures = 0;
  for (int op = 0; op < kOps; ++op) {
    try {
      if (op % 2 == 0) {
        const auto keys = block_keys(ctx, stream_tokens(base, worker, op), {});
        auto w = store.write(ctx.model, keys, std::to_string(worker) + "." + std::to_string(op));
        for (size_t b = 0; b < keys.size(); ++b) {
          if (w.stored(b)) continue;
          w.put(b, PartId::of(PartKind::kv), kKvLayout, block_payload(keys[b], 1, kKvBytes));
        }
        w.commit();
      } else {
        const int other = std::uniform_int_distribution<int>(0, kWorkers - 1)(rng);
        const int other_op = 2 * std::uniform_int_distribution<int>(0, kOps / 2 - 1)(rng);
        const auto keys = block_keys(ctx, stream_tokens(base, other, other_op), {});
        auto r = store.restore(ctx.model, keys);
        const size_t n = r.n_blocks();
        if (n != 0 && n != kShared && n != kBlocks) ++failures;  // a half-written stream
        std::vector<std::byte> kv(kKvBytes);
        for (size_t b = 0; b < n; ++b) {
          if (r.read(b, PartId::of(PartKind::kv), kKvLayout, kv) != ReadStatus::ok ||
              kv != block_payload(keys[b], 1, kKvBytes))
            ++failures;
        }
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "worker %d op %d: %s\n", worker, op, e.what());
      ++failures;
    }
  }
  return failures;
}

void check_everything_stored(const std::filesystem::path& path, const KeyContext& ctx, uint64_t base) {
  auto store = Store::open(path);
  for (int worker = 0; worker < kWorkers; ++worker)
    for (int op = 0; op < kOps; op += 2) {
      const auto keys = block_keys(ctx, stream_tokens(base, worker, op), {});
      CAPTURE(worker);
      CAPTURE(op);
      REQUIRE(store.lookup(keys) == kBlocks);
      auto r = store.restore(ctx.model, keys);
      std::vector<std::byte> kv(kKvBytes);
      for (size_t b = 0; b < kBlocks; ++b) {
        REQUIRE(r.read(b, PartId::of(PartKind::kv), kKvLayout, kv) == ReadStatus::ok);
        CHECK(kv == block_payload(keys[b], 1, kKvBytes));
      }
    }
  const auto st = store.stats();
  CHECK(st.snapshots == size_t(kWorkers * kOps / 2));
  CHECK(st.blocks == kShared + size_t(kWorkers * kOps / 2) * (kBlocks - kShared));
  CHECK(store.verify(false).bad_parts == 0);
}

}  // namespace

TEST_CASE("concurrency: 4 processes x 50 operations on one store") {
  const uint64_t base = fresh_seed() % (uint64_t(1) << 40);
  INFO("base seed " << base);
  TempDir dir;
  const auto path = dir / "kv.db";
  const KeyContext ctx = context(base);
  std::vector<pid_t> children;
  for (int worker = 0; worker < kWorkers; ++worker) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Every child opens the (possibly not yet created) store itself: creation races too.
      int failures = 1;
      try {
        auto store = Store::open(path);
        failures = run_worker(store, ctx, base, worker);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "worker %d: %s\n", worker, e.what());
      }
      std::_Exit(failures == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  check_everything_stored(path, ctx, base);
}

TEST_CASE("concurrency: 4 threads x 50 operations, sharing a Store and with their own") {
  const uint64_t base = fresh_seed() % (uint64_t(1) << 40);
  INFO("base seed " << base);
  TempDir dir;
  const auto path = dir / "kv.db";
  const KeyContext ctx = context(base);
  auto shared = Store::open(path);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int worker = 0; worker < kWorkers; ++worker) {
    threads.emplace_back([&, worker] {
      try {
        if (worker < 2) {
          failures += run_worker(shared, ctx, base, worker);  // two threads on one Store
        } else {
          auto own = Store::open(path);
          failures += run_worker(own, ctx, base, worker);
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "thread %d: %s\n", worker, e.what());
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  check_everything_stored(path, ctx, base);
}
