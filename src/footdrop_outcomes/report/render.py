"""Run a report notebook with parameters and typeset it: papermill → ``footdrop_pdf`` exporter.

:func:`render_report` validates the parameters against the notebook's declared schema before
anything runs, executes the notebook with papermill, keeps the executed notebook beside the PDF
(``NAME.ipynb`` next to ``NAME.pdf``). Both are written to hidden temporary files beside the
targets and renamed into place together at the end (:mod:`footdrop_outcomes._files`), so a failing
cell, a typesetting error or an interruption never leaves a half-written PDF or notebook, nor a
temporary file or a parent folder made for the run; a symbolic link as output is refused.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from footdrop_outcomes._files import (
    blocked_signals,
    discard,
    make_parents,
    move_into_place,
    pause_point,
    refuse_symlink,
    remove_created,
    staging_file,
    write_atomic,
)
from footdrop_outcomes.report._errors import (
    NotebookExecutionError,
    ReportError,
    ReportParameterError,
)
from footdrop_outcomes.report.parameters import (
    REPORT_FIELDS,
    SCHEMAS,
    check_report_fields,
    resolve_report_date,
    validate_parameters,
)

__all__ = ["ReportResult", "render_report", "export_pdf", "notebook_path", "NOTEBOOK_DIR", "run_demo"]

#: Where the shipped notebooks live: package data ``report/notebooks/`` (in a source checkout a
#: link to ``notebooks/`` at the project root; a wheel carries copies). ``FOOTDROP_NOTEBOOKS``
#: overrides it.
NOTEBOOK_DIR = Path(os.environ.get("FOOTDROP_NOTEBOOKS", Path(__file__).resolve().parent / "notebooks"))


@dataclass(frozen=True)
class ReportResult:
    """What :func:`render_report` wrote.

    Attributes
    ----------
    pdf, notebook : pathlib.Path
        The PDF and the executed notebook beside it.
    parameters : dict
        Every parameter value the notebook ran with.
    seconds : dict
        ``execute`` and ``export`` wall times (and ``html`` when an HTML report was written).
    html : pathlib.Path or None
        The HTML report beside the PDF (``render_report(..., html=True)``), else None.
    """

    pdf: Path
    notebook: Path
    parameters: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    html: Path | None = None


def notebook_path(notebook: str | os.PathLike[str]) -> Path:
    """A shipped notebook's path from its name (``outcome_report``), or the given ``.ipynb`` path."""
    p = Path(notebook)
    if p.suffix == ".ipynb":
        if not p.is_file():
            raise ReportError(f"notebook {p} does not exist")
        return p
    if str(notebook) in SCHEMAS:
        found = NOTEBOOK_DIR / f"{notebook}.ipynb"
        if not found.is_file():
            raise ReportError(f"shipped notebook {notebook!r} not found at {found}; reinstall the package, "
                              "set FOOTDROP_NOTEBOOKS, or pass a path to an .ipynb file")
        return found
    raise ReportError(f"unknown notebook {str(notebook)!r}: give one of {', '.join(SCHEMAS)} or a path to an .ipynb file")


#: An exporter whose templates were compiled while the kernel ran (:func:`_warm_typesetting`), for the next
#: :func:`_typeset` of this process to use once.
_prepared: list[Any] = []


def _typeset(executed: str | os.PathLike[str] | Any, out: Path) -> bytes:
    """The PDF of an executed notebook (path or NotebookNode), as bytes."""
    import nbformat

    from footdrop_outcomes.report.exporter import FootdropPDFExporter

    nb = executed if not isinstance(executed, str | os.PathLike) else nbformat.read(executed, as_version=4)
    exporter = _prepared.pop() if _prepared else FootdropPDFExporter()
    _prepared.clear()
    pdf, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": out.stem, "path": str(out.parent.resolve())}})
    return pdf


def export_pdf(executed: str | os.PathLike[str] | Any, out: str | os.PathLike[str]) -> Path:
    """Typeset an executed notebook (path or NotebookNode) to ``out`` atomically (temp file, rename).

    ``out`` must not be a symbolic link and its folder must exist.
    """
    out = Path(out)
    refuse_symlink(out, error=ReportError)
    return write_atomic(out, _typeset(executed, out), error=ReportError)


#: Environment variables that size the BLAS / OpenMP thread pools of the libraries a report uses.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: Kernel environment variable: folder where every figure shown is also saved for publication
#: (``report --figures DIR``; :func:`footdrop_outcomes.report.notebook.show_figure`).
FIGURES_DIR_VARIABLE = "FOOTDROP_FIGURES_DIR"
_kernel_extra_env: dict[str, str] = {}  # set by render_report around one run


def kernel_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a report's kernel: this process's (or ``env``), with the BLAS and OpenMP
    thread pools sized by the toolkit's thread setting (:func:`footdrop_outcomes.set_threads`,
    ``FOOTDROP_THREADS``; default one thread).

    A report is many small fits one after another; OpenBLAS answers each small product with all
    its threads, which then wait for each other. The fits wrapped by the toolkit hold the pools
    to the setting already (``footdrop_outcomes._threads``); sizing them when the kernel starts
    covers every other product of the run too (the adherence GEE, Turnbull's Newton steps; on the
    2,000-patient demo cohort the Turnbull curves took 11 s of CPU with the default threads on a
    busy 2-core machine and 0.6 s with one). A variable already set in the environment is kept,
    and ``FOOTDROP_THREADS=all`` leaves the libraries' defaults.
    """
    from footdrop_outcomes._threads import fit_threads

    out = dict(os.environ if env is None else env)
    out.update(_kernel_extra_env)
    n = fit_threads()
    if n is not None:
        for var in THREAD_VARIABLES:
            out.setdefault(var, str(n))
    return out


def _quiet_kernel_manager() -> type:
    """The report kernels' manager class (:func:`footdrop_outcomes.report._kernel.quiet_kernel_manager`)."""
    from footdrop_outcomes.report._kernel import quiet_kernel_manager

    return quiet_kernel_manager()


#: Kernel environment variable naming the folder of the analysis worker of this run (:mod:`footdrop_outcomes.report.prefetch`).
PREFETCH_FOLDER_VARIABLE = "FOOTDROP_PREFETCH_DIR"


def _uses_prefetch(nb_in: Path) -> bool:
    """The notebook loads its cohort with ``load_report_cohort`` and calls ``analyse_adherence``."""
    try:
        source = nb_in.read_text(encoding="utf-8")
    except OSError:
        return False
    return "analyse_adherence(" in source and "load_report_cohort(cohort_path, causes)" in source


def _import_papermill() -> None:
    """Import papermill (and through it nbformat and jsonschema) without jsonschema's optional IRI
    format checker.

    ``jsonschema`` registers an "iri" format checker when the optional ``rfc3987_syntax`` package
    is installed (Jupyter's dependencies bring it), and importing that package builds its grammar:
    about 0.8 s of CPU (1.6 s on a busy machine), the largest part of papermill's import, on the
    report's critical path before the kernel starts. Notebook validation never checks formats. So
    when neither is imported yet, the import of ``rfc3987_syntax`` is refused for as long as
    papermill imports, then allowed again: the one lasting effect is that ``jsonschema.FormatChecker``
    in this process has no "iri" / "iri-reference" checker. Nothing is changed when jsonschema was
    imported before.
    """
    import sys

    if "papermill" in sys.modules:
        return
    block = "rfc3987_syntax" not in sys.modules and "jsonschema" not in sys.modules
    if block:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment] # makes "import rfc3987_syntax" raise ImportError
    try:
        import papermill  # noqa: F401
    finally:
        if block and "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is None:
            del sys.modules["rfc3987_syntax"]


def _warm_typesetting() -> Any:
    """Import WeasyPrint and let it load its fonts, and prepare the PDF exporter (nbconvert imported,
    its templates compiled: :meth:`~footdrop_outcomes.report.exporter.FootdropPDFExporter.prepare`),
    in a background thread while the kernel runs (this process mostly waits then); returns the
    thread (join before typesetting, which then uses the prepared exporter).

    Only WeasyPrint, nbconvert and their own libraries, which nothing else of the run imports
    meanwhile (the caller has imported papermill, and with it nbformat and nbclient, first): two
    threads importing the same modules at once can see a partly initialised module.

    The thread keeps the process's CPU priority: at a lower one (tried: nice 19) a busy machine
    starves it, and typesetting, which waits for it, waited minutes (measured at load 8)."""
    import threading

    _prepared.clear()

    def warm() -> None:
        # any failure: only a head start lost, typesetting imports what it needs anyway
        with contextlib.suppress(Exception):
            import logging

            logging.getLogger("fontTools").setLevel(logging.ERROR)
            # (no warnings.catch_warnings here: it swaps the process-wide filters and is not thread-safe)
            import weasyprint

            weasyprint.HTML(string='<p style="font-family: DejaVu Sans">a <b>b</b></p>'
                                   '<p style="font-family: DejaVu Sans Mono">c</p>').render()
        with contextlib.suppress(Exception):
            from footdrop_outcomes.report.exporter import FootdropPDFExporter

            _prepared.append(FootdropPDFExporter().prepare())

    t = threading.Thread(target=warm, name="footdrop-warm-typesetting", daemon=True)
    t.start()
    return t


def _execute(nb_in: Path, nb_out: Path, parameters: dict[str, Any], *, kernel_name: str | None, timeout: int,
             final_path: Path | None = None, kernel: Any = None) -> None:
    """Run ``nb_in`` into ``nb_out`` (a temporary file that will be renamed to ``final_path``), on
    ``kernel`` (a :class:`~footdrop_outcomes.report._kernel.KernelStart`) when given, else on a
    kernel papermill starts and stops."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from footdrop_outcomes.report._kernel import _WARNING_LINES, KERNEL_ARGUMENTS

    engine: dict[str, Any] = {}
    if kernel is not None:
        kernel_name, engine["km"] = kernel.kernel_name, kernel.km
    if kernel_name is None:
        import nbformat

        # a notebook saved without kernel metadata (e.g. written by a script) runs in this Python
        if not nbformat.read(nb_in, as_version=4).metadata.get("kernelspec", {}).get("name"):
            kernel_name = "python3"
    with warnings.catch_warnings():
        # jupyter_client warns about its own deprecated paths and an event loop detail; not ours to fix.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(jupyter_client|jupyter_core|zmq|papermill|nbclient)")
        try:
            papermill.execute_notebook(
                str(nb_in), str(nb_out), parameters=parameters, kernel_name=kernel_name, progress_bar=False,
                log_output=False, cwd=str(nb_in.parent), execution_timeout=timeout,
                # written once at the end (and with the error when a cell fails), not before and after
                # every cell: the 59 cells of the outcome report meant 118 validated writes of a
                # growing notebook, about 1.4 s of CPU in this process
                request_save_on_cell_execute=False,
                kernel_manager_class=_quiet_kernel_manager(),
                extra_arguments=[*KERNEL_ARGUMENTS[:1], f"--IPKernelApp.exec_lines={list(_WARNING_LINES)!r}"],
                **engine,
            )
        except PapermillExecutionError as e:
            import nbformat

            execution_count = e.exec_count
            cell_index = e.cell_index
            # papermill puts an error banner cell first; name the cell by its position in the notebook as run
            try:
                nb = nbformat.read(nb_out, as_version=4)
                cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
                for i, c in enumerate(cells):
                    if c.cell_type == "code" and any(o.get("output_type") == "error" for o in c.get("outputs", [])):
                        cell_index = i
                        break
            except Exception:  # noqa: BLE001 - the message below still names the cell papermill reported
                pass
            raise NotebookExecutionError(notebook=nb_in.name, cell_index=cell_index, execution_count=execution_count,
                                             ename=e.ename, evalue=e.evalue, source=e.source, executed_notebook=nb_out) from None
    import nbformat

    # papermill gives its injected-parameters cell a random id (an anchor in the PDF): make it stable
    nb = nbformat.read(nb_out, as_version=4)
    changed = False
    pm = nb.metadata.get("papermill", {})
    if final_path is not None and pm.get("output_path") not in (None, str(final_path)):
        pm["output_path"] = str(final_path)  # the name it will have, not the temporary one
        changed = True
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []) and cell.get("id") != "injected-parameters":
            cell["id"] = "injected-parameters"
            changed = True
    if changed:
        nbformat.write(nb, nb_out)


def _guard_parameters(params: Mapping[str, Any]) -> None:
    """Every text parameter is printed on the pages (title page, captions, formulas): it passes the
    privacy guard like a cohort value (a title naming a patient, a formula term that is a date).

    Exempt, and checked by their own narrower rules instead
    (:func:`~footdrop_outcomes.report.parameters.check_report_fields`): ``report_date`` and
    ``data_cutoff`` (an ISO date and nothing else) and ``author`` (may look like a person's name,
    the analyst's; never an e-mail, phone or ID number). Nothing else is exempt.
    """
    from footdrop_outcomes.guard import check_text

    check_report_fields(params)
    for name, value in params.items():
        if name == "cohort_path":
            continue  # a path on this machine, shown by its folder name only
        if name in REPORT_FIELDS:
            continue  # checked above by check_report_fields
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str):
                check_text(v, where=f"report parameter {name!r}")


def _check_threshold(cohort_path: Path, threshold: int) -> None:
    """Refuse a recovery threshold the data cannot support, before anything runs (words only: the
    message names no count or value of the data)."""
    from types import SimpleNamespace

    from footdrop_outcomes.cohort.cohort import load_cohort
    from footdrop_outcomes.cohort.recovery import check_recovery_threshold

    # The check needs three visit columns and the patient keys: read just those from a saved cohort
    # (the notebook loads the whole cohort, with the privacy guard and validation, right after; at
    # 100,000 patients a second full load cost about 4 s). Anything unusual: the full load.
    try:
        import pandas as pd

        light = SimpleNamespace(patients=pd.read_parquet(Path(cohort_path) / "patients.parquet", columns=["patient_id"]),
                                visits=pd.read_parquet(Path(cohort_path) / "visits.parquet", columns=["patient_id", "day", "mrc"]))
    except Exception:  # noqa: BLE001 - not a saved Parquet cohort, or damaged: load_cohort says what is wrong
        light = load_cohort(cohort_path)
    chk = check_recovery_threshold(light, threshold, by=None)  # type: ignore[arg-type]
    if chk.usable:
        return
    why = []
    if chk.at_onset:
        why.append(f"some patients are already at MRC >= {threshold} at their day-0 visit, so they have no foot drop by this "
                   "definition (choose a higher threshold)")
    if chk.events < 10:
        why.append(f"too few patients reach MRC >= {threshold} during follow-up to model recovery (choose a lower threshold)")
    if chk.censored < 1:
        why.append(f"every patient reaches MRC >= {threshold}, so there is nothing to compare")
    raise ReportParameterError(f"parameter threshold = {threshold} does not suit this cohort: {'; '.join(why) or 'see check_recovery_threshold'}")


def _not_releasable(params: Mapping[str, Any]) -> Any:
    """The whole report when nothing of the cohort can be released: a title and the reason (no
    number of the data; the threshold is a parameter)."""
    import html

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    t = int(params.get("small_cell_threshold", 10))
    title = str(params.get("title", "Foot drop outcome report"))
    body = (f'<section class="fd-title-page"><p class="fd-kicker">Foot drop outcomes</p><h1 class="fd-title">{html.escape(title)}</h1>'
            f'<p class="fd-subtitle">No result of this cohort can be released.</p></section>'
            f"<h1>Nothing to release</h1><p>Every cause or severity group of this cohort has {t} or fewer patients, or after "
            f"leaving out such groups {t} or fewer patients remain. A number derived from a group of {t} or fewer patients "
            "is never shown, so this report has no tables, figures or estimates. Pool the data of more patients or sites, "
            "or ask the data custodian for an internal-use report.</p>")
    cell = new_code_cell(source="", outputs=[nbformat.v4.new_output("display_data", data={"text/html": body})])
    return new_notebook(cells=[cell], metadata={"title": title})


def render_report(
    notebook: str | os.PathLike[str] = "outcome_report",
    out: str | os.PathLike[str] = "reports/outcome_report.pdf",
    *,
    parameters: Mapping[str, Any] | None = None,
    cohort: str | os.PathLike[str] | None = None,
    from_text: bool = False,
    kernel_name: str | None = None,
    timeout: int = 900,
    html: bool = False,
    figures: str | os.PathLike[str] | None = None,
    _kernel: Any = None,
) -> ReportResult:
    """Execute a report notebook with parameters and write its PDF (and, with ``html=True``, its HTML report).

    Parameters
    ----------
    notebook : str or path
        A shipped notebook's name (``outcome_report``, ``cohort_overview``, ``time_to_recovery``)
        or a path to an ``.ipynb`` file.
    out : path
        The PDF to write (``.pdf``); the executed notebook goes beside it with ``.ipynb``.
    parameters : mapping
        Parameter values (checked against the notebook's schema; see
        :func:`footdrop_outcomes.report.parameters.validate_parameters`).
    cohort : path, optional
        Shortcut for the ``cohort_path`` parameter (made absolute).
    from_text : bool
        ``parameters`` are command-line strings to convert.
    kernel_name : str, optional
        Jupyter kernel (default: the notebook's, ``python3``).
    timeout : int
        Seconds allowed per cell.
    html : bool
        Also write the self-contained HTML report of the same run beside the PDF (``NAME.html``;
        :mod:`footdrop_outcomes.report.html_export`). The PDF, the HTML and the executed notebook
        are renamed into place together: all of them or none.
    figures : path, optional
        An existing folder where every figure the report shows is also saved for publication, as
        SVG and 300-dpi PNG at a journal's single- and double-column width
        (``figure-NN-single.*`` where the figure fits 85 mm with text of at least 7 pt, and
        ``figure-NN-double.*``; :func:`footdrop_outcomes.report.figure_export.save_figure`). Only
        released figures are shown, so only they are saved. They are staged in a hidden folder
        inside ``figures`` and moved in with the report (none when the report fails).
    _kernel : KernelStart, optional
        Internal (:func:`run_demo`): the kernel already started for this notebook by
        :func:`_start_kernel` (not with ``figures``). It is stopped when the run ends, whatever
        happens.

    Returns
    -------
    ReportResult

    Raises
    ------
    ReportParameterError
        Before anything runs, for an unknown or invalid parameter.
    NotebookExecutionError
        A cell failed: names the cell and its error; no PDF is written and the executed notebook
        (with the error) is kept for inspection.
    ReportError
        Missing notebook or cohort, output not ending in ``.pdf``, typesetting failed.
    """
    try:
        return _render_report(notebook, out, parameters=parameters, cohort=cohort, from_text=from_text, kernel_name=kernel_name,
                              timeout=timeout, html=html, figures=figures, _kernel=_kernel)
    finally:
        if _kernel is not None:  # also when the run stopped before it reached the kernel
            _stop_kernel(_kernel)


def _start_kernel(nb_in: Path, kernel_name: str | None) -> Any:
    """Start the kernel for ``nb_in`` now (:mod:`footdrop_outcomes.report._kernel`) and, when the
    notebook can use one and a core is free, the analysis worker beside it (it imports while the
    cohort is made; its job follows when the parameters are checked: :func:`_submit_prefetch`). The
    two share one string-hash seed (:mod:`footdrop_outcomes.report.prefetch`)."""
    import secrets

    from footdrop_outcomes.report import _kernel, prefetch

    folder = worker = None
    extra: dict[str, str] = {}
    try:
        if _uses_prefetch(nb_in):
            folder = prefetch.reserve()
            if not os.environ.get("PYTHONHASHSEED"):
                extra["PYTHONHASHSEED"] = str(secrets.randbelow(2**32 - 1) + 1)
            worker = prefetch.launch({**kernel_environment(), **extra}, folder)
        kernel = _kernel.start(nb_in, kernel_name=kernel_name, prefetch_folder=folder, env=extra)
    except BaseException:
        if worker is not None:
            worker.close()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    kernel.worker = worker
    return kernel


def _submit_prefetch(kernel: Any, nb_in: Path, params: Mapping[str, Any]) -> Any:
    """Give the kernel's analysis worker its job (the adherence section of this report's cohort);
    returns the worker, or None when it has no job (then the kernel is told not to wait for it)."""
    from footdrop_outcomes.report import prefetch

    worker, folder = kernel.worker, kernel.prefetch_folder
    kernel.worker = None
    if worker is not None:
        if {"cohort_path", "threshold", "alpha"} <= set(params) and _uses_prefetch(nb_in):
            arguments = {"threshold": params["threshold"], "alpha": params["alpha"]}
            arguments["propensity_formula"] = params.get("propensity_formula", "C(cause) + C(severity) + age + diabetes")
            if worker.submit("adherence", cohort_path=params["cohort_path"], causes=list(params.get("causes") or []),
                             small_cell_threshold=params.get("small_cell_threshold"),
                             internal_use=bool(params.get("internal_use", False)), arguments=arguments):
                return worker
        worker.close(keep_folder=True)
    if folder is not None:  # the kernel does not wait for a worker that has no job
        prefetch.give_up(folder)
    return None


def _stop_kernel(kernel: Any) -> None:
    """Stop a kernel of :func:`_start_kernel` (and its worker if it never got a job) and remove the
    worker's folder (if still there)."""
    if kernel.worker is not None:
        kernel.worker.close(keep_folder=True)
        kernel.worker = None
    kernel.close()
    if kernel.prefetch_folder is not None:
        shutil.rmtree(kernel.prefetch_folder, ignore_errors=True)


def _render_report(notebook: str | os.PathLike[str], out: str | os.PathLike[str], *, parameters: Mapping[str, Any] | None,
                   cohort: str | os.PathLike[str] | None, from_text: bool, kernel_name: str | None, timeout: int, html: bool,
                   figures: str | os.PathLike[str] | None, _kernel: Any) -> ReportResult:
    nb_in = notebook_path(notebook)
    out = Path(out)
    if _kernel is not None and figures is not None:
        raise ReportError("a kernel started ahead of the run cannot save figures (internal use only)")
    if figures is not None and not Path(figures).is_dir():
        raise ReportError(f"--figures {figures}: the folder does not exist; create it first")
    if out.suffix.lower() != ".pdf":
        raise ReportError(f"--out must name a .pdf file, got {out}")
    values = dict(parameters or {})
    if cohort is not None:
        values["cohort_path"] = str(cohort)
    params = validate_parameters(nb_in, values, from_text=from_text)
    _guard_parameters(params)
    if "report_date" in params:  # recorded in the executed notebook and the result, not only on the page
        params["report_date"] = resolve_report_date(params["report_date"])
    if "cohort_path" in params:
        cp = Path(params["cohort_path"])
        cp = cp if cp.is_absolute() or cohort is not None or "cohort_path" in (parameters or {}) else nb_in.parent / cp
        cp = cp.resolve()
        if not (cp / "manifest.json").is_file():
            raise ReportError(f"cohort {cp} is not a cohort directory (no manifest.json); create one with "
                              "'footdrop-outcomes simulate --out DIR' or check the path")
        params["cohort_path"] = str(cp)
        if "threshold" in params:
            _check_threshold(cp, int(params["threshold"]))
    nb_out = out.with_suffix(".ipynb")
    html_out = out.with_suffix(".html") if html else None
    if nb_out.resolve() == nb_in.resolve():
        raise ReportError(f"--out {out.name} would write the executed notebook over the notebook being run ({nb_in.name}); "
                          "choose another name for the PDF")
    for target in (out, nb_out, html_out):
        if target is not None:
            refuse_symlink(target, error=ReportError)
    created = make_parents(out, error=ReportError)
    tmp_nb = tmp_pdf = tmp_html = fig_stage = None
    try:
        # all files are written beside their targets and renamed into place together at the end
        tmp_nb = staging_file(nb_out, suffix=".ipynb", error=ReportError)
        tmp_pdf = staging_file(out, error=ReportError)
        if html_out is not None:
            tmp_html = staging_file(html_out, error=ReportError)
        t0 = time.perf_counter()
        try:
            worker = warm = None
            try:
                if figures is not None:  # the kernel saves into a staging folder inside it, moved in at the end
                    fig_stage = Path(tempfile.mkdtemp(prefix=".footdrop-figures-", dir=Path(figures).resolve()))
                    _kernel_extra_env[FIGURES_DIR_VARIABLE] = str(fig_stage)
                if _kernel is None:
                    _kernel = _start_kernel(nb_in, kernel_name)
                worker = _submit_prefetch(_kernel, nb_in, params)
                _import_papermill()  # before the warming thread starts (no two threads importing the same modules)

                warm = _warm_typesetting()
                _execute(nb_in, tmp_nb, params, kernel_name=kernel_name, timeout=timeout, final_path=nb_out, kernel=_kernel)
            finally:
                _kernel_extra_env.pop(FIGURES_DIR_VARIABLE, None)
                if worker is not None:
                    worker.close()
                if _kernel is not None:  # every output is in: stopped at once
                    _stop_kernel(_kernel)
                if warm is not None:
                    warm.join()
        except NotebookExecutionError as e:  # keep the executed notebook, with the error, for inspection
            if e.ename == "TooFewToRelease":  # nothing can be released: the PDF says so instead of failing
                import nbformat

                nbformat.write(_not_releasable(params), tmp_nb)
                if fig_stage is not None:  # the report releases nothing: neither do its figures
                    shutil.rmtree(fig_stage, ignore_errors=True)
                    fig_stage = Path(tempfile.mkdtemp(prefix=".footdrop-figures-", dir=Path(figures).resolve()))
            else:
                move_into_place(tmp_nb, nb_out, error=ReportError)
                raise NotebookExecutionError(notebook=e.notebook, cell_index=e.cell_index, execution_count=e.execution_count,
                                             ename=e.ename, evalue=e.evalue, source=e.source, executed_notebook=nb_out) from None
        pause_point("report-executed")
        t1 = time.perf_counter()
        try:
            tmp_pdf.write_bytes(_typeset(tmp_nb, out))
        except ReportError:
            raise
        except Exception as e:  # typesetting problems: say where (the exporter's own text may quote the notebook)
            raise ReportError(f"typesetting {out.with_suffix('.ipynb').name} to PDF failed ({type(e).__name__}); "
                              "no PDF and no notebook were written") from e
        t2 = time.perf_counter()
        seconds = {"execute": t1 - t0, "export": t2 - t1}
        if html_out is not None and tmp_html is not None:
            from footdrop_outcomes.report.html_export import render_html

            try:
                tmp_html.write_bytes(render_html(tmp_nb, name=html_out.stem).encode("utf-8"))
            except ReportError:
                raise
            except Exception as e:  # as for the PDF: say where, not what the exporter quotes
                raise ReportError(f"writing the HTML report of {nb_out.name} failed ({type(e).__name__}); "
                                  "no report and no notebook were written") from e
            seconds["html"] = time.perf_counter() - t2
        pause_point("report-typeset")
        with blocked_signals():  # all or none
            move_into_place(tmp_nb, nb_out, error=ReportError)
            move_into_place(tmp_pdf, out, error=ReportError)
            if html_out is not None and tmp_html is not None:
                move_into_place(tmp_html, html_out, error=ReportError)
            if fig_stage is not None:
                for f in sorted(fig_stage.iterdir()):
                    os.replace(f, fig_stage.parent / f.name)
                fig_stage.rmdir()
    except BaseException:
        for tmp in (tmp_nb, tmp_pdf, tmp_html):
            if tmp is not None:
                discard(tmp)
        if fig_stage is not None:
            shutil.rmtree(fig_stage, ignore_errors=True)
        remove_created(created)
        raise
    return ReportResult(pdf=out, notebook=nb_out, parameters=params, seconds=seconds, html=html_out)


#: Simulator version of the demo cohort.
DEMO_GENERATOR = 2


def run_demo(out_dir: str | os.PathLike[str] = "reports", *, n: int = 2000, seed: int = 2026, title: str | None = None) -> ReportResult:
    """Simulate a cohort into ``OUT_DIR/demo-cohort`` and write ``OUT_DIR/demo-outcome-report.pdf``.

    The cohort comes from simulator version 2 (``simulate_cohort(n, seed, version=2)``: treatment
    clock, stroke walking, attrition by arm, rater error, missing covariates, late referral; see
    ``docs/simulation.md``). ``seconds`` of the result: ``simulate`` (with saving), ``execute``
    and ``export`` wall times.
    """
    from footdrop_outcomes.cohort.simulate import simulate_cohort

    out_dir = Path(out_dir)
    cohort_dir = out_dir / "demo-cohort"
    t0 = time.perf_counter()
    # the report's kernel starts (and imports what the notebook imports) while the cohort is simulated
    kernel = _start_kernel(notebook_path("outcome_report"), None)
    try:
        simulate_cohort(n, seed, progress=False, version=DEMO_GENERATOR).save(cohort_dir, overwrite=True)
        t1 = time.perf_counter()
        params: dict[str, Any] = {"title": title or f"Foot drop outcome report: synthetic demo cohort ({n:,} patients)"}
        res = render_report("outcome_report", out_dir / "demo-outcome-report.pdf", cohort=cohort_dir.resolve(), parameters=params,
                            _kernel=kernel)
    finally:
        _stop_kernel(kernel)  # (render_report has stopped it already, unless it never ran)
    return ReportResult(pdf=res.pdf, notebook=res.notebook, parameters=res.parameters, seconds={"simulate": t1 - t0, **res.seconds})


