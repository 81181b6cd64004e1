"""Propensity weighting: balance, errors, and recovery of the simulator's true effect under confounding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from footdrop_outcomes.adherence import AdherenceInputError, balance_table, fit_propensity, weighted_comparison
from footdrop_outcomes.adherence.weighting import WeightingWarning, weighted_kaplan_meier
from footdrop_outcomes.errors import ConfigError


def recoverers(cohort):
    d = cohort.patients.assign(patient_id=cohort.patients["patient_id"].astype(str)).merge(cohort.truth.patients, on="patient_id")
    d = d[d["will_recover"]].reset_index(drop=True)
    return d.assign(latent_weeks=d["latent_recovery_day"] / 7, event=True)


def test_naive_is_biased_and_weighted_recovers_the_truth(cohort_no_adherence_effect):
    """Supervised physiotherapy is given more often to severe, stroke and post-surgical patients.

    Estimand (well defined and collapsible): the difference in mean log latent recovery time,
    recovering patients, adherence effect switched off so the latency is an exact Weibull PH
    model with shape 3: -log HR / 3 = log(time ratio) from cohort.truth.
    """
    c = cohort_no_adherence_effect
    truth = np.log(c.truth.value("recovery_latency", "supervised_physio", "time_ratio"))
    assert truth == pytest.approx(-0.05)
    d = recoverers(c)
    ps = fit_propensity(d, "supervised_physio", "C(cause) + C(severity)")
    assert ps.info["max_abs_smd_unweighted"] > 0.3 and ps.info["max_abs_smd_weighted"] < 0.02
    s = weighted_comparison(ps, duration_col="latent_weeks", outcome_col="latent_weeks", log_outcome=True).summary
    md = s[s["estimand"] == "mean_difference"].set_index("analysis")
    assert abs(md.loc["weighted", "estimate"] - truth) < 3 * md.loc["weighted", "se"]
    assert md.loc["crude", "estimate"] - truth > 10 * md.loc["crude", "se"]  # crude: supervised looks slower
    # marginal hazard ratio: its truth is computed from each patient's two potential latent times
    S = d["supervised_physio"].to_numpy()
    T = d["latent_weeks"].to_numpy()
    stacked = pd.DataFrame({"T": np.r_[T * np.exp(truth * (1 - S)), T * np.exp(-truth * S)], "E": 1,
                            "z": np.r_[np.ones(len(T)), np.zeros(len(T))]})
    marginal = CoxPHFitter().fit(stacked, "T", "E").params_["z"]
    assert 0.05 < marginal < 0.09  # non-collapsible: below the conditional 0.15
    hr = s[s["estimand"] == "log_hr"].set_index("analysis")
    assert abs(hr.loc["weighted", "estimate"] - marginal) < 3 * hr.loc["weighted", "se"]
    assert marginal - hr.loc["crude", "estimate"] > 10 * hr.loc["crude", "se"]


def test_weights_stabilised_and_trimmed(cohort_small):
    ps = fit_propensity(cohort_small, "supervised_physio", "C(cause) + C(severity) + age", trim=0.05)
    w = ps.weights.to_numpy()
    lo, hi = ps.info["weight_bounds"]
    assert w.min() == pytest.approx(lo) and w.max() == pytest.approx(hi)
    assert np.mean(w) == pytest.approx(1.0, abs=0.1)  # stabilised
    raw = fit_propensity(cohort_small, "supervised_physio", "C(cause) + C(severity) + age", stabilized=False, trim=None)
    assert raw.weights.mean() == pytest.approx(2.0, abs=0.3)  # 1/e and 1/(1-e): about 2 on average
    assert set(ps.model["term"]) >= {"Intercept", "age"}


def test_balance_table_definition():
    d = pd.DataFrame({"t": [1, 1, 0, 0], "x": [1.0, 3.0, 0.0, 2.0], "g": ["a", "b", "a", "a"]})
    b = balance_table(d, "t", ["x", "g"], weights=[1, 1, 1, 1])
    assert b["smd_unweighted"][0] == pytest.approx(1 / np.sqrt(2.0))  # means 2 vs 1, sample variances 2 and 2
    assert list(b["level"]) == ["", "a", "b"]
    assert np.allclose(b["smd_weighted"], b["smd_unweighted"])


def test_errors():
    d = pd.DataFrame({"t": [1, 0, 2], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(AdherenceInputError, match=r"data\.t: the treatment must be 0/1.*row: 2"):
        fit_propensity(d, "t", "x")
    with pytest.raises(AdherenceInputError, match="everyone is in one arm"):
        fit_propensity(d.assign(t=1), "t", "x")
    with pytest.raises(ConfigError, match="trim"):
        fit_propensity(d.assign(t=[1, 0, 1]), "t", "x", trim=0.7)
    with pytest.raises(ConfigError, match="cannot be built"):
        fit_propensity(d.assign(t=[1, 0, 1]), "t", "nope")


def test_positivity_warning():
    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    d = pd.DataFrame({"x": x, "t": rng.random(400) < 1 / (1 + np.exp(-6 * x))})
    with pytest.warns(WeightingWarning) as rec:
        fit_propensity(d, "t", "x")
    messages = [str(r.message) for r in rec]
    assert any("positivity" in m for m in messages) and any("still has |SMD|" in m for m in messages)


def test_weighted_km_equals_unweighted_with_unit_weights():
    from footdrop_outcomes.survival import kaplan_meier

    rng = np.random.default_rng(3)
    t = rng.integers(1, 20, 200).astype(float)
    e = rng.random(200) < 0.7
    w = weighted_kaplan_meier(t, e, np.ones(200))
    km = kaplan_meier(pd.DataFrame({"time": t, "event": e}))
    assert km.summary.query("statistic == 'median'")["estimate"].iloc[0] == w.loc[w["survival"] <= 0.5, "time"].iloc[0]
    # doubling every weight changes nothing
    assert np.allclose(weighted_kaplan_meier(t, e, 2 * np.ones(200))["survival"], w["survival"])


def test_plots(cohort_small):
    import matplotlib

    matplotlib.use("Agg")
    ps = fit_propensity(cohort_small, "supervised_physio", "C(cause) + C(severity)")
    assert ps.plot().get_xlabel().startswith("absolute")
    frame = ps.data[ps.data["cause"] != "als"]
    assert weighted_comparison(ps).plot().get_ylabel() == "not yet recovered"
    assert len(frame) > 0


def test_defaults_no_truncation_and_a_difference_in_means_alone(cohort_small):
    ps = fit_propensity(cohort_small, "supervised_physio", "cause + severity")
    assert ps.info["trim"] is None
    w = ps.weights.to_numpy()
    e, z = ps.data["ps"].to_numpy(), ps.data["supervised_physio"].to_numpy(bool)
    assert np.allclose(w, np.where(z, z.mean() / e, (1 - z.mean()) / (1 - e)))  # stabilised, untruncated
    s = weighted_comparison(ps, outcome_col="age").summary
    assert set(s["estimand"]) == {"mean_difference"}  # no need for duration_col=None
    both = weighted_comparison(ps, duration_col="time", outcome_col="age").summary
    assert set(both["estimand"]) == {"log_hr", "mean_difference"}
    crude = s.set_index("analysis").loc["crude"]
    a = ps.data["age"].to_numpy(float)
    assert crude["estimate"] == pytest.approx(a[z].mean() - a[~z].mean())
    assert crude["se"] == pytest.approx(crude["se_fixed_weights"])  # no weights to estimate
