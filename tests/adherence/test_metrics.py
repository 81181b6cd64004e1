"""Adherence metrics: definitions on hand-made tables, bad-input rules, agreement with the simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.adherence import AdherenceInputError, adherence_metrics, patient_adherence, weekly_adherence
from footdrop_outcomes.cohort.vocabulary import EXERCISES
from footdrop_outcomes.errors import ConfigError


def table(rows):
    """rows: (patient_id, week, prescribed toe lifts, completed toe lifts); other exercises 0."""
    d = {"patient_id": [r[0] for r in rows], "week": [r[1] for r in rows]}
    for s in EXERCISES:
        d[f"{s}_prescribed"] = [r[2] if s == "toe_lifts" else 0 for r in rows]
        d[f"{s}_completed"] = [r[3] if s == "toe_lifts" else 0 for r in rows]
    return pd.DataFrame(d)


def test_definitions_on_a_hand_made_table():
    a = table([("A", 3, 10, 10), ("A", 4, 10, 5), ("A", 5, 0, 0), ("A", 6, 10, 8), ("B", 0, 7, 0)])
    w = weekly_adherence(a)
    assert w["weekly_share"].tolist()[:2] == [1.0, 0.5]
    assert np.isnan(w["weekly_share"][2])
    assert w["cumulative_share"].tolist()[:4] == [1.0, 0.75, 0.75, 23 / 30]
    assert w["program_week"].tolist() == [0, 1, 2, 3, 0]
    p = patient_adherence(w).set_index("patient_id")
    assert p.loc["A", "session_share"] == pytest.approx(23 / 30)
    assert p.loc["A", "weeks_adherent_share"] == pytest.approx(2 / 3)  # week 5 has nothing prescribed
    assert p.loc["A", "n_weeks_nothing_prescribed"] == 1
    assert p.loc["A", "category"] == "50%-<80%"
    assert p.loc["B", "category"] == "<50%"
    win = patient_adherence(w, window=(1, 3)).set_index("patient_id")
    assert win.loc["A", "session_share"] == 0.5 and "B" not in win.index
    onset = patient_adherence(w, window=(0, 4), time="onset").set_index("patient_id")
    assert onset.loc["A", "session_share"] == 1.0


def test_device_ratios_can_exceed_one():
    a = table([("A", 0, 7, 7), ("A", 1, 7, 7)]).assign(afo_hours_prescribed=[56.0, 56.0], afo_hours=[60.0, 28.0],
                                                        fes_hours_prescribed=[np.nan, np.nan], fes_hours=[np.nan, np.nan])
    w = weekly_adherence(a)
    assert w["afo_ratio"].tolist() == pytest.approx([60 / 56, 0.5])
    p = patient_adherence(w)
    assert p["afo_ratio"][0] == pytest.approx(88 / 112) and np.isnan(p["fes_ratio"][0])


def test_completed_above_prescribed_error_names_column_and_rows_not_the_patient():
    a = table([("A", 0, 7, 7), ("B", 0, 7, 9)])
    with pytest.raises(AdherenceInputError, match=r"toe_lifts_completed.*1 row: 1\. .*completed_above_prescribed='cap'"):
        weekly_adherence(a)
    with pytest.raises(AdherenceInputError) as e:
        weekly_adherence(a.assign(patient_id=["QZXV1", "QZXV2"]))
    assert "QZXV" not in str(e.value)  # patient keys are never shown
    w = weekly_adherence(a, completed_above_prescribed="cap")
    assert w["weekly_share"].tolist() == [1.0, 1.0] and w.attrs["rules"]["rows_capped"] == 1


def test_weeks_beyond_followup():
    a = table([("A", 0, 7, 7), ("A", 1, 7, 7), ("A", 2, 7, 0)])
    patients = pd.DataFrame({"patient_id": ["A"], "followup_days": [10]})
    with pytest.raises(AdherenceInputError, match=r"adherence\.week: week starts after .*followup_days.*1 row: 2\. "):
        weekly_adherence(a, patients)
    w = weekly_adherence(a, patients, beyond_followup="drop")
    assert w["week"].tolist() == [0, 1] and w.attrs["rules"]["rows_dropped_beyond_followup"] == 1


def test_missing_weeks_skip_or_non_adherent():
    a = table([("A", 0, 10, 10), ("A", 3, 10, 10)])
    p = patient_adherence(weekly_adherence(a))
    assert p["session_share"][0] == 1.0 and p["n_missing_weeks"][0] == 2
    w = weekly_adherence(a, missing_weeks="non_adherent")
    assert w["week"].tolist() == [0, 1, 2, 3] and w["imputed"].tolist() == [False, True, True, False]
    p = patient_adherence(w)
    assert p["session_share"][0] == 0.5 and p["weeks_adherent_share"][0] == 0.5 and p["n_missing_weeks"][0] == 2


def test_nothing_prescribed_at_all_is_a_category_not_a_silent_nan():
    p = patient_adherence(weekly_adherence(table([("A", 0, 0, 0)])))
    assert np.isnan(p["session_share"][0]) and p["category"][0] == "nothing prescribed"
    assert p["n_weeks_nothing_prescribed"][0] == 1


@pytest.mark.parametrize("change, match", [
    (lambda a: a.drop(columns="towel_slides_completed"), "lacks column"),
    (lambda a: a.assign(toe_lifts_completed=[-1, 0]), r"toe_lifts_completed must be a count"),
    (lambda a: a.assign(week=[0, 0]), r"must be unique"),
    (lambda a: a.assign(week=[0.5, 1]), r"whole number"),
])
def test_malformed_tables_are_refused(change, match):
    with pytest.raises(AdherenceInputError, match=match):
        weekly_adherence(change(table([("A", 0, 7, 0), ("A", 1, 7, 0)])))


def test_options_are_checked():
    a = table([("A", 0, 7, 0)])
    with pytest.raises(ConfigError, match="missing_weeks must be one of"):
        weekly_adherence(a, missing_weeks="impute")
    with pytest.raises(ConfigError, match="cut_points"):
        patient_adherence(weekly_adherence(a), cut_points=(0.8, 0.5))


def test_simulated_cohort_summary(cohort_small):
    m = adherence_metrics(cohort_small)
    s = m.summary.set_index("group")
    assert s.loc["home_exercise", "n_patients"] == m.info["n"]
    # supervised physiotherapy raises the adherence propensity by 0.4 on the logit scale
    assert s.loc["supervised_physio", "session_share_mean"] > s.loc["home_exercise", "session_share_mean"]
    cats = s.filter(like="cat: ").sum(axis=1)
    assert np.allclose(cats, 1.0)
    # agrees with the survival layer's naive per-patient adherence
    from footdrop_outcomes.survival import survival_frame
    f = survival_frame(cohort_small).set_index("patient_id")["mean_adherence"]
    p = m.per_patient.set_index("patient_id")["session_share"]
    assert np.allclose(f.reindex(p.index).to_numpy(dtype=float), p.to_numpy())
    by = adherence_metrics(cohort_small, by="severity")
    assert set(by.summary["group"]) == {"mild", "moderate", "severe"}
    cur = m.curves(20)
    assert {"group", "program_week", "mean", "lower", "upper"} <= set(cur.columns)


def test_plot(cohort_small):
    import matplotlib

    matplotlib.use("Agg")
    ax = adherence_metrics(cohort_small, by="severity").plot()
    assert len(ax.get_lines()) >= 3
