"""report.notebook.later: a place held in the report, filled further down the notebook.

The outcome report holds the places of its summary and key findings and fills them once the
adherence analysis is done; the executed notebook (and so the PDF) must carry the output at the
held place, not where it was computed.
"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from footdrop_outcomes.report import notebook as nbh
from footdrop_outcomes.report.counts import text


def _run(*sources: str):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                                        "language": "python"}})
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return nb


def _markdown(cell) -> list[str]:
    return [o["data"].get("text/markdown") for o in cell.outputs if o.get("output_type") == "display_data"]


def test_the_output_stands_at_the_held_place():
    nb = _run(
        "from footdrop_outcomes.report import notebook as nbh\nfrom footdrop_outcomes.report.counts import text\n"
        "nbh.setup(10)\nsummary = nbh.later()\nfindings = nbh.later()\nempty = nbh.later()",
        "nbh.markdown(text('in between', []))",
        "nbh.paragraph([text('First sentence.', []), text('Second.', [])], into=summary)\n"
        "nbh.bullets([text('a finding', [])], into=findings)\nnbh.paragraph([], into=empty)",
    )
    held, between, filling = nb.cells
    assert _markdown(held) == ["First sentence. Second.", "- a finding", ""]
    assert _markdown(between) == ["in between"]
    assert not [o for o in filling.outputs if o.get("output_type") != "stream"]  # nothing shown where it was computed
    # the same outputs as showing them directly at that place
    direct = _run("from footdrop_outcomes.report import notebook as nbh\nfrom footdrop_outcomes.report.counts import text\n"
                  "nbh.setup(10)\nnbh.paragraph([text('First sentence.', []), text('Second.', [])])\n"
                  "nbh.bullets([text('a finding', [])])")
    shown = [o for o in direct.cells[0].outputs if o.get("output_type") == "display_data"]
    held_shown = [o for o in held.outputs if o.get("output_type") == "display_data"]
    assert [(o["data"], o["metadata"]) for o in held_shown[:2]] == [(o["data"], o["metadata"]) for o in shown]
    nbformat.validate(nb)


def test_a_place_is_filled_once():
    place = nbh.Later(None)
    nbh.paragraph([text("once", [])], into=place)
    assert place.filled
    with pytest.raises(ValueError, match="filled already"):
        nbh.bullets([text("twice", [])], into=place)
