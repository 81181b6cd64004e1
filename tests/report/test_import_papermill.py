"""render._import_papermill: papermill imported without building jsonschema's optional IRI grammar
(rfc3987_syntax, most of papermill's import time), and the block lifted afterwards."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = r"""
import sys
from footdrop_outcomes.report import render
if sys.argv[1] == "jsonschema-first":
    import jsonschema
render._import_papermill()
import jsonschema, nbformat
from nbformat.v4 import new_code_cell, new_notebook
assert "papermill" in sys.modules
blocked_now = "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is None
iri = "iri" in jsonschema.FormatChecker().checkers
nbformat.validate(new_notebook(cells=[new_code_cell("1 + 1")]))  # notebook validation works
import rfc3987_syntax  # importable again: the block was lifted
print(blocked_now, iri)
"""


def _run(mode: str) -> str:
    done = subprocess.run([sys.executable, "-c", CHECK, mode], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()[-2] + " " + done.stdout.split()[-1]


def test_papermill_imports_without_the_iri_grammar_and_the_block_is_lifted():
    pytest.importorskip("rfc3987_syntax")
    assert _run("fresh") == "False False"  # not left blocked; jsonschema has no IRI checker in this process
    assert _run("jsonschema-first") == "False True"  # jsonschema imported before: nothing changed
