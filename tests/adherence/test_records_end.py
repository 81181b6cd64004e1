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
