"""Small simulation studies: regression estimates are unbiased within Monte Carlo error and their
95% CIs cover the truth at about the nominal rate (modest size here; larger studies live in
benchmarks/, e.g. study_cure_model.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binom

from footdrop_outcomes.survival import fit_cox, fit_interval_aft

REPS, N = 80, 300
VISITS = np.array([2, 4, 6, 8, 10, 12, 16, 20, 26, 39, 52], dtype=float)


def _check(est: np.ndarray, se: np.ndarray, truth: np.ndarray) -> None:
    z = 1.959963984540054
    cover = (np.abs(est - truth) <= z * se).mean(axis=0)
    mc_se = est.std(axis=0, ddof=1) / np.sqrt(len(est))
    # 80 replicates: Monte Carlo SE of a 95% coverage is 0.024
    assert np.all(np.abs(est.mean(axis=0) - truth) < 3.5 * mc_se), (est.mean(axis=0), truth)
    # two-sided: each parameter's coverage above the 0.5% binomial quantile of a nominal 95%, and
    # over all parameters together (k * 80 intervals) inside the two-sided 99% binomial range, so
    # over-wide intervals fail too (an upper bound per parameter cannot fail with 80 replicates)
    n = len(est)
    assert np.all(cover >= binom.ppf(0.005, n, 0.95) / n), cover
    pooled = cover.mean()
    lo, hi = binom.ppf([0.005, 0.995], n * cover.size, 0.95) / (n * cover.size)
    assert lo <= pooled <= hi, (pooled, lo, hi)
    # model SEs agree with the spread of the estimates
    ratio = se.mean(axis=0) / est.std(axis=0, ddof=1)
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio


def test_interval_censored_weibull_aft_coverage():
    rng = np.random.default_rng(11)
    b = np.array([2.2, 0.3, -0.2])  # intercept, x1, x2 on log-time
    scale = 0.5
    est, se = [], []
    for _ in range(REPS):
        x1, x2 = rng.integers(0, 2, N), rng.normal(size=N)
        w = np.log(rng.exponential(size=N))  # standard minimum extreme value: Weibull times
        t = np.exp(b[0] + b[1] * x1 + b[2] * x2 + scale * w)
        last = rng.integers(5, VISITS.size + 1, N)  # dropout after a random visit
        lower, upper = np.zeros(N), np.full(N, np.inf)
        for i in range(N):
            seen = VISITS[: last[i]]
            before, after = seen[seen < t[i]], seen[seen >= t[i]]
            lower[i] = before.max() if before.size else 0.0
            upper[i] = after.min() if after.size else np.inf
        df = pd.DataFrame({"x1": x1, "x2": x2, "lower": lower, "upper": upper})
        s = fit_interval_aft(df, "x1 + x2", distribution="weibull").summary
        est.append(s["coef"].to_numpy())
        se.append(s["se"].to_numpy())
    _check(np.array(est), np.array(se), np.r_[b, np.log(scale)])


def test_cox_coverage_with_ties_and_censoring():
    rng = np.random.default_rng(12)
    beta = np.array([0.5, -0.3])
    est, se = [], []
    for _ in range(REPS):
        x1, x2 = rng.integers(0, 2, N), rng.normal(size=N)
        t = (rng.exponential(size=N) / np.exp(beta[0] * x1 + beta[1] * x2)) ** (1 / 1.5) * 10
        c = rng.uniform(5, 30, N)
        df = pd.DataFrame({"x1": x1, "x2": x2, "time": np.ceil(np.minimum(t, c)), "event": t <= c})  # weekly ties
        s = fit_cox(df, "x1 + x2").summary
        est.append(s["log_hr"].to_numpy())
        se.append(s["se"].to_numpy())
    _check(np.array(est), np.array(se), beta)
