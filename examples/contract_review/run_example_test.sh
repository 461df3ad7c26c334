#!/usr/bin/env bash
# The contract_review example end to end on a tiny random-weight model: the
# output must say the model is random, answer the four questions with
# citations from the PDF, transcript and code, and the second run must
# restore the corpus from the snapshot store.
# usage: run_example_test.sh FOLIO CONTRACT_REVIEW WORK_DIR
set -euo pipefail
folio="$1" review="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
"$folio" make-tiny --seed 7 -o "$work/tiny.gguf" 2>/dev/null
"$review" --model "$work/tiny.gguf" --store "$work/kv.db" -n 16 | tee "$work/first.txt"
grep -q "RANDOM WEIGHTS" "$work/first.txt"
for topic in "Termination" "Liability cap" "Governing law" "Confidentiality"; do
  grep -q "== $topic" "$work/first.txt"
done
grep -q "master_services_agreement.pdf *pdf" "$work/first.txt"
grep -q "negotiation_call.vtt *webvtt" "$work/first.txt"
grep -q "invoice_check.py *code" "$work/first.txt"
grep -q "where the model looked" "$work/first.txt"
grep -q "saved the snapshot" "$work/first.txt"
"$review" --model "$work/tiny.gguf" --store "$work/kv.db" -n 16 > "$work/second.txt"
grep -q "KV snapshot: restored [1-9]" "$work/second.txt"
# Same corpus, same greedy questions: the same answers, restored or not.
diff <(grep -A2 "^== " "$work/first.txt") <(grep -A2 "^== " "$work/second.txt")
"$review" --model "$work/tiny.gguf" -n 4 --json > "$work/answers.json"
python3 -c "import json,sys; a=json.load(open(sys.argv[1])); assert len(a)==4 and all(x['random_weights'] for x in a)" "$work/answers.json"
echo "contract_review example: ok"
