"""Fixtures of the data-source tests: the synthetic OMOP CDM (built once per session) and REDCap files."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def omop_maker() -> Any:
    """The fixture generator module (tests/data/omop/make_fixture.py)."""
    return _load("omop_make_fixture", DATA / "omop" / "make_fixture.py")


@pytest.fixture(scope="session")
def omop_fixture(omop_maker: Any) -> dict[str, Any]:
    """The CDM tables and the cohort the import must find."""
    return omop_maker.build()


@pytest.fixture(scope="session")
def redcap_maker() -> Any:
    """The REDCap fixture generator module (tests/data/redcap/make_fixture.py)."""
    return _load("redcap_make_fixture", DATA / "redcap" / "make_fixture.py")
