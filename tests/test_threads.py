"""BLAS threads inside the toolkit's fits: 1 by default, FOOTDROP_THREADS or set_threads to change, restored after."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

from footdrop_outcomes import ConfigError, _threads
from footdrop_outcomes.survival import cox as cox_mod
from footdrop_outcomes.trajectories import _fast, fit_trajectory


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 120
    d = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 2, n)})
    d["time"] = rng.exponential(size=n) * np.exp(-0.5 * d["a"])
    d["event"] = rng.random(n) < 0.8
    return d


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    monkeypatch.delenv(_threads.ENV_VAR, raising=False)
    _threads.set_threads(None)
    yield
    _threads.set_threads(None)


def _seen_in_fit(monkeypatch, data) -> set[int]:
    seen: list[set[int]] = []
    real = cox_mod._polish

    def spy(*a, **k):
        seen.append(_blas_threads())
        return real(*a, **k)

    monkeypatch.setattr(cox_mod, "_polish", spy)
    cox_mod.fit_cox(data, "a + b")
    return seen[0]


def test_default_is_one_thread_inside_fits_and_restored_after(monkeypatch, data):
    before = _blas_threads()
    assert _seen_in_fit(monkeypatch, data) == {1}
    assert _blas_threads() == before


def test_environment_variable_and_setting(monkeypatch, data):
    outside = max(_blas_threads())
    monkeypatch.setenv(_threads.ENV_VAR, "2")
    assert _threads.fit_threads() == 2
    assert _seen_in_fit(monkeypatch, data) == {min(2, outside)}
    _threads.set_threads("all")  # the setting wins over the environment: no limit
    assert _threads.fit_threads() is None
    assert _seen_in_fit(monkeypatch, data) == _blas_threads()
    monkeypatch.setenv(_threads.ENV_VAR, "many")
    _threads.set_threads(None)
    with pytest.raises(ConfigError, match="FOOTDROP_THREADS"):
        _threads.fit_threads()
    with pytest.raises(ConfigError, match="whole number"):
        _threads.set_threads(-1)


def test_mixed_model_fit_is_limited(monkeypatch):
    seen: list[set[int]] = []
    real = _fast.fit

    def spy(*a, **k):
        seen.append(_blas_threads())
        return real(*a, **k)

    monkeypatch.setattr(_fast, "fit", spy)
    rng = np.random.default_rng(2)
    ids = np.repeat(np.arange(40), 4)
    week = np.tile([0.0, 2, 6, 12], 40)
    y = 1 + 0.3 * np.log1p(week) + rng.normal(0, 0.3, 40)[ids] + rng.normal(0, 0.1, ids.size)
    fit_trajectory(pd.DataFrame({"id": ids, "week": week, "y": y}), "y", "time", id_col="id", time_col="week",
                   random="intercept")
    assert seen == [{1}]
