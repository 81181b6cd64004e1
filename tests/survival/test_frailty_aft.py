"""Interval-censored AFT with a random site intercept (survival/aft_random.py).

* The adaptive Gauss-Hermite marginal log-likelihood equals brute-force adaptive integration
  (scipy ``quad``) of each site's integral, and its gradient and Hessian equal central differences.
* With the site SD fixed near 0 it is the AFT fit without site effect (``fit_interval_aft``).
* Against the simulated truth over 40 replicates: coefficients, log scale and tau within 3.5 MC SE
  (the 200-replicate study with coverage is ``benchmarks/study_frailty.py aft``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from footdrop_outcomes.release import ReleasePolicy
from footdrop_outcomes.survival import fit_interval_aft
from footdrop_outcomes.survival._design import _build_design, _outcome
from footdrop_outcomes.survival._likelihood import _Dist, _interval_terms, _log_bounds
from footdrop_outcomes.survival.aft_random import _Marginal, fit_interval_aft_random

TRUTH = {"Intercept": 2.5, "x1": 0.4, "x2": -0.3, "log(scale)": math.log(0.6), "tau": 0.3}


def simulate(seed: int, sites: int = 12, per_site: int = 50, tau: float = 0.3, distribution: str = "weibull") -> pd.DataFrame:
    """Weibull (or log-normal) AFT with a normal site intercept; visits every 2 weeks up to a random last visit (right-censored there)."""
    rng = np.random.default_rng(seed)
    n = sites * per_site
    site = np.repeat(np.arange(sites), per_site)
    z = rng.normal(size=sites)[site]
    x1 = rng.normal(size=n)
    x2 = rng.integers(0, 2, n)
    w = np.log(rng.exponential(size=n)) if distribution == "weibull" else rng.normal(size=n)
    t = np.exp(TRUTH["Intercept"] + TRUTH["x1"] * x1 + TRUTH["x2"] * x2 + tau * z + 0.6 * w)
    last = np.floor(rng.uniform(10, 40, n) / 2) * 2  # last visit: recovery is seen at a visit, so only up to it
    seen = t <= last
    lower = np.where(seen, np.floor(t / 2) * 2, last)
    upper = np.where(seen, lower + 2, np.nan)
    return pd.DataFrame({"lower": lower, "upper": upper, "x1": x1, "x2": x2, "site": [f"S{s:02d}" for s in site]})


def _marginal(df: pd.DataFrame, n_nodes: int = 15, distribution: str = "weibull") -> tuple[_Marginal, np.ndarray, object, np.ndarray]:
    lo, up = _outcome(df, "lower", "upper", "data")
    o = _log_bounds(lo, up)
    _, x = _build_design(df, "x1 + x2", "formula", "data")
    g = pd.factorize(df["site"], sort=True)[0][o.perm]
    return _Marginal(x[o.perm], o, _Dist(distribution), g, int(g.max()) + 1, n_nodes), x[o.perm], o, g


@pytest.mark.parametrize(("seed", "distribution"), [(1, "weibull"), (2, "lognormal")])
def test_quadrature_equals_brute_force_integral(seed, distribution):
    df = simulate(seed, distribution=distribution)
    m, x, o, g = _marginal(df, distribution=distribution)
    d = _Dist(distribution)
    theta = np.array([2.45, 0.43, -0.25, math.log(0.55), math.log(0.4)])
    ll = m(theta, 0)
    b, sigma, tau = theta[:3], math.exp(theta[3]), math.exp(theta[4])
    eta0 = x @ b
    total = 0.0
    old = np.seterr(all="ignore")  # the log-likelihood terms warn on rows whose probability rounds to 1
    for i in range(int(g.max()) + 1):
        rows = g == i

        def f(z: float, rows: np.ndarray = rows, shift: float = 0.0) -> float:
            s = float(np.sum(_interval_terms(d, o, eta0 + tau * z, sigma, 0)[0][rows]))
            return math.exp(s - shift - z * z / 2) / math.sqrt(2 * math.pi)

        shift = max(float(np.sum(_interval_terms(d, o, eta0 + tau * z, sigma, 0)[0][rows])) - z * z / 2 for z in np.linspace(-6, 6, 241))
        val, _ = integrate.quad(f, -12, 12, args=(rows, shift), epsabs=0, epsrel=1e-12, limit=400)
        total += math.log(val) + shift
    np.seterr(**old)
    assert ll == pytest.approx(total, abs=1e-8)
    # analytic gradient and Hessian against central differences
    _, grad, hess = m(theta, 2)
    eps = 1e-6
    e = np.eye(theta.size)
    num_g = np.array([(m(theta + eps * e[j], 0) - m(theta - eps * e[j], 0)) / (2 * eps) for j in range(theta.size)])
    num_h = np.array([(m(theta + eps * e[j], 2)[1] - m(theta - eps * e[j], 2)[1]) / (2 * eps) for j in range(theta.size)])
    np.testing.assert_allclose(grad, num_g, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(hess, num_h, rtol=1e-5, atol=1e-4)


def test_laplace_differs_from_quadrature_but_converges():
    """1 node is the Laplace approximation: close to, not equal to, 15 nodes; 15 and 30 nodes agree."""
    df = simulate(3, per_site=15)
    theta = np.array([2.5, 0.4, -0.3, math.log(0.6), math.log(0.5)])
    l1, l15, l30 = (_marginal(df, k)[0](theta, 0) for k in (1, 15, 30))
    assert abs(l15 - l30) < 1e-6
    assert 1e-6 < abs(l1 - l15) < 1.0


def test_without_site_variation_equals_fixed_aft():
    df = simulate(4, tau=0.0)
    m, *_ = _marginal(df)
    fixed = fit_interval_aft(df, "x1 + x2")
    th = np.r_[fixed.params.to_numpy(), math.log(1e-7)]
    assert m(th, 0) == pytest.approx(fixed.log_likelihood, abs=1e-6)


def test_unbiased_over_replicates():
    est = []
    for seed in range(40):
        r = fit_interval_aft_random(simulate(100 + seed), "x1 + x2")
        est.append([*r.params.iloc[:4], r.tau])
    est = np.array(est)
    truth = np.array([TRUTH["Intercept"], TRUTH["x1"], TRUTH["x2"], TRUTH["log(scale)"], TRUTH["tau"]])
    mcse = est.std(axis=0, ddof=1) / np.sqrt(len(est))
    z = (est.mean(axis=0) - truth) / mcse
    assert np.all(np.abs(z[:4]) < 3.5), z
    # tau: ML of an SD from 12 sites is biased down by about 1/(2 * 12) of tau (REML-type bias); allow that
    assert abs(est[:, 4].mean() - TRUTH["tau"]) < 3.5 * mcse[4] + 0.05 * TRUTH["tau"], z


def test_sites_release_and_zero_tau():
    df = simulate(5, sites=6, per_site=30)
    keep = ~((df["site"] == "S02") & (df.groupby("site").cumcount() >= 7))
    df = df[keep]
    r = fit_interval_aft_random(df, "x1 + x2")
    s = r.sites
    assert s.loc[s["site"] == "S02", "n"].iloc[0] == 7
    assert (s["sd"] > 0).all() and (s["sd"] < r.tau).all()  # posterior SD below the prior SD
    rel = r.released(ReleasePolicy(10))
    assert "S02" not in rel.frame["site"].tolist() and len(rel.frame) == 5
    few = df.copy()
    late = (few["site"] == "S04") & (few.groupby("site").cumcount() >= 5)
    few.loc[late, "upper"] = np.nan  # S04: at most 5 recoveries seen
    few.loc[late, "lower"] = np.maximum(few.loc[late, "lower"], 2.0)
    rel = fit_interval_aft_random(few, "x1 + x2").released(ReleasePolicy(10))
    row = rel.frame.set_index("site").loc["S04"]
    assert row["recoveries"] == "-" and row["time ratio (interval)"] == "-" and row["patients"] == "30"
    assert len(r.plot().get_yticklabels()) == 6
    # no site variation at all: every site has the same data pattern
    flat = simulate(6, sites=4, per_site=40, tau=0.0)
    flat["site"] = np.tile([f"S{i}" for i in range(4)], 40)
    with pytest.warns(Warning, match="runs to 0"):
        r0 = fit_interval_aft_random(flat.assign(x1=0.0 + flat["x1"]), "x1 + x2")
    assert r0.tau == 0.0 or r0.variance["p"].iloc[0] > 0.05


def test_profile_fallback_agrees_with_newton():
    """The fallback used when Newton on all parameters fails (profile of log tau, then Newton) reaches the
    same maximum on ordinary data, and stops at the lower end (tau reported as 0) without site variation."""
    from footdrop_outcomes.survival.aft_random import _TAU_ZERO, _profile_then_polish

    df = simulate(7)
    m, *_ = _marginal(df)
    fixed = fit_interval_aft(df, "x1 + x2")
    theta, ll, _, _ = _profile_then_polish(m, fixed.params.to_numpy(), fixed.log_likelihood, "weibull", "site")
    r = fit_interval_aft_random(df, "x1 + x2")
    np.testing.assert_allclose(theta, r.params.to_numpy(), atol=1e-7)
    assert ll == pytest.approx(r.log_likelihood, abs=1e-9)
    flat = simulate(6, sites=4, per_site=40, tau=0.0)
    flat["site"] = np.tile([f"S{i}" for i in range(4)], 40)
    m, *_ = _marginal(flat)
    fixed = fit_interval_aft(flat, "x1 + x2")
    theta, ll, _, _ = _profile_then_polish(m, fixed.params.to_numpy(), fixed.log_likelihood, "weibull", "site")
    assert math.exp(theta[-1]) < _TAU_ZERO
    assert ll <= fixed.log_likelihood + 1e-6


def test_refuses_group_in_formula():
    from footdrop_outcomes.errors import ConfigError

    with pytest.raises(ConfigError, match="both in the formula"):
        fit_interval_aft_random(simulate(1, sites=3, per_site=20), "x1 + site")
