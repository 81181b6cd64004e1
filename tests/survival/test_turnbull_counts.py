"""Turnbull on registry-size groups: rows collapsed into counts give the fit of the expanded rows.

The solver sums identical (lower, upper, entry) rows into one row with a count, and rows with the
same runs of innermost intervals (start, end, first interval after entry) into one again. These
tests check (1) the count-weighted information and run sums against a dense implementation from
the definition (an n x m indicator matrix), (2) that a fit with counts equals the fit of the
expanded rows (masses, log-likelihood, curve, CI), with and without late entry, and (3) that
doubling every patient leaves the curve and divides the standard errors by sqrt(2) (the counts
reach the information and the ghost terms).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.survival import competing_frame, survival_frame, turnbull
from footdrop_outcomes.survival._turnbull_solver import (
    _collapse_runs,
    _information,
    _run_sums,
    _turnbull_cov,
    _turnbull_fit,
)
from footdrop_outcomes.survival.turnbull import _turnbull_eval

SEEDS = (11, 12, 13)


def _rows(seed: int, n: int = 1500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = survival_frame(simulate_cohort(n, seed=seed, version=2))
    e = f["entry"].to_numpy(float)
    up = f["upper"].to_numpy(float)
    keep = up > e
    return np.maximum(f["lower"].to_numpy(float), e)[keep], up[keep], e[keep]


@pytest.mark.parametrize("seed", SEEDS)
def test_information_and_run_sums_match_dense_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = 40, 300
    start = rng.integers(0, m, n)
    end = np.minimum(start + rng.integers(1, 8, n), m)
    w = rng.integers(1, 5, n).astype(float)
    p = rng.dirichlet(np.ones(m))
    p[rng.choice(m, 10, replace=False)] = 0.0
    p /= p.sum()
    idx = np.flatnonzero(p > 0)
    a = (np.arange(m)[None, :] >= start[:, None]) & (np.arange(m)[None, :] < end[:, None])  # n x m indicators
    ap = a @ p
    u = np.where(ap > 0, w / np.where(ap > 0, ap, 1.0) ** 2, 0.0)
    ok = ap > 0
    dense = (a[ok][:, idx] * u[ok, None]).T @ a[ok][:, idx]
    got = _information(p, start[ok], end[ok], w[ok], idx)
    np.testing.assert_allclose(got, dense, rtol=1e-12, atol=1e-12 * np.abs(dense).max())
    vals = rng.normal(size=n)
    np.testing.assert_allclose(_run_sums(m, start, end, vals), a.T @ vals, rtol=0, atol=1e-12)
    # collapsing rows with the same runs: sums of weights, and the same information
    s2, e2, t2, w2 = _collapse_runs(m, w, start, end, start.copy())
    assert w2.sum() == pytest.approx(w.sum()) and np.array_equal(s2, t2)
    key = set(zip(start.tolist(), end.tolist(), strict=True))
    assert set(zip(s2.tolist(), e2.tolist(), strict=True)) == key and len(key) == s2.size


def _expand(lo: np.ndarray, up: np.ndarray, e: np.ndarray | None):
    cols = np.c_[lo, up] if e is None else np.c_[lo, up, e]
    uniq, counts = np.unique(cols, axis=0, return_counts=True)
    return uniq, counts.astype(float)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("late", [False, True])
def test_fit_with_counts_equals_fit_of_expanded_rows(seed: int, late: bool) -> None:
    lo, up, e = _rows(seed)
    e_ = e if late else None
    uniq, counts = _expand(lo, up, e_)
    assert counts.max() > 1  # the data have duplicates to collapse
    full = _turnbull_fit(lo, up, tol=1e-9, max_iter=20_000, label="x", entry=e_)
    coll = _turnbull_fit(uniq[:, 0], uniq[:, 1], tol=1e-9, max_iter=20_000, label="x",
                         entry=None if e_ is None else uniq[:, 2], weight=counts)
    np.testing.assert_allclose(coll["p"], full["p"], rtol=0, atol=1e-12)
    assert coll["loglik"] == pytest.approx(full["loglik"], abs=1e-9)
    t = np.unique(np.r_[full["left"][full["support"]], full["right"][full["support"]]])
    t = t[np.isfinite(t) & (t > 0)]
    a, b = _turnbull_eval(full, t, 1.96), _turnbull_eval(coll, t, 1.96)
    for col in ("survival", "se", "lower", "upper"):
        np.testing.assert_allclose(b[col].to_numpy(), a[col].to_numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("late", [False, True])
def test_doubling_every_patient_keeps_the_curve_and_shrinks_se(seed: int, late: bool) -> None:
    lo, up, e = _rows(seed)
    e_ = e if late else None
    one = _turnbull_fit(lo, up, tol=1e-10, max_iter=20_000, label="x", entry=e_)
    two = _turnbull_fit(np.r_[lo, lo], np.r_[up, up], tol=1e-10, max_iter=20_000, label="x",
                        entry=None if e_ is None else np.r_[e_, e_])
    assert np.array_equal(one["support"], two["support"])
    np.testing.assert_allclose(two["p"], one["p"], rtol=0, atol=1e-7)
    assert two["loglik"] == pytest.approx(2 * one["loglik"], rel=1e-9)
    c1, _ = _turnbull_cov(one)
    c2, _ = _turnbull_cov(two)
    np.testing.assert_allclose(2 * c2, c1, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_public_turnbull_on_doubled_frame(seed: int) -> None:
    f = survival_frame(simulate_cohort(1500, seed=seed, version=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = turnbull(f, group="severity", entry_col="entry", min_entered=40, landmarks=[12, 26])
        b = turnbull(pd.concat([f, f], ignore_index=True), group="severity", entry_col="entry", min_entered=80,
                     landmarks=[12, 26])
    np.testing.assert_allclose(b.curves["survival"], a.curves["survival"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(b.curves["se"] * np.sqrt(2), a.curves["se"], rtol=1e-4, atol=1e-10)


def test_competing_frame_reuses_a_built_survival_frame() -> None:
    c = simulate_cohort(400, seed=5, version=2)
    frame = survival_frame(c, threshold=4)
    pd.testing.assert_frame_equal(competing_frame(c, threshold=4, frame=frame), competing_frame(c, threshold=4))
    from footdrop_outcomes.errors import ConfigError

    with pytest.raises(ConfigError):
        competing_frame(c, threshold=3, frame=frame)
    with pytest.raises(ConfigError):
        competing_frame(c, threshold=4, frame=frame.iloc[::-1].reset_index(drop=True))
