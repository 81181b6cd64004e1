"""Helpers the report notebooks call: print setup, title page, tables, figures, prose.

A notebook stays prose plus these calls; what two notebooks would both need lives here.

>>> data_fingerprint.__name__
'data_fingerprint'
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from footdrop_outcomes._files import sha256_file
from footdrop_outcomes._version import __version__

__all__ = ["setup", "title_page", "show_table", "show_figure", "markdown", "bullets", "data_fingerprint",
           "load_report_cohort"]


def setup(small_cell_threshold: int | None = None) -> None:
    """Figures as vector SVG with searchable text, stable ids and no dates (reproducible PDFs);
    quiet pandas; the small-cell threshold of every count shown (report parameter
    ``small_cell_threshold``; default that of :mod:`footdrop_outcomes.privacy`). Call in the
    first code cell."""
    import matplotlib

    from footdrop_outcomes.report.counts import DEFAULT_THRESHOLD, set_threshold

    set_threshold(DEFAULT_THRESHOLD if small_cell_threshold is None else small_cell_threshold)

    matplotlib.rcParams.update({
        "svg.fonttype": "none",          # text stays text in the PDF (searchable, extractable)
        "svg.hashsalt": "footdrop-outcomes",  # stable element ids
        "font.family": "DejaVu Sans",
        "font.size": 8.5,
        "axes.titlesize": 9,
        "figure.dpi": 100,
    })
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the kernel
        return
    ip = get_ipython()
    if ip is not None:
        ip.run_line_magic("matplotlib", "inline")
        ip.run_line_magic("config", "InlineBackend.figure_formats = ['svg']")
        ip.run_line_magic("config", "InlineBackend.print_figure_kwargs = {'bbox_inches': 'tight', 'metadata': {'Date': None}}")
    pd.set_option("display.max_columns", 50)


def _display(obj: Any) -> None:
    from IPython.display import display

    display(obj)


def markdown(text: str) -> None:
    """Show Markdown (headings become PDF bookmarks and contents entries)."""
    from IPython.display import Markdown

    _display(Markdown(text))


def bullets(lines: list[str]) -> None:
    """Show a bulleted list."""
    markdown("\n".join(f"- {x}" for x in lines))


def show_table(df: pd.DataFrame, caption: str, *, index: bool = False, nowrap: bool = False, left: list[str] | None = None) -> None:
    """Show a table with a caption (see :func:`footdrop_outcomes.report.tables.styled`)."""
    from footdrop_outcomes.report.tables import styled

    _display(styled(df, caption, index=index, nowrap=nowrap, left=left))


def show_figure(fig: Any) -> None:
    """Show a matplotlib Figure (or the Figure of an Axes) once, then close it."""
    import matplotlib.pyplot as plt

    fig = getattr(fig, "figure", fig)
    _display(fig)
    plt.close(fig)


def data_fingerprint(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a cohort's data: over the sorted names and contents of its data files
    (``*.parquet``, ``*.csv``), so the same data give the same fingerprint wherever they are."""
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".parquet", ".csv"))
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(root)).encode())
        h.update(bytes.fromhex(sha256_file(f)))
    return h.hexdigest()


def load_report_cohort(cohort_path: str, causes: list[str] | None = None) -> Any:
    """Load (and validate) the cohort named by the ``cohort_path`` parameter, restricted to ``causes``."""
    from footdrop_outcomes.cohort.cohort import load_cohort
    from footdrop_outcomes.report.analysis import restrict_causes

    return restrict_causes(load_cohort(cohort_path), causes or [])


def _param_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) or "(all)"
    if value == "":
        return "(none)"
    return str(value)


def title_page(title: str, cohort: Any, *, cohort_path: str, parameters: Mapping[str, Any], kicker: str = "Foot drop outcomes",
               description: str | None = None) -> None:
    """The title page: title, cohort description, data source and SHA-256, package version, every
    parameter; then the table of contents (filled in by the PDF exporter)."""
    from IPython.display import HTML

    from footdrop_outcomes.report.narrative import cohort_description

    desc = description or cohort_description(cohort)
    source = Path(cohort_path)
    manifest = source / "manifest.json"
    schema = json.loads(manifest.read_text()).get("schema_version", "?") if manifest.is_file() else cohort.metadata.get("schema_version", "?")
    rows = [
        ("Data source", source.name or str(source)),
        ("Data SHA-256", data_fingerprint(source)),
        ("Schema version", str(schema)),
        ("Package", f"footdrop-outcomes {__version__}"),
    ]
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        from datetime import datetime, timezone

        rows.append(("Date", datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%d")))
    meta = "".join(f'<tr><th>{html.escape(k)}</th><td{" class=fd-hash" if k == "Data SHA-256" else ""}>{html.escape(v)}</td></tr>' for k, v in rows)
    # the cohort's folder name only: the same data give the same page wherever they are stored
    shown = {k: (Path(v).name if k == "cohort_path" else v) for k, v in parameters.items() if k != "title"}
    params = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_param_text(v))}</td></tr>" for k, v in shown.items())
    _display(HTML(
        f'<section class="fd-title-page"><p class="fd-kicker">{html.escape(kicker)}</p>'
        f'<h1 class="fd-title">{html.escape(title)}</h1><p class="fd-subtitle">{html.escape(desc)}</p>'
        f'<table class="fd-meta"><tbody>{meta}</tbody></table>'
        f'<h2>Parameters</h2><table class="fd-meta"><tbody>{params}</tbody></table></section>'
        '<nav class="fd-toc"></nav>'
    ))
