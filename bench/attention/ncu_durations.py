#!/usr/bin/env python3
"""Summarises `ncu --csv --page raw --metrics gpu__time_duration.sum` output read
from stdin: mean kernel duration per (kernel, grid size), in microseconds.
Diagnostic for the notes in docs/attention.md; not part of gpu-check."""
import csv
import sys
from collections import defaultdict

rows = [r for r in csv.reader(line for line in sys.stdin if line.startswith('"'))]
if not rows:
    sys.exit("no ncu CSV rows on stdin")
head = rows[0]
name_i, grid_i = head.index("Kernel Name"), head.index("Grid Size")
dur_i = head.index("gpu__time_duration.sum")
units = rows[1][dur_i] if len(rows) > 1 else ""
acc = defaultdict(list)
for r in rows[2:]:
    try:
        acc[(r[name_i].split("(")[0][-60:], r[grid_i])].append(float(r[dur_i].replace(",", "")))
    except (ValueError, IndexError):
        continue
u = units.strip().lower()
scale = 1e-3 if u.startswith("n") else 1e3 if u.startswith("m") else 1.0  # to microseconds
for (name, grid), v in sorted(acc.items()):
    print(f"{name:60s} grid {grid:>16s}  n={len(v):3d}  mean {sum(v) / len(v) * scale:9.2f} us  min {min(v) * scale:9.2f} us")
