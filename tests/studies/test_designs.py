from __future__ import annotations

import math

import numpy as np
import pytest

from footdrop_outcomes.studies import generate, replicate_seed_sequence, run_analysis


def test_trial_arms_visits_and_censoring():
    d = generate({"kind": "trial", "n_per_arm": 200, "allocation": [1, 2], "dropout_by_end": 0.3, "visit_miss_probability": 0.2},
                 replicate_seed_sequence(3, 0))
    f = d.frame
    assert f.groupby("arm", observed=True).size().tolist() == [200, 400]
    ev = f[f["event"]]
    assert set(ev["upper"]).issubset({2, 6, 12, 26, 52}) and (ev["lower"] < ev["upper"]).all()
    assert np.isinf(f.loc[~f["event"], "upper"]).all()
    assert ((f["adherence"] >= 0) & (f["adherence"] <= 1)).all()
    assert set(d.long["weeks"]).issubset({0, 2, 6, 12, 26, 52})


def test_trial_exact_exponential_matches_its_parameters():
    # exact times, no censoring before 1000 weeks: the control median is the design's
    d = generate({"kind": "trial", "n_per_arm": 4000, "visit_weeks": [], "followup_weeks": 1000, "log_hr": math.log(2)},
                 replicate_seed_sequence(4, 0))
    f = d.frame
    med = f.groupby("arm", observed=True)["time"].median()
    assert abs(med["control"] / 20 - 1) < 0.06 and abs(med["treatment"] / 10 - 1) < 0.06
    res = run_analysis("cox", d, formula="arm", term="arm[treatment]")
    assert abs(res["estimate"] - math.log(2)) < 3 * res["se"]


def test_trial_adherence_and_gait_effects_recovered():
    d = generate({"kind": "trial", "n_per_arm": 1500, "adherence_diff": 0.1, "gait_slope_diff": 0.03}, replicate_seed_sequence(5, 0))
    adh = run_analysis("adherence_difference", d)
    assert abs(adh["estimate"] - 0.1) < 3 * adh["se"]
    slope = run_analysis("mixed_slope", d, formula="time * arm", term="lw:arm[treatment]")
    assert abs(slope["estimate"] - 0.03) < 3 * slope["se"]


def test_cohort_design_with_generator_truth():
    from footdrop_outcomes.studies import StudySpec, run_replicate

    spec = StudySpec.from_dict({"name": "cohort", "replicates": 1, "seed": 3, "design": {"kind": "cohort", "n": 400},
                                "analyses": [{"label": "severe", "method": "cox", "truth": "config.latency_log_hr.severity[severe]",
                                              "options": {"formula": "severity + age", "term": "severity[severe]"}},
                                             {"label": "adh", "method": "cox_time_varying", "truth": "config.adherence_log_hr",
                                              "options": {"formula": "severity + cumulative_adherence", "term": "cumulative_adherence"}}]})
    res = run_replicate(spec, 0, 0).set_index("analysis")
    assert (res["status"] == "ok").all(), res["error"].tolist()
    assert res.loc["severe", "truth"] == -1.0 and res.loc["adh", "truth"] == pytest.approx(10 * math.log(1.15))
    assert res.loc["severe", "estimate"] < 0 and res.loc["severe", "n"] < 400  # ALS left out
