"""The same report in PDF, HTML and Word shows the same numbers in every table.

One small report (``cohort_overview`` on a 400-patient cohort: Table 1 by cause, 10 columns and
about 20 rows, and the follow-up table) is rendered once for this module; its executed notebook is
exported to HTML (:func:`~footdrop_outcomes.report.html_export.export_html`) and Word
(:func:`~footdrop_outcomes.report.docx_export.export_docx`). The reference is the table model each
table's display carries (the strings the page shows); every table is found, by its caption, in
each format and compared: Word and HTML cell by cell, the PDF by the sequence of numbers in its text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import docx
import nbformat
import pytest
from docx.oxml.ns import qn

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.report import render_report
from footdrop_outcomes.report.docx_export import export_docx
from footdrop_outcomes.report.tables import TABLE_MIMETYPE

pytestmark = pytest.mark.xdist_group("report-session")  # report renders share one worker (2 cores)

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@pytest.fixture(scope="module")
def formats(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("formats")
    cohort = simulate_cohort(400, seed=19, progress=False).save(d / "cohort")
    res = render_report("cohort_overview", d / "report.pdf", cohort=cohort, parameters={"title": "Formats"})
    out = {"pdf": res.pdf, "notebook": res.notebook, "docx": export_docx(res.notebook, d / "report.docx")}
    try:
        from footdrop_outcomes.report.html_export import export_html
    except ImportError:  # pragma: no cover - the HTML export is part of the package
        pytest.fail("footdrop_outcomes.report.html_export is missing")
    out["html"] = export_html(res.notebook, d / "report.html")
    return out


@pytest.fixture(scope="module")
def models(formats) -> list[dict]:
    nb = nbformat.read(formats["notebook"], as_version=4)
    found = [dict(o["data"][TABLE_MIMETYPE]) for c in nb.cells for o in c.get("outputs", []) if TABLE_MIMETYPE in o.get("data", {})]
    assert len(found) == 2, [m["caption"] for m in found]  # Table 1 and the follow-up table
    return found


def _norm(s: str) -> str:
    return " ".join(s.replace("\u2003", " ").split())


class _Tables(HTMLParser):
    """Caption and rows (cell texts) of every table in an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None
        self._section = ""

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"caption": "", "head": [], "body": []})
        elif tag == "caption":
            self._caption = []
        elif tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self.tables:
            self.tables[-1]["head" if self._section == "thead" else "body"].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "caption" and self._caption is not None:
            self.tables[-1]["caption"] = _norm("".join(self._caption))
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None:
            part = "head" if self._section == "thead" else "body"
            self.tables[-1][part][-1].append(_norm("".join(self._cell)))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._caption is not None:
            self._caption.append(data)


def _word_tables(path: Path) -> list[dict]:
    """Caption (the Caption paragraph just before) and rows of every Word table, in order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    doc = docx.Document(path)
    out, last = [], None
    for el in doc.element.body.iterchildren():
        if el.tag == qn("w:p"):
            p = Paragraph(el, doc)
            last = p.text if p.style.name == "Caption" else (last if not p.text else None)
        elif el.tag == qn("w:tbl"):
            t = Table(el, doc)
            heads = sum(1 for r in t.rows if r._tr.trPr is not None and r._tr.trPr.find(qn("w:tblHeader")) is not None)
            rows = [[_norm(c.text) for c in r.cells] for r in t.rows]
            out.append({"caption": last or "", "head": rows[:heads], "body": rows[heads:]})
            last = None
    return out


def _model_rows(m: dict) -> list[list[str]]:
    return [[_norm(c) for c in row] for row in m["body"]]


def test_word_tables_are_the_report_tables_cell_for_cell(formats, models):
    word = {t["caption"]: t for t in _word_tables(formats["docx"]) if t["caption"]}
    assert [m["caption"] for m in models] == [c for c in word if c in {m["caption"] for m in models}]
    for m in models:
        t = word[m["caption"]]
        assert t["head"] == [[_norm(c) for c in row] for row in m["header"]], m["caption"]
        assert t["body"] == _model_rows(m), m["caption"]


def test_html_tables_are_the_report_tables_cell_for_cell(formats, models):
    parser = _Tables()
    parser.feed(formats["html"].read_text(encoding="utf-8"))
    html = {t["caption"]: t for t in parser.tables if t["caption"]}
    for m in models:
        t = html.get(_norm(m["caption"]))
        assert t is not None, f"{m['caption']!r} not in the HTML report"
        assert [row for row in t["body"] if row] == _model_rows(m), m["caption"]
        header_cells = [c for row in t["head"] for c in row if c]
        assert [_norm(c) for c in m["header"][-1] if c] == header_cells, m["caption"]


def test_pdf_shows_every_table_number_in_order(formats, models, pdf_text):
    text = _norm(pdf_text(formats["pdf"]))
    numbers = NUMBER.findall(text)
    for m in models:
        assert _norm(m["caption"]) in text
        want = [n for row in m["body"] for cell in row for n in NUMBER.findall(cell)]
        assert want, m["caption"]
        it = iter(numbers)  # the table's numbers appear in the PDF text in reading order
        missing = [n for n in want if not any(x == n for x in it)]
        assert not missing, f"{m['caption']}: {len(missing)} of {len(want)} numbers not found in order, first {missing[:5]}"
        for note in m["footnotes"]:
            assert _norm(note) in text, note


def test_a_changed_number_is_caught(formats, models, pdf_text):
    """The comparison can fail: one number changed in the model is no longer found in the PDF."""
    numbers = NUMBER.findall(_norm(pdf_text(formats["pdf"])))
    m = models[0]
    want = [n for row in m["body"] for cell in row for n in NUMBER.findall(cell)]
    want[len(want) // 2] = "987654"
    it = iter(numbers)
    assert any(not any(x == n for x in it) for n in want)
