"""Shared fixtures: small simulated cohorts (seeded, session-scoped so they are built once)."""

from __future__ import annotations

import pytest

from footdrop_outcomes import simulate_cohort


@pytest.fixture(scope="session")
def small_cohort():
    """400 patients, seed 11: enough rows of every kind for schema and recovery tests."""
    return simulate_cohort(400, seed=11)


@pytest.fixture(scope="session")
def large_cohort():
    """30,000 patients, seed 2026: for calibration checks (about 2 s to simulate)."""
    return simulate_cohort(30_000, seed=2026)
