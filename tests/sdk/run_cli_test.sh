#!/usr/bin/env bash
# `folio ask` and `folio chat --corpus` end to end on a tiny model and the
# mixed sample corpus (PDF typeset with groff, WebVTT call, Python code).
# usage: run_cli_test.sh FOLIO SAMPLE_DIR MAKE_PDF WORK_DIR
set -euo pipefail
folio="$1" sample="$2" make_pdf="$3" work="$4"
rm -rf "$work" && mkdir -p "$work"
"$folio" make-tiny --seed 2 -o "$work/tiny.gguf" 2>/dev/null
python3 "$make_pdf" "$sample/master_services_agreement.md" "$work/msa.pdf"
corpus=("$work/msa.pdf" "$sample/negotiation_call.vtt" "$sample/invoice_check.py")

# First run prefills and saves; the second restores and says how much.
"$folio" ask --model "$work/tiny.gguf" --corpus "${corpus[@]}" --store "$work/kv.db" -n 8 \
  "What is the liability cap?" >"$work/ask1.out" 2>"$work/ask1.err"
grep -q "no snapshot for this corpus" "$work/ask1.err"
grep -q "random weights" "$work/ask1.out"
grep -q "Attention evidence" "$work/ask1.out"
"$folio" ask --model "$work/tiny.gguf" --corpus "${corpus[@]}" --store "$work/kv.db" -n 8 \
  "What is the liability cap?" >"$work/ask2.out" 2>"$work/ask2.err"
grep -Eq "restored [1-9][0-9,]* of [0-9,]+ corpus tokens from the snapshot store" "$work/ask2.err"
diff <(head -1 "$work/ask1.out") <(head -1 "$work/ask2.out")

# --json: one object with citations and timings.
"$folio" ask --model "$work/tiny.gguf" --corpus "${corpus[@]}" --store "$work/kv.db" -n 4 --json -q \
  "Which law governs?" >"$work/ask.json"
python3 - "$work/ask.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
assert a["question"] == "Which law governs?"
assert a["random_weights"] is True
assert a["timings"]["restored_tokens"] > 0
ev = [c for c in a["citations"] if c["kind"] == "attention"]
assert len(ev) == 5 and all(c["resolved"] for c in ev)
PY

# Bad input: a corpus that does not fit, a missing model, no question.
if "$folio" ask --model "$work/tiny.gguf" --corpus "${corpus[@]}" --ctx 512 "q" 2>"$work/big.err"; then exit 1; fi
grep -q "corpus too large" "$work/big.err"
if "$folio" ask --model "$work/none.gguf" --corpus "${corpus[@]}" "q" 2>"$work/nomodel.err"; then exit 1; fi
grep -q "none.gguf" "$work/nomodel.err"
if "$folio" ask --model "$work/tiny.gguf" --corpus "${corpus[@]}" 2>/dev/null; then exit 1; fi

# chat with a corpus: /sources, a question, /cite, /reset, an unknown command.
printf '/sources\nWhat is the liability cap?\n/cite\n/reset\n/nope\n/quit\n' |
  "$folio" chat --model "$work/tiny.gguf" --corpus "${corpus[@]}" --store "$work/kv.db" -n 6 \
  >"$work/chat.out" 2>"$work/chat.err"
grep -q "3 document(s)" "$work/chat.out"
grep -q "msa.pdf *pdf" "$work/chat.out"
grep -q "Attention evidence" "$work/chat.out"
grep -q "conversation cleared" "$work/chat.err"
grep -q "unknown command /nope" "$work/chat.err"
grep -Eq "restored [1-9]" "$work/chat.err"
echo "folio ask / chat: ok"
