"""Table 1's per-cause summaries describe that cause's patients (issue 21: the mutation run over
the counting parts of ``report/tables.py`` found that building each cause's column from every
*other* patient passed every test). Outside reference: medians and quartiles computed here
with numpy from each cause's own rows, and the documented rule that summaries of a group of
threshold or fewer patients are not shown."""

from __future__ import annotations

import numpy as np

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.report import counts
from footdrop_outcomes.report.analysis import CAUSE_SHORT
from footdrop_outcomes.report.tables import table_one

THRESHOLD = 10


def _median_iqr(x: np.ndarray, digits: int) -> str:
    q1, q2, q3 = np.percentile(x, [25, 50, 75])
    return f"{q2:.{digits}f} ({q1:.{digits}f}-{q3:.{digits}f})"


def test_each_cause_column_summarises_that_cause_only():
    c = simulate_cohort(300, 3, progress=False)
    counts.set_threshold(THRESHOLD)
    t = table_one(c).frame
    p = c.patients
    cause = p["cause"].astype(str)
    shown = small = 0
    for key, label in CAUSE_SHORT.items():
        if label not in t.columns:
            continue
        g = p[cause == key]
        for row, col, digits in (("Age, years, median (IQR)", "age", 0), ("BMI, median (IQR)", "bmi", 1)):
            if len(g) <= THRESHOLD:
                assert t.loc[row, label] == "-", (label, row)
                small += 1
            else:
                assert t.loc[row, label] == _median_iqr(g[col].dropna().to_numpy(float), digits), (label, row)
                shown += 1
    assert t.loc["Age, years, median (IQR)", "All"] == _median_iqr(p["age"].to_numpy(float), 0)
    assert shown >= 8
