"""Adherence and recovery: the time-varying model recovers the truth, the whole-follow-up average does not."""

from __future__ import annotations

import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.adherence import AdherenceInputError, adherence_effect
from footdrop_outcomes.cohort.simulate import SimulationConfig


@pytest.fixture(scope="module")
def declining():
    """Adherence that declines steeply over the program (0.05 logit/week) with less between-patient spread (SD 0.5):
    the whole-follow-up average then differs a lot from the adherence known at each time."""
    return simulate_cohort(4000, seed=2026, config=SimulationConfig(adherence_decline_per_week=0.05, adherence_logit_sd=0.5))


def test_time_varying_recovers_truth_naive_is_biased(declining):
    e = adherence_effect(declining, outcome="latent", covariates="cause + severity + age + diabetes + supervised_physio")
    s = e.summary.set_index(["model", "term"])
    truth = declining.truth.value("recovery_latency", "cumulative_adherence_per_10pct", "log_hazard_ratio")
    tv = s.loc[("time-varying: cumulative", "cumulative_adherence")]
    naive = s.loc[("naive: mean adherence over follow-up", "mean_adherence")]
    assert tv["truth"] == pytest.approx(truth)
    assert abs(tv["bias_in_se"]) < 3
    assert naive["bias_in_se"] > 5  # immortal-time / future-information bias
    cur = s.loc[("time-varying: cumulative + current", "current_adherence")]
    assert abs(cur["bias_in_se"]) < 3  # no direct effect of last week's adherence
    import matplotlib

    matplotlib.use("Agg")
    assert e.plot().get_xlabel().startswith("hazard ratio")


def test_real_cohorts_need_the_observed_outcome(declining):
    from footdrop_outcomes.cohort.cohort import Cohort

    real = Cohort(patients=declining.patients, visits=declining.visits, adherence=declining.adherence)
    with pytest.raises(AdherenceInputError, match="need a synthetic cohort"):
        adherence_effect(real, outcome="latent")


@pytest.fixture(scope="module")
def default_2500():
    return simulate_cohort(2500, seed=2026)


def test_cure_model_recovers_truth_on_visit_dated_recovery(default_2500):
    """Visit-dated recovery: both Cox models are attenuated, the interval-censored cure model is not."""
    e = adherence_effect(default_2500, covariates="cause + severity + age + diabetes + supervised_physio")
    s = e.summary.set_index(["model", "term"])
    cure = s.loc[("interval-censored cure: cumulative (tv)", "cumulative_adherence")]
    assert bool(cure["recommended"]) and e.summary["recommended"].sum() == 1
    assert abs(cure["bias_in_se"]) < 3 and cure["se"] < 0.02
    # the Cox rows estimate another quantity on visit-dated data of all patients: no truth beside them
    cox = s.drop(index="interval-censored cure: cumulative (tv)", level="model")
    assert cox["truth"].isna().all() and cox["bias_in_se"].isna().all() and not cox["recommended"].any()
    truth = default_2500.truth.value("recovery_latency", "cumulative_adherence_per_10pct", "log_hazard_ratio")
    assert cure["truth"] == pytest.approx(truth)
    tv = s.loc[("time-varying: cumulative", "cumulative_adherence")]
    assert (tv["log_hr_per_10pct"] - truth) / tv["se"] < -4  # attenuated: why it is not recommended
    assert e.fits["interval-censored cure: cumulative (tv)"].info["max_abs_gradient"] < 1e-2
    with pytest.raises(AdherenceInputError, match="cure_model=True needs"):
        adherence_effect(default_2500, outcome="latent", cure_model=True)


def test_dose_response_spline_matches_the_linear_truth(declining):
    import matplotlib

    matplotlib.use("Agg")
    from footdrop_outcomes.adherence import dose_response

    d = dose_response(declining, covariates="cause + severity + age + diabetes + supervised_physio", grid=[0.3, 0.5, 0.7, 0.9])
    s = d.summary.set_index("adherence")
    assert s.loc[0.7, "log_hr"] == pytest.approx(0.0, abs=1e-12)  # reference
    for x in (0.3, 0.5, 0.9):
        assert abs(s.loc[x, "log_hr"] - s.loc[x, "truth_log_hr"]) < 3 * s.loc[x, "se"], x
    assert s.loc[0.3, "truth_log_hr"] == pytest.approx(-4 * declining.truth.value("recovery_latency", "cumulative_adherence_per_10pct", "log_hazard_ratio"))
    assert d.info["p_nonlinear"] > 0.001 and len(d.info["knots"]) == 4
    assert d.plot().get_yscale() == "log"
    import matplotlib.pyplot as plt

    plt.close("all")


def test_natural_spline_basis_is_linear_beyond_the_boundary_knots():
    import numpy as np

    from footdrop_outcomes.adherence import natural_spline_basis

    kn = [0.2, 0.4, 0.6, 0.8]
    x = np.array([0.85, 0.9, 0.95, 1.0, 0.0, 0.05, 0.1, 0.15])
    b = natural_spline_basis(x, kn)
    assert b.shape == (8, 3) and np.allclose(b[:, 0], x)
    assert np.allclose(np.diff(b[:4], n=2, axis=0), 0, atol=1e-12)  # linear above the last knot
    assert np.allclose(b[4:, 1:], 0)  # zero below the first knot
    with pytest.raises(AdherenceInputError, match="strictly increasing"):
        natural_spline_basis(x, [0.5, 0.4, 0.6])
