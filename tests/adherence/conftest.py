"""Cohorts shared by the adherence tests (seeded, built once per session)."""

from __future__ import annotations

import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.simulate import SimulationConfig


@pytest.fixture(scope="session")
def cohort_small():
    """600 patients, seed 5."""
    return simulate_cohort(600, seed=5)


@pytest.fixture(scope="session")
def cohort_no_adherence_effect():
    """20,000 patients, seed 2026, adherence effect on recovery switched off (exact Weibull latency)."""
    return simulate_cohort(20_000, seed=2026, config=SimulationConfig(adherence_log_hr=0.0))
