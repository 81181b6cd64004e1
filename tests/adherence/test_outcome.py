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
