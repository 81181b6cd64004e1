"""Kaplan-Meier's array path (issue 16: fixed cost per call) gives exactly the tables of the table path.

``kaplan_meier`` keeps each group's curve as numpy columns and builds the curves table once; ``_summarise`` reads
those columns as it reads a curve table (Turnbull still passes tables); ``_groups`` splits a categorical by its
codes. Here the result is rebuilt the way it was built before (a table per group with its label inserted,
``pd.concat``, ``_summarise`` on each table, groups found by comparing values with each category) and must be
equal to the last bit, over seeds, CI scales, landmarks beyond follow-up, groups given as categoricals (unused and
reordered categories) or text, and late entry.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from footdrop_outcomes.survival import curves
from footdrop_outcomes.survival.curves import CurveWarning, kaplan_meier

LANDMARKS = [2.0, 6.0, 12.0, 26.0, 52.0, 400.0]  # the last beyond every follow-up


def _data(seed: int, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cause = rng.choice(["stroke", "compression", "neuropathy"], size=n, p=[0.5, 0.3, 0.2])
    t = np.round(rng.exponential(20, size=n), 1) + 0.1  # rounded: tied times
    entry = np.where(rng.random(n) < 0.3, rng.uniform(0, 5, size=n), 0.0)
    return pd.DataFrame({
        "time": np.maximum(t, entry + 0.05), "event": rng.random(n) < 0.7, "entry": entry,
        "cause": pd.Categorical(cause, categories=["stroke", "unused", "neuropathy", "compression"]),
        "text": cause.astype(object),
    })


def _groups_by_value(df: pd.DataFrame, group: str) -> list[tuple[str, np.ndarray]]:
    """The grouping rule as it was: categories (or sorted values) in order, rows equal to each, empty ones left out."""
    col = df[group]
    levels = list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype) else sorted(col.unique().tolist())
    values = col.to_numpy()
    return [(str(lev), np.flatnonzero(values == lev)) for lev in levels if np.any(values == lev)]


def _by_tables(df: pd.DataFrame, group: str, conf_type: str, entry_col: str | None, tau: float) -> tuple:
    """Summary and curves built as before: one table per group, pd.concat, _summarise on tables."""
    z = norm.ppf(1 - 0.05 / 2)
    t_all, e_all = df["time"].to_numpy(dtype=float), df["event"].to_numpy().astype(bool)
    tables, rows = [], []
    for label, idx in _groups_by_value(df, group):
        t, e, entry = t_all[idx], e_all[idx], None
        if entry_col is not None:
            en = df[entry_col].to_numpy(dtype=float)[idx]
            keep = ~(e & (t <= en))
            t, e, entry = t[keep], e[keep], en[keep]
        c = curves._km_curve(t, e, z, conf_type, entry)
        c.insert(0, "group", label)
        tables.append(c)
        risk = np.sort(t) if entry is None else np.vstack([np.sort(t), np.sort(entry)])
        rows.extend(curves._summarise(c, label, t, e, LANDMARKS, tau, method="kaplan_meier", alpha=0.05, risk=risk,
                                      warn_tau=True))
    return pd.DataFrame(rows), pd.concat(tables, ignore_index=True)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("conf_type", ["log-log", "log"])
def test_kaplan_meier_equals_the_table_path(seed, conf_type):
    df = _data(seed)
    for group in ("cause", "text"):
        for entry_col in (None, "entry"):
            for tau in (30.0, 500.0):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CurveWarning)
                    got = kaplan_meier(df, group=group, conf_type=conf_type, landmarks=LANDMARKS, tau=tau,
                                       entry_col=entry_col)
                    summary, tables = _by_tables(df, group, conf_type, entry_col, tau)
                pd.testing.assert_frame_equal(got.summary, summary, check_exact=True)
                pd.testing.assert_frame_equal(got.curves, tables, check_exact=True)
                assert got.curves["group"].dtype == object


def test_groups_of_a_categorical_by_code():
    df = _data(5)
    df["reordered"] = df["cause"].cat.reorder_categories(["compression", "neuropathy", "unused", "stroke"])
    df["ints"] = pd.Categorical(np.arange(len(df)) % 3, categories=[2, 0, 1, 7])
    for group in ("cause", "reordered", "ints", "text"):
        got, want = curves._groups(df, group), _groups_by_value(df, group)
        assert [g for g, _ in got] == [g for g, _ in want], group
        for (_, a), (_, b) in zip(got, want, strict=True):
            assert np.array_equal(a, b), group


def test_one_group_all_censored_and_all_recovered_groups():
    """A group nobody leaves recovered, and one where everyone recovers (its curve ends at 0 before tau)."""
    d = _data(6)
    df = d.assign(event=(d["event"] & (d["text"] != "neuropathy")) | (d["text"] == "compression"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurveWarning)
        for tau in (30.0, 500.0):
            got = kaplan_meier(df, group="cause", landmarks=LANDMARKS, tau=tau)
            summary, tables = _by_tables(df, "cause", "log-log", None, tau)
            pd.testing.assert_frame_equal(got.summary, summary, check_exact=True)
            pd.testing.assert_frame_equal(got.curves, tables, check_exact=True)
            # the carried-forward note, from its definition: follow-up ends before tau with someone unrecovered
            last = got.curves.groupby("group", sort=False).tail(1).set_index("group")
            rmst = got.summary[got.summary["statistic"] == "rmst"].set_index("group")["note"]
            for g, row in last.iterrows():
                carried = tau > df.loc[df["text"] == g, "time"].max() and row["survival"] > 0
                assert (rmst[g] != "") == carried, (g, tau)
        assert (last["survival"] == 0).any() and (last["survival"] > 0).any()  # both kinds of group are here
        alone = kaplan_meier(df, landmarks=LANDMARKS, tau=30.0)
    assert alone.curves["group"].unique().tolist() == ["all"]
