"""Cox models: against R's coxph / cox.zph (stored output), lifelines, brute-force Efron sums,
and the direction of the simulator's effects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from footdrop_outcomes import ConfigError, FootdropError, simulate_cohort
from footdrop_outcomes.survival import _zph
from footdrop_outcomes.survival._zph import cox_zph
from footdrop_outcomes.survival.cox import CoxFitWarning, CoxResult, fit_cox, fit_cox_time_varying

REF_DIR = Path(__file__).resolve().parents[1] / "data" / "r_reference"
FORMULA = "cause + severity + age + diabetes + smoker + adherence"
TV_FORMULA = "cause + severity + age + diabetes + smoker + adherence_in_interval"
CAUSES = ["compression", "neuropathy", "post_surgical", "radiculopathy", "stroke"]  # R reference levels first
SEVERITIES = ["mild", "moderate", "severe"]


def _categoricals(d: pd.DataFrame) -> pd.DataFrame:
    return d.assign(cause=pd.Categorical(d["cause"], categories=CAUSES),
                    severity=pd.Categorical(d["severity"], categories=SEVERITIES))


@pytest.fixture(scope="module")
def r_fits() -> dict:
    return json.loads((REF_DIR / "r_results.json").read_text())["fits"]


@pytest.fixture(scope="module")
def surv() -> pd.DataFrame:
    return _categoricals(pd.read_csv(REF_DIR / "surv.csv"))


@pytest.fixture(scope="module")
def tv() -> pd.DataFrame:
    return _categoricals(pd.read_csv(REF_DIR / "tv.csv"))


@pytest.fixture(scope="module")
def cox_fit(surv) -> CoxResult:
    return fit_cox(surv, FORMULA, duration_col="time_weeks")


def _r_key(term: str) -> str:
    return term.replace("[", "=").replace("]", "")  # cause[stroke] -> cause=stroke


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a / b - 1)))


# ------------------------------------------------------------------------------------------------
# R: coxph, cox.zph, counting process


def test_cox_against_R(cox_fit, r_fits):
    r = r_fits["cox"]["values"]
    s = cox_fit.summary.set_index("term")
    keys = [_r_key(t) for t in s.index]
    assert _rel(s["log_hr"], [r[f"coef[{k}]"] for k in keys]) < 1e-6
    assert _rel(s["se"], [r[f"se[{k}]"] for k in keys]) < 1e-6
    assert cox_fit.log_likelihood == pytest.approx(r["loglik"], rel=1e-9)
    assert cox_fit.info["log_likelihood_null"] == pytest.approx(r["loglik_null"], rel=1e-9)
    assert cox_fit.info["lr_chisq"] == pytest.approx(r["lr_chisq"], rel=1e-6)
    # R's conventions (tied predictions 1/2, tied event times not comparable)
    assert cox_fit.concordance == pytest.approx(r["concordance"], rel=1e-9)
    assert cox_fit.info["converged"] and cox_fit.info["convergence"]["score_se_units"] < 1e-6
    assert cox_fit.info["events"] == r["n_event"] and cox_fit.info["n"] == 1000
    assert cox_fit.info["ties"] == "efron" and cox_fit.info["se"].startswith("model-based")


def test_summary_columns_and_ci(cox_fit):
    s = cox_fit.summary
    assert list(s.columns) == ["term", "log_hr", "se", "hr", "hr_lower", "hr_upper", "z", "p", "reference"]
    assert s["reference"].tolist()[:6] == ["cause=compression"] * 4 + ["severity=mild"] * 2
    assert s["reference"].tolist()[6:] == [""] * 4
    assert cox_fit.info["reference_levels"]["cause"] == {"level": "compression", "from": "first level of the categorical's order"}
    assert s["term"].tolist()[:4] == ["cause[neuropathy]", "cause[post_surgical]", "cause[radiculopathy]", "cause[stroke]"]
    np.testing.assert_allclose(s["hr"], np.exp(s["log_hr"]))
    np.testing.assert_allclose(np.log(s["hr_upper"]) - s["log_hr"], 1.959963984540054 * s["se"])
    np.testing.assert_allclose(s["p"], chi2.sf(s["z"] ** 2, 1))
    np.testing.assert_allclose(cox_fit.hazard_ratios.to_numpy(), s["hr"].to_numpy())
    assert "n=1000" in repr(cox_fit) and "events=934" in repr(cox_fit)


def test_cox_zph_against_R(cox_fit, r_fits):
    r = r_fits["cox_zph"]["values"]
    ph = cox_fit.ph_test
    assert ph["term"].iloc[-1] == "GLOBAL"
    keys = [_r_key(t) for t in ph["term"]]
    assert _rel(ph["chisq"], [r[f"chisq[{k}]"] for k in keys]) < 1e-6
    assert _rel(ph["p"], [r[f"p[{k}]"] for k in keys]) < 1e-6
    assert ph["df"].tolist() == [1] * 10 + [r["df[GLOBAL]"]]
    assert set(ph["verdict"]) == {"no evidence against PH"}  # all R p-values > 0.05
    # not the old approximation (what lifelines' proportional_hazard_test computes)
    approx = r_fits["cox_zph_approx"]["values"]
    assert abs(ph["chisq"].iloc[-1] / approx["chisq[GLOBAL]"] - 1) > 0.05


def test_cox_zph_verdict_uses_alpha(surv):
    fit = fit_cox(surv, FORMULA, duration_col="time_weeks", alpha=0.1)
    assert fit.ph_test.set_index("term").loc["adherence", "verdict"] == "PH violated at alpha=0.1"  # p = 0.062


def test_cox_time_varying_against_R(tv, r_fits):
    r = r_fits["cox_tv"]["values"]
    fit = fit_cox_time_varying(tv, TV_FORMULA, id_col="id")
    s = fit.summary.set_index("term")
    keys = [_r_key(t) for t in s.index]
    assert _rel(s["log_hr"], [r[f"coef[{k}]"] for k in keys]) < 1e-6
    assert _rel(s["se"], [r[f"se[{k}]"] for k in keys]) < 1e-6
    assert fit.log_likelihood == pytest.approx(r["loglik"], rel=1e-9)
    assert fit.info["log_likelihood_null"] == pytest.approx(r["loglik_null"], rel=1e-9)
    assert fit.info["events"] == r["n_event"] and fit.info["n"] == r_fits["cox_tv"]["n_rows"]
    assert fit.info["n_subjects"] == 1000 and fit.concordance is None
    assert fit.ph_test["term"].iloc[-1] == "GLOBAL" and np.all(np.isfinite(fit.ph_test["chisq"]))


def _split(d: pd.DataFrame, at: float) -> pd.DataFrame:
    """Counting-process copy of right-censored data, each patient cut at ``at`` (covariates unchanged)."""
    first = d.assign(start=0.0, stop=np.minimum(d["time_weeks"], at), event=np.where(d["time_weeks"] <= at, d["event"], 0))
    later = d.loc[d["time_weeks"] > at].assign(start=at, stop=lambda x: x["time_weeks"])
    return pd.concat([first, later], ignore_index=True)


def test_counting_process_without_change_equals_fit_cox(surv, cox_fit):
    """Cutting follow-up into episodes changes nothing: estimates, SEs, loglik, PH test, robust SEs."""
    split = _split(surv, 12.0)
    fit = fit_cox_time_varying(split, FORMULA, id_col="id")
    np.testing.assert_allclose(fit.params, cox_fit.params, rtol=1e-9)
    np.testing.assert_allclose(fit.summary["se"], cox_fit.summary["se"], rtol=1e-8)
    assert fit.log_likelihood == pytest.approx(cox_fit.log_likelihood, rel=1e-12)
    np.testing.assert_allclose(fit.ph_test["chisq"], cox_fit.ph_test["chisq"], rtol=1e-7)
    rob_split = fit_cox_time_varying(split, FORMULA, cluster="id", id_col="id")
    rob = fit_cox(surv, FORMULA, duration_col="time_weeks", cluster="id")
    np.testing.assert_allclose(rob_split.summary["se"], rob.summary["se"], rtol=1e-8)


# ------------------------------------------------------------------------------------------------
# cox_zph: invariances of the documented convention


def test_cox_zph_km_transform_ignores_the_time_scale(surv, cox_fit):
    x = cox_fit.design.matrix(surv)[:, 1:]
    t, e = surv["time_weeks"].to_numpy(), surv["event"].to_numpy(bool)
    a = cox_zph(x, cox_fit.params.to_numpy(), t, e)
    b = cox_zph(x, cox_fit.params.to_numpy(), 7 * t, e)  # weeks -> days: same KM, same test
    np.testing.assert_allclose(a["chisq"], b["chisq"], rtol=1e-10)
    # the identity transform is invariant to affine changes of time (R centres g; that does not matter)
    c = cox_zph(x, cox_fit.params.to_numpy(), t, e, transform="identity")
    d = cox_zph(x, cox_fit.params.to_numpy(), 7 * t + 3, e, transform="identity")
    np.testing.assert_allclose(c["chisq"], d["chisq"], rtol=1e-8)
    assert not np.allclose(a["chisq"], c["chisq"])
    assert cox_zph(x, cox_fit.params.to_numpy(), t, e, transform="log")["term"].tolist() == [f"x{j}" for j in range(10)] + ["GLOBAL"]
    with pytest.raises(ConfigError, match="transform"):
        cox_zph(x, cox_fit.params.to_numpy(), t, e, transform="rank")  # type: ignore[arg-type]
    with pytest.raises(FootdropError, match="no events"):
        cox_zph(x, cox_fit.params.to_numpy(), t, np.zeros_like(e))


# ------------------------------------------------------------------------------------------------
# Efron sums against a brute-force loop (tied times, strata, case weights by finite differences)


def _efron_score_brute(x, beta, t, e, w):
    """Weighted Efron score by an explicit loop over event times (R's weighting: mean weight of the deaths)."""
    u = np.zeros(x.shape[1])
    r = w * np.exp(x @ beta)
    for s in np.unique(t[e]):
        dead = (t == s) & e
        risk = t >= s
        d = dead.sum()
        meanw = w[dead].mean()
        u += (w[dead, None] * x[dead]).sum(0)
        for k in range(d):
            f = k / d
            den = r[risk].sum() - f * r[dead].sum()
            num = (r[risk, None] * x[risk]).sum(0) - f * (r[dead, None] * x[dead]).sum(0)
            u -= meanw * num / den
    return u


def test_score_residuals_are_the_derivative_of_the_weighted_score():
    rng = np.random.default_rng(7)
    n = 40
    x = rng.normal(size=(n, 2))
    t = rng.integers(1, 8, n).astype(float)  # many ties
    e = rng.random(n) < 0.7
    beta = np.array([0.4, -0.3])
    ef = _zph.efron(x, x @ beta, _zph.risk_sets(t, e))
    res = _zph.score_residuals(x, ef)
    np.testing.assert_allclose(res.sum(0), _efron_score_brute(x, beta, t, e, np.ones(n)), atol=1e-12)
    h = 1e-6
    for i in (0, 5, 17, 33):
        wp, wm = np.ones(n), np.ones(n)
        wp[i] += h
        wm[i] -= h
        fd = (_efron_score_brute(x, beta, t, e, wp) - _efron_score_brute(x, beta, t, e, wm)) / (2 * h)
        np.testing.assert_allclose(res[i], fd, atol=1e-7)
    # information = minus the derivative of the score
    info = _zph.information(x, ef)
    for j in range(2):
        bp, bm = beta.copy(), beta.copy()
        bp[j] += h
        bm[j] -= h
        fd = -(_efron_score_brute(x, bp, t, e, np.ones(n)) - _efron_score_brute(x, bm, t, e, np.ones(n))) / (2 * h)
        np.testing.assert_allclose(info[:, j], fd, atol=1e-6)


def test_robust_se_matches_lifelines_without_ties():
    """lifelines' sandwich ignores ties; on untied times it must agree with ours."""
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(3)
    n = 300
    d = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 2, n), "site": rng.integers(0, 30, n)})
    d["time"] = rng.exponential(size=n) * np.exp(-0.5 * d["a"] - 0.3 * d["b"])
    d["event"] = rng.random(n) < 0.8
    fit = fit_cox(d, "a + b", cluster="site")
    ref = CoxPHFitter().fit(d, "time", "event", cluster_col="site")
    np.testing.assert_allclose(fit.params, ref.params_, rtol=1e-6)
    np.testing.assert_allclose(fit.summary["se"], ref.standard_errors_, rtol=1e-6)
    assert fit.info["n_clusters"] == 30 and "cluster-robust" in fit.info["se"]
    assert not np.allclose(fit.cov.to_numpy(), fit.cov_model.to_numpy())


def test_strata_against_lifelines(surv):
    from lifelines import CoxPHFitter

    fit = fit_cox(surv, "cause + age + diabetes + smoker + adherence", duration_col="time_weeks", strata="severity")
    plain = surv.drop(columns="id").assign(severity=surv["severity"].astype(str))  # categorical strata: pandas FutureWarning in lifelines
    ref = CoxPHFitter().fit(plain, "time_weeks", "event", strata=["severity"],
                            formula="cause + age + diabetes + smoker + adherence")
    np.testing.assert_allclose(fit.params.to_numpy(), ref.params_.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(fit.summary["se"].to_numpy(), ref.standard_errors_.to_numpy(), rtol=1e-6)
    assert fit.log_likelihood == pytest.approx(ref.log_likelihood_, rel=1e-9)
    assert fit.concordance == pytest.approx(ref.concordance_index_, rel=1e-9)
    assert fit.info["strata"] == ["severity"]
    # counting-process version with the same strata
    tvfit = fit_cox_time_varying(_split(surv, 20.0), "cause + age + diabetes + smoker + adherence", strata="severity", id_col="id")
    np.testing.assert_allclose(tvfit.params, fit.params, rtol=1e-9)
    np.testing.assert_allclose(tvfit.ph_test["chisq"], fit.ph_test["chisq"], rtol=1e-7)


# ------------------------------------------------------------------------------------------------
# simulated cohort


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(4000, seed=404)


def test_simulated_cohort_effect_directions(cohort):
    """The simulator is a mixture cure model with time-varying adherence, so Cox HRs are not its
    latency HRs: only directions and rough size are checked."""
    fit = fit_cox(cohort, "severity + age + diabetes")
    hr = fit.summary.set_index("term")
    assert hr.loc["severity[severe]", "hr_upper"] < hr.loc["severity[moderate]", "hr_lower"] or \
        hr.loc["severity[severe]", "hr"] < hr.loc["severity[moderate]", "hr"]
    assert hr.loc["severity[moderate]", "hr_upper"] < 1 and 0.1 < hr.loc["severity[severe]", "hr"] < 0.9
    assert hr.loc["age", "hr"] < 1 and hr.loc["diabetes", "hr"] < 1
    truth = cohort.truth.value("recovery_latency", "severity[severe]", "hazard_ratio")
    assert np.sign(np.log(truth)) == np.sign(hr.loc["severity[severe]", "log_hr"])
    assert fit.info["n"] == 4000 and fit.info["time_unit"] == "weeks"
    # the time unit does not change hazard ratios
    days = fit_cox(cohort, "severity + age + diabetes", time_unit="days")
    np.testing.assert_allclose(days.params, fit.params, rtol=1e-8)
    assert fit.ph_test["p"].iloc[-1] < 0.05  # a cure model does not have proportional hazards


def test_cohort_with_cluster_and_plot(cohort):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fit = fit_cox(cohort, "severity + age", cluster="site")
    naive = fit_cox(cohort, "severity + age")
    np.testing.assert_allclose(fit.params, naive.params)
    assert fit.info["n_clusters"] == cohort.patients["site"].nunique()
    ax = fit.plot()
    assert ax.get_xscale() == "log" and len(ax.get_yticklabels()) == 3
    plt.close("all")


def test_cause_that_never_recovers_is_named(cohort):
    with pytest.raises(FootdropError, match=r"cause\[als\]"):
        fit_cox(cohort, "cause + age")


# ------------------------------------------------------------------------------------------------
# bad input


def test_collinear_covariates_are_named(surv):
    d = surv.assign(age_months=surv["age"] * 12)
    with pytest.raises(FootdropError, match="collinear.*age"):
        fit_cox(d, "age + age_months + smoker", duration_col="time_weeks")


def test_constant_covariate_is_named(surv):
    with pytest.raises(FootdropError, match=r"\['clinic'\] are constant"):
        fit_cox(surv.assign(clinic="A"), "age + clinic", duration_col="time_weeks")
    with pytest.raises(FootdropError, match="constant"):
        fit_cox(surv.assign(one=1.0), "age + one", duration_col="time_weeks")


def test_term_constant_within_strata_is_named(surv):
    with pytest.raises(FootdropError, match=r"\['severity\[moderate\]', 'severity\[severe\]'\] are constant within every stratum"):
        fit_cox(surv, "severity + age", duration_col="time_weeks", strata="severity")
    d = surv.assign(sev_age=(surv["severity"] == "severe") * 1.0 + surv["age"])  # collinear with age within strata
    with pytest.raises(FootdropError, match="collinear"):
        fit_cox(d, "age + sev_age", duration_col="time_weeks", strata="severity")


def test_missing_columns_and_values(surv, tv):
    with pytest.raises(FootdropError, match="bmi"):
        fit_cox(surv, "age + bmi", duration_col="time_weeks")
    with pytest.raises(FootdropError, match="'time'"):
        fit_cox(surv, "age")  # default duration_col
    d = surv.copy()
    d.loc[3, "age"] = np.nan
    with pytest.raises(FootdropError, match="missing"):
        fit_cox(d, "age", duration_col="time_weeks", missing="raise")
    with pytest.raises(FootdropError, match="strata"):
        fit_cox(surv, "age", duration_col="time_weeks", strata="region")
    with pytest.raises(FootdropError, match="cluster"):
        fit_cox(surv, "age", duration_col="time_weeks", cluster="site")
    with pytest.raises(FootdropError, match="id_col"):
        fit_cox_time_varying(tv.drop(columns="id"), "age", id_col="id")
    bad = tv.copy()
    bad.loc[2, "start"] = bad.loc[2, "stop"]
    with pytest.raises(FootdropError, match=r"start < stop; rows \[2\]"):
        fit_cox_time_varying(bad, "age", id_col="id")


def test_level_without_recoveries_is_named(surv):
    d = surv.copy()
    d.loc[d["cause"] == "stroke", "event"] = 0
    with pytest.raises(FootdropError, match=r"cause\[stroke\]"):
        fit_cox(d, FORMULA, duration_col="time_weeks")


def test_options_are_checked(surv):
    with pytest.raises(ConfigError, match="ties"):
        fit_cox(surv, "age", duration_col="time_weeks", ties="breslow")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="alpha"):
        fit_cox(surv, "age", duration_col="time_weeks", alpha=1.5)
    with pytest.raises(ConfigError, match="right-hand side"):
        fit_cox(surv, "time_weeks ~ age", duration_col="time_weeks")
    with pytest.raises(ConfigError, match="intercept"):
        fit_cox(surv, "cause + age - 1", duration_col="time_weeks")
    with pytest.raises(FootdropError, match="no recoveries"):
        fit_cox(surv.assign(event=0), "age", duration_col="time_weeks")
    with pytest.raises(FootdropError, match="Cohort or a pandas DataFrame"):
        fit_cox([1, 2], "age")  # type: ignore[arg-type]
    ok = fit_cox(surv, "~ age", duration_col="time_weeks")
    assert ok.summary["term"].tolist() == ["age"]


def test_monotone_likelihood_is_refused():
    rng = np.random.default_rng(3)
    n = 200
    d = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 2, n)})
    d["time"] = np.round(rng.exponential(size=n), 1) + 0.1
    d["event"] = rng.random(n) < 0.8
    early = d["b"] == 1  # every b = 1 patient recovers before anyone else
    d.loc[early, "time"] = rng.uniform(0.01, 0.05, early.sum())
    d.loc[early, "event"] = True
    with pytest.raises(FootdropError, match=r"infinity.*\bb\b"):
        fit_cox(d, "a + b")


def test_rescaled_covariate_gives_rescaled_coefficient(surv, cox_fit):
    """Newton-Raphson is affine invariant: a covariate divided by 10,000 (lifelines warned of low variance) fits exactly."""
    d = surv.assign(age_k=surv["age"] / 10_000)
    fit = fit_cox(d, "cause + severity + age_k + diabetes + smoker + adherence", duration_col="time_weeks")
    assert fit.params["age_k"] == pytest.approx(10_000 * cox_fit.params["age"], rel=1e-8)
    assert fit.info["warnings"] == [] and fit.info["converged"]


def test_not_converged_is_flagged(surv, monkeypatch):
    from footdrop_outcomes.survival import cox as cox_mod

    real = cox_mod._polish
    monkeypatch.setattr(cox_mod, "_polish", lambda prob, b, max_steps=100: real(prob, b, max_steps=2))
    with pytest.warns(CoxFitWarning, match="convergence criterion"):
        fit = fit_cox(surv, FORMULA, duration_col="time_weeks")
    assert fit.info["converged"] is False and fit.info["convergence"]["iterations"] == 2
    assert fit.info["convergence"]["score_se_units"] > 1e-6


def _concordance_brute(t, e, eta, s):
    conc = disc = tied = 0
    for i in np.flatnonzero(e):
        later = (s == s[i]) & ((t > t[i]) | ((t == t[i]) & ~e))
        conc += int((eta[later] < eta[i]).sum())
        disc += int((eta[later] > eta[i]).sum())
        tied += int((eta[later] == eta[i]).sum())
    return {"concordant": conc, "discordant": disc, "tied_risk": tied, "comparable": conc + disc + tied}


def test_concordance_equals_brute_force_count():
    rng = np.random.default_rng(11)
    for _ in range(60):
        n = int(rng.integers(2, 80))
        t = rng.integers(1, 9, n).astype(float)  # tied times
        e = rng.random(n) < 0.6
        eta = rng.integers(0, 5, n).astype(float)  # tied predictions
        s = rng.integers(0, int(rng.integers(1, 4)), n)
        if not e.any():
            continue
        c, counts = _zph.concordance(t, e, eta, s)
        ref = _concordance_brute(t, e, eta, s)
        assert counts == ref
        if ref["comparable"]:
            assert c == pytest.approx((ref["concordant"] + ref["tied_risk"] / 2) / ref["comparable"], rel=1e-14)


def test_ph_test_on_request(surv, cox_fit):
    eager = fit_cox(surv, FORMULA, duration_col="time_weeks", ph_test=True)
    assert "ph_test" in eager._cache
    lazy = fit_cox(surv, FORMULA, duration_col="time_weeks")
    assert "ph_test" not in lazy._cache  # not computed inside the fit
    pd.testing.assert_frame_equal(lazy.ph_test, eager.ph_test)
    assert lazy.ph_test is lazy.ph_test  # computed once


def test_reference_argument(surv, cox_fit):
    fit = fit_cox(surv, FORMULA, duration_col="time_weeks", reference={"cause": "stroke"})
    s = fit.summary.set_index("term")
    assert "cause[compression]" in s.index and s.loc["cause[compression]", "reference"] == "cause=stroke"
    # same model, other contrast: HR(compression vs stroke) = 1 / HR(stroke vs compression)
    assert s.loc["cause[compression]", "log_hr"] == pytest.approx(-cox_fit.params["cause[stroke]"], rel=1e-9)
    assert fit.log_likelihood == pytest.approx(cox_fit.log_likelihood, rel=1e-12)
    assert fit.info["reference_levels"]["cause"]["from"] == "reference= argument"
    plain = fit_cox(surv.assign(cause=surv["cause"].astype(str)), FORMULA, duration_col="time_weeks")
    assert "sorted" in plain.info["reference_levels"]["cause"]["from"]
    with pytest.raises(ConfigError, match="does not occur"):
        fit_cox(surv, FORMULA, duration_col="time_weeks", reference={"cause": "als"})
    with pytest.raises(ConfigError, match="not in"):
        fit_cox(surv, FORMULA, duration_col="time_weeks", reference={"site": "A"})


# ------------------------------------------------------------------------------------------------
# case weights


def test_case_weights_match_lifelines_without_ties():
    """Untied times: lifelines' weighted Cox (its Efron loop) is the oracle for estimates, SEs, loglik, robust SEs."""
    import warnings

    from lifelines import CoxPHFitter

    rng = np.random.default_rng(3)
    n = 300
    d = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 2, n), "pid": np.arange(n)})
    d["time"] = rng.exponential(size=n) * np.exp(-0.5 * d["a"] - 0.3 * d["b"])
    d["event"] = rng.random(n) < 0.8
    d["w"] = rng.uniform(0.3, 3.0, n)
    fit = fit_cox(d, "a + b", weights_col="w")
    rob = fit_cox(d, "a + b", weights_col="w", cluster="pid")
    cols = ["a", "b", "time", "event", "w"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines: non-integer weights
        ref = CoxPHFitter().fit(d[cols], "time", "event", weights_col="w")
        ref_rob = CoxPHFitter().fit(d[cols], "time", "event", weights_col="w", robust=True)
    np.testing.assert_allclose(fit.params, ref.params_, rtol=1e-6)
    np.testing.assert_allclose(fit.summary["se"], ref.standard_errors_, rtol=1e-6)
    assert fit.log_likelihood == pytest.approx(ref.log_likelihood_, rel=1e-9)
    np.testing.assert_allclose(rob.summary["se"], ref_rob.standard_errors_, rtol=1e-6)
    assert fit.concordance is None and "case weights" in fit.info["weights"]
    unweighted = fit_cox(d, "a + b")
    assert not np.allclose(fit.params, unweighted.params, rtol=1e-3)
    ones = fit_cox(d.assign(w=1.0), "a + b", weights_col="w")
    np.testing.assert_allclose(ones.params, unweighted.params, rtol=1e-12)
    assert ones.log_likelihood == pytest.approx(unweighted.log_likelihood, rel=1e-13)


def test_case_weights_with_ties_against_brute_force():
    """Tied times: R's weighting (each Efron step counts with the mean weight of the tied events),
    written out as a loop: the weighted score is 0 at the estimate, the information is minus its
    derivative, and the weighted score residuals sum to it at any coefficients."""
    rng = np.random.default_rng(8)
    n = 80
    x = rng.normal(size=(n, 2))
    t = rng.integers(1, 9, n).astype(float)
    e = rng.random(n) < 0.7
    w = rng.uniform(0.2, 2.5, n)
    d = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "time": t, "event": e, "w": w})
    fit = fit_cox(d, "a + b", weights_col="w")
    beta = fit.params.to_numpy()
    np.testing.assert_allclose(_efron_score_brute(x, beta, t, e, w), 0.0, atol=1e-9)
    h = 1e-6
    info = np.empty((2, 2))
    for j in range(2):
        bp, bm = beta.copy(), beta.copy()
        bp[j] += h
        bm[j] -= h
        info[:, j] = -(_efron_score_brute(x, bp, t, e, w) - _efron_score_brute(x, bm, t, e, w)) / (2 * h)
    np.testing.assert_allclose(fit.cov_model.to_numpy(), np.linalg.inv(info), rtol=1e-5)
    b0 = np.array([0.3, -0.2])
    ef = _zph.efron(x, x @ b0, _zph.risk_sets(t, e), w)
    np.testing.assert_allclose((w[:, None] * _zph.score_residuals(x, ef)).sum(0), _efron_score_brute(x, b0, t, e, w), atol=1e-12)
    with pytest.raises(FootdropError, match="not available for a case-weighted"):
        fit.ph_test  # noqa: B018
    bad = d.copy()
    bad.loc[[4, 9], "w"] = [0.0, np.nan]
    with pytest.raises(FootdropError, match=r"weights must be finite and > 0; rows \[4, 9\]"):
        fit_cox(bad, "a + b", weights_col="w")
