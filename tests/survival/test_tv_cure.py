"""Interval-censored cure model with time-varying adherence: derivatives, the generator's truth,
the exposure matrix rules and bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import ConfigError, FootdropError, simulate_cohort
from footdrop_outcomes.survival import adherence_exposure, survival_frame
from footdrop_outcomes.survival.tv_cure import _Model, exposure_matrix, fit_time_varying_cure

TRUE_GAMMA = math.log(1.15)  # log-HR per 10 points of lagged cumulative adherence


@pytest.fixture(scope="module")
def setup():
    cohort = simulate_cohort(3000, seed=2026)
    f = survival_frame(cohort)
    p = cohort.patients
    f["age10"] = (f["age"] - 60) / 10
    f["hba1c_excess"] = np.where(f["diabetes"].astype(bool), np.maximum(f["hba1c"].fillna(7) - 7, 0), 0.0)
    f["dtt30"] = f["days_to_treatment"] / 30
    f["surgery_restore"] = p["surgery"].astype(str).isin(["decompression", "nerve_repair_graft"]).to_numpy(float)
    f["smoker"] = f["smoking"].astype(str)
    keep = (f["cause"].astype(str) != "als").to_numpy()
    f = f[keep].copy()
    f["cause"] = f["cause"].cat.remove_unused_categories()
    return cohort, f, adherence_exposure(cohort.adherence)


def test_analytic_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    n, weeks = 60, 30
    z = np.c_[np.ones(n), rng.normal(size=n)]
    v = np.c_[np.ones(n), rng.integers(0, 2, n)]
    x = np.cumsum(rng.uniform(0, 1, (n, weeks)), axis=1) / np.arange(1, weeks + 1)
    lo = rng.uniform(0, 10, n)
    lo[:8] = 0.0  # left-censored
    up = lo + rng.uniform(0.5, 8, n)
    up[8:20] = np.inf  # right-censored
    model = _Model(z, v, x * 10, lo, up)
    theta = np.array([0.5, -0.3, -4.0, 0.2, 0.1, math.log(1.8)])
    f0, g = model.negloglik(theta)
    num = np.array([(model.negloglik(theta + e)[0] - model.negloglik(theta - e)[0]) / 2e-6 for e in np.eye(6) * 1e-6])
    assert np.allclose(g, num, rtol=1e-5, atol=1e-6)


def test_recovers_the_generators_adherence_effect(setup):
    cohort, f, expo = setup
    fit = fit_time_varying_cure(
        f, incidence_formula="cause + severity + age10 + diabetes + dtt30",
        latency_formula="cause + severity + age10 + diabetes + hba1c_excess + smoker + dtt30 + supervised_physio + surgery_restore",
        exposure_table=expo)
    s = fit.summary.set_index("term")
    g = s.loc["cumulative_adherence per 0.1"]
    assert abs(g["coef"] - TRUE_GAMMA) < 2.5 * g["se"]
    assert g["se"] < 0.02
    shape = s.loc["log(shape)"]
    assert abs(shape["coef"] - math.log(3.0)) < 2.5 * shape["se"]
    lat = fit.summary.query("component == 'latency'").set_index("term")
    inc = fit.summary.query("component == 'incidence'").set_index("term")
    for term, truth in {"severity[moderate]": -0.5, "severity[severe]": -1.0}.items():
        assert abs(lat.loc[term, "coef"] - truth) < 3 * lat.loc[term, "se"], term
    for term, truth in {"severity[moderate]": -0.8, "severity[severe]": -1.8, "diabetes": -1.2}.items():
        assert abs(inc.loc[term, "coef"] - truth) < 3 * inc.loc[term, "se"], term
    assert fit.info["max_abs_gradient"] < 1e-2
    ax = fit.plot()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "latency: cumulative_adherence per 0.1 (HR)" in labels and any(lab.endswith("(OR)") for lab in labels)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_accepts_a_cohort_directly():
    cohort = simulate_cohort(800, seed=3)
    keep = cohort.patients["cause"].isin(["peroneal_compression", "lumbar_radiculopathy"]).to_numpy()
    with pytest.raises(FootdropError, match="no recoveries observed where cause"):
        fit_time_varying_cure(cohort, incidence_formula="cause", latency_formula="severity")  # ALS in the cohort
    frame = survival_frame(cohort)[keep]
    fit = fit_time_varying_cure(frame, incidence_formula="cause", latency_formula="severity",
                                exposure_table=adherence_exposure(cohort.adherence), exposure="current_adherence")
    assert fit.summary["term"].str.contains("current_adherence per 0.1").any()


def test_exposure_matrix_rules():
    tab = pd.DataFrame({"patient_id": ["a", "a", "b"], "week": [2, 3, 0], "x": [0.5, 0.7, 0.9]})
    m = exposure_matrix(tab, ["a", "b", "c"], 6, column="x")
    assert m[0].tolist() == [0, 0, 0.5, 0.7, 0.7, 0.7]  # 0 before the first row, last value carried
    assert m[1].tolist() == [0.9] * 6
    assert m[2].tolist() == [0] * 6  # no rows at all: never exposed
    with pytest.raises(FootdropError, match="whole numbers"):
        exposure_matrix(tab.assign(week=[2.5, 3, 0]), ["a"], 6, column="x")
    with pytest.raises(FootdropError, match="missing or non-numeric"):
        exposure_matrix(tab.assign(x=[0.5, None, 0.9]), ["a"], 6, column="x")
    with pytest.raises(FootdropError, match="no column 'y'"):
        exposure_matrix(tab, ["a"], 6, column="y")


def test_bad_input(setup):
    _, f, expo = setup
    with pytest.raises(ConfigError, match="exposure_table"):
        fit_time_varying_cure(f, incidence_formula="cause", latency_formula="severity")
    with pytest.raises(ConfigError, match="per must be"):
        fit_time_varying_cure(f, incidence_formula="cause", latency_formula="severity", exposure_table=expo, per=0)
    with pytest.raises(FootdropError, match="upper must be greater"):
        fit_time_varying_cure(f.assign(upper=f["lower"] - 1), incidence_formula="cause", latency_formula="severity",
                              exposure_table=expo)
    with pytest.raises(FootdropError, match="no recoveries in the data"):
        fit_time_varying_cure(f.assign(upper=np.inf), incidence_formula="cause", latency_formula="severity",
                              exposure_table=expo)


def test_raw_covariate_scales_fit_without_warnings_and_match_standardised(setup):
    """Raw age and delay (large values) fit as well as pre-scaled ones: estimates map back exactly."""
    _, f, expo = setup
    raw = fit_time_varying_cure(f, incidence_formula="cause + severity + age + days_to_treatment",
                                latency_formula="cause + severity + age + days_to_treatment", exposure_table=expo)
    scaled = fit_time_varying_cure(f.assign(age=f["age"] / 10, days_to_treatment=f["days_to_treatment"] / 30),
                                   incidence_formula="cause + severity + age + days_to_treatment",
                                   latency_formula="cause + severity + age + days_to_treatment", exposure_table=expo)
    a, b = raw.params, scaled.params
    assert a["latency:age"] * 10 == pytest.approx(b["latency:age"], rel=1e-3)
    assert a["incidence:days_to_treatment"] * 30 == pytest.approx(b["incidence:days_to_treatment"], rel=1e-3, abs=1e-4)
    g = "latency:cumulative_adherence per 0.1"
    assert a[g] == pytest.approx(b[g], rel=1e-4)
    assert raw.cov.loc[g, g] == pytest.approx(scaled.cov.loc[g, g], rel=1e-3)
    assert raw.log_likelihood == pytest.approx(scaled.log_likelihood, rel=1e-9)
