"""Fixtures for the privacy tests: the worked example's paths, and an extract writer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "data" / "examples"


@pytest.fixture()
def example(tmp_path):
    """A private copy of the worked example (extract + mapping) that a test may spoil."""
    dst = tmp_path / "extract"
    shutil.copytree(EXAMPLE / "site_extract", dst)
    shutil.copy(EXAMPLE / "mapping_example.toml", dst / "mapping.toml")
    return {"mapping": dst / "mapping.toml", "patients": dst / "patients.csv", "visits": dst / "visits.csv",
            "adherence": dst / "adherence.csv", "dir": dst}
