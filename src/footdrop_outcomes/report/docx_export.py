"""Word (.docx) export of an executed report notebook: headings, text, real tables, figures, in order.

:func:`export_docx` walks the executed notebook the way the PDF exporter does (cells tagged
``remove_cell`` left out, code never shown, stderr dropped, an error as its name and message) and
writes:

* markdown cells and Markdown outputs as headings (``#`` the title, ``##`` Heading 1, ``###``
  Heading 2, ...), paragraphs and bulleted lists;
* every report table as a **real Word table** from the table model its display carries
  (:data:`~footdrop_outcomes.report.tables.TABLE_MIMETYPE`, made by
  :func:`~footdrop_outcomes.report.tables.styled`): caption above, header rows repeated on every
  page (multi-level column headers merged), the cells as the exact strings the PDF and HTML show
  (``≤10``, ``*`` and ``-`` kept), footnotes below. HTML tables without a model (the title page's
  facts and parameters) become plain Word tables;
* every figure as a PNG: an SVG figure (what the reports display) rasterised with CairoSVG at
  300 dpi, a PNG output as it is; as wide as its natural size allows within the page margins;
* a cell tagged ``landscape`` on a landscape page, as in the PDF.

Only what the executed notebook shows is exported: every table, sentence and figure in it passed
release control when the notebook displayed it (the report's page functions accept nothing else),
so the Word file shows the same released strings as the PDF.

The file is byte-reproducible: fixed core properties (dates from ``SOURCE_DATE_EPOCH``, else
2000-01-01), no random ids, and ZIP entries with a fixed time stamp. It is written atomically
(temporary file beside the target, then renamed).
"""

from __future__ import annotations

import base64
import io
import os
import re
import zipfile
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from footdrop_outcomes._files import refuse_symlink, write_atomic
from footdrop_outcomes._version import __version__
from footdrop_outcomes.report._errors import ReportError
from footdrop_outcomes.report.tables import TABLE_MIMETYPE, TableDisplay

__all__ = ["export_docx", "tables_to_docx", "FIGURE_DPI"]

#: Resolution of every figure in the Word file.
FIGURE_DPI = 300
_FIXED_DATE = datetime(2000, 1, 1, tzinfo=timezone.utc)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_TABLE_PT = 8
_NOTE_PT = 7.5


# ------------------------------------------------------------------------------------------------
# inline Markdown -> runs

_INLINE = re.compile(r"\*\*(?P<b>.+?)\*\*|__(?P<b2>.+?)__|(?<![\w*])\*(?P<i>[^*\s][^*]*?)\*(?![\w*])|(?<!\w)_(?P<i2>[^_\s][^_]*?)_(?!\w)"
                     r"|`(?P<c>[^`]+)`|\[(?P<lt>[^\]]+)\]\((?P<lu>[^)]+)\)")


def _runs(paragraph: Any, text: str, *, size: float | None = None) -> None:
    """Add ``text`` to ``paragraph`` as runs, with **bold**, *italic* and `code` spans; links keep their text."""
    from docx.shared import Pt

    def add(s: str, *, bold: bool = False, italic: bool = False, mono: bool = False) -> None:
        if not s:
            return
        run = paragraph.add_run(s)
        run.bold = bold or None
        run.italic = italic or None
        if mono:
            run.font.name = "DejaVu Sans Mono"
        if size is not None:
            run.font.size = Pt(size)

    pos = 0
    for m in _INLINE.finditer(text):
        add(_unescape(text[pos:m.start()]))
        if m.group("b") or m.group("b2"):
            add(_unescape(m.group("b") or m.group("b2")), bold=True)
        elif m.group("i") or m.group("i2"):
            add(_unescape(m.group("i") or m.group("i2")), italic=True)
        elif m.group("c"):
            add(m.group("c"), mono=True)
        else:
            add(_unescape(m.group("lt")))
        pos = m.end()
    add(_unescape(text[pos:]))


def _unescape(s: str) -> str:
    import html

    return html.unescape(re.sub(r"\\([\\`*_{}\[\]()#+\-.!|>])", r"\1", s))


def _markdown(doc: Any, source: str) -> None:
    """Headings, bulleted lists and paragraphs of a Markdown block (blank lines separate paragraphs)."""
    para: list[str] = []

    def flush() -> None:
        if para:
            _runs(doc.add_paragraph(), " ".join(x.strip() for x in para))
            para.clear()

    for line in source.splitlines():
        heading = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        item = re.match(r"^\s*[-*+]\s+(.*)$", line)
        numbered = re.match(r"^\s*\d+[.)]\s+(.*)$", line)
        if heading:
            flush()
            level = len(heading.group(1))
            text = _unescape(re.sub(r"[*_`]", "", heading.group(2)))
            doc.add_heading(text, level=0 if level == 1 else min(level - 1, 9))
        elif item or numbered:
            flush()
            _runs(doc.add_paragraph(style="List Bullet" if item else "List Number"), (item or numbered).group(1))  # type: ignore[union-attr]
        elif not line.strip():
            flush()
        else:
            para.append(line)
    flush()


# ------------------------------------------------------------------------------------------------
# HTML outputs without a table model (title page) -> blocks


class _Blocks(HTMLParser):
    """Headings, paragraphs and tables (rows of header/body cells) of an HTML fragment, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, Any]] = []
        self._text: list[str] | None = None
        self._tag = ""
        self._rows: list[list[tuple[bool, str]]] | None = None
        self._cell: list[str] | None = None
        self._th = False
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1
        elif tag == "table":
            self._rows = []
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell, self._th = [], tag == "th"
        elif tag in ("h1", "h2", "h3", "h4", "p", "div", "li") and self._rows is None:
            self._close()
            self._text, self._tag = [], tag
        elif tag == "br" and self._text is not None:
            self._text.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("td", "th") and self._cell is not None and self._rows:
            self._rows[-1].append((self._th, " ".join("".join(self._cell).split())))
            self._cell = None
        elif tag == "table" and self._rows is not None:
            rows = [r for r in self._rows if r]
            if rows:
                self.blocks.append(("table", rows))
            self._rows = None
        elif tag == self._tag:
            self._close()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._cell is not None:
            self._cell.append(data)
        elif self._text is not None:
            self._text.append(data)
        elif data.strip() and self._rows is None:
            self.blocks.append(("p", " ".join(data.split())))

    def _close(self) -> None:
        if self._text is not None:
            text = " ".join("".join(self._text).split())
            if text:
                self.blocks.append((self._tag, text))
        self._text, self._tag = None, ""

    def close(self) -> None:
        super().close()
        self._close()


def _html_blocks(doc: Any, source: str) -> None:
    parser = _Blocks()
    parser.feed(source)
    parser.close()
    for kind, value in parser.blocks:
        if kind == "h1":
            doc.add_heading(value, level=0)
        elif kind in ("h2", "h3", "h4"):
            doc.add_heading(value, level=int(kind[1]) - 1)
        elif kind == "table":
            width = max(len(r) for r in value)
            header = [[c for _, c in value[0]] + [""] * (width - len(value[0]))] if all(th for th, _ in value[0]) and len(value) > 1 else []
            body = [[c for _, c in r] + [""] * (width - len(r)) for r in value[len(header):]]
            _word_table(doc, {"caption": "", "header": header, "body": body, "footnotes": [],
                              "align": ["left"] * width, "index": True})
        elif value:
            doc.add_paragraph(value)


# ------------------------------------------------------------------------------------------------
# tables


def _border(element: Any, edges: dict[str, int]) -> None:
    """Single borders of the given eighths of a point on a table (``w:tblBorders``) or cell (``w:tcBorders``)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tag = "w:tblBorders" if element.tag == qn("w:tblPr") else "w:tcBorders"
    box = element.find(qn(tag))
    if box is None:
        box = OxmlElement(tag)
        element.append(box)
    for edge, size in edges.items():
        e = OxmlElement(f"w:{edge}")
        e.set(qn("w:val"), "single")
        e.set(qn("w:sz"), str(size))
        e.set(qn("w:space"), "0")
        e.set(qn("w:color"), "000000")
        box.append(e)


def _widths(doc: Any, table: Any, header: list[list[str]], body: list[list[str]]) -> None:
    """Column widths over the text width, in proportion to each column's longest cell (labels
    capped at 30 characters, so they wrap rather than squeeze the numbers) and header word."""
    section = doc.sections[-1]
    usable = int(section.page_width - section.left_margin - section.right_margin)
    ncol = len(table.columns)
    weights = []
    for j in range(ncol):
        cells = [r[j] for r in body if j < len(r)]
        words = [w for r in header if j < len(r) for w in r[j].split()]
        weights.append(max(4, min(30, max([len(c) for c in cells] + [int(1.4 * len(w)) + 1 for w in words] + [0]))))
    table.autofit = False
    total = sum(weights)
    for j, col in enumerate(table.columns):
        width = int(usable * weights[j] / total)
        col.width = width
        for cell in col.cells:
            cell.width = width


def _word_table(doc: Any, model: dict[str, Any]) -> Any:
    """A Word table from a table model: caption above, header rows repeated (``w:tblHeader``) and
    merged across equal labels of an upper level, top and bottom rules (three-line style), footnotes below."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    header: list[list[str]] = [list(r) for r in model["header"]]
    body: list[list[str]] = [list(r) for r in model["body"]]
    ncol = max([len(r) for r in header + body] or [1])
    align = list(model.get("align") or ["right"] * ncol) + ["right"] * ncol
    if model.get("caption"):
        cap = doc.add_paragraph(style="Caption")
        cap.paragraph_format.keep_with_next = True
        m = re.match(r"^(Table\s+\S+?\.)\s*(.*)$", model["caption"], re.S)
        if m:
            cap.add_run(m.group(1) + " ").bold = True
            cap.add_run(m.group(2))
        else:
            cap.add_run(model["caption"])
    table = doc.add_table(rows=len(header) + len(body), cols=ncol)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _border(table._tbl.tblPr, {"top": 8, "bottom": 8})
    margins = OxmlElement("w:tblCellMar")  # narrow cell padding (about 2 pt), as the PDF's
    for side in ("left", "right"):
        m = OxmlElement(f"w:{side}")
        m.set(qn("w:w"), "43")
        m.set(qn("w:type"), "dxa")
        margins.append(m)
    table._tbl.tblPr.append(margins)
    # as the print stylesheet: wide tables in smaller type; a table of one-line cells (nowrap) in 7 pt
    size = min(_TABLE_PT if ncol < 9 else (7 if ncol < 12 else 6), 7 if model.get("nowrap") else _TABLE_PT)
    for i, row in enumerate(header + body):
        is_head = i < len(header)
        tr = table.rows[i]._tr
        if is_head:
            pr = tr.get_or_add_trPr()
            flag = OxmlElement("w:tblHeader")
            flag.set(qn("w:val"), "true")
            pr.append(flag)
        for j in range(ncol):
            value = row[j] if j < len(row) else ""
            cell = table.cell(i, j)
            p = cell.paragraphs[0]
            p.paragraph_format.space_after = Pt(0)
            p.paragraph_format.line_spacing = Pt(size * 1.25)  # exact: an empty cell's paragraph mark would take the body size
            p.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
            indent = len(value) - len(value.lstrip("\u2003"))  # a level row's em spaces: a paragraph indent in Word
            if indent:
                p.paragraph_format.left_indent = Pt(size * indent)
                value = value[indent:]
            run = p.add_run(value)
            run.font.size = Pt(size)
            if is_head:
                run.bold = True
            left = align[j] == "left" or (j == 0 and model.get("index"))
            p.alignment = WD_ALIGN_PARAGRAPH.LEFT if left else (WD_ALIGN_PARAGRAPH.CENTER if is_head else WD_ALIGN_PARAGRAPH.RIGHT)
            if i == len(header) - 1:
                _border(cell._tc.get_or_add_tcPr(), {"bottom": 4})
    _widths(doc, table, header, body)
    for i, row in enumerate(header[:-1]):  # an upper header level: merge runs of the same label
        j = 0
        while j < ncol:
            k = j
            while k + 1 < ncol and k + 1 < len(row) and row[k + 1] == row[j] and row[j]:
                k += 1
            if k > j:
                merged = table.cell(i, j).merge(table.cell(i, k))
                for extra in merged.paragraphs[1:]:
                    extra._p.getparent().remove(extra._p)
            j = k + 1
    for note in model.get("footnotes") or []:
        p = doc.add_paragraph()
        p.paragraph_format.space_after = Pt(0)
        _runs(p, str(note), size=_NOTE_PT)
    doc.add_paragraph()
    return table


# ------------------------------------------------------------------------------------------------
# figures


def _png(data: dict[str, Any]) -> bytes | None:
    """The figure of an output as PNG at :data:`FIGURE_DPI` (a PNG output as it is; an SVG rasterised)."""
    if "image/png" in data:
        raw = data["image/png"]
        return base64.b64decode(raw if isinstance(raw, str) else "".join(raw))
    if "image/svg+xml" in data:
        svg = data["image/svg+xml"]
        svg = svg if isinstance(svg, str) else "".join(svg)
        try:
            import cairosvg
        except (ImportError, OSError) as err:  # pragma: no cover - a dependency of the package
            raise ReportError(f"the Word export needs CairoSVG (with the cairo library) to rasterise SVG figures: {err}") from None
        return bytes(cairosvg.svg2png(bytestring=svg.encode("utf-8"), dpi=FIGURE_DPI))
    return None


def _picture(doc: Any, png: bytes, *, rasterised: bool) -> None:
    """Add a figure, as wide as its natural size (pixels / dpi) allows within the margins; an SVG
    rasterised here is tagged :data:`FIGURE_DPI`, a PNG output keeps its own resolution."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Emu, Inches
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        width_px = im.size[0]
        dpi = float((im.info.get("dpi") or (0, 0))[0])
        if rasterised and abs(dpi - FIGURE_DPI) > 1:  # record the resolution in the file (pHYs), for Word and for readers
            buf = io.BytesIO()
            im.save(buf, format="PNG", dpi=(FIGURE_DPI, FIGURE_DPI))
            png = buf.getvalue()
            dpi = FIGURE_DPI
        elif dpi <= 1:
            dpi = 96.0  # a PNG output that does not say: the screen resolution notebooks assume
    section = doc.sections[-1]
    usable = section.page_width - section.left_margin - section.right_margin
    natural = Inches(width_px / dpi)
    doc.add_picture(io.BytesIO(png), width=Emu(min(int(natural), int(usable))))
    doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER


# ------------------------------------------------------------------------------------------------
# document


def _orientation(doc: Any, landscape: bool) -> None:
    """Start a new section in the orientation asked for (nothing when the current one has it)."""
    from docx.enum.section import WD_ORIENT, WD_SECTION

    current = doc.sections[-1]
    if (current.orientation == WD_ORIENT.LANDSCAPE) == landscape:
        return
    section = doc.add_section(WD_SECTION.NEW_PAGE)
    w, h = section.page_width, section.page_height
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    if (w < h) == landscape:
        section.page_width, section.page_height = h, w


def _new_document(title: str) -> Any:
    import docx
    from docx.shared import Mm, Pt

    doc = docx.Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)  # A4, as the PDF
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(20))
    normal = doc.styles["Normal"]
    normal.font.name = "DejaVu Sans"
    normal.font.size = Pt(10)
    _core(doc, title)
    return doc


def _source_date() -> datetime:
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw:
        try:
            return datetime.fromtimestamp(int(raw), tz=timezone.utc)
        except ValueError:
            raise ReportError(f"SOURCE_DATE_EPOCH must be an integer number of seconds, got {raw!r}") from None
    return _FIXED_DATE


def _core(doc: Any, title: str) -> None:
    """Fixed core properties: the same document gives the same bytes."""
    cp = doc.core_properties
    date = _source_date().replace(tzinfo=None)
    cp.created = cp.modified = date
    cp.last_printed = date
    cp.revision = 1
    cp.author = cp.last_modified_by = f"footdrop-outcomes {__version__}"
    cp.title = title
    cp.comments = ""


def _bytes(doc: Any) -> bytes:
    """The document's .docx bytes with every ZIP entry stamped with one fixed time (reproducible)."""
    raw = io.BytesIO()
    doc.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def _write(data: bytes, out: Path) -> Path:
    refuse_symlink(out, error=ReportError)
    if not out.parent.is_dir():
        raise ReportError(f"cannot write {out}: its folder {out.parent} does not exist")
    return write_atomic(out, data, error=ReportError)


def _title(nb: Any, fallback: str) -> str:
    from footdrop_outcomes.report.exporter import FootdropPDFExporter

    return FootdropPDFExporter.report_title(nb, {"metadata": {"name": fallback}})


def notebook_to_docx_bytes(nb: Any, *, name: str = "Report") -> bytes:
    """The .docx bytes of an executed notebook (NotebookNode); see :func:`export_docx`."""
    doc = _new_document(_title(nb, name))
    body = doc.element.body
    for par in list(doc.paragraphs):  # the template's empty first paragraph
        body.remove(par._p)
    for cell in nb.get("cells", []):
        tags = set((cell.get("metadata") or {}).get("tags") or [])
        if "remove_cell" in tags:
            continue
        _orientation(doc, "landscape" in tags)
        if cell.get("cell_type") == "markdown":
            _markdown(doc, cell.get("source") or "")
            continue
        if cell.get("cell_type") != "code" or "remove_output" in tags:
            continue
        for out in cell.get("outputs") or []:
            kind = out.get("output_type")
            if kind == "error":
                p = doc.add_paragraph()
                p.add_run("Error in this cell: ").bold = True
                p.add_run(f"{out.get('ename', '')}: {out.get('evalue', '')}")
                continue
            if kind == "stream":
                if out.get("name") == "stdout" and (out.get("text") or "").strip():
                    doc.add_paragraph(str(out.get("text")).rstrip())
                continue
            data = out.get("data") or {}
            if TABLE_MIMETYPE in data:
                _word_table(doc, dict(data[TABLE_MIMETYPE]))
            elif "image/png" in data or "image/svg+xml" in data:
                png = _png(data)
                if png:
                    _picture(doc, png, rasterised="image/png" not in data)
            elif "text/html" in data:
                source = data["text/html"]
                _html_blocks(doc, source if isinstance(source, str) else "".join(source))
            elif "text/markdown" in data:
                source = data["text/markdown"]
                _markdown(doc, source if isinstance(source, str) else "".join(source))
            elif "text/plain" in data and kind == "display_data":
                source = data["text/plain"]
                doc.add_paragraph(source if isinstance(source, str) else "".join(source))
    return _bytes(doc)


def export_docx(executed_notebook: str | os.PathLike[str] | Any, out: str | os.PathLike[str]) -> Path:
    """Write an executed report notebook as a Word document: headings, text, every table as a Word
    table and every figure as a 300-dpi PNG, in the notebook's order.

    Parameters
    ----------
    executed_notebook : path or nbformat.NotebookNode
        A notebook run by :func:`~footdrop_outcomes.report.render_report` (its tables displayed
        through :func:`~footdrop_outcomes.report.tables.styled`).
    out : path
        The ``.docx`` file; written atomically (temporary file, rename). It must not be a symbolic
        link and its folder must exist.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ReportError
        The notebook cannot be read, or ``out`` cannot be written.

    Examples
    --------
    >>> import nbformat, tempfile, pathlib, docx
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Results\\n\\nNo tables yet.")])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = export_docx(nb, pathlib.Path(d) / "report.docx")
    ...     [p.text for p in docx.Document(path).paragraphs]
    ['Results', 'No tables yet.']
    """
    import nbformat

    out = Path(out)
    if isinstance(executed_notebook, (str, os.PathLike)):
        path = Path(executed_notebook)
        try:
            nb = nbformat.read(path, as_version=4)
        except (OSError, ValueError) as err:
            raise ReportError(f"cannot read the notebook {path}: {type(err).__name__}") from None
        name = path.stem
    else:
        nb, name = executed_notebook, out.stem
    return _write(notebook_to_docx_bytes(nb, name=name), out)


def tables_to_docx(tables: list[TableDisplay], out: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Write displayed report tables (from :func:`~footdrop_outcomes.report.tables.styled`, so released)
    to a Word document, one Word table each with its caption and footnotes; atomic and reproducible.

    A result's ``.summary`` goes the same way once formatted as text and released:
    ``styled(counts.table(text_frame, support), caption)``.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib, docx
    >>> from footdrop_outcomes.report import counts, tables
    >>> t = tables.styled(counts.table(pd.DataFrame({"Group": ["a", "b"], "Median": ["4.0", "6.5"]}), [40, 3], keep=["Group"]),
    ...                   "Table 1. Medians")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     doc = docx.Document(tables_to_docx([t], pathlib.Path(d) / "t.docx"))
    ...     [c.text for c in doc.tables[0].rows[2].cells], doc.paragraphs[0].text
    (['b', '-'], 'Table 1. Medians')
    """
    for t in tables:
        if not isinstance(t, TableDisplay):
            raise ReportError(f"tables_to_docx takes displayed released tables (tables.styled), not a {type(t).__name__}")
    doc = _new_document(title or "Tables")
    body = doc.element.body
    for par in list(doc.paragraphs):
        body.remove(par._p)
    if title:
        doc.add_heading(title, level=0)
    for t in tables:
        _word_table(doc, t.model())
    return _write(_bytes(doc), Path(out))
