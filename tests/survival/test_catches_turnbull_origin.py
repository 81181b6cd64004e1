"""The curve table of a Turnbull fit starts after the origin, as every reader of it assumes (issue 21).

``CurveResult.curves`` holds the identified points of the NPMLE (Turnbull) or the steps of the
Kaplan-Meier curve, each with ``n_at_risk`` and ``events`` there. Neither has a row at time 0:
every consumer adds the origin ``(0, S = 1)`` itself (``CurveResult.plot``, ``survival_at`` via
``curves._evaluate``, ``_quantile_linear``). The session-6 survivor ``turnbull.py`` "curve points
``t > 0`` -> ``t >= 0``" adds such a row whenever an innermost interval with mass starts at onset
(patients recovered by their first visit): S = 1, every patient at risk, no events. Its numbers are
true, the summary is unchanged, but the row is not an identified point of the NPMLE and it is
read: the report's curve figures end their time axis at the last curve point with more than the
small-cell threshold of patients at risk (``report.figures._curve_extent``), and an origin row
counts every patient as at risk there, so a small group whose first visit already finds most of
it recovered gets a time axis that ends at 0.

Reference: the definitions above, worked by hand on a common visit schedule (where the NPMLE at a
visit is the plain proportion recovered by then).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.survival import kaplan_meier, turnbull


def _schedule(counts: dict[tuple[float, float], int]) -> pd.DataFrame:
    """Patients recovered in (lower, upper] (upper inf: not seen recovered by lower)."""
    rows = [(lo, up) for (lo, up), k in counts.items() for _ in range(k)]
    return pd.DataFrame(rows, columns=["lower", "upper"])


def test_a_turnbull_curve_table_has_no_row_at_onset_even_when_the_first_visit_finds_recoveries():
    # visits at weeks 2, 4, 8 for everyone: 15 recovered by the first visit (mass on (0, 2]),
    # 10 in (2, 4], 5 in (4, 8], 10 not recovered at week 8
    df = _schedule({(0.0, 2.0): 15, (2.0, 4.0): 10, (4.0, 8.0): 5, (8.0, np.inf): 10})
    tb = turnbull(df)
    c = tb.curves
    assert (c["time"] > 0).all()
    # the identified points are the visits, with the plain proportions and the patients seen there
    np.testing.assert_allclose(c["time"], [2.0, 4.0, 8.0])
    np.testing.assert_allclose(c["survival"], [25 / 40, 15 / 40, 10 / 40], atol=1e-6)
    assert c["n_at_risk"].tolist() == [25, 15, 10]  # seen unrecovered at or after the point
    assert c["events"].tolist() == [15, 10, 5]  # recoveries seen by the point, since the previous one
    assert int(c["events"].sum()) == tb.info["events"]
    # the same convention as Kaplan-Meier on the visit times
    km = kaplan_meier(pd.DataFrame({"time": np.where(np.isfinite(df["upper"]), df["upper"], df["lower"]),
                                    "event": np.isfinite(df["upper"])}))
    assert (km.curves["time"] > 0).all()
    np.testing.assert_allclose(km.curves.loc[km.curves["events"] > 0, "time"], c["time"])


def test_a_small_group_mostly_recovered_at_its_first_visit_keeps_a_time_axis():
    """The curve figure's time axis (report.figures._curve_extent): the last curve point with more
    than the threshold at risk, else the last point. An origin row would be that point here."""
    from footdrop_outcomes.report.figures import _curve_extent

    threshold = 10
    # 14 patients seen at week 6: 9 recovered by then; the others recover by week 12 or not
    df = _schedule({(0.0, 6.0): 9, (6.0, 12.0): 3, (12.0, np.inf): 2})
    c = turnbull(df).curves
    assert c.loc[c["time"] > 0, "n_at_risk"].max() <= threshold  # after onset no point has more than the threshold
    assert _curve_extent(c, threshold) == pytest.approx(12.0)
