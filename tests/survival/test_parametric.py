"""Parametric interval-censored models: AFT against R's survreg and lifelines; the cure model
against the simulator's truth."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from scipy.stats import chi2

from footdrop_outcomes import ConfigError, FootdropError, SimulationConfig, simulate_cohort
from footdrop_outcomes.survival._input import survival_frame
from footdrop_outcomes.survival.parametric import (
    AFTResult,
    CureResult,
    compare_distributions,
    fit_cure_model,
    fit_interval_aft,
)

REF_DIR = Path(__file__).resolve().parents[1] / "data" / "r_reference"
FORMULA = "cause + severity + age + diabetes + smoker + adherence"


@pytest.fixture(scope="module")
def interval_data() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "interval.csv")


@pytest.fixture(scope="module")
def r_fits() -> dict:
    return json.loads((REF_DIR / "r_results.json").read_text())["fits"]


@pytest.fixture(scope="module")
def weibull_fit(interval_data) -> AFTResult:
    return fit_interval_aft(interval_data, FORMULA, distribution="weibull")


def _r_key(term: str) -> str:
    return term.replace("[", "=").replace("]", "")  # cause[stroke] -> cause=stroke


# ------------------------------------------------------------------------------------------------
# AFT: R and lifelines


@pytest.mark.parametrize(("distribution", "key"), [("weibull", "weibull_ic"), ("lognormal", "lognormal_ic")])
def test_aft_against_R(interval_data, r_fits, distribution, key):
    r = r_fits[key]["values"]
    fit = fit_interval_aft(interval_data, FORMULA, distribution=distribution)
    s = fit.summary.set_index("term")
    coef_terms = [t for t in s.index if t != "log(scale)"]
    assert len(coef_terms) == sum(k.startswith("coef[") for k in r)
    for term in coef_terms:
        assert s.loc[term, "coef"] == pytest.approx(r[f"coef[{_r_key(term)}]"], rel=1e-6), term
        assert s.loc[term, "se"] == pytest.approx(r[f"se[{_r_key(term)}]"], rel=1e-6), term
    assert s.loc["log(scale)", "coef"] == pytest.approx(r["log_scale"], rel=1e-6)
    assert s.loc["log(scale)", "se"] == pytest.approx(r["se_log_scale"], rel=1e-6)
    assert fit.scale == pytest.approx(r["scale"], rel=1e-6)
    assert fit.log_likelihood == pytest.approx(r["loglik"], rel=1e-8)
    # R's AIC(survreg): the scale counts as a parameter
    assert fit.aic == pytest.approx(-2 * r["loglik"] + 2 * (len(coef_terms) + 1), rel=1e-8)
    assert fit.info["n"] == 1000 and fit.info["events"] == fit.info["n_interval"] + fit.info["n_left"]


def test_aft_summary_columns_and_ratios(weibull_fit):
    s = weibull_fit.summary
    assert s.columns.tolist() == ["term", "coef", "se", "time_ratio", "tr_lower", "tr_upper", "z", "p"]
    assert s["term"].iloc[-1] == "log(scale)"
    np.testing.assert_allclose(s["time_ratio"], np.exp(s["coef"]))
    np.testing.assert_allclose(np.log(s["tr_upper"]) - s["coef"], 1.959964 * s["se"], rtol=1e-5)
    assert (s["tr_lower"] < s["time_ratio"]).all() and (s["time_ratio"] < s["tr_upper"]).all()
    assert s["p"].between(0, 1).all()
    assert repr(weibull_fit).startswith("AFTResult(weibull: cause + severity") and "n=1000, recovered=" in repr(weibull_fit)
    assert weibull_fit.info["reference_levels"] == {"cause": "compression", "severity": "mild"}


@pytest.mark.parametrize(("distribution", "fitter", "loc", "shape"), [
    ("weibull", "WeibullAFTFitter", "lambda_", "rho_"),
    ("lognormal", "LogNormalAFTFitter", "mu_", "sigma_"),
    ("loglogistic", "LogLogisticAFTFitter", "alpha_", "beta_"),
])
def test_aft_against_lifelines(interval_data, distribution, fitter, loc, shape):
    import lifelines

    small = interval_data.iloc[:300].copy()
    formula = "cause + severity + age + diabetes"
    ll_data = small.assign(upper=small["upper"].fillna(np.inf), lower=small["lower"].clip(lower=1e-8))  # lifelines logs lower
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' own deprecation / convergence chatter
        m = getattr(lifelines, fitter)().fit_interval_censoring(ll_data, "lower", "upper", formula=formula)
    ours = fit_interval_aft(small, formula, distribution=distribution)
    theirs = m.params_[loc]
    theirs.index = [t.replace("[T.", "[") for t in theirs.index]
    # lifelines models log(shape) = -log(scale) for the Weibull and log-logistic, log(sigma) = log(scale) for the log-normal
    log_scale = -m.params_[shape]["Intercept"] if distribution != "lognormal" else m.params_[shape]["Intercept"]
    # lifelines' optimiser stops early on the log-logistic (its log-likelihood is lower than ours)
    tol = 1e-3 if distribution == "loglogistic" else 1e-5
    np.testing.assert_allclose(ours.params[theirs.index], theirs.to_numpy(), rtol=tol, atol=tol)
    assert ours.params["log(scale)"] == pytest.approx(log_scale, rel=tol)
    assert ours.log_likelihood >= m.log_likelihood_ - 1e-7
    assert ours.log_likelihood == pytest.approx(m.log_likelihood_, rel=1e-6)
    se_theirs = m.summary.loc[loc, "se(coef)"]
    se_theirs.index = [t.replace("[T.", "[") for t in se_theirs.index]
    np.testing.assert_allclose(ours.summary.set_index("term").loc[se_theirs.index, "se"], se_theirs.to_numpy(), rtol=10 * tol)


def test_median_and_survival_predictions_agree(weibull_fit):
    profile = pd.DataFrame({"cause": ["compression", "stroke", "stroke"], "severity": ["mild", "mild", "severe"],
                            "age": [60, 60, 60], "diabetes": [0, 0, 0], "smoker": [0, 0, 0], "adherence": [0.7, 0.7, 0.7]})
    med = weibull_fit.predict_median(profile)
    p = weibull_fit.params
    lp = p["Intercept"] + p["age"] * 60 + p["adherence"] * 0.7
    assert med["median"].iloc[0] == pytest.approx(math.exp(lp + weibull_fit.scale * math.log(math.log(2))))
    assert (med["median_lower"] < med["median"]).all() and (med["median"] < med["median_upper"]).all()
    # stroke slower than compression, severe slower than mild (R's time ratios are > 1)
    assert med["median"].iloc[0] < med["median"].iloc[1] < med["median"].iloc[2]
    surv = weibull_fit.predict_survival(profile, times=[0.0, 4.0, *med["median"], 200.0])
    at_median = surv[surv["time"].isin(med["median"])]
    own = at_median[np.isclose(at_median["time"].to_numpy(), med["median"].to_numpy()[at_median["profile"]])]
    np.testing.assert_allclose(own["survival"], 0.5, rtol=1e-10)
    assert (surv.loc[surv["time"] == 0, "survival"] == 1).all()
    assert ((surv["survival_lower"] <= surv["survival"]) & (surv["survival"] <= surv["survival_upper"])).all()
    for _, one in surv.groupby("profile"):
        assert np.all(np.diff(one["survival"].to_numpy()) <= 0)
    assert {"cause", "severity", "time", "survival"} <= set(surv.columns)


def test_median_ci_matches_delta_method(weibull_fit):
    profile = pd.DataFrame({"cause": ["neuropathy"], "severity": ["moderate"], "age": [70], "diabetes": [1],
                            "smoker": [1], "adherence": [0.5]})
    med = weibull_fit.predict_median(profile)
    x = np.array([1, 1, 0, 0, 0, 1, 0, 70, 1, 1, 0.5])
    w = math.log(math.log(2))
    j = np.r_[x, weibull_fit.scale * w]
    se = math.sqrt(j @ weibull_fit.cov.to_numpy() @ j)
    assert math.log(med["median_upper"].iloc[0] / med["median"].iloc[0]) == pytest.approx(1.959964 * se, rel=1e-5)


def test_compare_distributions(interval_data, r_fits):
    tab = compare_distributions(interval_data, FORMULA)
    assert tab.columns.tolist() == ["distribution", "log_likelihood", "n_params", "aic", "delta_aic", "scale"]
    assert sorted(tab["distribution"]) == ["loglogistic", "lognormal", "weibull"]
    assert tab["aic"].is_monotonic_increasing and tab["delta_aic"].iloc[0] == 0
    ll = tab.set_index("distribution")["log_likelihood"]
    assert ll["weibull"] == pytest.approx(r_fits["weibull_ic"]["values"]["loglik"], rel=1e-8)
    assert ll["lognormal"] == pytest.approx(r_fits["lognormal_ic"]["values"]["loglik"], rel=1e-8)


def test_aft_accepts_a_cohort_and_plots():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fit = fit_interval_aft(simulate_cohort(600, seed=3), "severity + age + diabetes", distribution="loglogistic")
    assert fit.info["time_unit"] == "weeks" and fit.info["n"] == 600
    ax = fit.plot()
    assert len(ax.get_yticklabels()) == len(fit.summary) - 2
    plt.close("all")


@pytest.mark.parametrize("distribution", ["weibull", "lognormal", "loglogistic"])
def test_analytic_derivatives_match_finite_differences(interval_data, distribution):
    """Gradient and Hessian of the AFT and cure log-likelihoods (SEs rest on the Hessian)."""
    from footdrop_outcomes.survival.parametric import _aft_fun, _cure_fun, _Dist, _log_bounds

    df = interval_data.iloc[:200]
    lo, up = df["lower"].to_numpy(float), df["upper"].fillna(np.inf).to_numpy(float)
    o = _log_bounds(lo, up)
    x = np.column_stack([np.ones(len(df)), (df["age"].to_numpy() - 60) / 10, df["diabetes"].to_numpy()])[o.perm]
    d = _Dist(distribution)
    rng = np.random.default_rng(0)
    for fun, theta in ((_aft_fun(x, o, d), np.r_[2.5, 0.1, 0.2, -0.7]),
                       (_cure_fun(x[:, :2], x, o, d), np.r_[1.0, -0.2, 2.5, 0.1, 0.2, -0.7])):
        theta = theta + rng.normal(0, 0.05, theta.size)
        _, g, h = fun(theta, 2)
        eps = 1e-5
        num_g = np.array([(fun(theta + eps * e, 0) - fun(theta - eps * e, 0)) / (2 * eps) for e in np.eye(theta.size)])
        num_h = np.array([(fun(theta + eps * e, 2)[1] - fun(theta - eps * e, 2)[1]) / (2 * eps) for e in np.eye(theta.size)])
        np.testing.assert_allclose(g, num_g, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(h, num_h, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(h, h.T, atol=1e-10)


# ------------------------------------------------------------------------------------------------
# bad input


def test_upper_not_above_lower_is_refused(interval_data):
    bad = interval_data.copy()
    bad.loc[5, "upper"] = bad.loc[5, "lower"]
    with pytest.raises(FootdropError, match=r"upper must be greater than lower.*rows 5"):
        fit_interval_aft(bad, FORMULA)


def test_negative_lower_is_refused(interval_data):
    bad = interval_data.copy()
    bad.loc[7, "lower"] = -1.0
    with pytest.raises(FootdropError, match=r"data\.lower: times must be finite and >= 0; rows 7"):
        fit_interval_aft(bad, FORMULA)


def test_collinear_covariates_are_named(interval_data):
    bad = interval_data.assign(age_months=interval_data["age"] * 12)
    with pytest.raises(FootdropError, match=r"collinear.*'age(_months)?'.*linear combination of \[.*'age(_months)?'"):
        fit_interval_aft(bad, "cause + age + age_months")
    bad = interval_data.assign(nothing=0.0)
    with pytest.raises(FootdropError, match=r"\['nothing'\] are zero in every row"):
        fit_interval_aft(bad, "age + nothing")


def test_no_recoveries_is_refused(interval_data):
    none = interval_data.assign(upper=np.nan, lower=interval_data["lower"] + 1)
    with pytest.raises(FootdropError, match="no recoveries"):
        fit_interval_aft(none, FORMULA)
    with pytest.raises(FootdropError, match="no recoveries"):
        fit_cure_model(none, incidence_formula="cause", latency_formula="cause")
    left = interval_data.assign(lower=0.0, upper=interval_data["upper"].fillna(100.0))
    with pytest.raises(FootdropError, match="every recovery is left-censored"):
        fit_interval_aft(left, "age")


def test_level_without_recoveries_is_named(interval_data):
    bad = interval_data.copy()
    stroke = bad["cause"] == "stroke"
    bad.loc[stroke, "lower"] = bad.loc[stroke, ["lower", "upper"]].max(axis=1)
    bad.loc[stroke, "upper"] = np.nan
    with pytest.raises(FootdropError, match=r"no recoveries observed where cause\[stroke\] = 1"):
        fit_interval_aft(bad, FORMULA)


def test_other_bad_input(interval_data, weibull_fit):
    with pytest.raises(ConfigError, match="distribution must be one of"):
        fit_interval_aft(interval_data, FORMULA, distribution="gamma")
    with pytest.raises(ConfigError, match="right-hand side only"):
        fit_interval_aft(interval_data, "upper ~ age")
    with pytest.raises(FootdropError, match=r"no column\(s\) \['height'\]"):
        fit_interval_aft(interval_data, "age + height")
    with pytest.raises(ConfigError, match="alpha"):
        fit_interval_aft(interval_data, "age", alpha=1.5)
    miss = interval_data.copy()
    miss.loc[3, "age"] = np.nan
    with pytest.raises(FootdropError, match=r"data\.age has 1 missing value\(s\) \(rows \[3\]"):
        fit_interval_aft(miss, FORMULA, missing="raise")
    profile = pd.DataFrame({"cause": ["tumour"], "severity": ["mild"], "age": [60], "diabetes": [0], "smoker": [0], "adherence": [0.5]})
    with pytest.raises(FootdropError, match=r"profile\.cause: 1 value\(s\) were not levels of the fitted data") as e:
        weibull_fit.predict_median(profile)
    assert "tumour" not in str(e.value)  # no value of the data in a message
    with pytest.raises(FootdropError, match=r"lacks column\(s\) \['adherence'\]"):
        weibull_fit.predict_median(profile.drop(columns="adherence"))
    with pytest.raises(ConfigError, match="times"):
        weibull_fit.predict_survival(profile.assign(cause="stroke"), times=[-1])


# ------------------------------------------------------------------------------------------------
# cure model: parameter recovery against the simulator's truth

INCIDENCE = "cause + severity + age10 + diabetes + delay30"
LATENCY = "cause + severity + age10 + diabetes + hba1c7 + smoking + delay30 + supervised_physio + surgery_any"
REF = "peroneal_compression"
RECOVERING = ("lumbar_radiculopathy", "stroke", "multiple_sclerosis", "peripheral_neuropathy",
              "post_surgical_hip_knee", "post_surgical_spine")


def _analysis_frame(cohort) -> pd.DataFrame:
    """Survival frame without ALS, with the generator's codings (see ``_simulate_chunk``)."""
    df = survival_frame(cohort, time_unit="weeks")
    df = df[df["cause"] != "als"].copy()
    df["age10"] = (df["age"] - 60) / 10
    df["delay30"] = df["days_to_treatment"] / 30
    df["hba1c7"] = np.where(df["diabetes"], np.maximum(df["hba1c"].fillna(0.0) - 7.0, 0.0), 0.0)
    df["surgery_any"] = df["surgery"].isin(["decompression", "nerve_repair_graft"])  # as the generator
    return df


def _truth(cfg: SimulationConfig) -> pd.Series:
    """Generator parameters on the model's scale: logit incidence; AFT latency coef = -log HR / shape."""
    k = cfg.weibull_shape
    rp, inc, lat, med = cfg.recovery_probability, cfg.incidence_log_or, cfg.latency_log_hr, cfg.median_recovery_weeks
    t = {"incidence:Intercept": logit(rp[REF]), "latency:Intercept": math.log(med[REF]) - math.log(math.log(2)) / k}
    for c in RECOVERING:
        t[f"incidence:cause[{c}]"] = logit(rp[c]) - logit(rp[REF])
        t[f"latency:cause[{c}]"] = math.log(med[c] / med[REF])
    for name, key in (("severity[moderate]", "severity[moderate]"), ("severity[severe]", "severity[severe]"),
                      ("age10", "age_per_10y"), ("diabetes", "diabetes"), ("delay30", "delay_per_30d")):
        t[f"incidence:{name}"] = inc[key]
    for name, key in (("severity[moderate]", "severity[moderate]"), ("severity[severe]", "severity[severe]"),
                      ("age10", "age_per_10y"), ("diabetes", "diabetes"), ("hba1c7", "hba1c_per_1pct_above_7"),
                      ("smoking[former]", "smoking[former]"), ("smoking[current]", "smoking[current]"),
                      ("delay30", "delay_per_30d"), ("supervised_physio", "supervised_physio"), ("surgery_any", "surgery")):
        t[f"latency:{name}"] = -lat[key] / k
    t["latency:log(scale)"] = -math.log(k)
    return pd.Series(t)


@pytest.fixture(scope="module")
def cure_setup():
    cfg = dataclasses.replace(SimulationConfig(), adherence_log_hr=0.0)
    cohort = simulate_cohort(20_000, seed=2027, config=cfg)
    df = _analysis_frame(cohort)
    fit = fit_cure_model(df, incidence_formula=INCIDENCE, latency_formula=LATENCY)
    return cfg, cohort, df, fit


def test_cure_model_recovers_truth(cure_setup):
    cfg, _, _, fit = cure_setup
    truth = _truth(cfg)
    assert sorted(truth.index) == sorted(fit.params.index)
    truth = truth[fit.params.index]
    se = np.sqrt(np.diag(fit.cov.to_numpy()))
    z = (fit.params - truth) / se
    assert z.abs().max() < 3.0, z.round(2).to_dict()
    diff = (fit.params - truth).to_numpy()
    wald = diff @ np.linalg.solve(fit.cov.to_numpy(), diff)
    assert chi2.sf(wald, diff.size) > 0.01
    s = fit.summary.set_index(["component", "term", "measure"])
    # the Weibull shape is 3: scale 1/3, and hazard ratios exp(-coef / scale) recover the generator's
    assert s.loc[("latency", "log(scale)", "scale"), "estimate"] == pytest.approx(1 / 3, rel=0.03)
    hr = s.loc[("latency", "severity[severe]", "hazard_ratio")]
    assert hr["lower"] < math.exp(cfg.latency_log_hr["severity[severe]"]) < hr["upper"]
    tr = s.loc[("latency", "severity[severe]", "time_ratio")]
    assert hr["estimate"] == pytest.approx(math.exp(-math.log(tr["estimate"]) / fit.scale))
    assert fit.info["latency_survival_at_end"] < 0.01


def test_cure_fractions_and_medians_match_truth(cure_setup):
    cfg, cohort, df, fit = cure_setup
    tp = cohort.truth.patients.set_index("patient_id").reindex(df["patient_id"].astype(str))
    cause = df["cause"].astype(str).to_numpy()
    cf = fit.cure_fractions(by=["cause"]).set_index("cause")
    true_cf = pd.Series(1 - tp["recovery_probability"].to_numpy(), index=cause).groupby(level=0).mean()
    z_cf = (cf["cure_fraction"] - true_cf[cf.index]) / ((cf["upper"] - cf["lower"]) / (2 * 1.96))
    assert z_cf.abs().max() < 3, z_cf.round(2).to_dict()
    # group medians among recoverers: the mixture over the group's patients under the true model
    k = cfg.weibull_shape
    lam = np.array([cfg.median_recovery_weeks[c] for c in cause]) / math.log(2) ** (1 / k)
    rate = np.exp(tp["latency_linear_predictor"].to_numpy()) / lam**k
    w = tp["recovery_probability"].to_numpy()
    med = fit.recovery_medians(by=["cause"]).set_index("cause")
    for c in med.index:
        i = cause == c
        grid = np.linspace(med.loc[c, "lower"] * 0.8, med.loc[c, "upper"] * 1.2, 4001)
        s_g = (w[i] @ np.exp(-np.outer(rate[i], grid**k))) / w[i].sum()
        true_med = grid[np.argmin(np.abs(s_g - 0.5))]
        half = (med.loc[c, "upper"] - med.loc[c, "lower"]) / 2
        assert abs(med.loc[c, "median"] - true_med) < 1.5 * half, (c, med.loc[c].to_dict(), true_med)
    by2 = fit.cure_fractions(by=["cause", "severity"])
    assert len(by2) == 21 and ((by2["lower"] < by2["cure_fraction"]) & (by2["cure_fraction"] < by2["upper"])).all()


def test_cure_predictions_and_plot(cure_setup):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg, _, df, fit = cure_setup
    ref = pd.DataFrame({"cause": [REF, "stroke"], "severity": ["mild", "mild"], "age10": [0.0, 0.0], "diabetes": [False, False],
                        "delay30": [0.0, 0.0], "hba1c7": [0.0, 0.0], "smoking": ["never", "never"],
                        "supervised_physio": [False, False], "surgery_any": [False, False]})
    # truth within 3.3 SE (a 95% CI misses 1 time in 20 by design; this check should not)
    cure = fit.predict_cure_fraction(ref)
    for i, c in enumerate([REF, "stroke"]):
        lo, hi = logit(cure["lower"].iloc[i]), logit(cure["upper"].iloc[i])
        se = (hi - lo) / (2 * 1.959964)
        assert abs((lo + hi) / 2 - logit(1 - cfg.recovery_probability[c])) < 3.3 * se
    med = fit.predict_median(ref)
    for i, c in enumerate([REF, "stroke"]):
        lo, hi = math.log(med["median_lower"].iloc[i]), math.log(med["median_upper"].iloc[i])
        se = (hi - lo) / (2 * 1.959964)
        assert abs((lo + hi) / 2 - math.log(cfg.median_recovery_weeks[c])) < 3.3 * se
    s = fit.predict_latency_survival(ref, times=med["median"])
    assert s.loc[s["profile"] == 0, "survival"].iloc[0] == pytest.approx(0.5)
    assert isinstance(fit, CureResult) and "right-censored=" in repr(fit)
    ax = fit.plot()
    assert len(ax.get_yticklabels()) == len(fit.incidence_design.terms) + len(fit.latency_design.terms) - 2
    plt.close("all")


def test_cure_model_refuses_separation(small_cohort):
    df = survival_frame(small_cohort)
    df = df[df["cause"] != "als"].copy()
    df["flag"] = df["event"] & (np.arange(len(df)) % 10 == 0)  # everyone flagged recovered: log OR -> infinity
    with pytest.raises(FootdropError, match=r"ran off to infinity.*incidence:flag"):
        fit_cure_model(df, incidence_formula="severity + flag", latency_formula="severity")


def test_cure_model_refuses_a_cause_that_never_recovers(small_cohort):
    df = survival_frame(small_cohort)
    assert (df["cause"] == "als").any()
    with pytest.raises(FootdropError, match=r"incidence_formula: no recoveries observed where cause\[als\] = 1"):
        fit_cure_model(df, incidence_formula="cause + severity", latency_formula="severity")
