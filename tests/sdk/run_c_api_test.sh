#!/usr/bin/env bash
# Runs the C ABI test program twice over the sample corpus with one store:
# the second run must restore the corpus from the snapshot.
# usage: run_c_api_test.sh FOLIO C_API_TEST SAMPLE_DIR WORK_DIR
set -euo pipefail
folio="$1" prog="$2" sample="$3" work="$4"
rm -rf "$work" && mkdir -p "$work"
"$folio" make-tiny --seed 3 -o "$work/tiny.gguf" 2>/dev/null
"$prog" "$work/tiny.gguf" "$sample" "$work/kv.db" | tee "$work/first.txt"
grep -q "0 restored" "$work/first.txt"
"$prog" "$work/tiny.gguf" "$sample" "$work/kv.db" | tee "$work/second.txt"
if grep -q " 0 restored" "$work/second.txt"; then
  echo "second run restored nothing from the store" >&2
  exit 1
fi
grep -Eq "[1-9][0-9]* restored" "$work/second.txt"
