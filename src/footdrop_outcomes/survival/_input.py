"""One way in for every survival function: a ``Cohort`` or a plain DataFrame with named columns.

With a cohort, :func:`survival_frame` builds one row per patient with the baseline covariates
and the recovery outcome (interval bounds and a right-censored approximation) in the chosen
time unit. With a DataFrame, the caller names the columns (lifelines style: ``duration_col`` /
``event_col``, or ``lower_col`` / ``upper_col`` for intervals) and :func:`check_columns` checks
them, so negative times, ``upper < lower`` or missing values give a clear error, never a NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import pandas as pd

from footdrop_outcomes.cohort.recovery import RightCensoredTime, recovery_intervals
from footdrop_outcomes._checks import check_choice
from footdrop_outcomes.errors import FootdropError

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["TimeUnit", "survival_frame", "check_columns", "as_frame", "DAYS_PER"]

TimeUnit = Literal["days", "weeks"]
DAYS_PER: dict[str, float] = {"days": 1.0, "weeks": 7.0}

#: Patients column of the day of first contact (late entry), days since onset.
ENTRY_DAY = "first_contact_day"

#: Baseline covariates carried into the survival frame.
COVARIATES = (
    "cause", "severity", "baseline_mrc", "age", "sex", "diabetes", "hba1c", "smoking", "bmi",
    "days_to_treatment", "supervised_physio", "afo", "fes", "surgery", "site",
)


def survival_frame(
    cohort: Cohort,
    *,
    threshold: int = 4,
    time_unit: TimeUnit = "weeks",
    approximation: RightCensoredTime = "first_visit",
) -> pd.DataFrame:
    """One row per patient: covariates and the recovery outcome, ready for survival models.

    Parameters
    ----------
    cohort : Cohort
    threshold : int
        MRC grade that defines recovery.
    time_unit : {"days", "weeks"}
        Unit of ``lower``, ``upper`` and ``time``.
    approximation : {"first_visit", "midpoint"}
        Event time of the right-censored view (see :meth:`Recovery.right_censored`).

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, the baseline covariates, ``lower``, ``upper`` (``inf`` if not seen
        recovered), ``kind``, ``time``, ``event`` (bool), ``n_visits``; plus
        ``mean_adherence``: share of prescribed home-exercise sessions completed over the
        whole follow-up (a *naive* summary with immortal-time bias; use the time-varying
        builders for adherence effects). When the patients table has ``first_contact_day``
        (schema 1.1: the day a patient was first seen), also ``entry``: that day in the chosen
        unit, the late-entry (left-truncation) time to give as ``entry_col="entry"`` to
        :func:`~footdrop_outcomes.survival.kaplan_meier`, :func:`~footdrop_outcomes.survival.turnbull`,
        :func:`~footdrop_outcomes.survival.fit_cox` and :func:`~footdrop_outcomes.survival.fit_interval_aft`.
        Without the column there is no ``entry`` (everyone observed from onset).

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> f = survival_frame(simulate_cohort(200, seed=1, version=2), time_unit="weeks")
    >>> bool((f["entry"] <= f["time"]).all()), "entry" in survival_frame(simulate_cohort(50, seed=1)).columns
    (True, False)
    """
    check_choice("time_unit", time_unit, get_args(TimeUnit))
    rec = recovery_intervals(cohort, threshold=threshold)
    rc = rec.right_censored(time=approximation)
    scale = DAYS_PER[time_unit]
    p = cohort.patients
    out = p[["patient_id", *COVARIATES]].copy()
    out["lower"] = rec.table["lower_day"].to_numpy() / scale
    out["upper"] = rec.table["upper_day"].to_numpy() / scale
    out["kind"] = rec.table["kind"].to_numpy()
    out["time"] = rc["time_day"].to_numpy() / scale
    out["event"] = rc["event"].to_numpy()
    out["n_visits"] = rec.table["n_visits"].to_numpy()
    if ENTRY_DAY in p.columns:  # late entry: at risk from first contact (days since onset, in the chosen unit)
        out["entry"] = pd.to_numeric(p[ENTRY_DAY]).to_numpy(dtype=float) / scale
    a = cohort.adherence
    done = sum(a[c].astype(np.int64) for c in a.columns if c.endswith("_completed"))
    given = sum(a[c].astype(np.int64) for c in a.columns if c.endswith("_prescribed") and not c.endswith("hours_prescribed"))
    by = pd.DataFrame({"pid": a["patient_id"], "done": done, "given": given}).groupby("pid", observed=False)[["done", "given"]].sum()
    share = (by["done"] / by["given"].where(by["given"] > 0)).reindex(p["patient_id"].to_numpy())
    out["mean_adherence"] = share.to_numpy()
    out.attrs.update({"time_unit": time_unit, "threshold": threshold, "approximation": approximation})
    return out


def check_columns(df: pd.DataFrame, *, duration_col: str | None = None, event_col: str | None = None,
                  lower_col: str | None = None, upper_col: str | None = None, table: str = "data") -> None:
    """Check outcome columns of a user's DataFrame; raise naming column and rows.

    Rules: columns exist; durations and lower bounds are finite and >= 0; events are 0/1 or
    boolean without missing values; upper is missing/inf (right-censored) or > lower.
    """
    for col in (duration_col, event_col, lower_col, upper_col):
        if col is not None and col not in df.columns:
            raise FootdropError(f"{table} has no column {col!r} (columns: {list(df.columns)[:12]})")

    def rows(mask: np.ndarray) -> str:
        idx = np.flatnonzero(mask)
        return ", ".join(map(str, df.index[idx[:8]])) + (", ..." if idx.size > 8 else "")

    for col in (duration_col, lower_col):
        if col is None:
            continue
        v = _numbers(df[col])
        bad = ~np.isfinite(v) | (v < 0)
        if bad.any():
            raise FootdropError(f"{table}.{col}: times must be finite and >= 0; rows {rows(bad)} are not")
    if event_col is not None:
        e = df[event_col]
        if isinstance(e.dtype, np.dtype) and e.dtype.kind in "biuf":  # as isin([0, 1, True, False]) & notna
            a = e.to_numpy()
            ok_np = (a == 0) | (a == 1)
        else:
            ok_np = (e.isin([0, 1, True, False]) & e.notna()).to_numpy()
        if not ok_np.all():
            raise FootdropError(f"{table}.{event_col}: events must be 0/1 or True/False; rows {rows(~ok_np)} are not")
    if lower_col is not None and upper_col is not None:
        lo = _numbers(df[lower_col])
        up = _numbers(df[upper_col])
        up = np.where(np.isnan(up), np.inf, up)
        bad = ~(up > lo)
        if bad.any():
            raise FootdropError(f"{table}: {upper_col} must be greater than {lower_col} (or empty when not recovered); rows {rows(bad)} are not")


def _numbers(col: pd.Series) -> np.ndarray:
    """``pd.to_numeric(col, errors="coerce")`` as floats (a numpy numeric column directly)."""
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "biuf":
        return col.to_numpy(dtype=float)
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)


def as_frame(data: Cohort | pd.DataFrame, **frame_options: object) -> pd.DataFrame:
    """A DataFrame as given, or the survival frame of a cohort."""
    if isinstance(data, pd.DataFrame):
        return data
    from footdrop_outcomes.cohort.cohort import Cohort

    if isinstance(data, Cohort):
        return survival_frame(data, **frame_options)  # type: ignore[arg-type]
    raise FootdropError(f"expected a Cohort or a pandas DataFrame, got {type(data).__name__}")
