"""Shared fixtures of the Python binding tests: a tiny random-weight model
made with `folio make-tiny` and the mixed sample corpus (contract as Markdown
and as a PDF typeset with groff, a WebVTT call, a Python file).

Environment (set by CTest): FOLIO_LIBRARY (libfolio.so), FOLIO_CLI (the folio
tool), FOLIO_SAMPLE_DIR, PYTHONPATH including bindings/python."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    cli = os.environ.get("FOLIO_CLI")
    if not cli:
        pytest.fail("FOLIO_CLI is not set: run these tests through CTest (ctest -R sdk_python)")
    path = tmp_path_factory.mktemp("model") / "tiny.gguf"
    subprocess.run([cli, "make-tiny", "--seed", "5", "-o", str(path)], check=True, capture_output=True)
    return str(path)


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory) -> dict:
    sample = pathlib.Path(os.environ.get("FOLIO_SAMPLE_DIR", ROOT / "examples/contract_review/sample"))
    out = tmp_path_factory.mktemp("corpus")
    files = {}
    for name in ("master_services_agreement.md", "negotiation_call.vtt", "invoice_check.py"):
        shutil.copy(sample / name, out / name)
        files[name] = str(out / name)
    pdf = out / "master_services_agreement.pdf"
    subprocess.run([sys.executable, str(ROOT / "examples/contract_review/make_pdf.py"),
                    str(sample / "master_services_agreement.md"), str(pdf)], check=True)
    files["pdf"] = str(pdf)
    return files
