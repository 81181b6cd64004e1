"""Visits per patient in the follow-up table count a patient without visits as 0 (issue 21: the
mutation run over the counting parts of ``report/tables.py`` found that counting such patients
as one visit passed every test). Outside reference: visits counted patient by patient here with
a plain counter over the visit table, 0 for a patient who has none, and the median (IQR)
computed from those counts."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.report import counts
from footdrop_outcomes.report.analysis import CAUSE_SHORT
from footdrop_outcomes.report.tables import followup_table


def test_visits_per_patient_count_patients_without_visits_as_zero():
    c = simulate_cohort(300, 3, progress=False)
    pid = c.patients["patient_id"].astype(str)
    without = set(pid.iloc[::4])  # a quarter of the patients lose every visit
    c = dataclasses.replace(c, visits=c.visits[~c.visits["patient_id"].astype(str).isin(without)])
    seen = collections.Counter(c.visits["patient_id"].astype(str))
    n_visits = np.array([seen.get(p, 0) for p in pid])
    assert (n_visits == 0).sum() == len(without)
    counts.set_threshold(10)
    table = followup_table(c).frame.set_index("Cause")
    cause = c.patients["cause"].astype(str).to_numpy()
    checked = 0
    for key, label in [*CAUSE_SHORT.items(), ("All", "All")]:
        if label not in table.index or table.loc[label, "Visits per patient, median (IQR)"] == "-":
            continue
        x = n_visits if key == "All" else n_visits[cause == key]
        q1, q2, q3 = np.percentile(x, [25, 50, 75])
        assert table.loc[label, "Visits per patient, median (IQR)"] == f"{q2:.0f} ({q1:.0f}-{q3:.0f})", label
        checked += 1
    assert checked >= 5
