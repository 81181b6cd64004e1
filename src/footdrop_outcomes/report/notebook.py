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
from footdrop_outcomes.release import ReleasedFigure, ReleasedTable, ReleasedText, ReleaseError

_state: dict[str, Any] = {}

__all__ = ["setup", "title_page", "show_table", "show_figure", "markdown", "bullets", "paragraph", "data_fingerprint",
           "load_report_cohort", "left_out_text", "stamp", "show_model", "later", "Later"]


def setup(small_cell_threshold: int | None = None, *, internal_use: bool = False) -> None:
    """Figures as vector SVG with searchable text, stable ids and no dates (reproducible PDFs);
    quiet pandas; the release policy of every number shown (report parameters
    ``small_cell_threshold`` and ``internal_use``; see :class:`footdrop_outcomes.release.ReleasePolicy`:
    a threshold under 5 needs ``internal_use``, which stamps every page "NOT FOR RELEASE").
    Call in the first code cell."""
    import matplotlib

    from footdrop_outcomes.report.counts import DEFAULT_THRESHOLD, set_threshold

    set_threshold(DEFAULT_THRESHOLD if small_cell_threshold is None else small_cell_threshold, internal_use=bool(internal_use))
    _state.pop("released", None)
    _state.pop("figures_saved", None)

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


def _display(obj: Any, into: Later | None = None) -> None:
    from IPython.display import display

    if into is None:
        display(obj)
    else:
        into._fill(obj)


class Later:
    """A place in the report held for an output computed further down the notebook (:func:`later`)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.filled = False

    def _fill(self, obj: Any) -> None:
        if self.filled:
            raise ValueError("this place in the report was filled already")
        if self._handle is not None:
            self._handle.update(obj)
        self.filled = True


def later() -> Later:
    """Hold this place in the report for an output that needs an analysis run further down.

    Fill it with ``paragraph(..., into=place)`` or ``bullets(..., into=place)`` (once): the
    output then stands here, in the executed notebook and the PDF, as if it had been shown here
    (a Jupyter display update). The outcome report's summary needs the adherence analysis, which
    a worker process computes beside the kernel (:mod:`footdrop_outcomes.report.prefetch`); the
    kernel runs the sections between meanwhile instead of waiting for it. A place filled with
    nothing (every sentence withheld) stays an empty output.
    """
    from IPython.display import Markdown, display

    return Later(display(Markdown(""), display_id=True))


def _refuse(func: str, wanted: str, obj: Any) -> ReleaseError:
    return ReleaseError(f"{func} shows released objects only ({wanted}, made by footdrop_outcomes.release or "
                        f"footdrop_outcomes.report.counts), not a {type(obj).__name__}: pass the view through release control "
                        "with the number of patients behind it")


def stamp() -> None:
    """Show the "NOT FOR RELEASE" stamp (repeated on every PDF page by the print stylesheet) when
    the report's policy is for internal use; nothing otherwise."""
    from IPython.display import HTML

    from footdrop_outcomes.report.counts import get_policy

    mark = get_policy().stamp
    if mark:
        _display(HTML(f'<div class="fd-not-for-release">{html.escape(mark)}</div>'))


def markdown(text: ReleasedText) -> None:
    """Show released Markdown (headings become PDF bookmarks and contents entries); text withheld
    to nothing is not shown."""
    from IPython.display import Markdown

    if not isinstance(text, ReleasedText):
        raise _refuse("markdown", "a ReleasedText", text)
    if text:
        _display(Markdown(str(text)))


def bullets(lines: list[ReleasedText], *, withheld: bool = True, into: Later | None = None) -> None:
    """Show a bulleted list of released sentences (those withheld to nothing are left out;
    ``withheld=False`` also leaves out the "Not shown" notes of withheld sentences, for a list
    read out of the context that would explain them, such as the summary); ``into``: at a place
    held earlier (:func:`later`)."""
    from IPython.display import Markdown

    for line in lines:
        if not isinstance(line, ReleasedText):
            raise _refuse("bullets", "ReleasedText items", line)
    shown = [str(x) for x in lines if x and (withheld or not x.withheld)]
    if shown:
        _display(Markdown("\n".join(f"- {x}" for x in shown)), into)
    elif into is not None:
        into._fill(Markdown(""))


def paragraph(lines: list[ReleasedText], *, into: Later | None = None) -> None:
    """Show released sentences as one paragraph (the executive summary); sentences withheld
    because of small numbers are left out, as are empty ones; ``into``: at a place held earlier
    (:func:`later`)."""
    from IPython.display import Markdown

    for line in lines:
        if not isinstance(line, ReleasedText):
            raise _refuse("paragraph", "ReleasedText items", line)
    shown = [str(x).strip() for x in lines if x and not x.withheld]
    if shown:
        _display(Markdown(" ".join(shown)), into)
    elif into is not None:
        into._fill(Markdown(""))


def show_table(table: ReleasedTable, caption: str, *, index: bool = False, nowrap: bool = False, left: list[str] | None = None,
               footnotes: tuple[str, ...] | list[str] = ()) -> None:
    """Show a released table with a caption and footnotes (see :func:`footdrop_outcomes.report.tables.styled`:
    the display carries the HTML and the table model the Word export reads, with the masked cells marked)."""
    from footdrop_outcomes.report.tables import styled

    if not isinstance(table, ReleasedTable):
        raise _refuse("show_table", "a ReleasedTable", table)
    _display(styled(table, caption, index=index, nowrap=nowrap, left=left, footnotes=footnotes))


def show_model(fit: Any, view: Any, frame: pd.DataFrame, caption: str, **options: Any) -> None:
    """Show a model's table, or say in plain words why the data could not support it.

    Parameters
    ----------
    fit : ModelAttempt
        From :class:`~footdrop_outcomes.report.analysis.RecoveryAnalysis` ``.attempts``.
    view : callable
        ``view(result, frame)`` -> ReleasedTable (e.g. ``tables.hazard_ratio_table``).
    frame : pandas.DataFrame
        The patients the model was fitted on (supports of its terms).
    caption : str
        Table caption; the fitted specification is appended.
    """
    from footdrop_outcomes.report.counts import text

    if fit.ok:
        show_table(view(fit.result, frame), f"{caption}: {fit.fitted}", **options)
    note = fit.sentence()
    if note:
        markdown(text(f"*{caption}.* {note}", len(frame)))


def show_figure(fig: ReleasedFigure) -> None:
    """Show a released matplotlib Figure once, then close it."""
    import matplotlib.pyplot as plt

    if not isinstance(fig, ReleasedFigure):
        if hasattr(getattr(fig, "figure", fig), "savefig"):
            plt.close(getattr(fig, "figure", fig))
        raise _refuse("show_figure", "a ReleasedFigure", fig)
    _display(fig.figure)
    folder = os.environ.get("FOOTDROP_FIGURES_DIR")  # report --figures DIR (render.FIGURES_DIR_VARIABLE)
    if folder:
        _save_for_publication(fig, Path(folder))
    plt.close(fig.figure)


def _save_for_publication(fig: ReleasedFigure, folder: Path) -> None:
    """Save a shown figure as ``figure-NN-single`` (where it fits 85 mm) and ``figure-NN-double``."""
    from footdrop_outcomes.report._errors import ReportError
    from footdrop_outcomes.report.figure_export import save_figure

    k = _state["figures_saved"] = _state.get("figures_saved", 0) + 1
    try:
        save_figure(fig, folder / f"figure-{k:02d}-single", "single")
    except ReportError:  # too wide for one column with readable text: double column only
        pass
    save_figure(fig, folder / f"figure-{k:02d}-double", "double")


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
    """Load (and validate) the cohort named by the ``cohort_path`` parameter, restricted to ``causes``,
    then released (:func:`footdrop_outcomes.release.release_cohort`): the patients of every group of
    1 to threshold patients are left out of the whole report. Call after :func:`setup`."""
    from footdrop_outcomes.cohort.cohort import load_cohort
    from footdrop_outcomes.release import release_cohort
    from footdrop_outcomes.report.analysis import restrict_causes
    from footdrop_outcomes.report.counts import get_policy

    released = release_cohort(restrict_causes(load_cohort(cohort_path), causes or []), get_policy())
    _state["released"] = released
    return released.cohort


def left_out_text() -> ReleasedText:
    """The sentence naming the groups left out of this report (empty when none was)."""
    from footdrop_outcomes.report.analysis import CAUSE_SHORT
    from footdrop_outcomes.report.counts import text

    released = _state.get("released")
    sentence = released.left_out_text(CAUSE_SHORT) if released is not None else None
    return text(sentence or "", None if not sentence else [])


def _param_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) or "(all)"
    if value == "":
        return "(none)"
    return str(value)


def title_page(title: str, cohort: Any, *, cohort_path: str, parameters: Mapping[str, Any], kicker: str = "Foot drop outcomes",
               description: str | None = None) -> None:
    """The title page: title, cohort description, report date, data cut-off and author (parameters
    ``report_date``, ``data_cutoff``, ``author`` when the notebook has them; see
    :func:`~footdrop_outcomes.report.parameters.check_report_fields`), data source and SHA-256,
    package version, every other parameter; then the table of contents (filled in by the PDF
    exporter)."""
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
    from footdrop_outcomes.report.parameters import REPORT_FIELDS, check_report_fields, resolve_data_cutoff, resolve_report_date

    check_report_fields(parameters)  # also when the notebook runs in JupyterLab, not through render_report
    if any(k in parameters for k in REPORT_FIELDS):
        rows[:0] = [("Report date", resolve_report_date(str(parameters.get("report_date") or ""))),
                    ("Data cut-off", resolve_data_cutoff(str(parameters.get("data_cutoff") or ""), cohort.metadata))]
        if parameters.get("author"):
            rows.insert(2, ("Author", str(parameters["author"])))
    else:  # a notebook without the title-page fields: dated only for reproducible builds
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        if epoch and epoch.isdigit():
            rows.append(("Date", resolve_report_date("")))
    meta = "".join(f'<tr><th>{html.escape(k)}</th><td{" class=fd-hash" if k == "Data SHA-256" else ""}>{html.escape(v)}</td></tr>' for k, v in rows)
    # the cohort's folder name only: the same data give the same page wherever they are stored
    shown = {k: (Path(v).name if k == "cohort_path" else v) for k, v in parameters.items() if k != "title" and k not in REPORT_FIELDS}
    params = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_param_text(v))}</td></tr>" for k, v in shown.items())
    from footdrop_outcomes.report.counts import get_policy

    mark = get_policy().stamp
    banner = (f'<p class="fd-release-banner">{html.escape(mark)}: internal use only, small-cell threshold '
              f'{get_policy().threshold} is below the minimum for release.</p>' if mark else "")
    left = left_out_text()
    left_html = f'<p class="fd-subtitle">{html.escape(str(left))}</p>' if left else ""
    stamp()
    _display(HTML(
        f'<section class="fd-title-page">{banner}<p class="fd-kicker">{html.escape(kicker)}</p>'
        f'<h1 class="fd-title">{html.escape(title)}</h1><p class="fd-subtitle">{html.escape(desc)}</p>{left_html}'
        f'<table class="fd-meta"><tbody>{meta}</tbody></table>'
        f'<h2>Parameters</h2><table class="fd-meta"><tbody>{params}</tbody></table></section>'
        '<nav class="fd-toc"></nav>'
    ))
