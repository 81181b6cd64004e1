"""Every public analysis of the adherence and trajectory layers runs on a cohort without truth (real data)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from footdrop_outcomes import Cohort
from footdrop_outcomes import adherence as A
from footdrop_outcomes.trajectories import compare_models, fit_trajectory, fit_trajectory_gee


@pytest.fixture(scope="module")
def real(cohort_small):
    """The tables of a synthetic cohort without its truth: what an imported cohort looks like."""
    c = Cohort(**cohort_small.tables(), metadata={"source": "test extract"})
    assert c.truth is None
    return c


CALLS = {
    "adherence_metrics": lambda c: A.adherence_metrics(c).summary,
    "adherence_trend": lambda c: A.adherence_trend(c, max_week=12).summary,
    "table_one": lambda c: A.table_one(c, by="supervised_physio").table,
    "fit_propensity": lambda c: A.fit_propensity(c, "supervised_physio", "cause + severity + age").summary,
    "weighted_comparison": lambda c: A.weighted_comparison(A.fit_propensity(c, "supervised_physio", "cause + severity")).summary,
    "discontinuation": lambda c: A.discontinuation(c, kind="afo", group="afo").summary,
    "itt_per_protocol": lambda c: A.itt_per_protocol(c, device="afo").summary,
    "adherence_effect": lambda c: A.adherence_effect(c, cure_model=False).summary,
    "dose_response": lambda c: A.dose_response(c).summary,
    "fit_trajectory": lambda c: fit_trajectory(c, "gait_speed").summary,
    "fit_trajectory_gee": lambda c: fit_trajectory_gee(c, "gait_speed", "time * severity").summary,
    "compare_models": lambda c: compare_models(fit_trajectory(c, "gait_speed", "time", method="ml"),
                                               fit_trajectory(c, "gait_speed", "time * severity", method="ml")),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_defaults_work_without_truth(real, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statistical caveats on a small cohort are not the point
        out = CALLS[name](real)
    assert len(out) > 0
    if "truth" in out.columns:
        assert out["truth"].isna().all()  # no truth is invented


def test_truth_dependent_defaults_say_which_outcome_they_used(real, cohort_small):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r_real = A.itt_per_protocol(real, device="afo")
        r_syn = A.itt_per_protocol(cohort_small, device="afo")
    assert r_real.info["outcome"] == "observed" and r_syn.info["outcome"] == "latent"
    assert np.isfinite(r_real.summary["log_hr"]).all()
    assert A.dose_response(real).info["outcome"] == "observed"


def test_default_cure_model_that_cannot_be_fitted_is_left_out_with_a_reason(real, monkeypatch):
    import footdrop_outcomes.survival as survival
    from footdrop_outcomes import FootdropError

    def not_identifiable(*args, **kwargs):
        raise FootdropError("the information matrix is singular at the maximum (terms involved: ['incidence:cause[stroke]'])")

    monkeypatch.setattr(survival, "fit_time_varying_cure", not_identifiable)
    with pytest.warns(A.AdherenceWarning, match="cure model could not be fitted"):
        e = A.adherence_effect(real)
    assert A.outcome.CURE_MODEL not in set(e.summary["model"])
    # the Cox models are attenuated on visit-dated recovery (docs/adherence.md section 5): nothing is recommended
    assert e.info["recommended"] is None and "singular" in e.info["cure_model_skipped"]
    assert e.summary["recommended"].sum() == 0
    with pytest.raises(FootdropError, match="singular"):
        A.adherence_effect(real, cure_model=True)  # asked for explicitly: the error is not hidden


def test_the_imported_worked_example_runs_with_defaults(tmp_path):
    """The README's worked example (data/examples), imported as a real cohort."""
    from pathlib import Path

    from footdrop_outcomes import load_cohort
    from footdrop_outcomes.privacy import import_cohort

    ex = Path(__file__).resolve().parents[2] / "data" / "examples"
    import_cohort(ex / "mapping_example.toml", patients=ex / "site_extract" / "patients.csv",
                  visits=ex / "site_extract" / "visits.csv", adherence=ex / "site_extract" / "adherence.csv", out=tmp_path / "c")
    c = load_cohort(tmp_path / "c")
    assert c.truth is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        itt = A.itt_per_protocol(c, device="afo")
        eff = A.adherence_effect(c)
        dose = A.dose_response(c)
    assert itt.info["outcome"] == "observed" and np.isfinite(itt.summary["log_hr"]).all()
    # real grades are rated with error: the cure model of the first MRC >= 4 is attenuated there (docs/adherence.md 5.1), so
    # it is never recommended; a model is recommended only where the docs measured it unbiased on rated grades (issue 20)
    assert eff.info["grading"] == "rated"
    assert eff.info["recommended"] != A.outcome.CURE_MODEL
    assert eff.summary["recommended"].sum() == (eff.info["recommended"] is not None)
    assert dose.info["outcome"] == "observed"
    fit = fit_trajectory(c, "gait_speed", "weeks * severity + age_c")
    assert fit.info["time"] == "linear"
    assert np.isfinite(fit.time_to_mcid({"severity": "moderate", "age_c": 0.0}, mcid=0.1)["weeks"]).all()
    stroke = c.subset(causes="stroke")
    assert stroke.truth is None and stroke.metadata["subset"][0]["n_patients_after"] == stroke.n_patients
