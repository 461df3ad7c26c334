#!/usr/bin/env bash
# Builds the SDK tests with ThreadSanitizer in build/sdk-tsan and runs them:
# several sessions on one engine answering at the same time (forks sharing the
# corpus KV pages), concurrent asks on one session, cancellation from another
# thread, a session opened from the store while others decode. Only the two
# test targets and what they link are built (no CUDA, no benchmarks), so CI
# can afford it. Any TSan report fails the run: TSan's own exit code (66) and,
# in case a report does not reach it (e.g. printed by a thread of a test that
# still exits 0), a scan of the output.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
build="${FOLIO_TSAN_BUILD:-build/sdk-tsan}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFOLIO_TSAN=ON -DFOLIO_CUDA=OFF \
  -DFOLIO_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target test_sdk_concurrency test_sdk -j "$(nproc)"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 exitcode=66 ${TSAN_OPTIONS:-}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
for t in test_sdk_concurrency test_sdk; do
  echo "== TSan: $t"
  # Some kernels randomise mmap more than TSan's shadow layout allows; running
  # without address-space randomisation avoids "unexpected memory mapping".
  run=("$build/tests/sdk/$t")
  if command -v setarch >/dev/null && setarch "$(uname -m)" -R true 2>/dev/null; then
    run=(setarch "$(uname -m)" -R "${run[@]}")
  fi
  if ! "${run[@]}" 2>&1 | tee "$log"; then
    echo "TSan: $t FAILED"
    status=1
  fi
  if grep -q "WARNING: ThreadSanitizer\|ERROR: ThreadSanitizer\|FATAL: ThreadSanitizer" "$log"; then
    echo "TSan: $t printed a ThreadSanitizer report"
    status=1
  fi
done
exit $status
