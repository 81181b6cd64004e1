"""Records that end (issue 20): IPCW discontinuation curves, the IPW GEE option, and the faster trend code giving the same numbers.

The Monte Carlo evidence (bias, SE / SD, coverage over 200 seeds) is in benchmarks/study_adherence.py
(parts ``disc`` and ``gee``) and docs/adherence.md; these tests check single fits and the arithmetic.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.adherence import adherence_trend, discontinuation, marginal_truth
from footdrop_outcomes.adherence.trend import _patient_weeks
from footdrop_outcomes.errors import ConfigError


@pytest.fixture(scope="module")
def cohort():
    """4,000 patients, seed 11, default generator (adherence speeds recovery, so records end informatively)."""
    return simulate_cohort(4000, seed=11)


def test_ipcw_discontinuation_shares_cover_the_plain_truth(cohort):
    r = discontinuation(cohort, kind="afo", group=None, landmarks=(13, 26, 52), censoring="ipcw")
    s = r.summary[r.summary["statistic"] == "discontinued_by"]
    assert len(s) == 3 and s["truth"].notna().all()
    for _, row in s.iterrows():
        assert row["lower"] < row["estimate"] < row["upper"]
        assert abs(row["estimate"] - row["truth"]) < 3 * row["se"], row["time"]
        assert 0.005 < row["se"] < 0.05
    # the weights are moderate with the default covariates, and the curve is a proper survival curve
    lo, hi = r.info["ipcw_range"]
    assert 0.3 < lo <= 1 <= hi < 5
    curve = r.weighted_curves
    assert (np.diff(curve["survival"].to_numpy()) <= 1e-12).all()
    assert ((curve["lower"] <= curve["survival"] + 1e-12) & (curve["survival"] <= curve["upper"] + 1e-12)).all()
    # Kaplan-Meier and IPCW are close here (the informative part of the censoring is small)
    km = discontinuation(cohort, kind="afo", group=None, landmarks=(13, 26, 52))
    kms = km.summary[km.summary["statistic"] == "discontinued_by"]["estimate"].to_numpy()
    assert np.max(np.abs(kms - s["estimate"].to_numpy())) < 0.02


def test_ipcw_by_group_and_bad_options(cohort):
    r = discontinuation(cohort, kind="exercise", group="supervised_physio", landmarks=(12, 26), censoring="ipcw")
    s = r.summary.set_index(["group", "statistic", "time"])
    # supervised physiotherapy delays stopping the exercises (generator: +0.4 on the adherence propensity)
    assert s.loc[("True", "discontinued_by", 26.0), "estimate"] < s.loc[("False", "discontinued_by", 26.0), "estimate"]
    assert r.summary["truth"].isna().all()  # no closed-form truth for exercise stopping
    with pytest.raises(ConfigError, match="censoring"):
        discontinuation(cohort, kind="afo", censoring="weighted")


def test_ipw_gee_options_and_its_two_standard_errors(cohort):
    small = cohort.subset(patients=cohort.patients["patient_id"].iloc[:1000])
    t = adherence_trend(small, weights="ipw")
    assert t.info["cov_struct"] == "independence" and t.info["weights"] == "ipw"
    s = t.summary.set_index("term")
    fixed = pd.Series(t.info["se_fixed_weights"])
    assert (s["se"] > 0).all() and set(fixed.index) == set(s.index)
    # accounting for the weights' estimation changes the SEs (smaller for the weekly decline: about 0.8 of the
    # fixed-weight SE at seed 11), never wildly
    ratio = (s["se"] / fixed.reindex(s.index)).to_numpy()
    assert np.all((ratio > 0.6) & (ratio < 1.2)) and np.any(np.abs(ratio - 1) > 1e-3)
    assert s["truth_marginal"].notna().all()
    with pytest.raises(ConfigError, match="independence"):
        adherence_trend(small, weights="ipw", cov_struct="exchangeable")


def test_trend_curves_equal_the_week_by_week_standardisation(cohort):
    small = cohort.subset(patients=cohort.patients["patient_id"].iloc[:800])
    t = adherence_trend(small, max_week=20)
    beta = t.summary["estimate"].to_numpy()
    w = _patient_weeks(small, "supervised_physio", ["smoking", "severity"], 20)
    from footdrop_outcomes._checks import formula_design

    design, _ = formula_design(w, "supervised_physio * program_week + smoking + severity")
    pat = w.drop_duplicates("patient_id")
    for lev in (False, True):
        for week in (0, 7, 19):
            x = design.frame(pat.assign(supervised_physio=lev, program_week=week)).to_numpy()
            row = t.curves[(t.curves["group"] == lev) & (t.curves["program_week"] == week)].iloc[0]
            assert row["mean"] == pytest.approx(float(expit(x @ beta).mean()), abs=1e-12)


def test_marginal_truth_equals_the_projection_over_every_row(cohort):
    """The de-duplicated projection (distinct rows, counted) equals a plain GLM over every row (independent code)."""
    import statsmodels.api as sm

    from footdrop_outcomes._checks import formula_design
    from footdrop_outcomes.cohort.vocabulary import EXERCISES

    small = cohort.subset(patients=cohort.patients["patient_id"].iloc[:600])
    w = _patient_weeks(small, "supervised_physio", ["smoking", "severity"], 30)
    _, x = formula_design(w, "supervised_physio * program_week + smoking + severity")
    got = marginal_truth(small, w, x)
    par = small.truth.parameters
    a = par[par["component"] == "adherence"].set_index("term")["value"]
    eta = (a["logit_mean"] + a["supervised_physio"] * w["supervised_physio"].astype(float).to_numpy()
           + a["smoking[current]"] * (w["smoking"].astype(str) == "current").to_numpy()
           + a["severity[severe]"] * (w["severity"].astype(str) == "severe").to_numpy() + a["decline_per_week"] * w["program_week"].to_numpy())
    sd = np.hypot(a["logit_sd"], a["weekly_sd"])
    z, wz = np.polynomial.hermite_e.hermegauss(40)
    wz = wz / wz.sum()
    adh = small.adherence.assign(patient_id=small.adherence["patient_id"].astype(str))
    adh = w[["patient_id", "week"]].merge(adh, on=["patient_id", "week"], how="left")
    num = sum(adh[f"{e}_prescribed"].to_numpy(float) * (expit((eta + a[f"exercise[{e}]"])[:, None] + sd * z) @ wz) for e in EXERCISES)
    den = sum(adh[f"{e}_prescribed"].to_numpy(float) for e in EXERCISES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.GLM(num / den, x, family=sm.families.Binomial()).fit(tol=1e-12).params
    for term, value in ref.items():
        assert got[term] == pytest.approx(value, abs=1e-8), term


def test_record_end_weight_derivatives_equal_finite_differences():
    """The weights' derivatives fed to the stacked sandwich, against weights recomputed by hand at shifted coefficients."""
    from footdrop_outcomes._checks import formula_design
    from footdrop_outcomes.adherence._ipcw import record_end_weights

    rng = np.random.default_rng(3)
    n, weeks = 300, 12
    cl = np.repeat(np.arange(n), weeks)
    k = np.tile(np.arange(weeks), n)
    x1 = np.repeat(rng.normal(size=n), weeks)
    rows = pd.DataFrame({"program_week": k, "x1": x1, "h": rng.normal(size=n * weeks)})
    end_week = np.minimum(rng.geometric(1 / (1 + np.exp(-(-2.5 + 0.8 * x1[::weeks])))) - 1, weeks - 1)
    keep = k <= end_week[cl]
    rows, cl, k = rows[keep].reset_index(drop=True), cl[keep], k[keep]
    at_risk = k < weeks - 1
    ends = (k == end_week[cl]) & at_risk
    rec = record_end_weights(rows, cluster=cl, at_risk=at_risk, ends=ends, history="x1 + h", time_col="program_week", spline_df=3)
    _, xd = formula_design(rows[at_risk], "bs(program_week, df=3) + x1 + h")
    _, xn = formula_design(rows[at_risk], "bs(program_week, df=3)")
    xd, xn = xd.to_numpy(float), xn.to_numpy(float)
    import statsmodels.api as sm

    g_den = sm.Logit(ends[at_risk].astype(float), xd).fit(disp=0).params
    g_num = sm.Logit(ends[at_risk].astype(float), xn).fit(disp=0).params
    assert np.allclose(g_den, rec.model["log_or"].to_numpy(), atol=1e-6)

    def weights(gd: np.ndarray, gn: np.ndarray) -> np.ndarray:
        log_r = np.zeros(len(rows))
        log_r[at_risk] = np.log1p(-1 / (1 + np.exp(-xn @ gn))) - np.log1p(-1 / (1 + np.exp(-xd @ gd)))
        inclusive = pd.Series(log_r).groupby(cl).cumsum().to_numpy()
        return np.exp(inclusive - log_r)  # weeks before this one

    assert np.allclose(weights(g_den, g_num), rec.weights, rtol=1e-6)
    for block, (gd_shift, size) in enumerate(((True, xd.shape[1]), (False, xn.shape[1]))):
        dw = rec.nuisance[block][0]
        for j in range(size):
            e = np.zeros(size)
            e[j] = 1e-6
            up = weights(g_den + e, g_num) if gd_shift else weights(g_den, g_num + e)
            lo = weights(g_den - e, g_num) if gd_shift else weights(g_den, g_num - e)
            assert np.allclose((up - lo) / 2e-6, dw[:, j], rtol=1e-4, atol=1e-7), (block, j)
