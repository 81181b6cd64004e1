"""Word export: a hand-made executed notebook (no report run) written to .docx and read back with python-docx."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import docx
import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest
from docx.enum.section import WD_ORIENT
from docx.oxml.ns import qn
from PIL import Image

from footdrop_outcomes.release import ReleasePolicy, release_table
from footdrop_outcomes.report._errors import ReportError
from footdrop_outcomes.report.docx_export import FIGURE_DPI, export_docx, tables_to_docx
from footdrop_outcomes.report.tables import TABLE_MIMETYPE, styled


def _bundle(obj) -> dict:
    return obj._repr_mimebundle_()


def _table_display(caption: str = "Table 3. Recovery by group"):
    cols = pd.MultiIndex.from_tuples([("", "Group"), ("Recovered", "n (%)"), ("Recovered", "by 26 wk")])
    frame = pd.DataFrame([["Stroke", "40 (50.0%)", "45%"], ["ALS", "≤10", "3%"], ["Neuropathy", "*", "20%"]], columns=cols)
    released = release_table(frame, ReleasePolicy(10), support=[80, 7, 60], keep=[("", "Group")])
    return styled(released, caption, footnotes=["Shares from the Turnbull estimate."])


def _svg_figure() -> str:
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.plot([0, 1, 2], [0, 0.4, 0.7])
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def _notebook():
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell("# Removed heading", metadata={"tags": ["remove_cell"]}),
        v4.new_code_cell("title()", outputs=[v4.new_output("display_data", data={
            "text/html": '<section class="fd-title-page"><h1 class="fd-title">Outcome report</h1><p class="fd-subtitle">500 patients.</p>'
                         '<table class="fd-meta"><tbody><tr><th>Data source</th><td>cohort</td></tr></tbody></table></section>',
            "text/plain": "<HTML>"})]),
        v4.new_markdown_cell("## Recovery\n\nMost patients **recover** within *a year*; see [the methods](#methods).\n\n- first point\n- second point"),
        v4.new_code_cell("show_table()", outputs=[v4.new_output("display_data", data=_bundle(_table_display()))]),
        v4.new_markdown_cell("### Baseline", metadata={"tags": ["landscape"]}),
        v4.new_code_cell("show_figure()", metadata={"tags": ["landscape"]},
                         outputs=[v4.new_output("display_data", data={"image/svg+xml": _svg_figure(), "text/plain": "<Figure>"})]),
        v4.new_code_cell("code", outputs=[v4.new_output("stream", name="stderr", text="a warning"),
                                          v4.new_output("error", ename="ValueError", evalue="bad value", traceback=["tb"])]),
        v4.new_code_cell("hidden", metadata={"tags": ["remove_output"]},
                         outputs=[v4.new_output("display_data", data={"text/markdown": "must not appear"})]),
    ]
    return v4.new_notebook(cells=cells, metadata={"title": "Outcome report"})


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("docx") / "report.docx"
    export_docx(_notebook(), out)
    return out


def _body(doc):
    """(kind, object) in document order: paragraphs and tables."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    out = []
    for el in doc.element.body.iterchildren():
        if el.tag == qn("w:p"):
            out.append(("p", Paragraph(el, doc)))
        elif el.tag == qn("w:tbl"):
            out.append(("t", Table(el, doc)))
    return out


def test_headings_paragraphs_and_order(written):
    doc = docx.Document(written)
    texts = [p.text for p in doc.paragraphs]
    styles = {p.text: p.style.name for p in doc.paragraphs if p.text}
    assert "Removed heading" not in texts and "must not appear" not in texts and "a warning" not in " ".join(texts)
    assert styles["Outcome report"] == "Title" and styles["Recovery"] == "Heading 1" and styles["Baseline"] == "Heading 2"
    para = next(p for p in doc.paragraphs if p.text.startswith("Most patients"))
    assert para.text == "Most patients recover within a year; see the methods."
    assert [r.text for r in para.runs if r.bold] == ["recover"] and [r.text for r in para.runs if r.italic] == ["a year"]
    assert styles["first point"] == "List Bullet"
    assert "Error in this cell: ValueError: bad value" in texts
    order = [t for t in texts if t in ("Outcome report", "Recovery", "Baseline")]
    assert order == ["Outcome report", "Recovery", "Baseline"]


def test_tables_are_word_tables_with_caption_marks_and_footnotes(written):
    doc = docx.Document(written)
    body = _body(doc)
    i = next(k for k, (kind, o) in enumerate(body) if kind == "p" and o.text.startswith("Table 3."))
    cap = body[i][1]
    assert cap.style.name == "Caption" and cap.text == "Table 3. Recovery by group"
    kind, table = body[i + 1]
    assert kind == "t"
    rows = [[c.text for c in r.cells] for r in table.rows]
    assert rows[0] == ["", "Recovered", "Recovered"]  # merged upper header level (python-docx repeats a merged cell)
    assert rows[1] == ["Group", "n (%)", "by 26 wk"]
    assert rows[2:] == [["Stroke", "40 (50.0%)", "45%"], ["ALS", "-", "-"], ["Neuropathy", "*", "20%"]]
    for r in table.rows[:2]:  # header rows repeat on every page
        flag = r._tr.trPr.find(qn("w:tblHeader"))
        assert flag is not None and flag.get(qn("w:val")) == "true"
    assert table.rows[2]._tr.trPr is None or table.rows[2]._tr.trPr.find(qn("w:tblHeader")) is None
    notes = [o.text for kind, o in body[i + 2:i + 6] if kind == "p" and o.text]
    assert notes[0] == "Shares from the Turnbull estimate."
    assert any(n.startswith("*:") for n in notes) and any(n.startswith("-: not shown") for n in notes)
    # the title page's facts are a plain Word table too
    assert any([c.text for c in t.rows[0].cells] == ["Data source", "cohort"] for t in doc.tables)


def test_figure_is_a_300_dpi_png_within_the_page(written):
    doc = docx.Document(written)
    assert len(doc.inline_shapes) == 1
    shape = doc.inline_shapes[0]
    blob = doc.part.related_parts[shape._inline.graphic.graphicData.pic.blipFill.blip.embed].blob
    with Image.open(io.BytesIO(blob)) as im:
        assert im.format == "PNG"
        assert im.info["dpi"][0] == pytest.approx(FIGURE_DPI, abs=0.01)
        width_in = im.size[0] / FIGURE_DPI
    assert width_in == pytest.approx(4.0, abs=0.02)  # a 4-inch figure keeps its size (fits the page)
    assert shape.width == pytest.approx(int(width_in * 914400), rel=0.01)
    fig_section = doc.sections[-1] if len(doc.sections) else None
    usable = fig_section.page_width - fig_section.left_margin - fig_section.right_margin
    assert shape.width <= usable


def test_landscape_cells_get_a_landscape_section(written):
    doc = docx.Document(written)
    orient = [s.orientation for s in doc.sections]
    assert orient[0] == WD_ORIENT.PORTRAIT and WD_ORIENT.LANDSCAPE in orient
    land = next(s for s in doc.sections if s.orientation == WD_ORIENT.LANDSCAPE)
    assert land.page_width > land.page_height


def test_bytes_are_reproducible_and_dates_fixed(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a, b = tmp_path / "a.docx", tmp_path / "b.docx"
    export_docx(_notebook(), a)
    export_docx(_notebook(), b)
    assert a.read_bytes() == b.read_bytes()
    props = docx.Document(a).core_properties
    assert props.created.year == 2000 and props.modified == props.created
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764547200")  # 2025-12-01
    export_docx(_notebook(), a)
    assert docx.Document(a).core_properties.created.year == 2025


def test_writes_are_atomic_and_safe(tmp_path):
    with pytest.raises(ReportError, match="does not exist"):
        export_docx(_notebook(), tmp_path / "missing" / "r.docx")
    (tmp_path / "link.docx").symlink_to(tmp_path / "elsewhere.docx")
    with pytest.raises(ReportError, match="symbolic link"):
        export_docx(_notebook(), tmp_path / "link.docx")
    with pytest.raises(ReportError, match="cannot read the notebook"):
        export_docx(tmp_path / "nope.ipynb", tmp_path / "r.docx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.docx"]


def test_tables_to_docx_takes_displayed_released_tables_only(tmp_path):
    out = tables_to_docx([_table_display("Table 1. A"), _table_display("Table 2. B")], tmp_path / "t.docx", title="Tables")
    doc = docx.Document(out)
    assert len(doc.tables) == 2 and [p.text for p in doc.paragraphs if p.style.name == "Caption"] == ["Table 1. A", "Table 2. B"]
    with pytest.raises(ReportError, match="released tables"):
        tables_to_docx([pd.DataFrame({"a": ["1"]})], tmp_path / "x.docx")  # type: ignore[list-item]


def test_display_bundle_carries_the_same_strings_as_the_html():
    d = _table_display()
    bundle = _bundle(d)
    model = bundle[TABLE_MIMETYPE]
    assert model["number"] == "3" and model["caption"] == "Table 3. Recovery by group"
    assert model["marks"] == [["", "", ""], ["", "masked", "masked"], ["", "hidden", ""]]
    for row in model["body"]:
        for cell in row:
            assert f">{cell}<" in bundle["text/html"]
    for note in model["footnotes"]:
        assert note.replace("'", "&#x27;") in bundle["text/html"]
