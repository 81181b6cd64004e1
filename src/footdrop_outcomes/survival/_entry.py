"""Late entry (left truncation) for the non-parametric curves.

Most patients are first seen weeks after onset. A patient first seen on day ``e`` is known not to
have recovered before ``e`` only because they are in the data at all (a referral cohort never
sees those who recovered earlier), so they belong to the risk set from ``e`` on, not from onset:
the curve is estimated from ``P(T > t | T > e)`` (Kaplan-Meier with delayed entry, as R's
``survfit(Surv(entry, exit, event))``; Turnbull with the conditional likelihood of Turnbull 1976,
maximised over masses on Turnbull's innermost intervals, one that holds an entry counted before it).

The entry time is ``first_contact_day`` of a cohort's patients (days since onset; converted to
the analysis time unit), or any column of a DataFrame in the unit of its times. Without the
column every patient enters at onset.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from footdrop_outcomes.errors import FootdropError, FootdropWarning
from footdrop_outcomes.survival._input import DAYS_PER

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

#: Column of a cohort's patients table giving the day of first contact (days since onset).
ENTRY_COLUMN = "first_contact_day"


class LateEntryWarning(FootdropWarning):
    """Patients left out of a late-entry analysis (recovered by the time they were first seen)."""


def entry_times(data: Cohort | pd.DataFrame, df: pd.DataFrame, entry_col: str | None,
                time_unit: str) -> np.ndarray | None:
    """Entry time of each row of ``df`` (the frame of ``data``) in the frame's time unit, or None.

    A DataFrame must have ``entry_col`` (in the unit of its times). A cohort takes it from its
    survival frame when the frame has it (in the frame's unit), else from its patients table
    (days since onset); a cohort without the column enters everyone at onset.
    """
    if entry_col is None:
        return None
    if isinstance(data, pd.DataFrame) or entry_col in df.columns:  # a column of the frame, in its unit
        if entry_col not in df.columns:
            raise FootdropError(f"data has no column {entry_col!r} of entry times (columns: {list(df.columns)[:12]})")
        values = pd.to_numeric(df[entry_col], errors="coerce").to_numpy(dtype=float)
        table = "data"
    else:
        patients = data.patients
        if entry_col not in patients.columns:  # no first-contact day recorded: entry at onset
            return np.zeros(len(df))
        unit = df.attrs.get("time_unit", time_unit)
        values = pd.to_numeric(patients[entry_col], errors="coerce").to_numpy(dtype=float) / DAYS_PER[unit]
        table = "patients"
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise FootdropError(f"{table}.{entry_col}: entry times must be finite and >= 0; rows {_rows(df, bad)} are not")
    return values


def check_entry(df: pd.DataFrame, entry: np.ndarray, exit_: np.ndarray, *, entry_col: str, exit_col: str) -> None:
    """Refuse rows whose entry is after their exit (naming columns and rows, never values)."""
    bad = entry > exit_
    if bad.any():
        raise FootdropError(f"data.{entry_col} is after data.{exit_col} in rows {_rows(df, bad)}: a patient cannot "
                            "leave observation before first contact; check the entry and outcome columns")


def drop_recovered_at_entry(df: pd.DataFrame, keep: np.ndarray, *, entry_col: str, label: str) -> int:
    """Warn about patients already recovered when first seen (left out: never at risk); their number."""
    dropped = int((~keep).sum())
    if dropped:
        warnings.warn(f"group {label!r}: {dropped} patient(s) had recovered by their first contact "
                      f"({entry_col}; rows {_rows(df, ~keep)}) and are left out: under late entry they were never "
                      "at risk of recovering", LateEntryWarning, stacklevel=3)
    return dropped


def _rows(df: pd.DataFrame, mask: np.ndarray) -> str:
    idx = np.flatnonzero(mask)
    return ", ".join(map(str, df.index[idx[:8]])) + (", ..." if idx.size > 8 else "")


def curve_start(lower: np.ndarray, upper: np.ndarray, entry: np.ndarray, *, min_entered: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float | int]]:
    """Start a late-entry curve where enough patients are under observation.

    Under left truncation the curve is identified only from the earliest entry on, and just after
    it by the few patients seen that early: with one patient under observation who recovers, the
    conditional likelihood is maximised by putting (almost) all the mass before everybody else's
    entry, whatever the later patients show, and the curve reads "everyone recovered by week 1".
    The curve therefore starts at ``s0``, the entry time of the ``min_entered``-th patient, and
    estimates ``P(T <= t | T > s0)`` (the conditional curve of Klein & Moeschberger 2003, §4.6;
    the small-risk-set problem of Lai & Ying 1991). Patients seen recovered by ``s0`` are outside
    that population and left out; patients first seen before ``s0`` enter at ``s0``; a recovery
    interval that straddles ``s0`` (at most ``min_entered - 1`` patients, first seen before it) is
    taken to start at ``s0``. With ``min_entered`` patients entering at the earliest time (always
    true when ten or more are seen from onset) nothing changes.

    Returns the adjusted ``lower``, ``upper``, ``entry`` and what was done (``start``, the number
    ``recovered_before_start`` left out, ``straddling`` intervals moved).
    """
    if entry.size == 0:
        return lower, upper, entry, {"start": 0.0, "recovered_before_start": 0, "straddling": 0}
    k = min(int(min_entered), entry.size)
    s0 = float(np.partition(entry, k - 1)[k - 1])
    if s0 <= entry.min():
        return lower, upper, entry, {"start": s0, "recovered_before_start": 0, "straddling": 0}
    keep = upper > s0
    straddling = int((keep & (lower < s0)).sum())
    lower, upper, entry = np.maximum(lower[keep], s0), upper[keep], np.maximum(entry[keep], s0)
    return lower, upper, entry, {"start": s0, "recovered_before_start": int((~keep).sum()), "straddling": straddling}


def interval_times(data: Cohort | pd.DataFrame, df: pd.DataFrame, *, lower_col: str, upper_col: str,
                   entry_col: str | None, time_unit: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Lower and upper ends (missing upper: ``inf``) and entry times of an interval-censored frame,
    entry checked against the last visit (the curves of :func:`turnbull` and
    :func:`piecewise_hazard_curve`)."""
    lower = df[lower_col].to_numpy(dtype=float)
    upper = pd.to_numeric(df[upper_col], errors="coerce").to_numpy(dtype=float)
    upper = np.where(np.isnan(upper), np.inf, upper)
    entry = entry_times(data, df, entry_col, time_unit)
    if entry is not None:
        check_entry(df, entry, np.where(np.isfinite(upper), upper, lower), entry_col=str(entry_col),
                    exit_col=f"{upper_col} (or {lower_col} if not recovered)")
    return lower, upper, entry


def enter_group(df: pd.DataFrame, lower: np.ndarray, upper: np.ndarray, entry: np.ndarray, *, entry_col: str,
                label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """One group's intervals under late entry: those recovered by first contact left out (with a
    warning; their number returned), lower ends before entry moved to entry."""
    keep = upper > entry  # recovered by first contact: never at risk
    dropped = drop_recovered_at_entry(df, keep, entry_col=entry_col, label=label)
    entry = entry[keep]
    return np.maximum(lower[keep], entry), upper[keep], entry, dropped
