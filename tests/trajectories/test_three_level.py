"""Three-level trajectories (visits within patients within sites): ``fit_trajectory(site_col=)``.

* lme4 parity: ``lmer(strength ~ lw * cause + severity + (1 + lw | id) + (1 | site))``, REML and
  ML, on ``tests/data/r_reference_wave2/long_site.csv`` (R 4.2.2, lme4 1.1.31, bobyqa); tolerance
  1e-4 relative for fixed effects, SEs and logLik, 1e-3 for variance components.
* The nested-Woodbury deviance, its analytic gradient and the BLUPs against a dense brute-force
  computation with the full ``V`` (small data, site intercept and site slope).
* Truth: hand-simulated multi-site data, fixed-effect z-scores and the site variance over seeds
  with Monte Carlo SEs (the larger study is ``benchmarks/study_three_level.py``).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import ConfigError, FootdropError
from footdrop_outcomes.trajectories import (
    TrajectoryFitWarning,
    _fast,
    _fast3,
    compare_models,
    fit_trajectory,
)

REF_DIR = Path(__file__).resolve().parents[1] / "data" / "r_reference_wave2"


@pytest.fixture(scope="module")
def long_site() -> pd.DataFrame:
    d = pd.read_csv(REF_DIR / "long_site.csv")
    others = sorted(set(d["cause"]) - {"compression"})
    d["cause"] = pd.Categorical(d["cause"], categories=["compression", *others])
    return d


@pytest.fixture(scope="module")
def r_fits() -> dict:
    return json.loads((REF_DIR / "r_results.json").read_text())["fits"]


def _r_term(term: str) -> str:
    """``lw:cause[stroke]`` -> R's ``lw:causestroke``; ``Intercept`` -> ``(Intercept)``."""
    return "(Intercept)" if term == "Intercept" else term.replace("[", "").replace("]", "")


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize(("method", "key"), [("reml", "lmer3_reml"), ("ml", "lmer3_ml")])
def test_three_level_against_lme4(long_site, r_fits, method, key):
    r = r_fits[key]
    fit = fit_trajectory(long_site, "strength", "time * cause + severity", method=method, id_col="id", time_col="week",
                         site_col="site")
    assert fit.info["converged"] and not fit.info["boundary"]
    assert fit.info["sites"] == 8 and fit.info["groups"] == 1000 and fit.n_params == 12 + 3 + 1 + 1
    s = fit.summary.set_index("term")
    assert sorted(_r_term(t) for t in s.index) == sorted(r["coef"])
    for term in s.index:
        assert _rel(s.loc[term, "estimate"], r["coef"][_r_term(term)]) < 1e-4, term
        assert _rel(s.loc[term, "se"], r["se"][_r_term(term)]) < 1e-4, term
    vc = fit.variance_components.set_index("component")["estimate"]
    for comp, rk in (("sd_intercept", "sd_id_intercept"), ("sd_slope", "sd_id_lw"), ("corr_intercept_slope", "corr_id"),
                     ("sd_site_intercept", "sd_site"), ("sd_residual", "sd_resid")):
        assert _rel(vc[comp], r[rk]) < 1e-3, comp
    assert _rel(fit.log_likelihood, r["loglik"]) < 1e-4
    # our optimum is not worse than lme4's (its bobyqa stops ~1e-5 away in theta)
    assert fit.log_likelihood > r["loglik"] - 1e-6
    conv = fit.info["convergence"]
    assert conv["projected_gradient"] <= _fast.GTOL and conv["relative_change"] <= _fast.XTOL
    # Wald CI of the site SD brackets it, on the log scale (8 sites: wide)
    row = fit.variance_components.set_index("component").loc["sd_site_intercept"]
    assert row["lower"] < row["estimate"] < row["upper"]
    assert row["upper"] / row["lower"] > 1.5


def _small(seed: int, n_pat: int = 24, n_sites: int = 4) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    sites = rng.integers(0, n_sites, n_pat)
    sites[:n_sites] = np.arange(n_sites)
    nv = rng.integers(2, 6, n_pat)
    codes = np.repeat(np.arange(n_pat), nv)
    t = rng.uniform(0, 3, codes.size)
    x = np.column_stack([np.ones(codes.size), t, rng.normal(size=codes.size)])
    y = x @ [1.0, 0.5, 0.2] + rng.normal(size=codes.size)
    return y, x, t, codes, sites


def _dense(theta, y, x, zmat, wmat, codes, sites, reml):
    q, qs = zmat.shape[1], wmat.shape[1]
    th_p, th_s = _fast3.split_theta(np.asarray(theta), q, qs)
    d, d_s = _fast.theta_to_d(th_p, q), _fast.theta_to_d(th_s, qs)
    n = y.size
    v = np.eye(n)
    for i in np.unique(codes):
        m = codes == i
        v[np.ix_(m, m)] += zmat[m] @ d @ zmat[m].T
    for s in np.unique(sites):
        m = sites[codes] == s
        v[np.ix_(m, m)] += wmat[m] @ d_s @ wmat[m].T
    vi = np.linalg.inv(v)
    a = x.T @ vi @ x
    b = np.linalg.solve(a, x.T @ vi @ y)
    e = y - x @ b
    r2 = float(e @ vi @ e)
    nu = n - x.shape[1] if reml else n
    dev = np.linalg.slogdet(v)[1] + nu * (1 + math.log(2 * math.pi * r2 / nu)) + (np.linalg.slogdet(a)[1] if reml else 0.0)
    return dev, b, vi, e, d, d_s, r2 / nu


@pytest.mark.parametrize("qs", [1, 2])
@pytest.mark.parametrize("q", [1, 2])
@pytest.mark.parametrize("reml", [True, False])
def test_nested_woodbury_equals_dense_likelihood_and_gradient(q, qs, reml):
    y, x, t, codes, sites = _small(3)
    zmat = np.column_stack([np.ones(y.size), t])[:, :q]
    wmat = np.column_stack([np.ones(y.size), t])[:, :qs]
    b3 = _fast3.blocks3(y, x, zmat, wmat, codes, sites)
    theta = np.r_[[0.7, -0.2, 0.4][: _fast.n_theta(q)], [0.9, 0.1, 0.3][: _fast.n_theta(qs)]]
    ev = _fast3.evaluate3(theta, b3, reml)
    dev, b, *_ = _dense(theta, y, x, zmat, wmat, codes, sites, reml)
    assert abs(ev.deviance - dev) < 1e-9 * abs(dev)
    np.testing.assert_allclose(ev.beta, b, rtol=1e-10, atol=1e-12)
    h = 1e-6
    fd = [(_dense(theta + h * e, y, x, zmat, wmat, codes, sites, reml)[0]
           - _dense(theta - h * e, y, x, zmat, wmat, codes, sites, reml)[0]) / (2 * h) for e in np.eye(theta.size)]
    np.testing.assert_allclose(ev.gradient, fd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("site_random", ["intercept", "slope"])
def test_blups_equal_dense_conditional_means(site_random):
    data = _simulate(5, n_sites=6, per_site=8, site_sd=0.5, site_slope_sd=0.15)
    fit = fit_trajectory(data, "y", "time + x", id_col="id", site_col="site", site_random=site_random)
    assert fit.info["converged"] and not fit.info["boundary"]
    pr = fit.prepared
    w_cols = fit.site.wmat
    theta = np.r_[fit.theta, fit.site.theta]
    site_codes = pd.factorize(pr.frame["site"], sort=True)[0][np.r_[0, np.flatnonzero(np.diff(pr.codes)) + 1]]
    dev, b, vi, e, d, d_s, sigma2 = _dense(theta, pr.y, pr.x, pr.zmat, w_cols, pr.codes, site_codes, True)
    assert abs(-0.5 * dev - fit.log_likelihood) < 1e-8 * abs(dev)
    np.testing.assert_allclose(fit.params.to_numpy(), b, rtol=1e-9, atol=1e-12)
    sv = fit.site_effects().set_index("site")
    for s, label in enumerate(fit.site.sites):
        m = site_codes[pr.codes] == s
        wv = w_cols[m].T @ vi[m]
        mean = d_s @ (wv @ e)
        var = sigma2 * (d_s - d_s @ wv[:, m] @ w_cols[m] @ d_s)
        np.testing.assert_allclose(sv.loc[label, list(fit.site.names)].to_numpy(dtype=float), mean, rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(sv.loc[label, [f"se_{n}" for n in fit.site.names]].to_numpy(dtype=float),
                                   np.sqrt(np.diag(var)), rtol=1e-7)
    bl = fit.blups().set_index("id")
    for i in (0, 7, 39):
        m = pr.codes == i
        zv = pr.zmat[m].T @ vi[m]
        mean = d @ (zv @ e)
        var = sigma2 * (d - d @ zv[:, m] @ pr.zmat[m] @ d)
        np.testing.assert_allclose(bl.loc[pr.ids[i], list(pr.z_names)].to_numpy(dtype=float), mean, rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(bl.loc[pr.ids[i], [f"se_{n}" for n in pr.z_names]].to_numpy(dtype=float),
                                   np.sqrt(np.diag(var)), rtol=1e-7)
    # patient fits add both BLUPs: y - xb - (V - I) V^-1 e = V^-1 e (relative V)
    np.testing.assert_allclose(fit.residuals()["residual"].to_numpy(), vi @ e, rtol=1e-7, atol=1e-9)
    traj = fit.patient_trajectories([pr.ids[0]], weeks=pr.frame["__t"].to_numpy()[pr.codes == 0])
    np.testing.assert_allclose(traj["predicted"].to_numpy(), (pr.y - vi @ e)[pr.codes == 0], rtol=1e-7)


def _simulate(seed: int, n_sites: int = 15, per_site: int = 20, site_sd: float = 0.3,
              site_slope_sd: float = 0.0) -> pd.DataFrame:
    """Visits within patients within sites: y = 1 + 0.5 lw + 0.3 x + u0 + u1 lw + v0 + v1 lw + e."""
    rng = np.random.default_rng(seed)
    n = n_sites * per_site
    site = np.repeat(np.arange(n_sites), per_site)
    visits = np.array([1.0, 3, 6, 12, 26])
    ids = np.repeat(np.arange(n), visits.size)
    weeks = np.tile(visits, n) * rng.uniform(0.8, 1.2, ids.size)
    lw = np.log1p(weeks)
    xcov = rng.normal(size=n)[ids]
    u = rng.multivariate_normal([0, 0], [[0.4**2, -0.25 * 0.4 * 0.1], [-0.25 * 0.4 * 0.1, 0.1**2]], n)
    v0 = rng.normal(0, site_sd, n_sites)[site]
    v1 = rng.normal(0, site_slope_sd, n_sites)[site] if site_slope_sd > 0 else np.zeros(n)
    y = (1 + 0.5 * lw + 0.3 * xcov + u[ids, 0] + u[ids, 1] * lw + v0[ids] + v1[ids] * lw
         + rng.normal(0, 0.3, ids.size))
    return pd.DataFrame({"id": ids, "site": np.array([f"S{k:02d}" for k in range(n_sites)])[site[ids]], "weeks": weeks,
                         "x": xcov, "y": y})


def test_truth_over_seeds():
    """Fixed effects unbiased with calibrated SEs; REML site variance unbiased (Monte Carlo SEs)."""
    truth = np.array([1.0, 0.5, 0.3])
    zs, var_site = [], []
    n_rep = 25
    for seed in range(n_rep):
        fit = fit_trajectory(_simulate(seed), "y", "time + x", id_col="id", site_col="site")
        assert fit.info["converged"]
        zs.append((fit.params.to_numpy() - truth) / fit.summary["se"].to_numpy())
        var_site.append(fit.site.cov_re.iloc[0, 0])
    zs = np.array(zs)
    # z-scores: mean 0 (MC SE 1/sqrt(25) = 0.2) and SD near 1 (MC SE ~0.15; the intercept's is
    # ~1.08 with 15 sites, a t-like excess: 120 other seeds gave 1.08 / 0.96 / 1.06). SEs that
    # ignored the site variance would give the intercept an SD near 3.5.
    assert np.all(np.abs(zs.mean(axis=0)) < 3 / math.sqrt(n_rep))
    assert np.all((zs.std(axis=0, ddof=1) > 0.6) & (zs.std(axis=0, ddof=1) < 1.6))
    var_site = np.array(var_site)
    mc_se = var_site.std(ddof=1) / math.sqrt(n_rep)
    assert abs(var_site.mean() - 0.09) < 3 * mc_se
    assert mc_se < 0.02  # the test has power: a site variance off by 0.06 would fail


def test_likelihood_ratio_for_the_site_level():
    data = _simulate(1, n_sites=10, per_site=15, site_sd=0.5)
    two = fit_trajectory(data, "y", "time + x", id_col="id")
    three = fit_trajectory(data, "y", "time + x", id_col="id", site_col="site")
    table = compare_models(two, three)
    assert table["df"].tolist()[1] == 1.0
    # a site level is a parameter the bigger model must have too
    three_ml = fit_trajectory(data, "y", "time + x", id_col="id", site_col="site", method="ml")
    two_ml = fit_trajectory(data, "y", "time * x", id_col="id", method="ml")
    with pytest.raises(FootdropError, match=r"site:Intercept.*not in model"):
        compare_models(three_ml, two_ml)
    assert three.log_likelihood > two.log_likelihood + 5  # a site SD of 0.5 on 10 sites is plain to see
    # without a site effect the site SD goes (near) zero and the likelihood barely moves
    none = _simulate(2, n_sites=10, per_site=15, site_sd=0.0)
    two0 = fit_trajectory(none, "y", "time + x", id_col="id")
    with warnings.catch_warnings():  # a site SD at 0 is flagged as a boundary fit, or not: either is right here
        warnings.simplefilter("ignore", TrajectoryFitWarning)
        three0 = fit_trajectory(none, "y", "time + x", id_col="id", site_col="site")
    assert three0.log_likelihood >= two0.log_likelihood - 1e-6
    assert three0.log_likelihood - two0.log_likelihood < 2.0


def test_three_level_refusals():
    data = _simulate(3, n_sites=4, per_site=5)
    with pytest.raises(ConfigError, match="engine='fast'"):
        fit_trajectory(data, "y", "time + x", id_col="id", site_col="site", engine="statsmodels")
    with pytest.raises(ConfigError, match="site_random"):
        fit_trajectory(data, "y", "time + x", id_col="id", site_col="site", site_random="basis")
    with pytest.raises(FootdropError, match="no column 'clinic'"):
        fit_trajectory(data, "y", "time + x", id_col="id", site_col="clinic")
    moved = data.copy()
    moved.loc[moved.index[0], "site"] = "S99"
    with pytest.raises(FootdropError, match="1 patients .* more than one site"):
        fit_trajectory(moved, "y", "time + x", id_col="id", site_col="site")
    gap = data.copy()
    gap.loc[gap.index[3], "site"] = None
    with pytest.raises(FootdropError, match="1 fitted rows have no site"):
        fit_trajectory(gap, "y", "time + x", id_col="id", site_col="site")
    with pytest.raises(FootdropError, match="only one site"):
        fit_trajectory(data.assign(site="S01"), "y", "time + x", id_col="id", site_col="site")
    two = fit_trajectory(data, "y", "time + x", id_col="id")
    with pytest.raises(ConfigError, match="three-level"):
        two.site_effects()
