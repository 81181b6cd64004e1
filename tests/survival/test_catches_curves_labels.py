"""The at-risk table under a recovery curve shows counts, not a second row of week labels
(issue 21; survivor ``survival/curves.py:736`` of the mutation run at ba5ded3: the table's x tick
labels switched back on printed every week label twice, once under the curve and once under the
counts, which then read as more numbers of the table).

What a reader sees is checked on the drawn figure: the week labels appear once (under the curve),
each count of the table sits at its week, and the table's own x axis shows no label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.survival import kaplan_meier, number_at_risk, turnbull


@pytest.fixture()
def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def _visible_xlabels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]


@pytest.mark.parametrize("method", ["kaplan_meier", "turnbull"])
def test_week_labels_appear_once_and_the_table_holds_only_counts(plt, method):
    rng = np.random.default_rng(3)
    t = rng.exponential(12, 200)
    if method == "kaplan_meier":
        res = kaplan_meier(pd.DataFrame({"time": np.round(t, 1) + 0.1, "event": 1, "g": np.repeat(["a", "b"], 100)}),
                           group="g")
    else:
        lower = np.floor(t / 2) * 2
        res = turnbull(pd.DataFrame({"lower": lower, "upper": lower + 2, "g": np.repeat(["a", "b"], 100)}), group="g")
    times = [0, 10, 20, 30]
    ax = res.plot(at_risk_times=times, small_cells=None)
    fig = ax.figure
    fig.canvas.draw()
    curve_ax, table_ax = fig.axes[0], fig.axes[1]
    assert table_ax.get_title(loc="left").startswith("number at risk")
    assert _visible_xlabels(table_ax) == []  # no week labels under the counts
    labels = _visible_xlabels(curve_ax)
    assert len(labels) >= 3 and len(labels) == len(set(labels))
    # the table's texts: the counts at each week, by group (by hand from number_at_risk), and the group names
    expected = number_at_risk(res, times)
    texts = {(round(float(x.get_position()[0]), 6), x.get_text()) for x in table_ax.texts if x.get_position()[0] >= 0}
    for group, counts in expected.iterrows():
        for week, n in zip(times, counts.to_numpy(), strict=True):
            assert (float(week), str(int(n))) in texts, (group, week)
