"""Small-cell protection: property tests against an independent linear-algebra oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from footdrop_outcomes import ConfigError, simulate_cohort
from footdrop_outcomes.privacy import at_risk_labels, format_count, suppress_counts


def _determined_cells(full: np.ndarray, hidden: np.ndarray) -> list[tuple[int, int]]:
    """Hidden cells of an augmented table (body + totals) fixed by the published numbers.

    Oracle independent of the implementation: unknowns are the hidden cells; equations are
    'row cells sum to the row total' and 'column cells sum to the column total' (for the body
    and the total row/column). A hidden cell is determined iff its unit vector lies in the row
    space of the equations restricted to the unknowns.
    """
    r, c = full.shape
    cells = list(zip(*np.nonzero(hidden)))
    if not cells:
        return []
    col_of = {cell: k for k, cell in enumerate(cells)}
    eqs = []
    for i in range(r):  # row i: sum_{j<c-1} x_ij - x_i,last = 0
        eq = np.zeros(len(cells))
        for j in range(c):
            if (i, j) in col_of:
                eq[col_of[(i, j)]] += -1.0 if j == c - 1 else 1.0
        eqs.append(eq)
    for j in range(c):
        eq = np.zeros(len(cells))
        for i in range(r):
            if (i, j) in col_of:
                eq[col_of[(i, j)]] += -1.0 if i == r - 1 else 1.0
        eqs.append(eq)
    a = np.array(eqs)
    rank = np.linalg.matrix_rank(a)
    fixed = []
    for k, cell in enumerate(cells):
        e = np.zeros(len(cells))
        e[k] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
            fixed.append(cell)
    return fixed


def _full(body: np.ndarray) -> np.ndarray:
    full = np.zeros((body.shape[0] + 1, body.shape[1] + 1), dtype=np.int64)
    full[:-1, :-1] = body
    full[:-1, -1] = body.sum(axis=1)
    full[-1, :-1] = body.sum(axis=0)
    full[-1, -1] = body.sum()
    return full


counts = st.tuples(st.integers(1, 5), st.integers(1, 5)).flatmap(
    lambda shape: arrays(np.int64, shape, elements=st.one_of(st.integers(0, 15), st.integers(0, 200))))


@settings(max_examples=150, deadline=None)
@given(body=counts, threshold=st.integers(0, 12))
def test_no_published_count_in_the_suppressed_range(body, threshold):
    out = suppress_counts(pd.DataFrame(body), threshold)
    shown = out.table.to_numpy(dtype="float64", na_value=np.nan)
    shown = shown[np.isfinite(shown)]
    assert not ((shown >= 1) & (shown <= threshold)).any()
    # and every shown number is the true count
    full = _full(body)
    visible = ~out.hidden.to_numpy()
    assert (out.table.to_numpy(dtype="float64", na_value=np.nan)[visible] == full[visible]).all()


@settings(max_examples=150, deadline=None)
@given(body=counts, threshold=st.integers(1, 12))
def test_hidden_cells_cannot_be_recomputed_from_totals(body, threshold):
    out = suppress_counts(pd.DataFrame(body), threshold)
    hidden = out.hidden.to_numpy()
    assert _determined_cells(_full(body), hidden) == []
    # complementary cells are never zeros unless no other choice exists; hidden cells are >= 1 here
    full = _full(body)
    assert (full[hidden] >= 1).all() or (full == 0).sum() > 0


@settings(max_examples=60, deadline=None)
@given(values=arrays(np.int64, st.integers(1, 8), elements=st.integers(0, 60)))
def test_one_way_tables(values):
    out = suppress_counts(pd.Series(values, name="n"))
    shown = out.table.to_numpy(dtype="float64", na_value=np.nan)
    assert not ((shown >= 1) & (shown <= 10)).any()
    assert _determined_cells(_full(values.reshape(-1, 1)), out.hidden.to_numpy()) == []


def test_example_table_from_a_cohort():
    p = simulate_cohort(400, seed=5).patients
    out = suppress_counts(pd.crosstab(p["cause"], p["sex"]))
    assert out.table.loc["Total", "Total"] == 400
    assert out.primary.to_numpy().sum() >= 1 and out.n_hidden > out.primary.to_numpy().sum()
    text = out.formatted()
    assert (text == "*").to_numpy().sum() == out.n_hidden
    assert "1 to 10" in out.footnote()
    assert suppress_counts(pd.crosstab(p["cause"], p["sex"]), margins=False).table.shape == (8, 2)


def test_nothing_to_hide_changes_nothing():
    t = pd.DataFrame({"a": [0, 40], "b": [50, 60]})
    out = suppress_counts(t)
    assert out.n_hidden == 0 and out.table.loc[0, "a"] == 0


@pytest.mark.parametrize("bad", [pd.DataFrame({"a": [-1]}), pd.DataFrame({"a": [1.5]}), pd.DataFrame({"a": [np.nan]}), pd.DataFrame()])
def test_bad_counts_are_refused(bad):
    with pytest.raises(ConfigError):
        suppress_counts(bad)
    with pytest.raises(ConfigError, match="threshold"):
        suppress_counts(pd.DataFrame({"a": [1]}), threshold=-1)


def test_plot_annotations():
    assert format_count(0) == "0" and format_count(10) == "≤10" and format_count(11) == "11"
    assert format_count(4, threshold=5) == "≤5"
    assert at_risk_labels([212, 150, 37, 12, 11, 9, 0]) == ["210", "150", "35", "15", "15", "≤10", "0"]
    labels = at_risk_labels(pd.DataFrame({"stroke": [120, 60, 8], "als": [30, 3, 0]}), round_to=1)
    assert labels["als"].tolist() == ["30", "≤10", "0"] and labels["stroke"].tolist() == ["120", "60", "≤10"]


@given(st.lists(st.integers(0, 500), min_size=1, max_size=20), st.integers(1, 20), st.integers(1, 10))
def test_at_risk_labels_never_show_small_counts(values, threshold, round_to):
    for label in at_risk_labels(values, threshold, round_to=round_to):
        if label.isdigit():
            assert not (1 <= int(label) <= threshold)


def _lp_range(full: np.ndarray, hidden: np.ndarray, cell: tuple[int, int]) -> tuple[float, float]:
    """Smallest and largest value of ``cell`` consistent with the published cells, the totals and
    non-negativity. Independent of the implementation: one variable per cell of the augmented
    table (published ones fixed by their bounds), each body row / column summing to its total and
    the totals to the grand total."""
    from scipy.optimize import linprog

    r, c = full.shape
    idx = {(i, j): i * c + j for i in range(r) for j in range(c)}
    eqs = []
    for i in range(r):  # x_i0 + ... + x_i,c-2 - x_i,c-1 = 0 (row r-1 is the total row)
        a = np.zeros(r * c)
        for j in range(c - 1):
            a[idx[(i, j)]] = 1.0
        a[idx[(i, c - 1)]] = -1.0
        eqs.append(a)
    for j in range(c):
        a = np.zeros(r * c)
        for i in range(r - 1):
            a[idx[(i, j)]] = 1.0
        a[idx[(r - 1, j)]] = -1.0
        eqs.append(a)
    bounds = [(0, None) if hidden[i, j] else (float(full[i, j]), float(full[i, j])) for i in range(r) for j in range(c)]
    obj = np.zeros(r * c)
    obj[idx[cell]] = 1.0
    lo = linprog(obj, A_eq=np.array(eqs), b_eq=np.zeros(len(eqs)), bounds=bounds, method="highs")
    hi = linprog(-obj, A_eq=np.array(eqs), b_eq=np.zeros(len(eqs)), bounds=bounds, method="highs")
    assert lo.status == 0  # the true table is feasible
    return lo.fun, (np.inf if hi.status == 3 else -hi.fun)


_CELL = st.sampled_from([1, 2, 3, 5, 8, 0, 12, 20, 40, 100])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(1, 5).flatmap(lambda r: st.integers(1, 5).flatmap(
    lambda c: arrays(np.int64, (r, c), elements=_CELL))), st.integers(3, 10))
@example(np.array([[12, 1, 8], [20, 3, 5], [100, 20, 100]]), 10)  # a cycle of small cells only: each bounded by the others
@example(np.array([[12, 8, 20], [1, 20, 5], [20, 5, 2]]), 10)
@example(np.array([[2, 3, 40], [4, 1, 50]]), 5)
def test_no_hidden_small_cell_can_be_bounded_inside_one_to_threshold(body, threshold):
    """Issue 21: a reader who knows that counts are not negative must not be able to pin a hidden
    small count inside 1..threshold from the published cells and totals (linear programs)."""
    res = suppress_counts(pd.DataFrame(body), threshold=threshold)
    r, c = body.shape
    full = np.zeros((r + 1, c + 1), dtype=np.int64)
    full[:-1, :-1], full[:-1, -1], full[-1, :-1], full[-1, -1] = body, body.sum(1), body.sum(0), body.sum()
    hidden, primary = res.hidden.to_numpy(), res.primary.to_numpy()
    for cell in zip(*np.nonzero(primary)):
        lo, hi = _lp_range(full, hidden, cell)
        assert lo <= full[cell] <= hi
        assert not (lo >= 1 - 1e-9 and hi <= threshold + 1e-9), (body.tolist(), cell, lo, hi)
