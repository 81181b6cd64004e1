"""The ``footdrop_html`` nbconvert exporter: an executed report notebook → one self-contained HTML file.

The HTML report carries the same cells, in the same order and with the same text, as the PDF of
:class:`~footdrop_outcomes.report.exporter.FootdropPDFExporter` (it reuses that exporter's
configuration -- no code, no prompts, no stderr, the same tag handling -- and extends its
template's content blocks), but is laid out for a screen of any width, from a 375 px phone up:

* everything is inline: one ``<style>`` sheet (``templates/footdrop_html/screen.css``), system
  fonts, figures as ``data:`` URIs; no script, no external font, stylesheet, image or frame.
  :func:`check_self_contained` refuses a page that would load anything (run on every export);
* wide tables scroll sideways inside their own box (``<div class="fd-scroll">``); the page never
  does; figures scale to the width;
* a contents list (``<nav class="fd-toc">``) links to every ``h2`` / ``h3`` heading by its ``id``,
  and a "Contents" link at the foot of the screen leads back to it;
* byte-reproducible: the same executed notebook gives the same bytes (no time stamp unless
  ``SOURCE_DATE_EPOCH`` is set, then that one; no random ids: nbconvert's JavaScript and widget
  blocks, the only ones that draw a ``uuid4``, are not rendered);
* an internal-use report (``release.ReleasePolicy(internal_use=True)``) has a "NOT FOR RELEASE"
  band fixed at the top of the screen, as the PDF has on every page.

Use :func:`export_html` (atomic write), ``jupyter nbconvert --to footdrop_html NB.ipynb``, or
JupyterLab's File ▸ Save and Export Notebook As ▸ Footdrop_html. See ``docs/reports.md``, "HTML".
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from nbconvert.exporters.html import HTMLExporter
from traitlets import default

from footdrop_outcomes._files import refuse_symlink, write_atomic
from footdrop_outcomes._version import __version__
from footdrop_outcomes.report._errors import ReportError
from footdrop_outcomes.report.exporter import (
    TEMPLATE_DIR,
    FootdropPDFExporter,
    _not_for_release,
    _source_date,
    add_table_of_contents,
)

__all__ = ["HTML_EXPORTER_NAME", "FootdropHTMLExporter", "check_self_contained", "export_html"]

#: ``jupyter nbconvert --to footdrop_html`` (letters, digits, underscores: JupyterLab builds a URL from it).
HTML_EXPORTER_NAME = "footdrop_html"
_STAMP_CLASS = "fd-stamp"
_WRAP_AFTER = 30  # table cells longer than this many characters may wrap on screen (class fd-wrap)

# What a browser would fetch: URL-bearing attributes, CSS url() and @import. Anything but a
# data: URI or a #fragment is refused.
_URL_ATTRS = {"src", "srcset", "href", "data", "poster", "background", "action", "formaction", "xlink:href", "ping",
              "longdesc", "manifest", "codebase", "cite", "icon"}
_LOADING_TAGS = {"script", "iframe", "frame", "object", "embed", "applet", "link", "base", "audio", "video", "source",
                 "track", "portal"}
_CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)
_CSS_IMPORT = re.compile(r"@import\b", re.IGNORECASE)


def _local(url: str) -> bool:
    u = url.strip()
    return u.startswith("#") or u.lower().startswith("data:")


def check_self_contained(html: str) -> list[str]:
    """What in ``html`` would make a browser load anything from outside the file (empty: nothing).

    Refused: ``<script>``, frames, objects, ``<link>``, ``<base>``, media elements; any URL
    attribute (``src``, ``href``, ``srcset``, ...) that is not a ``data:`` URI or a ``#fragment``
    (so also a plain link to a web page); ``url(...)`` in CSS (``<style>`` or ``style=``) that is
    not ``data:``; ``@import``; ``<meta http-equiv="refresh">``. Each problem names the element,
    never a value of the report.

    >>> check_self_contained('<p><a href="#s1">1</a><img src="data:image/png;base64,AA=="></p>')
    []
    >>> check_self_contained('<img src="https://example.org/x.png"><style>p{background:url(x.png)}</style>')
    ['<img> #1: src is not a data: URI or #fragment', '<style> #1: url() is not a data: URI']
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    problems: list[str] = []
    seen: dict[str, int] = {}
    for el in soup.find_all(True):
        seen[el.name] = seen.get(el.name, 0) + 1
        where = f"<{el.name}> #{seen[el.name]}"
        if el.name in _LOADING_TAGS:
            problems.append(f"{where}: element not allowed in a self-contained report")
        if el.name == "meta" and str(el.get("http-equiv", "")).lower() == "refresh":
            problems.append(f"{where}: refresh not allowed")
        for attr, value in el.attrs.items():
            values = value if isinstance(value, list) else [value]
            if attr.lower() in _URL_ATTRS:
                for v in values:
                    parts = [p.strip().split()[0] for p in str(v).split(",") if p.strip()] if attr.lower() == "srcset" else [str(v)]
                    if not all(_local(p) for p in parts):
                        problems.append(f"{where}: {attr} is not a data: URI or #fragment")
            elif attr.lower().startswith("on"):
                problems.append(f"{where}: event handler attribute {attr} not allowed")
        css = []
        if el.name == "style":
            css.append(el.get_text())
        if el.get("style"):
            css.append(str(el["style"]))
        for block in css:
            if any(not m.group(2).strip().lower().startswith("data:") for m in _CSS_URL.finditer(block)):
                problems.append(f"{where}: url() is not a data: URI")
            if _CSS_IMPORT.search(block):
                problems.append(f"{where}: @import not allowed")
    return problems


def _screen_layout(html: str, *, stamp: str | None) -> str:
    """Wrap every top-level table in its own horizontally scrolling box, add the stamp band and the
    link back to the contents; return the serialised page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for table in soup.find_all("table"):
        if table.find_parent("table") is not None or "fd-meta" in (table.get("class") or []):
            continue  # a nested table scrolls with its parent; the title block's key-value tables wrap
        box = soup.new_tag("div", attrs={"class": "fd-scroll", "role": "region", "tabindex": "0"})
        caption = table.find("caption")
        label = " ".join(caption.get_text(" ").split()) if caption is not None else ""
        box["aria-label"] = label or "Table"
        table.wrap(box)
        for td in table.find_all("td"):  # numbers stay on one line (the box scrolls); long text wraps
            if len(td.get_text(" ", strip=True)) > _WRAP_AFTER:
                td["class"] = [*(td.get("class") or []), "fd-wrap"]
    body = soup.find("body")
    main = soup.find("main")
    toc = soup.find("nav", class_="fd-toc")
    if toc is not None:
        toc["id"] = "contents"
        if body is not None:
            link = soup.new_tag("a", attrs={"class": "fd-to-contents", "href": "#contents"})
            link.string = "Contents"
            body.append(link)
    if stamp and body is not None:
        band = soup.new_tag("div", attrs={"class": _STAMP_CLASS, "role": "note"})
        band.string = stamp
        body.insert(0, band)
        body["class"] = [*(body.get("class") or []), "fd-stamped"]
    if main is None:
        raise ReportError("the HTML report template produced no <main> element")
    return str(soup)


class FootdropHTMLExporter(FootdropPDFExporter):
    """Export an executed notebook to one self-contained, phone-readable HTML report (no code).

    Same cells, text and tables as the ``footdrop_pdf`` exporter (whose configuration it inherits:
    input, prompts and stderr hidden, ``remove_*`` tags honoured), laid out for screens by
    ``templates/footdrop_html``. Use through ``jupyter nbconvert --to footdrop_html NB.ipynb``,
    JupyterLab's export menu, or :func:`export_html`.
    """

    export_from_notebook = "Footdrop HTML report"
    output_mimetype = "text/html"

    @default("file_extension")
    def _file_extension_default(self) -> str:
        return ".html"

    @default("template_name")
    def _template_name_default(self) -> str:
        return HTML_EXPORTER_NAME

    @default("extra_template_paths")
    def _default_extra_template_paths(self) -> list[str]:
        # lets footdrop_html/index.html.j2 extend 'footdrop_pdf/index.html.j2' by name
        return [str(TEMPLATE_DIR)]

    def from_notebook_node(self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any) -> tuple[str, dict[str, Any]]:  # type: ignore[override]
        """Render the notebook to the HTML report (a ``str``); ``resources`` gains ``report_title``.

        Raises
        ------
        ReportError
            When the page would load anything from outside the file (see :func:`check_self_contained`).
        """
        resources = dict(resources or {})
        resources.setdefault("metadata", {})
        resources["report_title"] = self.report_title(nb, resources)
        resources["report_css"] = (TEMPLATE_DIR / HTML_EXPORTER_NAME / "screen.css").read_text(encoding="utf-8")
        resources["report_generator"] = f"footdrop-outcomes {__version__}"
        date = _source_date()
        if date:
            resources["report_date"] = date
        # the PDF exporter's from_notebook_node typesets; the HTML is nbconvert's HTML step alone
        html, resources = HTMLExporter.from_notebook_node(self, nb, resources=resources, **kw)
        html = add_table_of_contents(html)
        html = _screen_layout(html, stamp="NOT FOR RELEASE" if _not_for_release(nb) else None)
        problems = check_self_contained(html)
        if problems:
            raise ReportError("the HTML report would load content from outside the file, which a report must not do: "
                              + "; ".join(problems[:5]) + ("" if len(problems) <= 5 else f"; and {len(problems) - 5} more"))
        resources["output_extension"] = ".html"
        return html, resources


def render_html(executed: str | os.PathLike[str] | Any, *, name: str = "report") -> str:
    """The HTML report of an executed notebook (path or ``NotebookNode``) as text."""
    import nbformat

    if isinstance(executed, str | os.PathLike):
        path = Path(executed)
        nb = nbformat.read(path, as_version=4)
        meta = {"name": path.stem, "path": str(path.parent.resolve())}
    else:
        nb, meta = executed, {"name": name}
    html, _ = FootdropHTMLExporter().from_notebook_node(nb, resources={"metadata": meta})
    return html


def export_html(executed: str | os.PathLike[str] | Any, out: str | os.PathLike[str]) -> Path:
    """Write the HTML report of an executed notebook to ``out`` atomically (temp file beside it, rename).

    Parameters
    ----------
    executed : path or nbformat.NotebookNode
        An executed report notebook (e.g. the ``.ipynb`` that :func:`~footdrop_outcomes.report.render_report`
        keeps beside the PDF).
    out : path
        The ``.html`` file to write. Its folder must exist; it must not be a symbolic link.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ReportError
        ``out`` does not end in ``.html``, is a symbolic link, is the notebook itself, or cannot be
        written; or the page would not be self-contained.

    Examples
    --------
    >>> from footdrop_outcomes.report.html_export import export_html
    >>> export_html("reports/demo-outcome-report.ipynb", "reports/demo-outcome-report.html")  # doctest: +SKIP
    PosixPath('reports/demo-outcome-report.html')
    """
    out = Path(out)
    if out.suffix.lower() != ".html":
        raise ReportError(f"the HTML report must be written to a .html file, got {out.name}")
    if isinstance(executed, str | os.PathLike) and Path(executed).resolve() == out.resolve():
        raise ReportError(f"{out.name} would overwrite the executed notebook")
    refuse_symlink(out, error=ReportError)
    return write_atomic(out, render_html(executed, name=out.stem).encode("utf-8"), error=ReportError)
