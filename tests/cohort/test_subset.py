"""Cohort.subset: tables, truth and metadata stay consistent; analyses equal a hand selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import Cohort, ConfigError, FootdropError, load_cohort
from footdrop_outcomes.cohort.schema import validate_tables
from footdrop_outcomes.survival import fit_cox, survival_frame
from footdrop_outcomes.trajectories import fit_trajectory


def _by_hand(cohort: Cohort, keep_ids: set[str]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, t in cohort.tables().items():
        out[name] = t[t["patient_id"].astype(str).isin(keep_ids)].reset_index(drop=True)
    return out


def test_subset_by_cause_and_severity_keeps_tables_truth_and_metadata(small_cohort):
    s = small_cohort.subset(causes=["stroke", "peroneal_compression"], severities="severe", label="severe stroke/peroneal")
    p = small_cohort.patients
    expected = set(p.loc[p["cause"].astype(str).isin(["stroke", "peroneal_compression"]) & (p["severity"] == "severe"), "patient_id"].astype(str))
    assert set(s.patients["patient_id"].astype(str)) == expected and 0 < s.n_patients < small_cohort.n_patients
    for name in ("visits", "adherence"):
        assert set(getattr(s, name)["patient_id"].astype(str)) <= expected
        pd.testing.assert_frame_equal(getattr(s, name), getattr(Cohort(**_by_hand(small_cohort, expected)), name))
    # truth: one row per kept patient, same values as in the full cohort; parameters unchanged
    assert s.truth is not None
    assert list(s.truth.patients["patient_id"].astype(str)) == list(s.patients["patient_id"].astype(str))
    full = small_cohort.truth.patients.set_index(small_cohort.truth.patients["patient_id"].astype(str))
    pd.testing.assert_frame_equal(
        s.truth.patients.drop(columns="patient_id").reset_index(drop=True),
        full.loc[s.truth.patients["patient_id"].astype(str)].drop(columns="patient_id").reset_index(drop=True))
    pd.testing.assert_frame_equal(s.truth.parameters, small_cohort.truth.parameters)
    # metadata: the origin is kept and the selection recorded
    for key in ("seed", "generator", "config"):
        assert s.metadata[key] == small_cohort.metadata[key]
    rec = s.metadata["subset"][-1]
    assert rec["causes"] == ["peroneal_compression", "stroke"] and rec["severities"] == ["severe"]
    assert rec["n_patients_before"] == small_cohort.n_patients and rec["n_patients_after"] == s.n_patients
    assert "synthetic" in repr(s)
    # declared levels are kept (reference levels unchanged), and the tables still validate
    assert list(s.patients["cause"].cat.categories) == list(p["cause"].cat.categories)
    validate_tables(s.tables(), source="subset")


def test_subset_by_mask_and_by_ids_agree_and_chain(small_cohort):
    mask = (small_cohort.patients["age"] >= 60).to_numpy()
    a = small_cohort.subset(mask)
    b = small_cohort.subset(small_cohort.patients.loc[mask, "patient_id"].astype(str).tolist())
    for name in ("patients", "visits", "adherence"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    c = a.subset(causes="stroke")
    assert len(c.metadata["subset"]) == 2 and c.metadata["subset"][0]["n_patients_after"] == a.n_patients
    assert (c.patients["age"] >= 60).all() and (c.patients["cause"] == "stroke").all()


def test_subset_round_trips_through_save(small_cohort, tmp_path):
    s = small_cohort.subset(causes="stroke")
    back = load_cohort(s.save(tmp_path / "s"))
    assert back.truth is not None and len(back.truth.patients) == s.n_patients
    assert back.metadata["subset"] == s.metadata["subset"] and back.metadata["seed"] == small_cohort.metadata["seed"]


def test_subset_of_a_real_cohort_has_no_truth_and_keeps_its_source(small_cohort, tmp_path):
    files = small_cohort.to_csv(tmp_path)
    real = Cohort.from_csv(files["patients"], files["visits"], files["adherence"])
    s = real.subset(severities=["mild", "moderate"])
    assert s.truth is None and s.metadata["source_sha256"] == real.metadata["source_sha256"]
    assert "real" in repr(s)


def test_analyses_on_a_subset_equal_analyses_on_the_same_patients_by_hand(small_cohort):
    keep = small_cohort.patients["cause"].astype(str).isin(["stroke", "diabetic_neuropathy"]).to_numpy()
    s = small_cohort.subset(keep)
    ids = set(small_cohort.patients.loc[keep, "patient_id"].astype(str))
    hand = Cohort(**_by_hand(small_cohort, ids))
    f = "severity + age"
    pd.testing.assert_frame_equal(fit_cox(survival_frame(s), f).summary, fit_cox(survival_frame(hand), f).summary)
    a = fit_trajectory(s, "gait_speed", "time * severity", random="intercept")
    b = fit_trajectory(hand, "gait_speed", "time * severity", random="intercept")
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-10)


@pytest.mark.parametrize("kwargs, match", [
    ({"causes": "flu"}, "causes must be one or more of"),
    ({"severities": []}, "severities must be one or more of"),
    ({"patients": ["no-such-id"]}, "1 of the 1 patient ids"),
    ({"patients": np.ones(3, dtype=bool)}, "one value per patient"),
    ({"patients": np.zeros(400, dtype=bool)}, "keeps no patient"),
])
def test_subset_errors_name_the_argument_not_the_data(small_cohort, kwargs, match):
    with pytest.raises(ConfigError, match=match) as err:
        small_cohort.subset(**kwargs)
    assert "P0000" not in str(err.value)


# ------------------------------------------------------------------------------------------------
# recovery threshold checks (report parameters validated against the data)


def test_threshold_check_counts_match_recovery_intervals(small_cohort):
    from footdrop_outcomes import recovery_intervals
    from footdrop_outcomes.cohort.recovery import check_recovery_threshold

    usable = []
    for t in (1, 2, 3, 4, 5):
        chk = check_recovery_threshold(small_cohort, t)
        if chk.at_onset:  # exactly the thresholds recovery_intervals refuses
            assert not chk.usable
            with pytest.raises(FootdropError, match=f"{chk.at_onset} patient\\(s\\) already have MRC >= {t}"):
                recovery_intervals(small_cohort, threshold=t)
            continue
        usable.append(t)
        rec = recovery_intervals(small_cohort, threshold=t).table
        assert chk.usable and not chk.reasons
        assert chk.events == int(rec["event"].sum()) and chk.censored == int((~rec["event"]).sum())
        assert chk.at_first_visit == int((rec["kind"] == "left").sum())
        assert chk.by_group["events"].sum() == chk.events and chk.by_group["n_patients"].sum() == small_cohort.n_patients
    assert 4 in usable and 5 in usable
    # ALS never recovers: a caveat, not a reason to refuse the threshold
    assert any("als" in c for c in check_recovery_threshold(small_cohort, 4).caveats)


def test_threshold_check_refuses_thresholds_the_data_reject(small_cohort):
    from footdrop_outcomes.cohort.recovery import check_recovery_threshold

    low = check_recovery_threshold(small_cohort, 1)
    assert not low.usable and low.at_onset > 0 and "on day 0" in low.reasons[0]
    stroke = small_cohort.subset(causes="stroke")
    high = check_recovery_threshold(stroke, 5, min_events=50)
    assert not high.usable and any("during follow-up" in r for r in high.reasons)
    with pytest.raises(ConfigError, match="threshold must be an MRC grade"):
        check_recovery_threshold(small_cohort, 6)


def test_a_saved_site_of_a_larger_cohort_keeps_its_study_numbers_but_record_numbers_are_still_refused(tmp_path):
    """The guard's record-number rule (key numbers far above the number of keys) measures a subset's keys
    against the cohort it was drawn from (metadata["subset"]): a site of 180 patients numbered up to 3,000 loads;
    the same keys in tables that do not come from a subset are refused."""
    import pandas as pd
    import pytest

    from footdrop_outcomes import load_cohort, simulate_cohort
    from footdrop_outcomes.cohort.simulate import SimulationConfig
    from footdrop_outcomes.guard import PrivacyError, check_privacy

    big = simulate_cohort(3000, seed=2026, config=SimulationConfig(n_sites=10))
    site = big.subset(sites="S08")
    n = len(site.patients)
    assert site.patients["patient_id"].astype(str).str[1:].astype(int).max() > 10 * n + 1000  # beyond the plain rule
    site.save(tmp_path / "S08")
    assert len(load_cohort(tmp_path / "S08").patients) == len(site.patients)
    with pytest.raises(PrivacyError, match="record or national ID numbers"):
        check_privacy({"patients": site.patients[["patient_id", "age"]].reset_index(drop=True)})
    # the lineage the loader trusts: the largest recorded parent, and nothing absurd or malformed
    from footdrop_outcomes.cohort.cohort import _key_reference

    assert _key_reference(site.metadata) == 3000
    assert _key_reference({"subset": [{"n_patients_before": 1e12}, {"n_patients_before": "9"}]}) == 0
    assert _key_reference({"subset": "x"}) == 0 and _key_reference({}) == 0
    # record numbers of a cohort that is not a subset are still refused
    frame = pd.DataFrame({"patient_id": [f"H{9_000_000 + i}" for i in range(50)], "age": 50})
    with pytest.raises(PrivacyError):
        check_privacy({"patients": frame}, key_reference=_key_reference({}))
