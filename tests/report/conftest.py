"""Report fixtures: one small saved cohort and each shipped notebook rendered once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from pypdf import PdfReader

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.report import render_report

N_PATIENTS = 500
SEED = 7


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="session")
def cohort_dir(report_dir) -> Path:
    """A 500-patient synthetic cohort saved to disk (seed 7)."""
    return simulate_cohort(N_PATIENTS, SEED, progress=False).save(report_dir / "cohort")


@pytest.fixture(scope="session")
def rendered(cohort_dir, report_dir):
    """Render a shipped notebook once per session: ``rendered("outcome_report")``."""
    cache: dict[str, object] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = render_report(name, report_dir / f"{name}.pdf", cohort=cohort_dir,
                                        parameters={"title": f"Test {name.replace('_', ' ')}"})
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
