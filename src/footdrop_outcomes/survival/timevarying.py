"""Time-varying adherence: weekly exposure and counting-process (start, stop] data.

Adherence changes over time and is only known up to the present, so its effect on recovery is
estimated with a time-varying covariate. Using adherence averaged over the whole follow-up
instead conditions on the future (patients must stay unrecovered long enough to accumulate
weeks of adherence): immortal-time bias.

Exposure definition (the same one the simulator uses, so estimates can be checked against
``cohort.truth``): for week ``w`` (days 7w to 7w+6 since onset),

* ``current_adherence``: share of the sessions prescribed in the previous recorded week that
  were completed (0 before the program starts);
* ``cumulative_adherence``: share of all sessions prescribed in the weeks *before* ``w`` that
  were completed — completed / prescribed, summed over weeks and exercises, so weeks with more
  sessions weigh more. It is 0 before any program week has ended; after the last recorded week
  it holds its final value. Both are lagged: known at the start of the week they apply to.

Weeks missing from the adherence table inside a program contribute nothing (they are neither
adherent nor non-adherent); :func:`adherence_exposure` counts them in ``gap_weeks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from footdrop_outcomes.cohort.recovery import RightCensoredTime
from footdrop_outcomes.cohort.vocabulary import EXERCISES
from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.survival._input import DAYS_PER, TimeUnit, check_choice, survival_frame

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["adherence_exposure", "counting_process"]


def adherence_exposure(adherence: pd.DataFrame) -> pd.DataFrame:
    """Weekly home-exercise adherence with lagged current and cumulative exposure.

    Parameters
    ----------
    adherence : pandas.DataFrame
        A cohort's adherence table (``patient_id``, ``week``, ``<exercise>_prescribed`` and
        ``<exercise>_completed`` for the six exercises), rows per patient in week order.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``week``, ``prescribed``, ``completed``, ``weekly_share`` (NaN when
        nothing was prescribed that week), ``current_adherence`` and ``cumulative_adherence``
        (both lagged, see the module notes), ``cumulative_through`` (including this week) and
        ``gap_weeks`` (missing weeks before this one within the patient's program).

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> exp = adherence_exposure(simulate_cohort(100, seed=1).adherence)
    >>> bool((exp["cumulative_adherence"].between(0, 1)).all())
    True
    """
    needed = {"patient_id", "week"} | {f"{s}_{k}" for s in EXERCISES for k in ("prescribed", "completed")}
    missing = needed - set(adherence.columns)
    if missing:
        raise FootdropError(f"adherence table lacks column(s) {sorted(missing)}")
    pid = adherence["patient_id"]
    prescribed = sum(adherence[f"{s}_prescribed"].to_numpy(np.int64) for s in EXERCISES)
    completed = sum(adherence[f"{s}_completed"].to_numpy(np.int64) for s in EXERCISES)
    out = pd.DataFrame({"patient_id": pid.to_numpy(), "week": adherence["week"].to_numpy(np.int64),
                        "prescribed": prescribed, "completed": completed})
    g = out.groupby("patient_id", observed=True, sort=False)
    cum_p = g["prescribed"].cumsum().to_numpy()
    cum_c = g["completed"].cumsum().to_numpy()
    before_p = cum_p - prescribed
    before_c = cum_c - completed
    with np.errstate(invalid="ignore", divide="ignore"):
        out["weekly_share"] = np.where(prescribed > 0, completed / np.maximum(prescribed, 1), np.nan)
        out["cumulative_adherence"] = np.where(before_p > 0, before_c / np.maximum(before_p, 1), 0.0)
        out["cumulative_through"] = np.where(cum_p > 0, cum_c / np.maximum(cum_p, 1), 0.0)
    prev_share = g["weekly_share"].shift(1)
    out["current_adherence"] = prev_share.fillna(0.0).to_numpy()
    first = g["week"].transform("min").to_numpy()
    rank = g.cumcount().to_numpy()
    out["gap_weeks"] = (out["week"].to_numpy() - first) - rank
    return out[["patient_id", "week", "prescribed", "completed", "weekly_share", "current_adherence",
                "cumulative_adherence", "cumulative_through", "gap_weeks"]]


def counting_process(
    cohort: Cohort,
    *,
    time_unit: TimeUnit = "weeks",
    approximation: RightCensoredTime = "first_visit",
    threshold: int = 4,
    outcome: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Split each patient's follow-up into weekly (start, stop] episodes with current exposure.

    Parameters
    ----------
    cohort : Cohort
        Supplies baseline covariates, visits (for the outcome) and the adherence table.
    time_unit : {"days", "weeks"}
        Unit of ``start`` and ``stop``.
    approximation : {"first_visit", "midpoint"}
        Event time of recovered patients (recovery is interval-censored; a Cox model needs a
        time). ``first_visit`` is the visit at which recovery was first seen.
    threshold : int
        MRC grade that defines recovery.
    outcome : pandas.DataFrame, optional
        Override the outcome with your own ``patient_id``, ``time`` (in ``time_unit``) and
        ``event`` columns (e.g. true latent times in a simulation check).

    Returns
    -------
    pandas.DataFrame
        One row per patient-week at risk: ``patient_id``, ``start``, ``stop``, ``event`` (on the
        last episode of a recovered patient only), ``week``, ``current_adherence``,
        ``cumulative_adherence`` and the baseline covariates of :func:`survival_frame`.
        Patients with no time at risk (censored at 0) are left out.
    """
    check_choice("time_unit", time_unit, ("days", "weeks"))
    frame = survival_frame(cohort, threshold=threshold, time_unit=time_unit, approximation=approximation)
    if outcome is not None:
        lacking = {"patient_id", "time", "event"} - set(outcome.columns)
        if lacking:
            raise FootdropError(f"outcome lacks column(s) {sorted(lacking)}")
        o = outcome.set_index(outcome["patient_id"].astype(str))
        ids = frame["patient_id"].astype(str)
        frame["time"] = o["time"].reindex(ids).to_numpy(dtype=float)
        frame["event"] = o["event"].reindex(ids).to_numpy(dtype=bool)
        if np.isnan(frame["time"]).any():
            raise FootdropError("outcome has no time for some patients of the cohort")
    scale = DAYS_PER[time_unit] / 7.0  # time units per week
    t_weeks = frame["time"].to_numpy() / scale
    keep = t_weeks > 0
    frame = frame.loc[keep].reset_index(drop=True)
    t_weeks = t_weeks[keep]
    n_ep = np.ceil(t_weeks).astype(np.int64)
    row = np.repeat(np.arange(len(frame)), n_ep)
    week = np.arange(n_ep.sum()) - np.repeat(np.cumsum(n_ep) - n_ep, n_ep)
    start = week.astype(float)
    stop = np.minimum(week + 1.0, t_weeks[row])
    last = week == (n_ep[row] - 1)
    event = last & frame["event"].to_numpy(bool)[row]

    # exposure per (patient, week): 0 before the first recorded week, final value after the last
    exp = adherence_exposure(cohort.adherence)
    codes = pd.Index(frame["patient_id"].astype(str))
    exp_code = codes.get_indexer(exp["patient_id"].astype(str))
    exp = exp.loc[exp_code >= 0].assign(_row=exp_code[exp_code >= 0])
    n_pat = len(frame)
    last_week = np.full(n_pat, -1)
    end_cum = np.zeros(n_pat)
    end_cur = np.zeros(n_pat)
    if len(exp):
        grp = exp.groupby("_row", sort=True)
        idx = grp.size().index.to_numpy()
        last_week[idx] = grp["week"].max().to_numpy()
        tail = grp.tail(1).set_index("_row").loc[idx]
        end_cum[idx] = tail["cumulative_through"].to_numpy()
        end_cur[idx] = tail["weekly_share"].fillna(0.0).to_numpy()
    key = pd.MultiIndex.from_arrays([exp["_row"].to_numpy(), exp["week"].to_numpy()])
    lookup = pd.DataFrame({"cum": exp["cumulative_adherence"].to_numpy(), "cur": exp["current_adherence"].to_numpy()}, index=key)
    hit = lookup.reindex(pd.MultiIndex.from_arrays([row, week]))
    cum = hit["cum"].to_numpy()
    cur = hit["cur"].to_numpy()
    after = week > last_week[row]
    cum = np.where(after, end_cum[row], cum)
    cur = np.where(after, end_cur[row], cur)
    # before the program and in gap weeks: carry the last known value (0 before the program)
    cp = pd.DataFrame({"row": row, "cum": cum, "cur": cur})
    cp[["cum", "cur"]] = cp.groupby("row")[["cum", "cur"]].ffill().fillna(0.0)

    base = frame.drop(columns=["lower", "upper", "kind", "time", "event", "n_visits"]).iloc[row].reset_index(drop=True)
    out = pd.concat([
        pd.DataFrame({"patient_id": frame["patient_id"].to_numpy()[row], "start": start * scale, "stop": stop * scale,
                      "event": event, "week": week, "current_adherence": cp["cur"].to_numpy(),
                      "cumulative_adherence": cp["cum"].to_numpy()}),
        base.drop(columns=["patient_id"]),
    ], axis=1)
    out.attrs.update({"time_unit": time_unit, "approximation": approximation, "threshold": threshold})
    return out
