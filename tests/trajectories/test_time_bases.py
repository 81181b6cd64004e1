"""Time bases of the trajectory models: log(1 + weeks), linear weeks, months and the spline.

The random slope, the curves, the plot's axis and time_to_mcid follow the basis; a time variable
written in the formula either sets the basis or is refused with a reason naming the term.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import ConfigError, simulate_cohort
from footdrop_outcomes.trajectories import TrajectoryFitWarning, fit_trajectory, fit_trajectory_gee, trajectory_frame
from footdrop_outcomes.trajectories._design import DAYS_PER_MONTH

WEEKS_PER_MONTH = DAYS_PER_MONTH / 7


@pytest.fixture(scope="module")
def long():
    return trajectory_frame(simulate_cohort(500, seed=31))


def _linear_truth(n: int, seed: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """Long table from a mixed model linear in weeks: y = b0 + b1 w + b2 [grp b] + b3 w [grp b] + u0 + u1 w + e."""
    truth = {"Intercept": 0.5, "weeks": 0.010, "grp[b]": 0.10, "weeks:grp[b]": -0.004}
    rng = np.random.default_rng(seed)
    visits = np.array([0, 2, 6, 12, 26, 52], dtype=float)
    ids = np.repeat(np.arange(n), visits.size)
    w = np.tile(visits, n) + rng.uniform(0, 1, ids.size)
    b = (np.arange(n) % 2 == 1)[ids]
    u0 = rng.normal(0, 0.15, n)[ids]
    u1 = rng.normal(0, 0.004, n)[ids]
    y = (truth["Intercept"] + truth["weeks"] * w + truth["grp[b]"] * b + truth["weeks:grp[b]"] * w * b
         + u0 + u1 * w + rng.normal(0, 0.05, ids.size))
    return pd.DataFrame({"patient_id": ids, "weeks": w, "grp": np.where(b, "b", "a"), "y": y}), truth


# ------------------------------------------------------------------------------------------------
# the example: a time variable in the formula


def test_weeks_in_the_formula_fits_a_linear_model_throughout(long):
    fit = fit_trajectory(long, "gait_speed", "weeks * severity + age_c + diabetes")
    assert fit.info["time"] == "linear" and fit.info["time_basis"] == "linear in weeks since onset"
    assert fit.info["random_effects"] == ["Intercept", "weeks"]  # the random slope is on weeks too
    assert "weeks" in fit.design.terms and "weeks" not in fit.design.variables
    # curves: the mean moves by the fitted slope per week (not flat)
    prof = {"severity": "mild", "age_c": 0.0, "diabetes": 0.0}
    p = fit.predict(prof, weeks=[0.0, 52.0])
    slope = fit.params["weeks"]
    assert p["mean"].iloc[1] - p["mean"].iloc[0] == pytest.approx(52 * slope, rel=1e-10)
    assert abs(52 * slope) > 0.05
    # time to MCID exists and is the analytic crossing of a straight line
    t = fit.time_to_mcid(prof, mcid=0.10, from_week=2.0)
    assert t["weeks"].iloc[0] == pytest.approx(2.0 + 0.10 / slope, rel=1e-3)
    assert t["lower"].iloc[0] < t["weeks"].iloc[0] < t["upper"].iloc[0]
    # the plot is labelled with the basis it shows
    import matplotlib.pyplot as plt

    ax = fit.plot()
    assert ax.get_xlabel() == "weeks since onset" and "log" not in ax.get_title()
    plt.close("all")


def test_time_token_with_time_linear_is_the_same_model(long):
    a = fit_trajectory(long, "gait_speed", "weeks * severity + age_c")
    b = fit_trajectory(long, "gait_speed", "time * severity + age_c", time="linear")
    pd.testing.assert_series_equal(a.params, b.params)
    assert a.log_likelihood == b.log_likelihood


def test_a_time_col_of_another_name_is_linear_weeks(long):
    d = long.rename(columns={"weeks": "week"})
    a = fit_trajectory(d, "gait_speed", "week * severity", time_col="week")
    b = fit_trajectory(long, "gait_speed", "weeks * severity")
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-10)
    assert a.info["time"] == "linear"


@pytest.mark.parametrize(("formula", "time", "match"), [
    ("weeks * severity", "log", r"formula term 'weeks' is weeks since onset, but time='log'"),
    ("lw * severity", "linear", r"formula term 'lw' is log\(1 \+ weeks\), but time='linear'"),
    ("months + severity", "linear", r"formula term 'months' is months since onset, but time='linear'"),
    ("weeks + lw", None, r"time variables of different bases \(\['lw', 'weeks'\]\)"),
    ("time + weeks", "spline", r"formula term 'weeks'"),
    ("lw * severity", "spline", r"formula term 'lw' is only the first column of the spline"),
    ("day * severity", None, r"formula term 'day' is a time variable in days"),
])
def test_time_variables_that_disagree_with_the_basis_are_refused(long, formula, time, match):
    with pytest.raises(ConfigError, match=match):
        fit_trajectory(long, "gait_speed", formula, time=time)


def test_default_and_log_formulas_keep_their_meaning(long):
    a = fit_trajectory(long, "gait_speed", "time * severity")
    b = fit_trajectory(long, "gait_speed", "lw * severity")
    c = fit_trajectory(long, "gait_speed", "time * severity", time="log")
    assert a.info["time"] == b.info["time"] == c.info["time"] == "log"
    pd.testing.assert_series_equal(a.params, b.params)
    pd.testing.assert_series_equal(a.params, c.params)
    spline = fit_trajectory(long, "gait_speed", "time + lw:severity", time="spline")  # lw beside time: a basis column
    assert spline.info["time"] == "spline" and "lw:severity[moderate]" in spline.design.terms


# ------------------------------------------------------------------------------------------------
# months = weeks rescaled: an exact check


def test_months_is_weeks_rescaled(long):
    w = fit_trajectory(long, "gait_speed", "weeks * cause + severity", method="ml")
    m = fit_trajectory(long, "gait_speed", "months * cause + severity", method="ml")
    assert m.info["time_basis"] == "linear in months since onset"
    assert m.log_likelihood == pytest.approx(w.log_likelihood, rel=1e-9)
    for term in w.params.index:
        mt = term.replace("weeks", "months")
        factor = WEEKS_PER_MONTH if "weeks" in term else 1.0
        assert m.params[mt] == pytest.approx(w.params[term] * factor, rel=1e-5, abs=1e-9)
    vw, vm = w.variance_components.set_index("component"), m.variance_components.set_index("component")
    assert vm.loc["sd_slope", "estimate"] == pytest.approx(vw.loc["sd_slope", "estimate"] * WEEKS_PER_MONTH, rel=1e-4)
    assert vm.loc["sd_intercept", "estimate"] == pytest.approx(vw.loc["sd_intercept", "estimate"], rel=1e-4)
    prof = {"cause": "stroke", "severity": "moderate"}
    tw, tm = w.time_to_mcid(prof, mcid=0.1), m.time_to_mcid(prof, mcid=0.1)
    assert tm["weeks"].iloc[0] == pytest.approx(tw["weeks"].iloc[0], rel=1e-4)
    assert tm["months"].iloc[0] == pytest.approx(tw["weeks"].iloc[0] / WEEKS_PER_MONTH, rel=1e-4)
    curves = m.trajectories(by="cause")
    assert np.allclose(curves["months"], curves["weeks"] / WEEKS_PER_MONTH)
    import matplotlib.pyplot as plt

    ax = m.plot()
    assert ax.get_xlabel() == "months since onset"
    assert max(line.get_xdata().max() for line in ax.get_lines()) < curves["weeks"].max() / 4
    plt.close("all")


# ------------------------------------------------------------------------------------------------
# cross-check with statsmodels MixedLM, and recovery of a linear truth


@pytest.mark.parametrize("formula", ["weeks * severity + age_c", "months * severity + age_c"])
def test_linear_bases_fast_equals_statsmodels(long, formula):
    sub = long[long["patient_id"].isin(long["patient_id"].unique()[:150])]
    fast = fit_trajectory(sub, "gait_speed", formula)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrajectoryFitWarning)  # statsmodels may retry optimisers
        sm = fit_trajectory(sub, "gait_speed", formula, engine="statsmodels")
    assert fast.log_likelihood == pytest.approx(sm.info["statsmodels_llf"], rel=1e-6, abs=0)
    np.testing.assert_allclose(fast.params, sm.params, rtol=1e-3, atol=1e-5)


def test_linear_basis_recovers_a_linear_truth():
    """30 replicates x 150 patients: fixed-effect z-scores centred at 0 with unit spread, Wald
    coverage near 95%, mean SD of the random slope near its truth (0.004)."""
    zs, sds = [], []
    for seed in range(30):
        d, truth = _linear_truth(150, seed)
        fit = fit_trajectory(d, "y", "weeks * grp")
        s = fit.summary.set_index("term")
        zs.append([(s.loc[k, "estimate"] - v) / s.loc[k, "se"] for k, v in truth.items()])
        sds.append(fit.variance_components.set_index("component").loc["sd_slope", "estimate"])
    z = np.asarray(zs)
    n = z.size
    assert abs(z.mean()) < 3 / np.sqrt(n)  # mean z within 3 Monte Carlo SEs of 0
    assert 0.75 < z.std() < 1.25
    cover = np.mean(np.abs(z) < 1.96)
    assert abs(cover - 0.95) < 3 * np.sqrt(0.95 * 0.05 / n)
    assert np.mean(sds) == pytest.approx(0.004, rel=0.05)


def test_on_the_simulator_the_log_basis_fits_better_than_linear(long):
    """The simulator's gait model is linear in log(1 + weeks): ML AIC must prefer it."""
    log = fit_trajectory(long, "gait_speed", "time * severity", method="ml")
    lin = fit_trajectory(long, "gait_speed", "time * severity", time="linear", method="ml")
    assert log.n_params == lin.n_params and log.aic < lin.aic - 50


def test_gee_follows_the_basis(long):
    w = fit_trajectory_gee(long, "gait_speed", "weeks * severity", correlation="independence")
    m = fit_trajectory_gee(long, "gait_speed", "months * severity", correlation="independence")
    assert w.info["time"] == "linear" and m.info["time"] == "months"
    assert m.params["months"] == pytest.approx(w.params["weeks"] * WEEKS_PER_MONTH, rel=1e-6)
