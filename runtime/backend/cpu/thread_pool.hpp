// A small work-sharing thread pool owned by one CPU backend (no global state).
//
// `run(fn)` publishes fn; the calling thread runs fn(0, n) and every worker
// that wakes up while the job is still open runs fn(tid, n) too. fn must share
// its work dynamically (see parallel_for): the caller never waits for a worker
// that has not started, only for those already inside fn. On a shared,
// oversubscribed machine a descheduled worker therefore costs nothing: the
// caller simply does more of the chunks itself.
//
// Workers spin briefly after a job (decode issues hundreds of tiny jobs per
// token), then yield, then sleep on a condition variable, so an idle pool costs
// no CPU.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace folio::cpu {

class ThreadPool {
 public:
  // n_threads <= 0: std::thread::hardware_concurrency().
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const noexcept { return n_threads_; }

  // Runs fn(0, size()) on the calling thread and fn(tid, size()) on each worker
  // that joins before the caller's call returns (possibly none). The first
  // exception thrown by any call is rethrown here after all joined calls
  // finished. Not reentrant.
  void run(const std::function<void(int, int)>& fn);

  // fn(begin, end) over chunks of at most `grain` items covering [0, n), each
  // chunk exactly once, whichever threads take part.
  template <class F>
  void parallel_for(int64_t n, int64_t grain, F&& fn) {
    parallel_for_tid(n, grain, [&](int, int64_t b, int64_t e) { fn(b, e); });
  }

  // The same, passing fn(tid, begin, end) the index (0 .. size() - 1) of the
  // thread running the chunk: no two chunks with the same tid run at once, so
  // callers can give each thread its own scratch instead of allocating per chunk.
  template <class F>
  void parallel_for_tid(int64_t n, int64_t grain, F&& fn) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    const int64_t n_chunks = (n + grain - 1) / grain;
    if (n_chunks == 1 || n_threads_ == 1) {
      fn(0, int64_t(0), n);
      return;
    }
    std::atomic<int64_t> next{0};
    run([&](int tid, int) {
      for (;;) {
        const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
        if (c >= n_chunks) break;
        const int64_t b = c * grain;
        fn(tid, b, std::min(n, b + grain));
      }
    });
  }

 private:
  void worker(int tid);

  int n_threads_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> open_{false};   // workers may still join the current job
  std::atomic<int> active_{0};      // workers inside the current job
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;
  std::mutex error_mutex_;
};

}  // namespace folio::cpu
