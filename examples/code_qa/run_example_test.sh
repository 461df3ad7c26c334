#!/usr/bin/env bash
# code_qa over a real directory with a tiny random-weight model (32K context):
# every question answered with attention evidence in the directory's files,
# and the second run restores the tree's KV from the store.
# usage: run_example_test.sh FOLIO PYTHON CODE_QA DIR WORK_DIR
set -euo pipefail
folio="$1" python="$2" code_qa="$3" dir="$4" work="$5"
rm -rf "$work" && mkdir -p "$work"
"$folio" make-tiny --seed 9 --context 32768 -o "$work/tiny.gguf" 2>/dev/null
"$python" "$code_qa" --model "$work/tiny.gguf" --store "$work/kv.db" -n 12 "$dir" | tee "$work/first.txt"
grep -q "random-weight model" "$work/first.txt"
test "$(grep -c '^Q: ' "$work/first.txt")" -eq 3
test "$(grep -c 'looked at .*\.py lines' "$work/first.txt")" -ge 3
grep -q " 0 restored" "$work/first.txt"
"$python" "$code_qa" --model "$work/tiny.gguf" --store "$work/kv.db" -n 12 "$dir" "Where is the library loaded?" \
  | tee "$work/second.txt"
grep -Eq "[1-9][0-9,]* restored from the store" "$work/second.txt"
echo "code_qa example: ok"
