"""Time to discontinuation: the run definition on hand-made tables, and AFO abandonment against the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.adherence import discontinuation, discontinuation_times, weighted_kaplan_meier
from footdrop_outcomes.cohort.vocabulary import EXERCISES
from footdrop_outcomes.errors import ConfigError


def table(rows):
    """rows: (patient_id, week, toe lifts completed of 10 prescribed)."""
    d = {"patient_id": [r[0] for r in rows], "week": [r[1] for r in rows]}
    for s in EXERCISES:
        d[f"{s}_prescribed"] = [10 if s == "toe_lifts" else 0 for _ in rows]
        d[f"{s}_completed"] = [r[2] if s == "toe_lifts" else 0 for r in rows]
    return pd.DataFrame(d)


def test_run_definition():
    a = table([("A", 5, 9), ("A", 6, 2), ("A", 7, 9), ("A", 8, 1), ("A", 9, 0), ("A", 10, 9),
               ("B", 0, 9), ("B", 1, 9), ("B", 2, 1),
               ("C", 0, 0), ("C", 1, 0)])
    d = discontinuation_times(a).set_index("patient_id")
    assert d.loc["A", "time"] == 3 and d.loc["A", "event"]  # the run starts at program week 3
    # one low week at the end: a run starting in the last recorded week could not be seen, so
    # censored at program week 1 (the last week in which a two-week run could be seen to start)
    assert d.loc["B", "time"] == 1 and not d.loc["B", "event"]
    assert d.loc["C", "time"] == 0 and d.loc["C", "event"]  # never started: stopped before week 0 ended
    d3 = discontinuation_times(a, consecutive=3).set_index("patient_id")
    assert not d3.loc["A", "event"] and d3.loc["A", "time"] == 3  # six weeks recorded: a 3-week run seen from weeks 0..3
    d1 = discontinuation_times(a, consecutive=1, threshold=0.25).set_index("patient_id")
    assert d1.loc["A", "time"] == 1 and d1.loc["B", "time"] == 2


def test_missing_weeks_rule():
    a = table([("A", 0, 9), ("A", 1, 0), ("A", 3, 9)])
    assert not discontinuation_times(a)["event"][0]
    d = discontinuation_times(a, missing_weeks="non_adherent")
    assert d["event"][0] and d["time"][0] == 1


def test_options():
    a = table([("A", 0, 9)])
    with pytest.raises(ConfigError, match="kind must be one of"):
        discontinuation_times(a, kind="shoes")
    with pytest.raises(ConfigError, match="consecutive"):
        discontinuation_times(a, consecutive=0)


def test_afo_abandonment_matches_truth(cohort_no_adherence_effect):
    """AFO wear drops to 0 at the simulator's abandonment time S (afo_abandon_week, weeks since program start).

    Plain indexing: the first week without wear is program week ceil(S), so "abandoned by week
    t" estimates P(S <= t) itself.
    """
    c = cohort_no_adherence_effect
    r = discontinuation(c, kind="afo", group=None)
    d = r.times.merge(c.truth.patients.assign(patient_id=c.truth.patients["patient_id"].astype(str)), on="patient_id")
    km = weighted_kaplan_meier(d["time"].to_numpy(), d["event"].to_numpy(), np.ones(len(d)))
    for week in (13, 26, 52):
        est = 1 - km.loc[km["time"] <= week, "survival"].iloc[-1]
        true = np.mean(d["afo_abandon_week"].to_numpy() <= week)
        assert est == pytest.approx(true, abs=0.015)
    # the summary's truth: the generator's expected share over the analysed patients (truth.parameters afo_abandonment)
    s = r.summary.query("statistic == 'discontinued_by'").set_index("time")
    assert s["truth"].notna().all()
    for week in s.index:
        assert s.loc[week, "truth"] == pytest.approx(np.mean(d["afo_abandon_week"].to_numpy() <= week), abs=0.01)
        assert s.loc[week, "lower"] <= s.loc[week, "truth"] <= s.loc[week, "upper"]
    by52 = r.summary.query("statistic == 'discontinued_by' and time == 52")["estimate"].iloc[0]
    assert by52 == pytest.approx(0.5, abs=0.03)  # docs/simulation.md: 50% abandoned by 52 weeks


def test_supervised_patients_stop_exercising_later(cohort_small):
    r = discontinuation(cohort_small, formula="supervised_physio + severity")
    hr = r.cox.summary.set_index("term").loc["supervised_physio[True]", "log_hr"]
    assert hr < 0  # supervised physiotherapy raises the adherence propensity
    med = r.summary.query("statistic == 'median'").set_index("group")["estimate"]
    assert med["True"] > med["False"]
    import matplotlib

    matplotlib.use("Agg")
    assert r.plot().get_xlabel() == "weeks since program start"
