#include "runtime/backend/cpu/thread_pool.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace folio::cpu {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}
// Spin iterations (pause) before a waiting worker starts yielding, and yields
// before it sleeps: about 2 ms of spinning keeps a worker hot between the
// back-to-back jobs of a forward pass (4000 spins gave a 53% CPU share at 512-token
// prefill on the 2-core bench machine, 50000 give 98%); it never delays the caller.
constexpr int kSpinIterations = 50000;
constexpr int kYieldIterations = 200;
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = int(std::thread::hardware_concurrency());
  if (n_threads <= 0) n_threads = 1;
  n_threads_ = n_threads;
  threads_.reserve(size_t(n_threads - 1));
  for (int t = 1; t < n_threads; ++t) threads_.emplace_back([this, t] { worker(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  error_ = nullptr;
  {
    std::lock_guard lock(mutex_);
    job_ = &fn;
    open_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  try {
    fn(0, n_threads_);
  } catch (...) {
    std::lock_guard lock(error_mutex_);
    if (!error_) error_ = std::current_exception();
  }
  // Close the job, then wait only for workers that joined it. (seq_cst on both
  // sides: a worker either sees the job closed or is counted in active_.)
  open_.store(false);
  for (int spins = 0; active_.load() != 0; ++spins) {
    if (spins < kSpinIterations) cpu_relax();
    else std::this_thread::yield();
  }
  if (error_) std::rethrow_exception(error_);
}

void ThreadPool::worker(int tid) {
  uint64_t seen = 0;
  for (;;) {
    // Wait for a new generation: spin, then yield, then sleep.
    for (int i = 0; generation_.load() == seen && !stop_.load(std::memory_order_relaxed); ++i) {
      if (i < kSpinIterations) {
        cpu_relax();
      } else if (i < kSpinIterations + kYieldIterations) {
        std::this_thread::yield();
      } else {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
        break;
      }
    }
    if (stop_.load()) return;
    seen = generation_.load();
    active_.fetch_add(1);
    if (open_.load()) {
      const std::function<void(int, int)>* job = job_;
      try {
        (*job)(tid, n_threads_);
      } catch (...) {
        std::lock_guard lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
    active_.fetch_sub(1);
  }
}

}  // namespace folio::cpu
