"""Report fixtures: one small saved cohort and each shipped notebook rendered once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

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
