#!/usr/bin/env bash
# Builds the SDK tests with ThreadSanitizer in build/sdk-tsan and runs them:
# several sessions on one engine answering at the same time, concurrent asks
# on one session, cancellation from another thread, a session opened from the
# store while others decode. Any TSan report fails the run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cmake -S . -B build/sdk-tsan -G Ninja -DCMAKE_BUILD_TYPE=Release -DFOLIO_TSAN=ON -DFOLIO_BUILD_BENCH=OFF >/dev/null
cmake --build build/sdk-tsan --target test_sdk_concurrency test_sdk -j "$(nproc)"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
build/sdk-tsan/tests/sdk/test_sdk_concurrency
build/sdk-tsan/tests/sdk/test_sdk
