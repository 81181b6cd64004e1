"""Rubin's rules against R's mice::pool on five given completed data sets (tests/data/r_reference_wave2)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.imputation import barnard_rubin_df, pool
from footdrop_outcomes.survival import fit_cox

DATA = Path(__file__).resolve().parents[1] / "data" / "r_reference_wave2"
FORMULA = "cause + severity + age + diabetes + smoker + adherence"
FIELDS = ["estimate", "ubar", "b", "t", "df", "riv", "lambda", "fmi"]


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((DATA / "r_results.json").read_text())["fits"]


@pytest.fixture(scope="module")
def imputed() -> list[pd.DataFrame]:
    return [pd.read_csv(DATA / f"imputed_{m}.csv") for m in range(1, 6)]


def r_name(term: str) -> str:
    """``cause[stroke]`` -> R's ``causestroke``; ``Intercept`` -> ``(Intercept)``."""
    if term == "Intercept":
        return "(Intercept)"
    return re.sub(r"^(\w+)\[(?:T\.)?(.+)\]$", r"\1\2", term)


def compare(summary: pd.DataFrame, r: dict, extra: tuple[str, ...] = ()) -> float:
    s = summary.assign(rterm=summary["term"].map(r_name)).set_index("rterm").loc[r["term"]]
    worst = 0.0
    for ours, theirs in [*((f, f) for f in FIELDS), ("se", "std_error"), ("lower", "conf_low"), ("upper", "conf_high"), *extra]:
        got, want = s[ours].to_numpy(dtype=float), np.asarray(r[theirs], dtype=float)
        rel = np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-12))
        assert rel < 1e-4, (ours, rel)
        worst = max(worst, rel)
    assert np.all(s["dfcom"].to_numpy() == np.asarray(r["dfcom"], dtype=float))
    return worst


def test_pool_cox_matches_mice(ref, imputed):
    fits = [fit_cox(d, FORMULA, duration_col="time_weeks") for d in imputed]
    res = pool(fits, exponentiate=True)
    compare(res.summary, ref["pool_cox"], extra=(("statistic", "statistic"), ("p", "p_value")))
    assert res.info["m"] == 5 and res.info["dfcom"] == 924  # events - terms, as mice
    # the diagonal of the pooled covariance is t; exp columns are exp of the t-based CI
    assert np.allclose(np.diag(res.cov), res.summary["t"])
    assert np.allclose(res.summary["exp_lower"], np.exp(res.summary["lower"]))
    assert np.all((res.summary["re"] > 0.9) & (res.summary["re"] <= 1))


def test_pool_lm_matches_mice(ref, imputed):
    fits = [smf.ols(f"np.log(time_weeks) ~ {FORMULA}", data=d[d["event"] == 1]).fit() for d in imputed]
    res = pool(fits)
    res.summary["term"] = res.summary["term"].str.replace(r"\[T\.", "[", regex=True)
    compare(res.summary, ref["pool_lm"])
    assert res.info["dfcom_source"] == "residual df of the fit"


def test_barnard_rubin_limits():
    # no between variance: df tends to the (adjusted) complete-data df; infinite dfcom gives Rubin's df
    df = barnard_rubin_df(5, np.array([0.0, 0.5]), np.array([1.0, 1.6]), 50)
    assert 45 < df[0] < 50 and df[1] < df[0]
    lam = 1.2 * 0.5 / 1.6
    assert barnard_rubin_df(5, [0.5], [1.6], np.inf)[0] == pytest.approx(4 / lam**2)


def test_pool_refuses_bad_input(imputed):
    a = fit_cox(imputed[0], "age + smoker", duration_col="time_weeks")
    b = fit_cox(imputed[1], "age + diabetes", duration_col="time_weeks")
    with pytest.raises(FootdropError, match="terms"):
        pool([a, b])
    with pytest.raises(ConfigError, match="at least 2"):
        pool([a])
    with pytest.raises(ConfigError, match="dfcom"):
        pool([a, a], dfcom=-1)
    with pytest.raises(FootdropError, match="no params"):
        pool([object(), object()])


def test_pool_other_models_and_identical_fits():
    """Pooling m identical fits: no between variance, the fit's own estimates and SEs, df = adjusted dfcom."""
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.survival import (
        fit_cure_model,
        fit_interval_aft,
        survival_frame,
    )
    from footdrop_outcomes.trajectories import fit_trajectory

    cohort = simulate_cohort(400, seed=3)
    frame = survival_frame(cohort)
    frame = frame[frame["cause"] != "als"]
    fits = {
        "aft": fit_interval_aft(frame, "severity + age"),
        "cure": fit_cure_model(frame, incidence_formula="severity", latency_formula="severity + age"),
        "traj": fit_trajectory(cohort, "gait_speed", "time * severity + age_c", progress=False),
    }
    for name, fit in fits.items():
        res = pool([fit, fit, fit])
        s = res.summary
        assert np.allclose(s["estimate"], fit.params.to_numpy()) and np.allclose(s["b"], 0), name
        assert np.allclose(s["se"], np.sqrt(np.diag(fit.cov.to_numpy()))), name
        dfc = fit.info["n"] - len(fit.params)
        dfold, dfobs = 2 / 1e-4**2, (dfc + 1) / (dfc + 3) * dfc * (1 - 1e-4)  # lambda floored at 1e-4, as mice
        assert res.info["dfcom"] == dfc and np.allclose(s["df"], dfold * dfobs / (dfold + dfobs), rtol=1e-12), name
    with pytest.raises(FootdropError, match="different kinds"):
        pool([fits["aft"], fits["cure"]])
