"""The vectorised exchangeable GEE (adherence._gee_fast) against statsmodels' GEE on several data sets."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

from footdrop_outcomes.adherence._gee_fast import fit_exchangeable_gee

TOL = 1e-8


def _clustered(seed: int, family: str, n_clusters: int = 300, p: int = 4, sizes: tuple[int, int] = (1, 25)):
    rng = np.random.default_rng(seed)
    k = rng.integers(sizes[0], sizes[1] + 1, n_clusters)
    g = np.repeat(rng.permutation(n_clusters) * 7 + 3, k)  # labels neither sorted nor consecutive
    n = len(g)
    x = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    x[:, 1] = np.repeat(rng.integers(0, 2, n_clusters), k)  # a cluster-level covariate
    b = rng.normal(scale=0.5, size=p)
    u = np.repeat(rng.normal(scale=0.8, size=n_clusters), k)
    eta = x @ b + u
    if family == "binomial":  # a share (quasi-binomial), as the weekly adherence
        y = np.clip(1 / (1 + np.exp(-(eta + rng.normal(scale=0.6, size=n)))), 0, 1)
        fam = sm.families.Binomial()
    else:
        y = eta + rng.normal(size=n)
        fam = sm.families.Gaussian()
    perm = rng.permutation(n)  # rows in any order
    return y[perm], x[perm], g[perm], fam


def _statsmodels(y, x, g, fam, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sm.GEE(y, x, groups=g, family=fam, cov_struct=sm.cov_struct.Exchangeable()).fit(cov_type="robust", **kw)


def _close(a, b):
    """Largest difference, relative where the reference is above 1 in size."""
    return np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.maximum(1.0, np.abs(np.asarray(b))))


def _rel(a, b):
    """Largest relative difference (standard errors)."""
    return np.max(np.abs(np.asarray(a) / np.asarray(b) - 1.0))


def _close_cov(a, b):
    """Largest difference of two covariance matrices, each entry relative to sqrt(b_ii b_jj)."""
    d = np.sqrt(np.diag(np.asarray(b)))
    return np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.outer(d, d))


@pytest.mark.parametrize("family", ["binomial", "gaussian"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agrees_with_statsmodels(seed, family):
    y, x, g, fam = _clustered(seed, family)
    ref = _statsmodels(y, x, g, fam)
    fast = fit_exchangeable_gee(y, x, g, fam)
    assert _close(fast.params, ref.params) < TOL
    assert _rel(fast.bse, ref.bse) < TOL
    assert _close_cov(fast.cov_robust, ref.cov_params()) < TOL
    assert _close_cov(fast.cov_naive, ref.cov_naive) < TOL
    assert abs(fast.dep_params - ref.model.cov_struct.dep_params) < TOL
    assert abs(fast.scale - ref.scale) < TOL
    assert fast.working_correlation() == ref.model.cov_struct.summary()
    assert fast.converged and fast.n_iter == len(ref.fit_history["params"])


def test_agrees_on_the_adherence_trend_data(monkeypatch):
    """adherence_trend's exchangeable fit (the fast path) equals statsmodels' GEE on the very data it was given."""
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.adherence import _gee_fast, adherence_trend

    seen = []

    def spy(y, x, g, fam, **kw):
        seen.append((y, x, g, fam))
        return fit_exchangeable_gee(y, x, g, fam, **kw)

    monkeypatch.setattr(_gee_fast, "fit_exchangeable_gee", spy)
    for seed in (4, 5):
        res = adherence_trend(simulate_cohort(400, seed=seed, progress=False, version=2), group="supervised_physio")
        y, x, g, fam = seen[-1]
        ref = _statsmodels(y, x, g, fam, maxiter=100)
        assert _close(res.fit.params, ref.params) < TOL and _rel(res.fit.bse, ref.bse) < TOL
        assert abs(res.fit.dep_params - ref.model.cov_struct.dep_params) < TOL
        assert res.fit.working_correlation() == ref.model.cov_struct.summary()
    assert len(seen) == 2  # the trend used the fast path both times


def test_iteration_limit_is_statsmodels():
    y, x, g, fam = _clustered(6, "binomial")
    ref = _statsmodels(y, x, g, fam, maxiter=2)
    fast = fit_exchangeable_gee(y, x, g, fam, maxiter=2)
    assert not fast.converged and fast.n_iter == 2
    assert _close(fast.params, ref.params) < TOL and _rel(fast.bse, ref.bse) < TOL


@pytest.mark.parametrize("family", ["binomial", "gaussian"])
def test_one_row_per_cluster_gives_statsmodels_zero_correlation(family):
    y, x, g, fam = _clustered(7, family, sizes=(1, 1))
    ref = _statsmodels(y, x, g, fam)
    fast = fit_exchangeable_gee(y, x, g, fam)
    assert fast.dep_params == 0.0 == float(np.asarray(ref.model.cov_struct.dep_params))
    assert _close(fast.params, ref.params) < TOL and _rel(fast.bse, ref.bse) < TOL
