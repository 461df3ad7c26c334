#!/usr/bin/env python3
"""Typesets the sample contract (Markdown) as a PDF with groff -ms.

Usage: make_pdf.py CONTRACT.md OUT.pdf

Only the Markdown the sample uses is handled: '#' title, '##' and '###' numbered
section headings and paragraphs. Section numbers are kept as written so the
PDF and the Markdown carry the same anchors.
"""
import subprocess
import sys


def to_ms(markdown: str) -> str:
    out = [".nr PS 11", ".nr VS 14"]
    for block in markdown.split("\n\n"):
        text = " ".join(line.strip() for line in block.strip().splitlines())
        if not text:
            continue
        # A line starting with '.' or "'" would be a groff request: escape it.
        if text[0] in ".'":
            text = "\\&" + text
        if text.startswith("### "):
            out += [".SH 2", text[4:]]
        elif text.startswith("## "):
            out += [".SH", text[3:]]
        elif text.startswith("# "):
            out += [".TL", text[2:]]
        else:
            out += [".PP", text]
    return "\n".join(out) + "\n"


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        ms = to_ms(f.read())
    pdf = subprocess.run(["groff", "-ms", "-Tpdf", "-Kutf8"], input=ms.encode("utf-8"),
                         stdout=subprocess.PIPE, check=True).stdout
    with open(sys.argv[2], "wb") as f:
        f.write(pdf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
