"""Time to discontinuation (stopping the exercise program, abandoning an AFO or FES) as survival.

Definition (configurable): a patient **discontinues** at the first run of ``consecutive``
recorded weeks (default 2) whose adherence is below ``threshold`` — the weekly session share for
``kind="exercise"`` (default threshold 0.5), the hours worn / prescribed for ``"afo"`` and
``"fes"`` (use a small threshold such as 0.05 to mean "not worn at all"). Weeks without a
denominator (nothing prescribed, device not prescribed) are skipped; missing weeks follow
``missing_weeks`` of :func:`~footdrop_outcomes.adherence.weekly_adherence` ("skip": runs are over
recorded weeks; "non_adherent": a missing week counts as below the threshold).

Time scale: program weeks, indexed plainly. ``time`` = the program week in which the stopping
run starts (0 = the first program week), i.e. the number of whole program weeks on the
program/device before stopping, so "discontinued by week t" (``time <= t``) means "stopped
before program week t began": for a device that is worn up to a time ``S`` (weeks since program
start) and not at all afterwards, ``time = ceil(S)`` and the share discontinued by week ``t`` is
``P(S <= t)``. A run starting at week ``k`` is only seen when its ``consecutive`` weeks are
recorded, so patients who never discontinue are censored at the last week in which a run could
still have been seen to start (the ``consecutive``-th last recorded week, 0 at the earliest):
at risk up to and including that week. Censoring (end of follow-up, and in the simulator the end
of the adherence record about 6 weeks after recovery) must be independent of discontinuation
for the curves to be unbiased: with adherence affecting recovery it is not quite
(docs/adherence.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Sequence, get_args

import numpy as np
import pandas as pd

from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.adherence._input import AdherenceInputError, check_choice, split_input
from footdrop_outcomes.adherence.metrics import MissingRule, weekly_adherence
from footdrop_outcomes.errors import ConfigError, FootdropError

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort
    from footdrop_outcomes.survival import CoxResult, CurveResult

__all__ = ["discontinuation_times", "discontinuation", "DiscontinuationResult"]

Kind = Literal["exercise", "afo", "fes"]


def discontinuation_times(
    data: Cohort | pd.DataFrame,
    patients: pd.DataFrame | None = None,
    *,
    kind: Kind = "exercise",
    threshold: float | None = None,
    consecutive: int = 2,
    missing_weeks: MissingRule = "skip",
) -> pd.DataFrame:
    """One row per patient: time to discontinuation (program weeks) and whether it happened.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort or its adherence table.
    patients : pandas.DataFrame, optional
        Patients table (baseline covariates are merged in); taken from a cohort.
    kind : {"exercise", "afo", "fes"}
        What is discontinued.
    threshold : float, optional
        Adherence below which a week counts as "stopped"; default 0.5 for exercise, 0.05 for a
        device (not worn).
    consecutive : int
        Number of consecutive below-threshold weeks that define discontinuation.
    missing_weeks : {"skip", "non_adherent"}
        How weeks missing inside a program are treated.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``time`` (program week in which the stopping run starts, or of
        censoring; module notes), ``event`` (bool), ``n_weeks`` and, with a patients table, its
        columns. Patients with no week of the kind are left out.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> d = discontinuation_times(simulate_cohort(300, seed=1), kind="afo")
    >>> bool((d["time"] >= 0).all())
    True
    """
    check_choice("kind", kind, get_args(Kind))
    if not isinstance(consecutive, (int, np.integer)) or consecutive < 1:
        raise ConfigError(f"consecutive must be a whole number >= 1, got {consecutive!r}")
    thr = (0.5 if kind == "exercise" else 0.05) if threshold is None else threshold
    if not 0 < thr <= 1.5:
        raise ConfigError(f"threshold must be in (0, 1.5], got {thr!r}")
    w = weekly_adherence(data, patients, missing_weeks=missing_weeks)
    _, patients = split_input(data, patients)
    value = w["weekly_share" if kind == "exercise" else f"{kind}_ratio"].to_numpy()
    w = w.loc[~np.isnan(value), ["patient_id", "program_week"]].assign(below=value[~np.isnan(value)] < thr).reset_index(drop=True)
    if w.empty:
        raise AdherenceInputError(f"adherence table has no week with {kind} prescribed; nothing to analyse")
    g = w.groupby("patient_id", sort=False)
    # run length of below-threshold weeks ending at each row (reset by a week at or above the threshold)
    below = w["below"].to_numpy()
    block = pd.Series(~below).groupby(g.ngroup().to_numpy()).cumsum().to_numpy()
    run = pd.Series(below.astype(int)).groupby([w["patient_id"].to_numpy(), block]).cumsum().to_numpy()
    hit = run >= consecutive
    start_week = np.where(hit, g["program_week"].shift(consecutive - 1).to_numpy(), np.nan)
    w["start"] = start_week
    first_hit = w.loc[hit].groupby("patient_id", sort=False)["start"].first()
    # censoring: the consecutive-th last recorded week (the last week a run could be seen to start)
    last_start = g["program_week"].shift(consecutive - 1)
    last_start = last_start.groupby(w["patient_id"], sort=False).last()
    per = g.agg(n_weeks=("program_week", "size")).reset_index()
    started = first_hit.reindex(per["patient_id"]).to_numpy()
    per["event"] = ~np.isnan(started)
    censor = last_start.reindex(per["patient_id"]).fillna(0.0).to_numpy()
    per["time"] = np.where(per["event"], started, np.maximum(censor, 0.0)).astype(float)

    out = per[["patient_id", "time", "event", "n_weeks"]]
    if patients is not None:
        p = patients.assign(patient_id=patients["patient_id"].astype(str))
        out = out.merge(p, on="patient_id", how="left")
    out.attrs.update({"kind": kind, "threshold": thr, "consecutive": consecutive, "missing_weeks": missing_weeks})
    return out


@dataclass(frozen=True, repr=False, kw_only=True)
class DiscontinuationResult(AnalysisResult):
    """Time to discontinuation by group.

    Attributes
    ----------
    summary : pandas.DataFrame
        Kaplan-Meier summary by group (medians, probability of having discontinued by each
        landmark (``discontinued_by``), restricted mean weeks on the program up to the last
        landmark (``rmst_on_program``)), from :func:`footdrop_outcomes.survival.kaplan_meier`;
        ``truth``: on synthetic cohorts, the generator's share of the analysed device patients
        stopped by each landmark (AFO and FES, default threshold; empty otherwise).
    times : pandas.DataFrame
        :func:`discontinuation_times` output.
    curves : CurveResult
        The Kaplan-Meier fit (``curves.risk_table()``-style data and plot).
    cox : CoxResult or None
        Hazard ratios of discontinuation when a formula was given.
    """

    times: pd.DataFrame
    curves: CurveResult
    cox: CoxResult | None

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Kaplan-Meier curves of staying on the program/device, with the number at risk."""
        ax = self.curves.plot(ax=ax, **kwargs)
        ax.set_ylabel(f"still on {self.info['kind']}")
        ax.set_xlabel("weeks since program start")
        return ax


def discontinuation(
    data: Cohort | pd.DataFrame,
    patients: pd.DataFrame | None = None,
    *,
    group: str | None = "supervised_physio",
    formula: str | None = None,
    kind: Kind = "exercise",
    threshold: float | None = None,
    consecutive: int = 2,
    missing_weeks: MissingRule = "skip",
    landmarks: Sequence[float] = (4, 12, 26, 52),
    cluster: str | None = None,
) -> DiscontinuationResult:
    """Time to discontinuation by group: Kaplan-Meier curves and (optionally) a Cox model.

    Parameters
    ----------
    data, patients, kind, threshold, consecutive, missing_weeks
        See :func:`discontinuation_times`.
    group : str, optional
        Patients column to stratify the curves by (e.g. ``"supervised_physio"``, ``"afo"``).
    formula : str, optional
        Right-hand side of a Cox model of discontinuation (e.g.
        ``"supervised_physio + severity + smoking"``), fitted with
        :func:`footdrop_outcomes.survival.fit_cox`.
    landmarks : sequence of float
        Program weeks at which to report the share discontinued.
    cluster : str, optional
        Cluster column for robust SEs of the Cox model (e.g. ``"site"``).

    Returns
    -------
    DiscontinuationResult

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> r = discontinuation(simulate_cohort(500, seed=2), formula="supervised_physio + severity")
    >>> sorted(set(r.summary["group"]))
    ['False', 'True']
    """
    from footdrop_outcomes.survival import fit_cox, kaplan_meier

    times = discontinuation_times(data, patients, kind=kind, threshold=threshold, consecutive=consecutive, missing_weeks=missing_weeks)
    frame = times.copy()
    if group is not None:
        if group not in frame.columns:
            raise ConfigError(f"group={group!r} is not a column of the patients table")
        frame[group] = frame[group].astype(str)
    km = kaplan_meier(frame, group=group, landmarks=list(landmarks), duration_col="time", event_col="event")
    cox = fit_cox(frame, formula, duration_col="time", event_col="event", cluster=cluster) if formula else None
    info = {"method": "time to discontinuation (Kaplan-Meier, Cox)", "n": len(times), "events": int(times["event"].sum()),
            "groups": group, **times.attrs}
    summary = km.summary.assign(statistic=km.summary["statistic"].replace({"recovered_by": "discontinued_by", "rmst": "rmst_on_program"}))
    summary["truth"] = (_device_truth(data, frame, summary, kind, group) if times.attrs["threshold"] <= 0.05
                        else np.full(len(summary), np.nan))  # a higher threshold also counts low wear, not only stopping
    if summary["truth"].notna().any():
        info["truth_note"] = (f"cohort.truth {kind} stopping model: P(stopped before program week t) = mean over the analysed "
                              "patients of 1 - exp(-rate_i t) (plain week indexing; module notes)")
    return DiscontinuationResult(summary=summary, info=info, times=times, curves=km, cox=cox)


def _device_truth(data: Any, frame: pd.DataFrame, summary: pd.DataFrame, kind: str, group: str | None) -> np.ndarray:
    """The generator's share stopped by each landmark, for the ``discontinued_by`` rows of a synthetic device analysis.

    ``mean_i 1 - exp(-H0(t) exp(b (p_i - mean)))`` over the analysed patients: ``H0`` exponential
    (version 1) or Weibull (version 2), ``b`` the log HR of the adherence propensity ``p_i``.

    Only where the estimate targets it: a device (the exercise program has no closed-form stopping
    model) and the default stopping definition (not worn at all), on a cohort whose truth lists
    the stopping model (``afo_abandonment`` / ``fes_discontinuation`` in ``truth.parameters``).
    """
    out = np.full(len(summary), np.nan)
    truth = getattr(data, "truth", None)
    if truth is None or kind == "exercise":
        return out
    component = "afo_abandonment" if kind == "afo" else "fes_discontinuation"
    try:
        par = truth.parameters
        terms = set(par.loc[par["component"] == component, "term"])
        if "rate_per_week" in terms:  # exponential (version 1)
            rate = truth.value(component, "rate_per_week", "rate")

            def cum_hazard(t: float) -> float:
                return rate * t
        elif {"weibull_shape", "weibull_scale_weeks"} <= terms:  # Weibull (version 2)
            k = truth.value(component, "weibull_shape", "shape")
            scale = truth.value(component, "weibull_scale_weeks", "weeks")

            def cum_hazard(t: float) -> float:
                return (t / scale) ** k
        else:
            return out  # an older truth without the stopping model
        lp = np.zeros(len(frame))
        if "adherence_propensity" in terms:
            lhr = truth.value(component, "adherence_propensity", "log_hazard_ratio")
            mean = truth.value("adherence", "logit_mean", "logit")
            tp = truth.patients.assign(patient_id=truth.patients["patient_id"].astype(str)).set_index("patient_id")
            lp = lhr * (tp["adherence_propensity"].reindex(frame["patient_id"].astype(str)).to_numpy(float) - mean)
    except (KeyError, LookupError, ValueError, FootdropError):
        return out
    groups = frame[group].astype(str).to_numpy() if group is not None else np.full(len(frame), "all")
    for i, row in enumerate(summary.itertuples(index=False)):
        if row.statistic == "discontinued_by" and np.isfinite(row.time):
            m = groups == str(row.group)
            if m.any():
                out[i] = float(np.mean(1 - np.exp(-cum_hazard(float(row.time)) * np.exp(lp[m]))))
    return out

