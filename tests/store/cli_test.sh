#!/usr/bin/env bash
# `folio cache list|stats|verify|prune` against a real store.
# usage: cli_test.sh FOLIO STORE_FILL WORKDIR
set -euo pipefail
folio="$1"; fill="$2"; work="$3"
rm -rf "$work"; mkdir -p "$work"
db="$work/kv.db"
fail() { echo "cli_test: $*" >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# A missing store is an error, never created by inspection.
if "$folio" cache list --store "$db" 2>/dev/null; then fail "list created or accepted a missing store"; fi
[ ! -e "$db" ] || fail "list created $db"
"$folio" cache frobnicate --store "$db" 2>/dev/null && fail "unknown action accepted" || [ $? -eq 2 ] || fail "unknown action: wrong exit code"

"$fill" fill "$db" 3 4 20000
[ "$("$folio" cache list --store "$db" --json | json 'len(d)')" = 3 ] || fail "list: expected 3 snapshots"
[ "$("$folio" cache list --store "$db" --json | json 'sorted(s["blocks"] for s in d)')" = "[4, 4, 4]" ] || fail "list: blocks"
"$folio" cache list --store "$db" | grep -q "snapshot 2" || fail "list: label missing from text output"
[ "$("$folio" cache stats --store "$db" --json | json 'd["snapshots"], d["blocks"], d["parts"]')" = "3 12 24" ] \
  || fail "stats: counts"
"$folio" cache verify --store "$db" >/dev/null || fail "verify: clean store reported bad"

"$fill" damage "$db"
out="$("$folio" cache verify --store "$db" --keep-bad --json 2>/dev/null)" && fail "verify --keep-bad: exit 0 on a bad part"
[ "$(echo "$out" | json 'd["bad_parts"], d["removed"]')" = "1 False" ] || fail "verify --keep-bad: $out"
"$folio" cache verify --store "$db" >/dev/null 2>&1 && fail "verify: exit 0 on a bad part"
"$folio" cache verify --store "$db" >/dev/null || fail "verify: bad part not removed"
[ "$("$folio" cache list --store "$db" --json | json 'len(d)')" = 2 ] || fail "the damaged snapshot's first block is gone, so is it"

"$folio" cache prune --store "$db" 2>/dev/null && fail "prune without a size accepted" || true
"$folio" cache prune --store "$db" --max-bytes 1x 2>/dev/null && fail "bad size accepted" || true
[ "$("$folio" cache prune --store "$db" --all --json | json 'd["evicted"]')" = 2 ] || fail "prune --all"
[ "$("$folio" cache stats --store "$db" --json | json 'd["snapshots"], d["parts"]')" = "0 0" ] || fail "prune left rows"
echo "cli_test: ok"
