"""Robust (sandwich) standard errors of the interval-censored AFT (``robust=``, ``cluster=``).

Oracles: R (``tests/data/r_reference/robust_aft.R``): the sandwich from per-row scores of the
log-likelihood written out in R, and R's own ``survreg(robust = TRUE)`` / ``cluster =``, which
differ from it only by the sign of the log(scale) score of interval-censored rows (a slip in
``residuals.survreg`` of survival 3.5.3, shown here by reproducing R's numbers with that sign
flipped). Late entry: a sandwich written out here from the truncated likelihood. Truth: over
simulated misspecified data the robust SE equals the Monte Carlo SD of the estimates where the
model-based SE does not.
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
from footdrop_outcomes.errors import FootdropWarning
from footdrop_outcomes.survival import MissingDataWarning
from footdrop_outcomes.survival._design import _build_design, _outcome
from footdrop_outcomes.survival._likelihood import _Dist, _log_bounds
from footdrop_outcomes.survival.aft import _aft_fun, _sandwich, fit_interval_aft

REF_DIR = Path(__file__).resolve().parents[1] / "data" / "r_reference"
FORMULA = "cause + severity + age + diabetes + smoker + adherence"


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    d = pd.read_csv(REF_DIR / "interval.csv")
    d["grp"] = d["id"] % 25
    return d


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF_DIR / "robust_aft.json").read_text())


def _r_name(term: str) -> str:
    return {"Intercept": "(Intercept)", "log(scale)": "Log(scale)"}.get(term, term.replace("[", "").replace("]", ""))


def _se(fit) -> pd.Series:
    s = fit.summary.set_index("term")["se"]
    return pd.Series(s.to_numpy(), index=[_r_name(t) for t in s.index])


@pytest.mark.parametrize("distribution", ["weibull", "lognormal"])
def test_robust_and_cluster_equal_R_written_sandwich(data, ref, distribution):
    r = ref[distribution]
    naive = fit_interval_aft(data, FORMULA, distribution=distribution)
    robust = fit_interval_aft(data, FORMULA, distribution=distribution, robust=True)
    clustered = fit_interval_aft(data, FORMULA, distribution=distribution, cluster="grp")
    for fit in (naive, robust, clustered):  # the estimates do not depend on the variance
        assert list(fit.params.index.map(_r_name)) == list(r["coef"])
        np.testing.assert_allclose(fit.params.to_numpy(), list(r["coef"].values()), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(_se(naive), pd.Series(r["se_naive"]), rtol=1e-6)
    np.testing.assert_allclose(_se(robust), pd.Series(r["written_robust"]), rtol=1e-6)
    np.testing.assert_allclose(_se(clustered), pd.Series(r["written_cluster"]), rtol=1e-6)
    # the sandwich is a different number from the model-based SE here (else the test could not fail)
    assert np.max(np.abs(_se(robust) / _se(naive) - 1)) > 0.03
    assert np.max(np.abs(_se(clustered) / _se(robust) - 1)) > 0.1
    assert robust.info["se"].startswith("robust sandwich")
    assert clustered.info["se"].startswith("cluster-robust sandwich, 25 clusters")
    assert clustered.info["cluster"] == "grp" and robust.info["cluster"] is None
    # robust CIs are built from the robust SE
    s = robust.summary.set_index("term")
    np.testing.assert_allclose(np.log(s["tr_upper"]) - s["coef"], 1.959963984540054 * s["se"], rtol=1e-9)
    np.testing.assert_allclose(robust.cov.to_numpy(), robust.cov.to_numpy().T, atol=1e-15)


@pytest.mark.parametrize("distribution", ["weibull", "lognormal"])
def test_R_survreg_robust_is_our_sandwich_with_its_sign_slip(data, ref, distribution):
    """R's survreg(robust = TRUE) equals V (U'U) V once the log(scale) score of the
    interval-censored rows takes R's sign: the whole difference from R is that one sign."""
    r = ref[distribution]
    lo, up = _outcome(data, "lower", "upper", "data")
    _, x = _build_design(data, FORMULA, "formula", "data")
    o = _log_bounds(lo, up)
    fun = _aft_fun(x[o.perm], o, _Dist(distribution))
    fit = fit_interval_aft(data, FORMULA, distribution=distribution)
    scores = fun(fit.params.to_numpy(), 1)
    interval = ((lo > 0) & np.isfinite(up))[o.perm]
    assert 0 < interval.sum() < len(interval)
    slipped = scores.copy()
    slipped[interval, -1] *= -1
    names = list(r["coef"])
    for ids, key in ((None, "survreg_robust"), (data["grp"].to_numpy()[o.perm], "survreg_cluster")):
        cov, _, _ = _sandwich(fit.cov.to_numpy(), slipped, ids, "grp")
        np.testing.assert_allclose(np.sqrt(np.diag(cov)), [r[key][k] for k in names], rtol=1e-6)
        cov_right, _, _ = _sandwich(fit.cov.to_numpy(), scores, ids, "grp")
        assert np.max(np.abs(np.sqrt(np.diag(cov_right)) / [r[key][k] for k in names] - 1)) > 0.01


def _weibull_rows(theta: np.ndarray, x: np.ndarray, lo: np.ndarray, up: np.ndarray, entry: np.ndarray) -> np.ndarray:
    """Per-patient log-likelihood of the left-truncated interval-censored Weibull AFT, from its definition."""
    eta, sigma = x @ theta[:-1], math.exp(theta[-1])

    def surv(t):
        with np.errstate(divide="ignore"):
            return np.exp(-np.exp((np.log(t) - eta) / sigma))

    return np.log(surv(lo) - np.where(np.isfinite(up), surv(up), 0.0)) - np.log(surv(entry))


def test_robust_with_late_entry_equals_sandwich_written_out():
    rng = np.random.default_rng(11)
    n = 400
    age = rng.normal(0, 1, n)
    sev = rng.integers(0, 2, n)
    t = np.exp(2.0 + 0.3 * sev + 0.2 * age + 0.6 * np.log(rng.exponential(size=n)))
    entry = rng.uniform(0, 4, n)
    keep = t > entry
    t, entry, age, sev = t[keep], entry[keep], age[keep], sev[keep]
    visits = entry[:, None] + 2.0 * np.arange(0, 25)[None, :]
    up_idx = (visits < t[:, None]).sum(axis=1)
    lower = visits[np.arange(len(t)), up_idx - 1]
    upper = np.where(up_idx < 25, visits[np.arange(len(t)), np.minimum(up_idx, 24)], np.inf)
    frame = pd.DataFrame({"lower": lower, "upper": upper, "entry": entry, "age": age, "sev": sev})
    fit = fit_interval_aft(frame, "sev + age", entry_col="entry", robust=True)
    naive = fit_interval_aft(frame, "sev + age", entry_col="entry")
    x = np.column_stack([np.ones(len(frame)), sev, age])
    theta = fit.params.to_numpy()
    u = np.empty((len(frame), len(theta)))
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = 1e-6
        u[:, j] = (_weibull_rows(theta + e, x, lower, upper, entry) - _weibull_rows(theta - e, x, lower, upper, entry)) / 2e-6
    assert abs(u.sum(axis=0)).max() < 1e-4  # at the maximum
    v = naive.cov.to_numpy()
    np.testing.assert_allclose(fit.cov.to_numpy(), v @ u.T @ u @ v, rtol=1e-5, atol=1e-12)
    assert fit.info["n_late_entry"] == len(frame)


def test_robust_se_matches_monte_carlo_sd_under_misspecification():
    """log T = 2 + 0.5 x + (0.3 + 0.7 x) W with x = 1 in a fifth of the patients: the scale
    depends on x, which a one-scale model ignores. Over 150 data sets the SD of the x coefficient
    is what the robust SE says; the model-based SE is about half of it."""
    rng = np.random.default_rng(20261203)
    est, se_rob, se_naive = [], [], []
    for _ in range(150):
        n = 300
        x = (rng.random(n) < 0.2).astype(int)
        t = np.exp(2.0 + 0.5 * x + (0.3 + 0.7 * x) * np.log(rng.exponential(size=n)))
        lower = np.floor(t)
        upper = lower + 1.0
        cens = t > 60
        lower[cens], upper[cens] = 60.0, np.inf
        frame = pd.DataFrame({"lower": lower, "upper": upper, "x": x})
        rob = fit_interval_aft(frame, "x", robust=True).summary.set_index("term")
        nai = fit_interval_aft(frame, "x").summary.set_index("term")
        est.append(rob.loc["x", "coef"])
        se_rob.append(rob.loc["x", "se"])
        se_naive.append(nai.loc["x", "se"])
    sd = float(np.std(est, ddof=1))
    # the SD of a normal-sample SD from 150 draws has relative SE about 1/sqrt(2 * 149) = 5.8%;
    # the sandwich itself runs a few per cent small at n = 300 (measured: 0.92 of the SD)
    assert abs(np.mean(se_rob) / sd - 1) < 0.15
    assert np.mean(se_naive) / sd < 0.7


def test_robust_argument_errors_and_missing_cluster(data):
    with pytest.raises(ConfigError, match="robust must be True or False") as err:
        fit_interval_aft(data, "age", robust=data["age"].to_numpy())
    assert str(int(data["age"].iloc[0])) not in str(err.value)
    # a column of values passed as cluster: refused without echoing them
    with pytest.raises(ConfigError, match="name of a column") as err:
        fit_interval_aft(data, "age", cluster=data["age"])
    assert str(int(data["age"].iloc[0])) not in str(err.value).replace("column", "")
    one = data.assign(grp=1)
    with pytest.raises(FootdropError, match="a single cluster"):
        fit_interval_aft(one, "age", cluster="grp")
    few = data.assign(grp=data["id"] % 2)
    with pytest.warns(FootdropWarning, match="not of full rank"):
        fit = fit_interval_aft(few, "age + diabetes", cluster="grp")
    assert fit.info["warnings"] and "2 clusters" in fit.info["se"]
    # ids are taken as they are: 3 and "3" are two clusters
    mixed = data.assign(grp=[i % 5 if i % 2 else str(i % 5) for i in range(len(data))])
    assert fit_interval_aft(mixed, "age", cluster="grp").info["se"].startswith("cluster-robust sandwich, 10 clusters")
    with pytest.raises(FootdropError, match="no column 'site' given as cluster"):
        fit_interval_aft(data, "age", cluster="site")
    d = data.copy()
    d["grp"] = d["grp"].astype("Int64")
    d.loc[d.index[:7], "grp"] = pd.NA
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_interval_aft(d, "age", cluster="grp")
    assert any(issubclass(w.category, MissingDataWarning) for w in caught)
    assert fit.info["n_dropped_missing"] == 7
    assert fit.info["se"].startswith("cluster-robust sandwich, 25 clusters")
