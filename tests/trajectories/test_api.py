"""Trajectory API: input checks (each error names the column), fit flags, predictions, MCID time,
model comparison, GEE, plots."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import ConfigError, FootdropError, simulate_cohort
from footdrop_outcomes.trajectories import (
    GEEResult,
    TrajectoryFitWarning,
    TrajectoryResult,
    _fast,
    compare_models,
    fit_trajectory,
    fit_trajectory_gee,
    trajectory_frame,
)

PROFILE = {"cause": "stroke", "severity": "moderate", "age_c": 0.0, "diabetes": 0.0, "current_smoker": 0.0, "fes": 0.0}


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(600, seed=21)


@pytest.fixture(scope="module")
def long(cohort):
    return trajectory_frame(cohort)


@pytest.fixture(scope="module")
def fit(long) -> TrajectoryResult:
    return fit_trajectory(long, "gait_speed")


def _toy(n=60, seed=0, sd_slope=0.05, visits=5):
    """A plain long table from a random intercept (and slope) model."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n), visits)
    weeks = np.tile(np.array([0, 2, 6, 12, 26, 52, 78][:visits], dtype=float), n)
    grp = np.where(np.arange(n) % 2 == 0, "a", "b")[ids]
    u0 = rng.normal(0, 0.3, n)[ids]
    u1 = rng.normal(0, sd_slope, n)[ids] if sd_slope > 0 else 0.0
    lw = np.log1p(weeks)
    y = 1 + 0.2 * lw + 0.1 * (grp == "b") + u0 + u1 * lw + rng.normal(0, 0.1, ids.size)
    return pd.DataFrame({"id": ids, "week": weeks, "grp": grp, "y": y})


# ------------------------------------------------------------------------------------------------
# long table and input checks


def test_trajectory_frame(cohort, long):
    assert len(long) == len(cohort.visits)
    np.testing.assert_allclose(long["lw"], np.log1p(long["day"] / 7))
    np.testing.assert_allclose(long["age_c"], (long["age"] - 60) / 10)
    assert set(long["diabetes"].unique()) <= {0.0, 1.0}
    assert long["adherence"].between(0, 1).all()
    with pytest.raises(FootdropError, match="needs a Cohort"):
        trajectory_frame(long)


def test_missing_outcome_rows_are_dropped_and_counted(long, fit):
    assert fit.info["n_missing_outcome"] == int(long["gait_speed"].isna().sum()) > 0
    assert fit.info["n"] == int(long["gait_speed"].notna().sum())
    assert "missing" not in repr(fit)  # repr states outcome, formula, n and groups
    assert f"n={fit.info['n']}" in repr(fit)


@pytest.mark.parametrize(("change", "match"), [
    (lambda d: d.drop(columns="gait_speed"), "no column 'gait_speed' given as outcome"),
    (lambda d: d.assign(gait_speed=np.nan), r"gait_speed is missing in every row"),
    (lambda d: d.assign(gait_speed="fast"), r"data.gait_speed: the outcome must be numeric"),
    (lambda d: d.assign(weeks=-d["weeks"] - 1), r"data.weeks: times since onset must be finite and >= 0"),
    (lambda d: d.drop(columns="fes"), r"no column\(s\) \['fes'\] used in the formula"),
    (lambda d: d.drop_duplicates("patient_id"), "every patient \\(patient_id\\) has one visit"),
    (lambda d: d.assign(gait_speed=np.where(d["cause"] == "als", np.nan, d["gait_speed"])),
     r"data.cause: level\(s\) \['als'\] have rows .* but no observed 'gait_speed'"),
])
def test_unusable_input_names_the_column(long, change, match):
    with pytest.raises(FootdropError, match=match):
        fit_trajectory(change(long), "gait_speed")


def test_missing_covariate_is_dropped_with_a_warning_and_counted_or_refused(long):
    from footdrop_outcomes.survival import MissingDataWarning

    d = long.assign(age_c=np.where(np.arange(len(long)) == 3, np.nan, long["age_c"]))
    with pytest.warns(MissingDataWarning, match=r"fit_trajectory: 1 of \d+ rows of data \(from 1 of \d+ patients"):
        fit = fit_trajectory(d, "gait_speed")
    assert fit.info["n_dropped_missing"] == 1 and fit.info["dropped_by_variable"] == {"age_c": 1}
    assert fit.info["n_patients_with_dropped_rows"] == 1
    with pytest.raises(FootdropError, match=r"data.age_c has 1 missing value"):
        fit_trajectory(d, "gait_speed", missing="raise")


def test_option_errors(long):
    with pytest.raises(ConfigError, match=r"method must be one of \['reml', 'ml'\]"):
        fit_trajectory(long, method="REML")
    with pytest.raises(ConfigError, match=r"engine must be one of \['fast', 'statsmodels'\]"):
        fit_trajectory(long, engine="lme4")
    with pytest.raises(ConfigError, match=r"random must be one of"):
        fit_trajectory(long, random="slopes")
    with pytest.raises(ConfigError, match=r"time must be one of \['log', 'linear', 'months', 'spline'\]"):
        fit_trajectory(long, time="quadratic")
    with pytest.raises(ConfigError, match="df of the natural spline"):
        fit_trajectory(long, time="spline", df=7)
    with pytest.raises(ConfigError, match="random effects with random="):
        fit_trajectory(long, formula="time + (1 + lw | patient_id)")
    with pytest.raises(ConfigError, match="right-hand side only"):
        fit_trajectory(long, formula="gait_speed ~ time")
    with pytest.raises(FootdropError, match="collinear"):
        fit_trajectory(long.assign(age2=2 * long["age_c"]), formula="time + age_c + age2")


def test_no_slope_without_time_variation():
    d = _toy()
    d = d.assign(week=(d["id"] % 7) * 3.0)  # time differs between patients, not within
    with pytest.raises(FootdropError, match="no patient has visits at two different times"):
        fit_trajectory(d, "y", "time + grp", id_col="id", time_col="week")
    # a random intercept is fine
    f = fit_trajectory(d, "y", "time + grp", random="intercept", id_col="id", time_col="week")
    assert f.info["random_effects"] == ["Intercept"]


def test_unused_categories_are_dropped_and_reported(long):
    sub = long[long["cause"].isin(["stroke", "peroneal_compression"])]
    f = fit_trajectory(sub, "gait_speed", "time * cause + severity")
    assert "als" in f.info["dropped_levels"]["cause"]
    assert f.design.levels["cause"] == ("peroneal_compression", "stroke")


# ------------------------------------------------------------------------------------------------
# fit flags: boundary and non-convergence are reported, never silent


def test_boundary_fit_is_flagged():
    d = _toy(n=80, sd_slope=0.0)
    with pytest.warns(TrajectoryFitWarning, match="boundary fit"):
        f = fit_trajectory(d, "y", "time + grp", id_col="id", time_col="week")
    assert f.info["boundary"] and f.info["boundary_detail"]
    assert f.info["converged"]
    vc = f.variance_components
    assert vc["note"].iloc[:4].str.contains("boundary").all() and vc["lower"].isna().all()
    assert "boundary=True" in repr(f)


def test_non_convergence_is_reported(long, monkeypatch):
    real = _fast.fit

    def stuck(bl, reml, theta0=None, **kw):
        out = real(bl, reml, theta0, **kw)
        out.converged, out.projected_gradient = False, 12.5
        return out

    monkeypatch.setattr(_fast, "fit", stuck)
    with pytest.warns(TrajectoryFitWarning, match="did not converge"):
        f = fit_trajectory(long, "gait_speed", "time + severity")
    assert f.info["converged"] is False
    assert any("did not converge" in w for w in f.info["warnings"])


def test_fallback_optimisers_are_recorded(long):
    f = fit_trajectory(long, "gait_speed", "time + severity")
    assert f.info["attempts"][0]["optimizer"] == "L-BFGS-B"
    assert f.info["projected_gradient"] < 1e-3


# ------------------------------------------------------------------------------------------------
# engines and bases


@pytest.mark.parametrize(("time", "random"), [("spline", "intercept"), ("spline", "slope"), ("log", "intercept")])
def test_fast_equals_statsmodels(long, time, random):
    sub = long[long["patient_id"].isin(long["patient_id"].unique()[:250])]
    kw = dict(formula="time * severity + age_c", time=time, random=random)
    fast = fit_trajectory(sub, "gait_speed", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrajectoryFitWarning)  # statsmodels may retry optimisers
        sm = fit_trajectory(sub, "gait_speed", engine="statsmodels", **kw)
    assert fast.log_likelihood == pytest.approx(sm.info["statsmodels_llf"], rel=1e-6, abs=0)
    assert fast.log_likelihood >= sm.log_likelihood - 1e-6
    np.testing.assert_allclose(fast.params, sm.params, rtol=1e-3, atol=1e-4)


def test_spline_basis_nests_log(long):
    f = fit_trajectory(long, "gait_speed", "time + severity", time="spline", df=3)
    assert [t for t in f.summary["term"] if t in ("lw", "ns1", "ns2")] == ["lw", "ns1", "ns2"]
    assert "knots at weeks" in f.info["time_basis"]
    # beyond the outer knots the spline is linear in lw
    lw = np.linspace(np.log1p(80), np.log1p(200), 5)
    tb = f.design.basis.evaluate(np.expm1(lw))
    assert np.allclose(np.diff(tb, n=2, axis=0), 0, atol=1e-9)


def test_basis_random_effects(long):
    f = fit_trajectory(long, "gait_speed", "time + severity", time="spline", df=2, random="basis")
    assert f.info["random_effects"] == ["Intercept", "lw", "ns1"]
    assert f.cov_re.shape == (3, 3)


def test_progress_bar_can_be_on(long, capsys):
    fit_trajectory(long, "gait_speed", "time + severity", progress=True)
    assert capsys.readouterr().out == ""  # nothing on stdout; the bar is on stderr


# ------------------------------------------------------------------------------------------------
# outputs


def test_summary_and_variance_table(fit):
    s = fit.summary
    assert list(s.columns) == ["term", "estimate", "se", "lower", "upper", "z", "p", "reference"]
    ref = dict(zip(s["term"], s["reference"]))
    assert ref["lw"] == "" and ref["cause[stroke]"] == "cause=peroneal_compression" and ref["severity[severe]"] == "severity=mild"
    assert ref["lw:cause[stroke]"] == "cause=peroneal_compression"
    assert fit.info["reference_levels"]["severity"] == {"level": "mild", "from": "first level of the categorical's order"}
    assert np.all(s["lower"] < s["estimate"]) and np.all(s["estimate"] < s["upper"])
    vc = fit.variance_components
    assert list(vc["group"]) == ["patient_id"] * 3 + ["Residual", "patient_id"]
    sd = vc.set_index("component")
    assert sd.loc["sd_intercept", "vcov"] == pytest.approx(sd.loc["sd_intercept", "estimate"] ** 2)
    assert fit.info["aic"] == pytest.approx(fit.aic) and fit.bic > fit.aic
    assert fit.icc(52) != fit.icc(0)


def test_predictions(fit):
    p = fit.predict(PROFILE, weeks=[0, 12, 52])
    x = fit.design.matrix(pd.DataFrame([PROFILE] * 3), np.array([0.0, 12, 52]))
    np.testing.assert_allclose(p["mean"], x @ fit.params.to_numpy())
    assert np.all(p["lower"] < p["mean"])
    t = fit.trajectories(by=["cause", "severity"], weeks=[0, 26])
    assert len(t) == 8 * 3 * 2
    with pytest.raises(FootdropError, match="not a categorical variable"):
        fit.trajectories(by="age_c")
    with pytest.raises(FootdropError, match="were not levels of the fitted data"):
        fit.predict({**PROFILE, "cause": "gout"}, weeks=[1])


def test_patient_trajectories_match_fitted(fit):
    r = fit.residuals()
    first = r.iloc[:3]
    pid = first["patient_id"].iloc[0]
    pt = fit.patient_trajectories([pid], weeks=r.loc[r["patient_id"] == pid, "weeks"].to_numpy())
    np.testing.assert_allclose(pt["predicted"], r.loc[r["patient_id"] == pid, "fitted_patient"])
    with pytest.raises(FootdropError, match="not patients of this fit"):
        fit.patient_trajectories(["nobody"])


def test_time_to_mcid_log_basis_closed_form(fit):
    out = fit.time_to_mcid(PROFILE, mcid=0.10, n_draws=500, seed=1)
    b = fit.params
    slope = b["lw"] + b["lw:cause[stroke]"] + b["lw:severity[moderate]"]
    exact = math.expm1(0.10 / slope)  # mean(t) - mean(0) = slope * log(1 + t)
    assert out["weeks"].iloc[0] == pytest.approx(exact, rel=2e-3)
    assert out["lower"].iloc[0] < exact < out["upper"].iloc[0]
    assert out["p_reached"].iloc[0] == 1.0
    # a later start needs longer; an impossible MCID is never reached (inf, not NaN)
    later = fit.time_to_mcid(PROFILE, mcid=0.10, from_week=6, n_draws=500)
    assert later["weeks"].iloc[0] > exact
    never = fit.time_to_mcid(PROFILE, mcid=5.0, n_draws=500)
    assert math.isinf(never["weeks"].iloc[0]) and never["p_reached"].iloc[0] == 0.0
    with pytest.raises(ConfigError, match="mcid must be a positive number"):
        fit.time_to_mcid(PROFILE, mcid=-0.1)


def test_compare_models(long):
    base = fit_trajectory(long, "gait_speed", "time + cause + severity", method="ml")
    inter = fit_trajectory(long, "gait_speed", "time * cause + severity", method="ml")
    spline = fit_trajectory(long, "gait_speed", "time * cause + severity", time="spline", method="ml")
    tab = compare_models(spline, base, inter)
    assert tab["model"].tolist() == [2, 3, 1]
    assert tab["df"].tolist()[1:] == [7.0, 16.0]
    assert tab["p"].iloc[1] < 1e-6  # cause x time is real in the generator
    assert tab["p"].iloc[2] > 1e-3  # the generator is linear in lw: spline terms add nothing
    reml = fit_trajectory(long, "gait_speed", "time + cause + severity")
    with pytest.raises(ConfigError, match="mix of REML and ML"):
        compare_models(base, reml)
    other = fit_trajectory(long, "gait_speed", "time + diabetes + cause + severity", method="ml")
    with pytest.raises(FootdropError, match="not nested"):
        compare_models(other, inter)
    with pytest.raises(FootdropError, match="same outcome rows"):
        compare_models(base, fit_trajectory(long, "rom_deg", "time + cause + severity", method="ml"))


def test_gee_agrees_with_mixed_model(long, fit):
    gee = fit_trajectory_gee(long, "gait_speed")
    assert isinstance(gee, GEEResult)
    assert 0 < gee.info["working_correlation"] < 1
    both = gee.summary.set_index("term").join(fit.summary.set_index("term"), rsuffix="_lmm")
    z = (both["estimate"] - both["estimate_lmm"]) / both["se"]
    assert z.abs().max() < 3  # same population-mean model, two estimators
    ind = fit_trajectory_gee(long, "gait_speed", correlation="independence")
    x, y = ind.prepared.x, ind.prepared.y
    np.testing.assert_allclose(ind.params, np.linalg.lstsq(x, y, rcond=None)[0], rtol=1e-8, atol=1e-10)
    assert "exchangeable working correlation" in repr(gee)


def test_plots(fit, long):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = fit.plot(n_patients=15, seed=2)
    assert len(ax.get_lines()) >= 8 + 15
    fig = fit.plot_residuals()
    assert len(fig.axes) == 4
    ax2 = fit_trajectory_gee(long, "gait_speed", "time * severity").plot(by="severity", n_patients=5)
    assert ax2.get_legend() is not None
    plt.close("all")
