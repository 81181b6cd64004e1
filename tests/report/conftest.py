"""Report fixtures: one small saved cohort and each shipped notebook rendered once per session."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pypdf import PdfReader

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.report import render_report, validate_parameters
from footdrop_outcomes.report.parameters import COHORT_REPORTS
from footdrop_outcomes.report.render import ReportResult

N_PATIENTS = 500
SEED = 7


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="session")
def cohort_dir(report_dir) -> Path:
    """A 500-patient synthetic cohort saved to disk (seed 7)."""
    return simulate_cohort(N_PATIENTS, SEED, progress=False).save(report_dir / "cohort")


def _title(name: str) -> str:
    return f"Test {name.replace('_', ' ')}"


@pytest.fixture(scope="session")
def rendered(cohort_dir, report_dir):
    """Render a shipped notebook once per session: ``rendered("outcome_report")``.

    On first use every shipped notebook is rendered at once, two at a time, each by the real
    ``footdrop-outcomes report`` command in its own process (the machine has 2 cores; rendering
    one after the other took about 25 s longer). A notebook whose command failed is rendered
    again in-process on request, so its error surfaces in the test that asks for it."""
    cache: dict[str, object] = {}
    exe = shutil.which("footdrop-outcomes", path=str(Path(sys.executable).parent)) or "footdrop-outcomes"

    def run(name: str) -> tuple[str, bool]:
        done = subprocess.run([exe, "report", "--notebook", name, "--cohort", str(cohort_dir), "-p", "title", _title(name),
                               "--out", str(report_dir / f"{name}.pdf")], capture_output=True, text=True)
        return name, done.returncode == 0

    def prerender() -> None:
        order = sorted(COHORT_REPORTS, key=lambda n: n != "outcome_report")  # the longest first
        with ThreadPoolExecutor(max_workers=2) as pool:
            for name, ok in pool.map(run, order):
                if ok:
                    params = validate_parameters(name, {"title": _title(name), "cohort_path": str(Path(cohort_dir).resolve())})
                    cache[name] = ReportResult(pdf=report_dir / f"{name}.pdf", notebook=report_dir / f"{name}.ipynb",
                                               parameters=params, seconds={})

    def get(name: str):
        if not cache:
            prerender()
        if name not in cache:
            cache[name] = render_report(name, report_dir / f"{name}.pdf", cohort=cohort_dir, parameters={"title": _title(name)})
        return cache[name]

    return get



def read_pdf_text(path: Path) -> str:
    """All page text, whitespace collapsed to single spaces."""
    reader = PdfReader(path)
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def find_text_outside_page(path: Path, tol: float = 1.0) -> list[tuple[int, str, float, float]]:
    """Text runs drawn (wholly or by their origin) outside the page's media box."""
    reader = PdfReader(path)
    bad: list[tuple[int, str, float, float]] = []
    for i, page in enumerate(reader.pages):
        box = page.mediabox
        w, h = float(box.width), float(box.height)

        def visit(text, cm, tm, font_dict, font_size, i=i, w=w, h=h):
            if not text.strip():
                return
            # text origin in device space: tm then cm
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            if x < -tol or y < -tol or x > w + tol or y > h + tol:
                bad.append((i + 1, text.strip()[:40], x, y))

        page.extract_text(visitor_text=visit)
    return bad


@pytest.fixture(scope="session")
def pdf_text():
    """``pdf_text(path)``: all page text, whitespace collapsed."""
    return read_pdf_text


@pytest.fixture(scope="session")
def text_outside_page():
    """``text_outside_page(path)``: text runs whose origin lies outside the page box."""
    return find_text_outside_page


def find_boxes_off_page(notebook: Path, tol: float = 0.5) -> list[tuple[int, str, float, float]]:
    """Table cells and figures whose laid-out right edge runs past their page.

    WeasyPrint clips at the page edge without a word, and pypdf reports a table row as one text
    run from the row's start, so an overflowing column is invisible to text checks. This lays the
    report's HTML out again with WeasyPrint and checks the boxes themselves.
    """
    import nbformat

    import footdrop_outcomes.report.exporter as ex

    captured: dict[str, object] = {}

    def capture(html: str, *, base_url=None) -> bytes:
        captured.update(html=html, base_url=base_url)
        return b""

    original = ex.html_to_pdf
    ex.html_to_pdf = capture
    try:
        ex.FootdropPDFExporter().from_notebook_node(nbformat.read(notebook, as_version=4),
                                                    resources={"metadata": {"name": notebook.stem, "path": str(notebook.parent)}})
    finally:
        ex.html_to_pdf = original
    with warnings.catch_warnings():
        # the same notice the exporter silences: font subsetting falls back to fontTools
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
        import weasyprint

        doc = weasyprint.HTML(string=captured["html"], base_url=captured["base_url"]).render()
    bad = []
    for i, page in enumerate(doc.pages):
        stack = [page._page_box]
        while stack:
            box = stack.pop()
            stack.extend(getattr(box, "children", None) or [])
            tag = getattr(box, "element_tag", None)
            if tag in ("td", "th", "img", "svg") and box.position_x + box.margin_width() > page.width + tol:
                bad.append((i + 1, tag, round(box.position_x + box.margin_width(), 1), round(page.width, 1)))
    return bad


@pytest.fixture(scope="session")
def boxes_off_page():
    """``boxes_off_page(executed_notebook)``: table cells / figures laid out past the page edge."""
    return find_boxes_off_page
