"""The HTML report (``footdrop_html``): self-contained, navigable, the PDF's tables and text, reproducible, released.

The browser checks (no request, images load, contents links scroll, screenshots) are in
``test_browser.py``; these read the file itself.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import re
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import footdrop_outcomes.report.exporter as pdf_exporter
from footdrop_outcomes.report import ReportError
from footdrop_outcomes.report.html_export import (
    HTML_EXPORTER_NAME,
    FootdropHTMLExporter,
    check_self_contained,
    export_html,
    render_html,
)

pytestmark = pytest.mark.xdist_group("report-session")  # share the rendered reports with the tests that read them (pytest -n)

HERE = Path(__file__).resolve().parent
THRESHOLD = 10


def _load(path: Path, name: str):
    """A sibling test module's helpers (the scanners of the small-cell and release tests), loaded by path."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


small_cells = _load(HERE / "test_small_cells.py", "_h5_small_cells")
release_scan = _load(HERE.parent / "release" / "test_no_small_numbers.py", "_h5_no_small_numbers")


def print_html(nb_path: Path) -> str:
    """The HTML the PDF exporter hands to WeasyPrint for this notebook (what the PDF shows)."""
    captured: dict[str, str] = {}

    def capture(html: str, *, base_url=None) -> bytes:
        captured["html"] = html
        return b"%PDF-"

    original = pdf_exporter.html_to_pdf
    pdf_exporter.html_to_pdf = capture
    try:
        pdf_exporter.FootdropPDFExporter().from_notebook_node(nbformat.read(nb_path, as_version=4),
                                                              resources={"metadata": {"name": nb_path.stem, "path": str(nb_path.parent)}})
    finally:
        pdf_exporter.html_to_pdf = original
    return captured["html"]


def tables_of(html: str) -> list[tuple[str, list[list[str]]]]:
    """(caption, rows of cell texts) of every table, in order."""
    out = []
    for table in BeautifulSoup(html, "html.parser").find_all("table"):
        cap = table.find("caption")
        rows = [[" ".join(c.get_text(" ").split()) for c in tr.find_all(["td", "th"])] for tr in table.find_all("tr")]
        out.append((" ".join(cap.get_text(" ").split()) if cap else "", rows))
    return out


def main_text(html: str) -> str:
    """The words a reader sees in ``<main>``, without the contents list (whitespace collapsed)."""
    soup = BeautifulSoup(html, "html.parser")
    main = soup.find("main")
    for el in main.find_all(["nav", "style", "script"]):
        el.decompose()
    return " ".join(main.get_text(" ").split())


@pytest.fixture(scope="module")
def report(rendered, tmp_path_factory):
    """The outcome report of the 500-patient test cohort: executed notebook, PDF and HTML."""
    res = rendered("outcome_report")
    out = tmp_path_factory.mktemp("html") / "outcome_report.html"
    export_html(res.notebook, out)
    return res, out, out.read_text(encoding="utf-8")


def _notebook(tmp_path: Path, cells, metadata=None) -> Path:
    nb = new_notebook(cells=cells, metadata=metadata or {})
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


# -- self-contained ----------------------------------------------------------------------------------

def test_every_figure_is_embedded_and_nothing_is_fetched(report):
    res, _, html = report
    soup = BeautifulSoup(html, "html.parser")
    nb = nbformat.read(res.notebook, as_version=4)
    figures = sum(1 for c in nb.cells for o in c.get("outputs", []) if {"image/svg+xml", "image/png"} & set(o.get("data", {})))
    imgs = soup.find_all("img")
    assert len(imgs) == figures >= 8  # every figure of the notebook, each once
    assert all(img["src"].startswith(("data:image/svg+xml;base64,", "data:image/png;base64,")) for img in imgs)
    assert all(img.get("alt") for img in imgs)
    assert not re.search(r"https?:", html, re.IGNORECASE), "no http(s) reference anywhere, CSS included"
    assert soup.find_all(["script", "link", "iframe", "object", "embed", "base"]) == []
    css = " ".join(s.get_text() for s in soup.find_all("style"))
    assert "@import" not in css and "@font-face" not in css and not re.search(r"url\((?!\s*['\"]?data:)", css)
    assert check_self_contained(html) == []
    # inside the figures: no reference out of the SVG (its xmlns names are identifiers, never fetched)
    for img in imgs:
        if img["src"].startswith("data:image/svg+xml"):
            svg = base64.b64decode(img["src"].split(",", 1)[1]).decode("utf-8")
            assert not re.search(r"""(?:href|src)\s*=\s*["'](?!#|data:)|url\((?!#|data:)|@import""", svg)
    # one screen stylesheet and a viewport for phones
    assert len(soup.find_all("style", recursive=True)) >= 1 and soup.find("meta", attrs={"name": "viewport"})


def test_contents_links_resolve(report):
    _, _, html = report
    soup = BeautifulSoup(html, "html.parser")
    ids = [el["id"] for el in soup.find_all(id=True)]
    assert len(ids) == len(set(ids)), "element ids are unique"
    nav = soup.find("nav", class_="fd-toc")
    links = [a["href"] for a in nav.find_all("a")]
    assert len(links) >= 15 and all(h.startswith("#") for h in links)
    assert all(unquote(h[1:]) in ids for h in links)
    # every section heading after the contents is in the contents, in order
    headings = [h["id"] for h in nav.find_all_next(["h2", "h3"]) if h.get("id")]
    assert [unquote(h[1:]) for h in links] == headings
    # every in-page link of the page (contents, the "Contents" button, anchors) has its target
    assert all(unquote(a["href"][1:]) in ids for a in soup.find_all("a", href=True) if a["href"].startswith("#"))
    assert soup.find("a", class_="fd-to-contents")["href"] == "#" + nav["id"]


def test_every_table_of_the_pdf_with_the_same_cells(report, pdf_text):
    res, _, html = report
    printed = tables_of(print_html(res.notebook))
    shown = tables_of(html)
    assert len(shown) == len(printed) >= 15
    assert shown == printed  # same captions, same cells, same order
    # and every cell is on the PDF's pages (whitespace aside: the PDF wraps cells)
    pdf = re.sub(r"\s+", "", pdf_text(res.pdf))
    for caption, rows in shown:
        for row in rows:
            for cell in row:
                assert re.sub(r"\s+", "", cell) in pdf, (caption, cell)
    # same words as the PDF outside the tables too
    assert main_text(html) == main_text(print_html(res.notebook))


def test_wide_tables_scroll_in_their_own_box(report):
    _, _, html = report
    soup = BeautifulSoup(html, "html.parser")
    boxed = [t for t in soup.find_all("table") if t.parent.name == "div" and "fd-scroll" in t.parent.get("class", [])]
    data_tables = [t for t in soup.find_all("table") if "fd-meta" not in (t.get("class") or []) and not t.find_parent("table")]
    assert boxed == data_tables and len(boxed) >= 15
    assert all(t.parent.get("aria-label") and t.parent.get("role") == "region" for t in boxed)
    css = soup.find("style").get_text()
    assert re.search(r"\.fd-scroll\s*\{[^}]*overflow-x:\s*auto", css)


# -- reproducible ----------------------------------------------------------------------------------

def test_same_notebook_gives_the_same_bytes(report, tmp_path, monkeypatch):
    res, first, html = report
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    again = export_html(res.notebook, tmp_path / "another-name.html")
    assert again.read_bytes() == first.read_bytes()
    assert "dcterms.created" not in html  # no time stamp unless asked for
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", html)  # no uuid
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764547200")
    dated = render_html(res.notebook)
    meta = BeautifulSoup(dated, "html.parser").find("meta", attrs={"name": "dcterms.created"})
    assert meta["content"] == "2025-12-01T00:00:00Z" and dated == render_html(res.notebook)


def test_no_script_and_no_random_id_from_javascript_or_widget_outputs(tmp_path):
    """nbconvert writes these outputs with a uuid4 id and a <script>: the HTML report leaves them out."""
    js = new_output("display_data", data={"application/javascript": "document.title = 'x'", "text/plain": "<js>"})
    widget = new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "m1", "version_major": 2,
                                                                                           "version_minor": 0}, "text/plain": "W"})
    meta = {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2, "version_minor": 0}}}
    nb = _notebook(tmp_path, [new_markdown_cell("# T\n\n## A\n\ntext"), new_code_cell("x", outputs=[js, widget])], meta)
    one, two = render_html(nb), render_html(nb)
    assert one == two
    assert "<script" not in one and "document.title" not in one and check_self_contained(one) == []


# -- what a report must not show --------------------------------------------------------------------

def test_no_code_no_stderr_no_removed_output_and_the_internal_use_band(tmp_path):
    cells = [
        new_markdown_cell("# Report\n\n## Section one\n\nProse."),
        new_code_cell("SECRET_CODE_42 = 1", outputs=[new_output("stream", name="stdout", text="shown output\n"),
                                                     new_output("stream", name="stderr", text="STDERR_LEAK\n")]),
        new_code_cell("y", metadata={"tags": ["remove_output"]}, outputs=[new_output("stream", name="stdout", text="REMOVED_OUT\n")]),
        new_code_cell("z", metadata={"tags": ["remove_cell"]}, outputs=[new_output("stream", name="stdout", text="REMOVED_CELL\n")]),
        new_code_cell("e", outputs=[new_output("error", ename="ValueError", evalue="bad value", traceback=["TRACEBACK_LINE"])]),
        new_markdown_cell("## Section two\n\nMore prose."),
    ]
    html = render_html(_notebook(tmp_path, cells))
    text = BeautifulSoup(html, "html.parser").get_text(" ")
    assert "shown output" in text and "ValueError: bad value" in text and "Section two" in text
    for leak in ("SECRET_CODE_42", "STDERR_LEAK", "REMOVED_OUT", "REMOVED_CELL", "TRACEBACK_LINE"):
        assert leak not in html, leak
    assert 'class="fd-stamp"' not in html
    # an internal-use report (report.notebook.stamp) has the band, as the PDF has the stamp on every page
    stamped = cells + [new_code_cell("s", outputs=[new_output("display_data", data={
        "text/html": '<div class="fd-not-for-release">NOT FOR RELEASE</div>', "text/plain": "stamp"})])]
    band = BeautifulSoup(render_html(_notebook(tmp_path, stamped)), "html.parser").find("div", class_="fd-stamp")
    assert band is not None and band.get_text() == "NOT FOR RELEASE" and band.parent.name == "body"


def test_no_small_count_reaches_the_html(report, tmp_path):
    """The small-cell tests' rule on the HTML: every n (%) and every count cell is 0, above the threshold or hidden."""
    res, _, html = report
    text = main_text(html)
    shown = [int(m.group(1).replace(",", "")) for m in small_cells.COUNT_PERCENT.finditer(text)]
    assert shown and [n for n in shown if 1 <= n <= THRESHOLD] == []
    # the count cells, found the way test_small_cells finds them in the notebook, read from the HTML file
    nb = new_notebook(cells=[new_code_cell("", outputs=[new_output("display_data", data={"text/html": html})])])
    path = tmp_path / "as-html.ipynb"
    nbformat.write(nb, path)
    cells = small_cells._count_cells(path)
    assert len(cells) > 20
    assert [c for c in cells if (n := small_cells._shown_count(c[2])) is not None and 1 <= n <= THRESHOLD] == []
    assert any(c[2].startswith(f"≤{THRESHOLD}") for c in cells), "suppression exercised"
    assert sorted(cells) == sorted(small_cells._count_cells(res.notebook))  # the same cells as the notebook's tables


def test_no_number_from_a_small_group_reaches_the_html(tmp_path):
    """The release property test's scanner on the HTML of a report whose cohort has small groups.

    The cohort-overview notebook runs on a 320-patient cohort with stroke cut to 7 patients and ALS
    to 11 (ALS ends with fewer when severe patients are cut to 12); the executed notebook is exported
    to HTML and the page's tables, text and figures go through ``scan_notebook``'s rule.
    """
    from footdrop_outcomes.report.parameters import validate_parameters
    from footdrop_outcomes.report.render import _execute, notebook_path

    cohort = release_scan.build_cohort(11, [("cause", "stroke", 7), ("severity", "severe", 12), ("cause", "als", 11)],
                                       tmp_path / "cohort")
    small = release_scan.small_groups(cohort)
    assert ("cause", "stroke") in small
    nb_in = notebook_path("cohort_overview")
    params = validate_parameters(nb_in, {"cohort_path": str((tmp_path / "cohort").resolve()), "title": "Release check"})
    _execute(nb_in, tmp_path / "executed.ipynb", params, kernel_name=None, timeout=300)
    html = render_html(tmp_path / "executed.ipynb")
    soup = BeautifulSoup(html, "html.parser")
    outputs = [new_output("display_data", data={"text/html": str(soup.find("main"))})]
    for img in soup.find_all("img"):
        if img["src"].startswith("data:image/svg+xml"):
            outputs.append(new_output("display_data", data={"image/svg+xml": base64.b64decode(img["src"].split(",", 1)[1]).decode()}))
    as_nb = tmp_path / "as-html.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("", outputs=outputs)]), as_nb)
    assert release_scan.scan_notebook(as_nb, small) == []
    text = main_text(html)
    assert "left out of every table, figure and sentence" in text and "Stroke" in text  # named, never counted
    assert len(outputs) > 1 and "Patients" in text


# -- writing -----------------------------------------------------------------------------------------

def test_export_is_atomic_and_refuses_bad_targets(tmp_path, monkeypatch):
    nb = _notebook(tmp_path, [new_markdown_cell("# T\n\n## A\n\nfirst")])
    out = export_html(nb, tmp_path / "r.html")
    before = out.read_bytes()
    with pytest.raises(ReportError, match=r"\.html file"):
        export_html(nb, tmp_path / "r.pdf")
    link = tmp_path / "link.html"
    link.symlink_to(tmp_path / "elsewhere.html")
    with pytest.raises(ReportError, match="symbolic link"):
        export_html(nb, link)
    assert not (tmp_path / "elsewhere.html").exists()

    def broken(*a, **k):
        raise ReportError("typesetting failed")

    monkeypatch.setattr("footdrop_outcomes.report.html_export.render_html", broken)
    with pytest.raises(ReportError):
        export_html(nb, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.html", "nb.ipynb", "r.html"]  # no temporary file left


def test_an_external_resource_is_refused(tmp_path):
    cells = [new_code_cell("x", outputs=[new_output("display_data", data={
        "text/html": '<img src="https://example.org/pixel.gif" alt="t"><p style="background:url(http://x.test/b.png)">x</p>',
        "text/plain": "x"})])]
    with pytest.raises(ReportError, match="load content from outside the file") as err:
        render_html(_notebook(tmp_path, cells))
    assert "example.org" not in str(err.value)  # names the element, never the value
    assert check_self_contained('<link rel="stylesheet" href="s.css"><script>1</script><a href="http://x.test">x</a>') == [
        "<link> #1: element not allowed in a self-contained report", "<link> #1: href is not a data: URI or #fragment",
        "<script> #1: element not allowed in a self-contained report", "<a> #1: href is not a data: URI or #fragment"]


def test_exporter_is_registered():
    """``jupyter nbconvert --to footdrop_html`` and JupyterLab's export menu find it (pyproject entry point)."""
    from nbconvert.exporters import get_export_names, get_exporter

    assert HTML_EXPORTER_NAME in get_export_names()
    assert get_exporter(HTML_EXPORTER_NAME) is FootdropHTMLExporter


def test_exporter_class_and_name():
    e = FootdropHTMLExporter()
    assert e.file_extension == ".html" and e.output_mimetype == "text/html" and e.exclude_input
    assert HTML_EXPORTER_NAME.replace("_", "").isalnum()
    assert os.path.basename(e.template_name) == HTML_EXPORTER_NAME


@pytest.mark.xdist_group("report_cli_formats")
def test_report_command_writes_html_or_docx_beside_the_pdf(tmp_path):
    """`footdrop-outcomes report --format html|docx`: the chosen file, the PDF and the executed notebook; a wrong
    suffix is refused before anything runs (exit 2)."""
    from docx import Document
    from typer.testing import CliRunner

    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.cli import app

    cohort = tmp_path / "c"
    simulate_cohort(300, seed=3, version=2).save(cohort)
    runner = CliRunner()
    bad = runner.invoke(app, ["report", "--notebook", "cohort_overview", "--cohort", str(cohort), "--format", "html",
                              "--out", str(tmp_path / "x.pdf")])
    assert bad.exit_code == 2 and not (tmp_path / "x.pdf").exists()
    (tmp_path / "figs").mkdir()
    for fmt in ("html", "docx"):
        out = tmp_path / f"r-{fmt}.{fmt}"
        extra = ["--figures", str(tmp_path / "figs")] if fmt == "html" else []
        res = runner.invoke(app, ["report", "--notebook", "cohort_overview", "--cohort", str(cohort), "--format", fmt,
                                  "--out", str(out), *extra])
        assert res.exit_code == 0, res.output
        assert out.is_file() and out.with_suffix(".pdf").is_file() and out.with_suffix(".ipynb").is_file()
    html = (tmp_path / "r-html.html").read_text()
    check_self_contained(html)
    assert "Table 1" in html
    doc = Document(str(tmp_path / "r-docx.docx"))
    assert len(doc.tables) >= 2 and any("Table 1" in p.text for p in doc.paragraphs)
    # --figures: every figure of the report at double width (and single where it fits), SVG + 300-dpi PNG
    from PIL import Image

    n_fig = html.count("<img")
    doubles = sorted((tmp_path / "figs").glob("figure-*-double.png"))
    assert n_fig >= 1 and len(doubles) == n_fig and len(list((tmp_path / "figs").glob("*-double.svg"))) == n_fig
    assert not list((tmp_path / "figs").glob(".footdrop-figures-*"))  # the staging folder is gone
    with Image.open(doubles[0]) as im:
        assert round(im.info["dpi"][0]) == 300 and abs(im.size[0] - round(174 / 25.4 * 300)) <= 2
