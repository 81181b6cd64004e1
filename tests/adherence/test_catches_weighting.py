"""Propensity weighting where the weights matter, against truths from outside the code (issue 21).

* The treatment effect differs with a confounder, so the ATE (the documented estimand) and the
  ATT differ by many Monte Carlo SEs: ATT weights in place of ATE weights fail.
* The stacked-equation SE of the weighted difference in means equals an independent M-estimation
  sandwich computed here (logistic score + the two Hajek arm means, Jacobian by central finite
  differences): an SE without the propensity term fails.
* The CI is estimate -/+ the normal quantile at ``alpha`` (scipy), at alpha 0.05 and 0.2.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from footdrop_outcomes.adherence import fit_propensity, weighted_comparison
from footdrop_outcomes.adherence.weighting import WeightingWarning

GAMMA = np.array([-0.6, 1.4, 0.8])  # intercept, xb, xc


def _data(rng: np.random.Generator, n: int) -> pd.DataFrame:
    xb = rng.integers(0, 2, n)
    xc = rng.normal(size=n)
    z = rng.random(n) < expit(GAMMA[0] + GAMMA[1] * xb + GAMMA[2] * xc)
    y = 1.0 + 2.0 * xb + 1.5 * xc + z * (0.5 + 2.0 * xb) + rng.normal(size=n)
    return pd.DataFrame({"xb": xb, "xc": xc, "treated": z.astype(int), "y": y})


def _weighted(df: pd.DataFrame, alpha: float = 0.05) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightingWarning)  # chance imbalance above 0.1 in small samples
        ps = fit_propensity(df, "treated", "xb + xc")
    s = weighted_comparison(ps, outcome_col="y", alpha=alpha).summary
    return s[(s["estimand"] == "mean_difference")].set_index("analysis")


def test_weighted_mean_difference_targets_the_ate_not_the_att():
    # truths by a large Monte Carlo over the covariate distribution: ATE = 0.5 + 2 P(xb = 1) = 1.5
    big = _data(np.random.default_rng(0), 400_000)
    ate = 0.5 + 2.0 * big["xb"].mean()
    att = 0.5 + 2.0 * big.loc[big["treated"] == 1, "xb"].mean()
    df = _data(np.random.default_rng(21), 20_000)
    md = _weighted(df)
    w, se = md.loc["weighted", "estimate"], _sandwich(df)[1]  # SE from the independent sandwich below
    assert abs(att - ate) > 8 * se  # the scenario separates the two estimands
    assert abs(w - ate) < 4 * se, (w, ate, att, se)
    assert abs(md.loc["crude", "estimate"] - ate) > 12 * se  # crude is confounded: the weights matter


def _sandwich(df: pd.DataFrame) -> tuple[float, float]:
    x = np.column_stack([np.ones(len(df)), df["xb"], df["xc"]])
    z, y = df["treated"].to_numpy(float), df["y"].to_numpy(float)

    def psi(theta: np.ndarray) -> np.ndarray:
        g, m1, m0 = theta[:3], theta[3], theta[4]
        e = expit(x @ g)
        return np.column_stack([x * (z - e)[:, None], z / e * (y - m1), (1 - z) / (1 - e) * (y - m0)])

    import statsmodels.api as sm

    g = sm.Logit(z, x).fit(disp=0).params
    e = expit(x @ g)
    m1 = np.sum(z / e * y) / np.sum(z / e)
    m0 = np.sum((1 - z) / (1 - e) * y) / np.sum((1 - z) / (1 - e))
    theta = np.r_[g, m1, m0]
    _n, k = len(df), theta.size
    a = np.zeros((k, k))
    for j in range(k):
        h = np.zeros(k)
        h[j] = 1e-6
        a[:, j] = -(psi(theta + h).sum(axis=0) - psi(theta - h).sum(axis=0)) / 2e-6
    b = psi(theta).T @ psi(theta)
    ainv = np.linalg.inv(a)
    v = ainv @ b @ ainv.T
    c = np.r_[0, 0, 0, 1, -1]
    return float(m1 - m0), float(np.sqrt(c @ v @ c))


def test_stacked_se_equals_an_independent_sandwich_and_ci_uses_alpha():
    df = _data(np.random.default_rng(5), 600)
    est, se = _sandwich(df)
    for alpha in (0.05, 0.2):
        md = _weighted(df, alpha).loc["weighted"]
        assert abs(md["estimate"] - est) < 1e-8
        assert abs(md["se"] / se - 1) < 1e-4, (md["se"], se)
        q = stats.norm.ppf(1 - alpha / 2)
        np.testing.assert_allclose([md["lower"], md["upper"]], [est - q * se, est + q * se], rtol=1e-4)
    assert md["se_fixed_weights"] > 1.05 * se  # the propensity term matters here
