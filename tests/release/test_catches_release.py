"""Release control at its boundaries (issue 21, planted bugs): a group of exactly ``threshold``
patients is small and one of ``threshold + 1`` is not, for every kind of released object and
for several thresholds; a sentence is withheld whichever of its groups is small; the
suppression footnote states the range that was actually hidden. Truth: the policy's definition
(1..threshold is small), written out here case by case."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from footdrop_outcomes.release import (
    ReleaseError,
    ReleasePolicy,
    release_figure,
    release_table,
    release_text,
    suppress_counts,
)


@pytest.mark.parametrize("t", [5, 10, 11])
def test_exactly_threshold_is_small_and_one_more_is_not(t):
    pol = ReleasePolicy(t)
    assert [pol.is_small(n) for n in (0, 1, t - 1, t, t + 1)] == [False, True, True, True, False]
    tab = release_table(pd.DataFrame({"g": ["a", "b", "c"], "v": ["x", "y", "z"]}), pol, support=[t, t + 1, 0], keep=["g"])
    assert tab.frame["v"].tolist() == ["-", "y", "z"]
    assert release_text("median 4 weeks", pol, support=t).withheld
    assert not release_text("median 4 weeks", pol, support=t + 1).withheld
    with pytest.raises(ReleaseError):
        release_figure(plt.figure(), pol, support={"a": t + 1, "b": t})
    release_figure(plt.figure(), pol, support={"a": t + 1}).figure.clf()
    plt.close("all")


def test_a_sentence_is_withheld_whichever_group_is_small():
    pol = ReleasePolicy(10)
    for support in ([50, 3], [3, 50], [50, 60, 10], (n for n in [40, 1])):
        out = release_text("A: 12 weeks; B: 20 weeks.", pol, support=support)
        assert out.withheld and not re.search(r"12|20", out)


@pytest.mark.parametrize("t", [5, 10])
def test_the_suppression_footnote_states_the_hidden_range(t):
    res = suppress_counts(pd.DataFrame({"a": [t, 40], "b": [50, 60]}, index=["x", "y"]), threshold=t)
    assert bool(res.primary.iloc[0, 0])  # a count equal to the threshold is hidden ...
    note = res.footnote()
    m = re.search(r"from (\d+) to (\d+)", note)
    assert m and (int(m.group(1)), int(m.group(2))) == (1, t), note  # ... and the footnote says so


def test_documented_defaults():
    """docs/privacy.md (release policy): threshold 10, releasable down to 5, numbers at risk rounded to 5."""
    from footdrop_outcomes.release import MIN_THRESHOLD

    pol = ReleasePolicy()
    assert (pol.threshold, pol.round_to, pol.internal_use, MIN_THRESHOLD) == (10, 5, False, 5)
    ReleasePolicy(5)
    with pytest.raises(ReleaseError):
        ReleasePolicy(4)


def test_support_of_a_yes_no_term_with_missing_values_is_its_smaller_group():
    from footdrop_outcomes.release import term_support

    f = pd.DataFrame({"diabetes": pd.array([True] * 3 + [False] * 50 + [None] * 6, dtype="boolean"), "age": range(59)})
    assert term_support("diabetes", f) == 3  # the 6 unknown are in neither group
    assert term_support("age", f) == 59
    # the level of a yes/no factor as model terms name it (patsy / formulaic spellings)
    for term in ("diabetes[T.True]", "C(diabetes)[T.True]", "diabetes[True]"):
        assert term_support(term, f) == 3, term
    g = pd.DataFrame({"smoker": [1] * 4 + [0] * 30})
    assert term_support("smoker[T.1]", g) == 4
