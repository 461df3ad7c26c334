// A writer SIGKILLed at random moments must leave the store consistent: every
// snapshot is either complete and correct or absent.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "runtime/common/error.hpp"
#include "store_test_util.hpp"

using namespace folio::store;
using namespace folio::store::test;

namespace {

constexpr size_t kBlocks = 24;
constexpr size_t kKvBytes = 40000;  // ~1 MB per snapshot
constexpr int kRounds = 20;
constexpr int kStreamsPerRound = 400;  // more than a child can write before it is killed

uint64_t stream_seed(uint64_t base, int round, int i) { return base + uint64_t(round) * 100000 + uint64_t(i); }

[[noreturn]] void writer_child(const std::filesystem::path& path, const KeyContext& ctx, uint64_t base, int round) {
  try {
    StoreOptions options;
    options.report = [](const std::string&) {};
    auto store = Store::open(path, options);
    for (int i = 0; i < kStreamsPerRound; ++i) {
      const uint64_t seed = stream_seed(base, round, i);
      write_stream(store, ctx, block_keys(ctx, tokens(seed, 64 * kBlocks), {}), seed, kKvBytes);
    }
    std::_Exit(0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer child: %s\n", e.what());
    std::_Exit(3);
  }
}

}  // namespace

TEST_CASE("crash: a writer killed with SIGKILL at random moments leaves whole snapshots or none") {
  const uint64_t base = fresh_seed() % (uint64_t(1) << 40);
  INFO("base seed " << base);
  TempDir dir;
  const auto path = dir / "kv.db";
  const KeyContext ctx = context(base);
  std::mt19937_64 rng(base);
  size_t complete_total = 0;
  int killed_mid_run = 0;
  for (int round = 0; round < kRounds; ++round) {
    CAPTURE(round);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) writer_child(path, ctx, base, round);
    // Kill anywhere from before the open to deep inside a write.
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 150000)(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status)) REQUIRE_MESSAGE(WEXITSTATUS(status) == 0, "the writer failed before it was killed");
    if (WIFSIGNALED(status)) ++killed_mid_run;

    // The next open sees every snapshot of this round whole or not at all.
    auto store = Store::open(path);
    size_t complete = 0;
    for (int i = 0; i < kStreamsPerRound; ++i) {
      const uint64_t seed = stream_seed(base, round, i);
      const auto keys = block_keys(ctx, tokens(seed, 64 * kBlocks), {});
      const size_t n = store.lookup(keys);
      CAPTURE(i);
      CHECK((n == 0 || n == kBlocks));
      if (n == 0) break;  // the child writes in order: nothing after its first missing stream
      bool ok = false;
      CHECK(restore_and_check(store, ctx, keys, seed, kKvBytes, &ok) == kBlocks);
      CHECK(ok);
      ++complete;
    }
    complete_total += complete;
    const auto v = store.verify(false);
    CHECK(v.sqlite_ok);
    CHECK(v.bad_parts == 0);
    // No orphan rows: every stored block belongs to a listed snapshot.
    const auto st = store.stats();
    CHECK(st.blocks == complete_total * kBlocks);
    CHECK(st.snapshots == complete_total);
  }
  MESSAGE("snapshots completed before the kills: " << complete_total << "; rounds killed mid-run: " << killed_mid_run);
  CHECK(killed_mid_run == kRounds);
  CHECK(complete_total > 0);
}
