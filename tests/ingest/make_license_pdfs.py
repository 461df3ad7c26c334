#!/usr/bin/env python3
"""Typesets real licence texts as PDFs with groff, and writes the ground truth.

For each licence in /usr/share/common-licenses (GPL-3, Apache-2.0, MPL-2.0) and
each layout (one and two columns), this script
  1. reads the plain text and finds its numbered section headings by the
     licence's own conventions ("0. Definitions.", "1.1. \"Contributor\"",
     Apache's run-in "2. Grant of Copyright License. Subject to ..."),
  2. writes groff -ms source: title, bold headings on their own lines (top-level
     ones 2 pt larger), justified
     and hyphenated paragraphs, a running header (left and right strings) and a
     footer with the page number on every page, and `.2C` for two columns,
  3. runs `groff -ms -Tpdf` to make the PDF,
  4. finds each heading's page from the PDF itself (`pdftotext`, pages split at
     form feeds), and writes <name>.json with the headings (number, title,
     depth, page) and the running header/footer strings;
and makes encrypted.pdf (ghostscript, user password "secret") from one of them.

Usage: make_license_pdfs.py OUTDIR [LICENCE_DIR]
"""
import json
import os
import re
import subprocess
import sys

LICENCES = ["GPL-3", "Apache-2.0", "MPL-2.0"]
LAYOUTS = {"1col": False, "2col": True}

HEADING = re.compile(r"^\s*(\d+(?:\.\d+)*)\.\s+(\S.*?)\s*$")


def strip_box(line):
    """MPL-2.0 frames two sections in '*' boxes; drop the frame."""
    s = line.rstrip()
    if re.fullmatch(r"\s*\*+\s*", s):
        return ""
    m = re.fullmatch(r"\s*\*\s?(.*?)\s*\*\s*", s)
    return m.group(1) if m else line.rstrip("\n")


def parse(text):
    """Returns (title, items): items are ('h', number, title, depth) or ('p', text)."""
    lines = [strip_box(l) for l in text.split("\n")]
    # Drop setext underlines (MPL), remembering nothing: headings are found by number.
    lines = ["" if re.fullmatch(r"\s*[-=]{3,}\s*", l) else l for l in lines]
    paras, cur = [], []
    for l in lines:
        if l.strip():
            cur.append(l)
        elif cur:
            paras.append(cur)
            cur = []
    if cur:
        paras.append(cur)
    title = paras[0][0].strip()
    items = []
    for p in paras[1:] if len(paras[0]) == 1 else paras:
        first = p[0]
        m = HEADING.match(first)
        if m:
            number, rest = m.group(1), m.group(2)
            depth = number.count(".") + 1
            body = [l.strip() for l in p[1:]]
            indent = lambda l: len(l) - len(l.lstrip())
            whole = " ".join([rest] + body)
            # Run-in heading: "2. Grant of Copyright License. Subject to ..."
            run_in = re.match(r"^([A-Z][^.]{2,80}?\.)\s+(\S.*)$", whole)
            if run_in and len(run_in.group(1).split()) <= 10 and len(whole.split()) > 14:
                items.append(("h", number + ".", run_in.group(1), depth))
                items.append(("p", run_in.group(2)))
                continue
            # The whole paragraph is the heading (possibly wrapped once).
            if len(p) <= 2 and len(whole.split()) <= 14 and not whole.endswith(","):
                items.append(("h", number + ".", whole, depth))
                continue
            # Heading line with its body indented below it (MPL "1.1. \"Contributor\"").
            if len(p) > 1 and indent(p[1]) > indent(first) and len(rest.split()) <= 12:
                items.append(("h", number + ".", rest, depth))
                items.append(("p", " ".join(body)))
                continue
        items.append(("p", " ".join(l.strip() for l in p)))
    return title, items


def troff_escape(s):
    s = s.replace("\\", "\\e")
    if s.startswith(".") or s.startswith("'"):
        s = "\\&" + s
    return s


def groff_source(title, items, header_left, header_right, two_columns):
    out = [
        ".ds LH " + header_left,
        ".ds CH",
        ".ds RH " + header_right,
        ".ds LF",
        ".ds CF Page %",
        ".ds RF",
        ".nr PS 10",
        ".nr VS 12",
        ".TL",
        troff_escape(title),
        ".LP",
    ]
    if two_columns:
        out.append(".2C")
    for it in items:
        if it[0] == "h":
            # Top-level headings are also 2 pt larger: levels must come out right
            # whether a heading is told by size, weight or numbering.
            text = troff_escape(f"{it[1]} {it[2]}")
            out.append(".SH")
            out.append("\\s[+2]" + text + "\\s[0]" if it[3] == 1 else text)
            out.append(".PP")
        else:
            out.append(".PP")
            out.append(troff_escape(it[1]))
    return "\n".join(out) + "\n"


def normalise(s):
    """Letters, digits and periods (so "7. Additional" differs from "7 additional")."""
    return re.sub(r"[^0-9a-z.]", "", s.lower())


def pages_of(pdf):
    """Per page, the normalised text starting at each line (joined with the
    next two lines, so a wrapped heading still matches at its line start)."""
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", pdf, "-"], check=True, capture_output=True).stdout
    pages = []
    for page in text.decode("utf-8", "replace").split("\f"):
        lines = [normalise(l) for l in page.split("\n")]
        lines = [l for l in lines if l]
        pages.append([lines[i] + "".join(lines[i + 1:i + 3]) for i in range(len(lines))])
    return pages


def main():
    out_dir = sys.argv[1]
    src_dir = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/common-licenses"
    os.makedirs(out_dir, exist_ok=True)
    for lic in LICENCES:
        with open(os.path.join(src_dir, lic), encoding="utf-8") as f:
            title, items = parse(f.read())
        for layout, two in LAYOUTS.items():
            name = f"{lic}-{layout}"
            header_left = f"{lic} licence text"
            header_right = "Folio ingestion test"
            src = groff_source(title, items, header_left, header_right, two)
            ms_path = os.path.join(out_dir, name + ".ms")
            pdf_path = os.path.join(out_dir, name + ".pdf")
            with open(ms_path, "w", encoding="utf-8") as f:
                f.write(src)
            with open(pdf_path, "wb") as f:
                subprocess.run(["groff", "-ms", "-Tpdf", "-Kutf8", ms_path], check=True, stdout=f)
            pages = pages_of(pdf_path)
            headings = []
            page = 0
            for it in items:
                if it[0] != "h":
                    continue
                key = normalise(f"{it[1]} {it[2]}")
                found = None
                for p in range(page, len(pages)):
                    if any(starts.startswith(key) for starts in pages[p]):
                        found = p
                        break
                if found is None:
                    sys.exit(f"{name}: heading {it[1]} {it[2]!r} not found in the PDF text")
                page = found
                headings.append({"number": it[1], "title": it[2], "depth": it[3], "page": found + 1})
            truth = {
                "licence": lic,
                "layout": layout,
                "pages": len([p for p in pages if p]),
                "title": title,
                "header_left": header_left,
                "header_right": header_right,
                "footer": "Page N",
                "headings": headings,
                # Every word typeset, in reading order (for reading-order checks).
                "text": " ".join([title] + [f"{it[1]} {it[2]}" if it[0] == "h" else it[1] for it in items]),
            }
            with open(os.path.join(out_dir, name + ".json"), "w", encoding="utf-8") as f:
                json.dump(truth, f, indent=1)
            print(f"{name}: {truth['pages']} pages, {len(headings)} headings")
    # An encrypted copy (user password "secret") for the error-path tests.
    subprocess.run(["gs", "-q", "-dNOPAUSE", "-dBATCH", "-sDEVICE=pdfwrite", "-sOwnerPassword=owner",
                    "-sUserPassword=secret", "-dEncryptionR=3", "-dKeyLength=128",
                    "-sOutputFile=" + os.path.join(out_dir, "encrypted.pdf"),
                    os.path.join(out_dir, "Apache-2.0-1col.pdf")], check=True)


if __name__ == "__main__":
    main()
