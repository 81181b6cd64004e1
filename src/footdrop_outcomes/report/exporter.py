"""The ``footdrop_pdf`` nbconvert exporter: executed notebook → print HTML → WeasyPrint PDF.

Registered through the ``nbconvert.exporters`` entry point, so ``jupyter nbconvert --to footdrop_pdf
NOTEBOOK.ipynb`` works and JupyterLab lists it under File ▸ Save and Export Notebook As. The
template (``templates/footdrop_pdf``, shipped as package data) extends nbconvert's ``lab`` cell
markup but replaces all JupyterLab CSS and scripts with one print stylesheet: A4, a running header
with the report title, "Page n of N", bookmarks from the headings, a table of contents, tables that
flow across pages with repeated header rows, SVG figures kept whole.

Code is hidden (``exclude_input``), stderr streams are dropped, tracebacks shrink to the error name
and message, and cells tagged ``remove_cell`` / ``remove_input`` / ``remove_output`` lose what the
tag says. A cell tagged ``landscape`` goes on a landscape page; ``new-page`` starts a new page.

WeasyPrint is imported inside :func:`html_to_pdf`, never at module import: an exporter module that
fails to import breaks every nbconvert format and empties JupyterLab's export menu.
"""

from __future__ import annotations

import html as _html
import os
import re
from datetime import datetime, timezone
from importlib import resources as _resources
from pathlib import Path
from typing import Any

from nbconvert.exporters.html import HTMLExporter
from traitlets import default
from traitlets.config import Config

from footdrop_outcomes._version import __version__
from footdrop_outcomes.report._errors import ReportError

__all__ = ["FootdropPDFExporter", "html_to_pdf", "local_url_fetcher", "EXPORTER_NAME", "TEMPLATE_DIR"]

#: Name of the exporter: ``jupyter nbconvert --to footdrop_pdf``. Letters, digits, underscores only
#: (JupyterLab builds a download URL from it).
EXPORTER_NAME = "footdrop_pdf"
TEMPLATE_DIR = Path(str(_resources.files("footdrop_outcomes.report") / "templates"))
ALLOWED_URL_SCHEMES = ("data", "file")
_TOC_MARKER = '<nav class="fd-toc"></nav>'
_HEADING = re.compile(r'<h([23])\b[^>]*\bid="([^"]+)"[^>]*>(.*?)</h\1>', re.S)
_TAG = re.compile(r"<[^>]+>")


def _source_date() -> str | None:
    """``SOURCE_DATE_EPOCH`` as an ISO date-time (UTC), or None when unset (no dates are written)."""
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if not raw:
        return None
    try:
        stamp = int(raw)
    except ValueError:
        raise ReportError(f"SOURCE_DATE_EPOCH must be an integer number of seconds, got {raw!r}") from None
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_for_release(nb: Any) -> bool:
    """True when a cell output carries the "NOT FOR RELEASE" marker of ``report.notebook.stamp``."""
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            if 'class="fd-not-for-release"' in str((out.get("data") or {}).get("text/html", "")):
                return True
    return False


def _heading_text(inner: str) -> str:
    inner = re.sub(r'<a class="anchor-link".*?</a>', "", inner, flags=re.S)
    return _html.unescape(_TAG.sub("", inner)).strip()


def add_table_of_contents(html: str) -> str:
    """Fill the table of contents from the ``h2`` / ``h3`` headings that have an ``id``.

    The contents go where the title page left ``<nav class="fd-toc"></nav>``; without that marker
    they go at the start of ``<main>`` (when there are at least two sections). Page numbers come
    from CSS ``target-counter``.
    """
    marker = html.find(_TOC_MARKER)
    body = html[marker + len(_TOC_MARKER):] if marker >= 0 else html
    entries = []
    for level, ident, inner in _HEADING.findall(body):
        text = _heading_text(inner)
        if text:
            entries.append(f'<li class="fd-toc-{level}"><a href="#{ident}">{_html.escape(text)}</a></li>')
    if marker < 0 and len(entries) < 2:
        return html
    nav = '<nav class="fd-toc"><h2 class="fd-toc-title">Contents</h2><ol>' + "".join(entries) + "</ol></nav>"
    if marker >= 0:
        return html.replace(_TOC_MARKER, nav, 1)
    return html.replace("<main>", "<main>" + nav, 1)


#: The print stylesheet's ``:has()`` rules and the same rules on classes the exporter sets
#: (:func:`resolve_has_selectors`). ``html body`` keeps each rule's specificity (every table is
#: inside them), so the cascade picks the same declarations.
_HAS_RULES = (
    ("table:not(:has(tbody tr:nth-child(25)))", "html body table:not(.fd-has-row25)"),
    ("table:has(thead th:nth-child(9))", "html body table.fd-has-col9"),
    ("table:has(thead th:nth-child(12))", "html body table.fd-has-col12"),
)


def _element_index(parent: Any, child: Any) -> int:
    """1-based position of ``child`` among the element children of ``parent`` (CSS nth-child)."""
    k = 0
    for c in parent:
        if isinstance(c.tag, str):
            k += 1
            if c is child:
                return k
    return 0


def _table_classes(table: Any) -> list[str]:
    """The classes standing for the ``:has()`` tests of :data:`_HAS_RULES` on one parsed table."""
    out = []
    parents = {c: p for p in table.iter() for c in p}

    def under(el: Any, tag: str) -> bool:  # has an ancestor ``tag`` inside this table
        while el is not table and el in parents:
            el = parents[el]
            if el is not table and el.tag == tag:
                return True
        return False

    def nth(tag: str, k: int, ancestor: str) -> bool:
        return any(el is not table and el in parents and _element_index(parents[el], el) == k and under(el, ancestor)
                   for el in table.iter(tag))

    if nth("tr", 25, "tbody"):
        out.append("fd-has-row25")
    if nth("th", 9, "thead"):
        out.append("fd-has-col9")
    if nth("th", 12, "thead"):
        out.append("fd-has-col12")
    return out


def resolve_has_selectors(root: Any) -> bool:
    """Answer the print stylesheet's ``:has()`` selectors in advance, on a parsed page (in place).

    WeasyPrint's selector engine evaluates ``table:has(thead th:nth-child(9)) td`` by walking the
    whole table for every cell (a quarter of the outcome report's styling and layout time). On the
    tree WeasyPrint parsed (``weasyprint.HTML(...).etree_element``, before it renders), each table
    gets a class per ``:has()`` test it passes and the rules of :data:`_HAS_RULES` in the page's
    ``<style>`` elements are rewritten to those classes with the same specificity; the PDF is the
    same, byte for byte. Returns False (and changes nothing) when the page does not carry all of
    those rules.
    """
    styles = [el for el in root.iter("style") if el.text]
    if not all(any(old in el.text for el in styles) for old, _ in _HAS_RULES):
        return False
    for table in list(root.iter("table")):
        classes = _table_classes(table)
        if classes:
            table.set("class", " ".join([*(table.get("class") or "").split(), *classes]))
    for el in styles:
        for old, new in _HAS_RULES:
            el.text = el.text.replace(old, new)
    return True


def local_url_fetcher(url: str) -> None:
    """Refuse every URL scheme but ``data:`` and ``file:`` (raises :class:`ReportError`).

    A report is built offline and must not depend on (or leak requests to) remote servers. The
    WeasyPrint fetcher used by :func:`html_to_pdf` calls this before fetching anything.

    >>> local_url_fetcher("https://example.org/logo.png")
    Traceback (most recent call last):
    ...
    footdrop_outcomes.report._errors.ReportError: refusing to fetch https://example.org/logo.png: reports may only embed data: and file: resources
    """
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ALLOWED_URL_SCHEMES:
        raise ReportError(f"refusing to fetch {url}: reports may only embed data: and file: resources")


def _fetcher() -> Any:
    """A WeasyPrint ``URLFetcher`` that only opens ``data:`` and ``file:`` URLs."""
    from weasyprint.urls import URLFetcher

    class LocalURLFetcher(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            local_url_fetcher(url)
            return super().fetch(url, headers)

    return LocalURLFetcher(allowed_protocols=ALLOWED_URL_SCHEMES, timeout=5)


class _SubsetNotice:
    """Logging filter: drop WeasyPrint's notice that fontTools subsets fonts (HarfBuzz-Subset not installed)."""

    def filter(self, record: Any) -> bool:
        return not str(record.msg).startswith("Using fontTools instead of HarfBuzz-Subset")


def html_to_pdf(html: str, *, base_url: str | os.PathLike[str] | None = None) -> bytes:
    """Typeset print HTML to PDF bytes with WeasyPrint (remote URLs refused, fixed metadata)."""
    import logging
    import warnings

    logging.getLogger("fontTools").setLevel(logging.ERROR)
    wlog = logging.getLogger("weasyprint")
    if not any(isinstance(f, _SubsetNotice) for f in wlog.filters):
        wlog.addFilter(_SubsetNotice())
    with warnings.catch_warnings():
        # Without the system HarfBuzz-Subset library WeasyPrint (at import) says it subsets fonts
        # with fontTools; the PDF is the same (see docs/reports.md).
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset will be required", category=DeprecationWarning)
        import weasyprint

        doc = weasyprint.HTML(string=html, base_url=str(base_url) if base_url else None, url_fetcher=_fetcher())
        resolve_has_selectors(doc.etree_element)
        # Embedded font subsets carry a timestamp (fontTools reads SOURCE_DATE_EPOCH): fix it so the
        # same HTML gives the same bytes. The document dates come from <meta> only.
        unset = "SOURCE_DATE_EPOCH" not in os.environ
        if unset:
            os.environ["SOURCE_DATE_EPOCH"] = "0"
        try:
            return doc.write_pdf(pdf_identifier=b"footdrop-outcomes", uncompressed_pdf=False)
        finally:
            if unset:
                os.environ.pop("SOURCE_DATE_EPOCH", None)


class FootdropPDFExporter(HTMLExporter):
    """Export a notebook to a clean PDF report (no code, A4, title page, contents, page numbers).

    Use through ``jupyter nbconvert --to footdrop_pdf NB.ipynb``, JupyterLab's export menu, or
    :func:`footdrop_outcomes.report.render_report` (which runs the notebook first).
    """

    export_from_notebook = "Footdrop PDF report"
    output_mimetype = "application/pdf"

    @default("file_extension")
    def _file_extension_default(self) -> str:
        return ".pdf"

    @default("template_extension")
    def _template_extension_default(self) -> str:
        return ".html.j2"

    @default("template_name")
    def _template_name_default(self) -> str:
        return EXPORTER_NAME

    @default("extra_template_basedirs")
    def _default_extra_template_basedirs(self) -> list[str]:
        return [str(TEMPLATE_DIR), *super()._default_extra_template_basedirs()]

    @default("exclude_input")
    def _exclude_input_default(self) -> bool:
        return True

    @default("exclude_input_prompt")
    def _exclude_input_prompt_default(self) -> bool:
        return True

    @default("exclude_output_prompt")
    def _exclude_output_prompt_default(self) -> bool:
        return True

    @property
    def default_config(self) -> Config:
        c = Config(
            {
                "TagRemovePreprocessor": {
                    "enabled": True,
                    "remove_cell_tags": {"remove_cell"},
                    "remove_input_tags": {"remove_input"},
                    "remove_all_outputs_tags": {"remove_output"},
                },
                "CSSHTMLHeaderPreprocessor": {"enabled": False},
            }
        )
        base = super().default_config.copy()
        base.merge(c)
        return base

    @staticmethod
    def report_title(nb: Any, resources: dict[str, Any]) -> str:
        """The report's title: the ``title`` parameter, the notebook's title metadata, its first
        level-1 heading, else the file name."""
        params = nb.metadata.get("papermill", {}).get("parameters", {}) or {}
        if isinstance(params.get("title"), str) and params["title"].strip():
            return params["title"].strip()
        if isinstance(nb.metadata.get("title"), str) and nb.metadata["title"].strip():
            return nb.metadata["title"].strip()
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                m = re.search(r"^#\s+(.+)$", cell.source, re.M)
                if m:
                    return m.group(1).strip()
        return str(resources.get("metadata", {}).get("name") or "Report")

    def prepare(self) -> FootdropPDFExporter:
        """Load and compile the HTML templates and the filters they use now, by writing the HTML of a
        small notebook of the kinds of cells and outputs a report has (Markdown, HTML, SVG, tags);
        returns the exporter. The first HTML an exporter writes costs that (about 0.4 s of CPU), the
        next ones do not: :func:`footdrop_outcomes.report.render.render_report` prepares one while
        the kernel runs and typesets with it."""
        from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

        svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><path d="M 0 0 L 5 5"/></svg>'
        outputs = [new_output("display_data", data={"text/markdown": "## b\n\n- *c*", "text/plain": "b"}),
                   new_output("display_data", data={"text/html": "<table><tr><td>d</td></tr></table>", "text/plain": "d"}),
                   new_output("display_data", data={"image/svg+xml": svg, "text/plain": "e"}),
                   new_output("stream", name="stderr", text="f")]
        nb = new_notebook(cells=[new_markdown_cell("# a\n\ntext *g*"), new_code_cell("x", outputs=outputs),
                                 new_code_cell("y", metadata={"tags": ["new-page", "landscape"]})],
                          metadata={"title": "prepare"})
        super().from_notebook_node(nb, resources={"metadata": {"name": "prepare"}, "report_title": "prepare", "report_css": "",
                                                  "report_generator": "prepare"})
        return self

    def from_notebook_node(self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any) -> tuple[bytes, dict[str, Any]]:
        """Render the notebook to PDF bytes; ``resources`` gains ``report_title``."""
        resources = dict(resources or {})
        resources.setdefault("metadata", {})
        resources["report_title"] = self.report_title(nb, resources)
        css_title = resources["report_title"].replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
        resources["report_css"] = ((TEMPLATE_DIR / EXPORTER_NAME / "print.css").read_text(encoding="utf-8")
                                   + f'\n@page {{ @top-left {{ content: "{css_title}"; }} }}\n@page :first {{ @top-left {{ content: none; }} }}\n')
        if _not_for_release(nb):  # an internal-use report (release.ReleasePolicy(internal_use=True)): every page says so
            resources["report_css"] += ('\n@page { @top-center { content: "NOT FOR RELEASE"; color: #b00000; font-weight: bold; '
                                        'font-size: 10pt; letter-spacing: 0.15em; } }\n')
        resources["report_generator"] = f"footdrop-outcomes {__version__}"
        date = _source_date()
        if date:
            resources["report_date"] = date
        html, resources = super().from_notebook_node(nb, resources=resources, **kw)
        html = add_table_of_contents(html)
        base = resources.get("metadata", {}).get("path") or os.getcwd()
        pdf = html_to_pdf(html, base_url=Path(base).resolve().as_uri() + "/")
        resources["output_extension"] = ".pdf"
        return pdf, resources
