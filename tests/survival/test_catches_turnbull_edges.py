"""Edges of the Turnbull identification rules (issue 21; survivors turnbull.py:339 and :257 of the
mutation run at ba5ded3).

Each test writes out the documented rule (docs/survival.md, "What the Turnbull NPMLE identifies")
for a hand-built data set and compares with what ``turnbull`` reports:

* a median is a point when its identified set, and the distance to the nearest well-attended
  visit on each side, are at most ``identification_ratio`` of the CI width. Before onset (time 0)
  there is no time at all, so a set that starts at onset has nothing on its left;
* a well-attended visit is a time where *at least* 20% of the patients under observation were
  seen within a week.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.survival import turnbull
from footdrop_outcomes.survival.turnbull import _attended_visits


def _intervals(counts: dict[tuple[float, float], int]) -> pd.DataFrame:
    rows = [interval for interval, k in counts.items() for _ in range(k)]
    return pd.DataFrame(rows, columns=["lower", "upper"])


def test_a_median_set_starting_at_onset_has_no_gap_before_it():
    # visits at 0.25, 0.5, 1, 1.5, ... weeks; 51 of 100 recovered by the first visit (0.25 weeks),
    # a few more over the next weeks, then many at 3-4 weeks; 20 never recover (seen to week 12)
    counts = {(0.0, 0.25): 51, (0.25, 0.5): 1, (0.5, 1.0): 2, (1.0, 1.5): 2, (1.5, 2.0): 1, (2.0, 2.5): 2,
              (2.5, 3.0): 1, (3.0, 3.5): 10, (3.5, 4.0): 10, (12.0, np.inf): 20}
    med = turnbull(_intervals(counts)).summary.query("statistic == 'median'").iloc[0]
    # the identified set: the first innermost interval after which S <= 1/2, (0, 0.25]
    assert (med["set_lower"], med["set_upper"]) == (0.0, 0.25)
    width = med["upper"] - med["lower"]
    ratio = 0.25  # identification_ratio's default
    set_width, gap_before, gap_after = 0.25, 0.0, 0.5 - 0.25  # nothing before onset; next visit at 0.5
    assert max(set_width, gap_before, gap_after) <= ratio * width  # the documented rule says "point"
    assert med["identification"] == "point" and bool(med["identified"])
    # the case can tell: a gap of one week before the set (as if onset were a visit a week away)
    # would make it a set
    assert 1.0 > ratio * width


@pytest.mark.parametrize("k_near", [2, 3, 1])
def test_a_visit_time_is_well_attended_when_at_least_a_fifth_of_those_observed_were_seen(k_near):
    # ten patients under observation at week 5: k_near recovered between week 0 and week 5 (their
    # only interval end is 5), the others seen unrecovered last at week 20
    lo = np.r_[np.zeros(k_near), np.full(10 - k_near, 20.0)]
    up = np.r_[np.full(k_near, 5.0), np.full(10 - k_near, np.inf)]
    ends = _attended_visits(lo, up, week=1.0)
    # by hand at week 5: interval ends within a week: k_near; under observation: all 10
    assert (5.0 in ends) == (k_near >= 0.2 * 10)  # exactly 2 of 10 = 20% counts ("at least")
    assert 20.0 in ends  # 8-9 of the 8-9 still observed at week 20


def test_a_wide_median_set_between_scheduled_visits_says_so():
    # the project's visit schedule (weeks 2, 6, 12, 26, 52), everyone seen at every visit: half of
    # the 500 patients have recovered somewhere between weeks 12 and 26
    counts = {(0.0, 2.0): 50, (2.0, 6.0): 75, (6.0, 12.0): 75, (12.0, 26.0): 150, (26.0, 52.0): 50, (52.0, np.inf): 100}
    med = turnbull(_intervals(counts)).summary.query("statistic == 'median'").iloc[0]
    assert (med["set_lower"], med["set_upper"]) == (12.0, 26.0)
    # the set alone is wider than identification_ratio x the CI width: a set because of its own
    # width (the CI, which also spans the unvisited weeks 13-25, is not the reason)
    assert 26.0 - 12.0 > 0.25 * (med["upper"] - med["lower"])
    assert med["lower"] <= 12.0 and med["upper"] >= 26.0
    assert med["identification"] == "set"
    assert med["note"] == "not point-identified: recovery of half the patients lies between two visits"


def test_mass_after_the_last_gap_has_no_later_gap_to_move_into():
    """The gap correction (docs/survival.md, median CI, correction 1) moves a patient's share of a
    mass into the unvisited gap *between visit windows* next to it. Visits at weeks 1-2 and 10-11
    (a gap from 2 to 10); patients (0, 1], (1, 2], (10, 11], (11, inf) and (1, inf). By hand:
    only the last patient spans the gap, so only their shares move: the share of (1, 2] later
    (into the gap after it) and the share of (11, inf) earlier (into the gap before (10, 11]).
    The mass of (10, 11] has no gap after it: the time after the last visit is not a gap between
    visits, so nothing moves past it (turnbull.py:313 survivor of the session-6 sample)."""
    import importlib

    tb = importlib.import_module("footdrop_outcomes.survival.turnbull")
    lo, up = np.array([0.0, 1.0, 10.0, 11.0, 1.0]), np.array([1.0, 2.0, 11.0, np.inf, np.inf])
    fit = tb._turnbull_fit(lo, up, tol=1e-12, max_iter=20_000, label="all")
    assert fit["left"].tolist() == [0.0, 1.0, 10.0, 11.0] and fit["support"].all()
    p = fit["p"]
    share = p / p[1:].sum() / 5  # the last patient's NPMLE share of each mass in (1, inf)
    late, early = tb._gap_shifts(fit, np.array([1.0, 2.0, 10.0, 11.0]), week=1.0)
    np.testing.assert_allclose(late, [0.0, share[1], 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(early, [0.0, 0.0, share[3], 0.0], atol=1e-12)
