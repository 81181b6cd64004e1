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
for the curves to be unbiased. In the simulator it is not: the adherence record of a recovering
patient ends about six weeks after recovery, adherent patients recover sooner, and less adherent
patients abandon a device sooner, so the patients left late in the program over-represent those
who stop (the plain Kaplan-Meier share discontinued is a little too high; docs/adherence.md).

``censoring="ipcw"`` removes this: a pooled logistic model of the record ending in each week
(denominator: ``censoring_covariates``, a B-spline of the program week, and what is known before
that week: cumulative and last week's exercise share, cumulative device wear; numerator: the
B-spline alone) gives each patient-week the stabilised inverse probability of the record having
run that far, and the discrete-time hazard of stopping in week ``k`` is the weighted share of the
weighted risk set (Robins & Finkelstein 2000). Valid when, given that history, the record ending
says nothing more about stopping (true in the simulator: abandonment depends on the adherence
propensity, and the record's end on recovery, which depends on the recorded adherence and
covariates). Pointwise CIs (log-log scale) from the influence functions of the weighted hazards,
stacked with the two censoring models' (the weights' estimation is accounted for).
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
Censoring = Literal["independent", "ipcw"]


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
    weighted_curves : pandas.DataFrame or None
        With ``censoring="ipcw"``: ``group``, ``week``, ``survival`` (still on), ``lower``,
        ``upper`` and the unweighted ``n_at_risk``; the summary then holds the weighted
        medians, shares discontinued (with ``se``) and restricted means, and ``curves`` the
        unweighted Kaplan-Meier fit for comparison.
    """

    times: pd.DataFrame
    curves: CurveResult
    cox: CoxResult | None
    weighted_curves: pd.DataFrame | None = None

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Curves of staying on the program/device: Kaplan-Meier with the number at risk, or the IPCW curves with CI bands."""
        if self.weighted_curves is None:
            ax = self.curves.plot(ax=ax, **kwargs)
        else:
            import matplotlib.pyplot as plt

            if ax is None:
                _, ax = plt.subplots(figsize=(7, 4))
            by = self.info.get("groups")
            for label, d in self.weighted_curves.groupby("group", sort=False):
                line = ax.step(d["week"], d["survival"], where="post", label=f"{by} = {label}" if by else str(label), **kwargs)[0]
                ax.fill_between(d["week"], d["lower"], d["upper"], step="post", color=line.get_color(), alpha=0.25, linewidth=0)
            ax.set_ylim(0, 1.02)
            ax.set_title("inverse probability of censoring weighted (records that end), 95% CI", fontsize="small")
            ax.legend(fontsize="small")
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
    censoring: Censoring = "independent",
    censoring_covariates: str = "severity + supervised_physio + smoking",
    alpha: float = 0.05,
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
    censoring : {"independent", "ipcw"}
        ``"independent"``: Kaplan-Meier, the end of each record taken as independent of
        stopping. ``"ipcw"``: the shares discontinued, medians and restricted means are
        weighted by the inverse probability of the record still running, from a model of the
        record ending given ``censoring_covariates`` and the adherence history (module notes);
        their CIs account for the censoring model's estimation. The Cox model (``formula``) is
        not weighted.
    censoring_covariates : str
        Baseline covariates of the record-end model (``censoring="ipcw"``), besides the
        program week and the adherence history: those that predict both the record ending
        and stopping (in the simulator, what sets the adherence propensity). Covariates that
        predict only the record's end (cause: how fast patients recover) add variance, not
        validity: with ``cause`` the largest weight reached about 2,000 at one seed and the CI
        at week 52 widened about sixfold (docs/adherence.md).
    alpha : float
        1 - confidence level of the IPCW intervals (the Kaplan-Meier ones are 95%).

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

    check_choice("censoring", censoring, get_args(Censoring))
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
    weighted = None
    if censoring == "ipcw":
        summary, weighted, cens_info = _ipcw_summary(data, patients, frame, kind=kind, group=group, landmarks=landmarks,
                                                      covariates=censoring_covariates, missing_weeks=missing_weeks, alpha=alpha)
        info.update(cens_info)
        info["method"] = "time to discontinuation (inverse probability of censoring weighted curves; Cox unweighted)"
    summary["truth"] = (_device_truth(data, frame, summary, kind, group) if times.attrs["threshold"] <= 0.05
                        else np.full(len(summary), np.nan))  # a higher threshold also counts low wear, not only stopping
    if summary["truth"].notna().any():
        info["truth_note"] = (f"cohort.truth {kind} stopping model: P(stopped before program week t) = mean over the analysed "
                              "patients of 1 - exp(-rate_i t) (plain week indexing; module notes)")
    return DiscontinuationResult(summary=summary, info=info, times=times, curves=km, cox=cox, weighted_curves=weighted)


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



def _ipcw_summary(data: Any, patients: pd.DataFrame | None, frame: pd.DataFrame, *, kind: str, group: str | None,
                  landmarks: Sequence[float], covariates: str, missing_weeks: MissingRule,
                  alpha: float) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Inverse probability of censoring weighted discontinuation curves with stacked-equation CIs (module notes).

    Discrete time: patient ``i`` is at risk in program weeks ``0..time_i``, stops in week
    ``time_i`` (event) or its record ends after it. Weighted hazard ``h_k = sum w dN / sum w Y``;
    ``S(t) = prod_{k <= t} (1 - h_k)``. The influence function of ``log S(t)`` is the sum over
    ``k <= t`` of ``-(dN - h_k Y) / (Y_w(k) (1 - h_k))`` weighted, plus the censoring models'
    term (``_sandwich.weighted_influence`` with unit information).
    """
    from scipy.stats import norm

    from footdrop_outcomes.adherence._ipcw import record_end_weights

    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}")
    frame = frame.reset_index(drop=True)
    n = len(frame)
    # follow-up beyond the last landmark is not needed: everyone still on at the last landmark week is censored there
    # (keeps the record-end model, and its weights, to the weeks analysed)
    horizon = int(np.floor(max(landmarks))) if len(landmarks) else int(frame["time"].max())
    t_pat = np.minimum(frame["time"].to_numpy().astype(np.int64), horizon)
    e_pat = frame["event"].to_numpy(bool) & (frame["time"].to_numpy() <= horizon)
    reps = t_pat + 1
    cl = np.repeat(np.arange(n), reps)
    k = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
    last = k == t_pat[cl]
    d_n = last & e_pat[cl]
    ends = last & ~e_pat[cl] & (k < horizon)  # the record-end model's outcome (not the administrative end at the horizon)

    # history known before week k: cumulative and last week's exercise share, cumulative device wear
    w = weekly_adherence(data, patients, missing_weeks=missing_weeks)
    w = w.assign(patient_id=w["patient_id"].astype(str)).sort_values(["patient_id", "program_week"], kind="stable")
    g = w.groupby("patient_id", sort=False)
    hist = pd.DataFrame({"patient_id": w["patient_id"].to_numpy(), "k": w["program_week"].to_numpy() + 1,
                         "adherence_cumulative": (g["completed"].cumsum() / g["prescribed"].cumsum().replace(0, np.nan)).to_numpy(),
                         "adherence_last_week": w["weekly_share"].to_numpy()})
    names = ["adherence_cumulative", "adherence_last_week"]
    if kind != "exercise":
        r = w[f"{kind}_ratio"]
        hist["wear_cumulative"] = (r.fillna(0.0).groupby(w["patient_id"]).cumsum() / r.notna().groupby(w["patient_id"]).cumsum()
                                   .replace(0, np.nan)).to_numpy()
        names.append("wear_cumulative")
    grid = pd.DataFrame({"patient_id": frame["patient_id"].astype(str).to_numpy()[cl], "k": k})
    grid = grid.merge(hist, on=["patient_id", "k"], how="left")
    grid[names] = grid.groupby(cl)[names].ffill()
    grid[names] = grid[names].fillna(grid[names].mean()).fillna(0.0)  # week 0 (nothing known yet): the mean
    base = frame.drop(columns=["patient_id", "time", "event", "n_weeks"], errors="ignore").iloc[cl].reset_index(drop=True)
    rows = pd.concat([grid.rename(columns={"k": "program_week"}), base.drop(columns=names, errors="ignore")], axis=1)
    history = " + ".join([c for c in [covariates.strip()] if c] + names)
    rec = record_end_weights(rows, cluster=cl, at_risk=~d_n, ends=ends, history=history, time_col="program_week",
                             what="record-end (censoring) model of the discontinuation curves")
    wt = rec.weights
    z = norm.ppf(1 - alpha / 2)
    n_weeks = int(k.max()) + 1
    groups = frame[group].astype(str).to_numpy() if group is not None else np.full(n, "all")
    tau = float(max(landmarks)) if len(landmarks) else float(n_weeks)
    out_rows, curve_rows = [], []
    for lev in pd.unique(groups):
        m = groups[cl] == lev
        y_w = np.bincount(k[m], weights=wt[m], minlength=n_weeks)
        d_w = np.bincount(k[m], weights=(wt * d_n)[m], minlength=n_weeks)
        y_n = np.bincount(k[m], minlength=n_weeks)
        h = np.divide(d_w, y_w, out=np.zeros(n_weeks), where=y_w > 0)
        surv = np.cumprod(1 - h)
        denom = y_w * (1 - h)
        u = np.where(m, -(d_n - h[k]) / np.where(denom[k] > 0, denom[k], np.inf), 0.0)  # per row, IF of log S summed over k
        # influence of log S(t) for every t: running sums over weeks of the fixed part and of the censoring models' part
        fixed = np.zeros((n, n_weeks))
        np.add.at(fixed, (cl, k), wt * u)
        infl = np.cumsum(fixed, axis=1)
        for dw, psi, psi_cl in rec.nuisance:
            gk = np.zeros((n_weeks, dw.shape[1]))
            np.add.at(gk, k, u[:, None] * dw)
            infl[psi_cl] += psi @ np.cumsum(gk, axis=0).T
        se_log = np.sqrt((infl ** 2).sum(axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = np.log(-np.log(surv))
            se_theta = se_log / np.abs(np.log(surv))
            s_lo = np.where(surv < 1, np.exp(-np.exp(theta + z * se_theta)), 1.0)
            s_hi = np.where(surv < 1, np.exp(-np.exp(theta - z * se_theta)), 1.0)
        n_g = int(np.sum(groups == lev))
        ev = int(np.sum(e_pat[groups == lev]))
        common = {"group": lev, "n": n_g, "events": ev, "population": "all patients", "note": "IPCW"}

        def first_below(v: np.ndarray) -> float:
            hit = np.flatnonzero(v <= 0.5)
            return float(hit[0]) if hit.size else np.nan

        out_rows.append({**common, "statistic": "median", "time": np.nan, "estimate": first_below(surv),
                         "lower": first_below(s_lo), "upper": first_below(s_hi), "se": np.nan, "n_at_risk": np.nan})
        for t in landmarks:
            i = int(np.floor(t))
            if i < n_weeks and y_n[i] > 0:
                est, lo, hi, se = 1 - surv[i], 1 - s_hi[i], 1 - s_lo[i], surv[i] * se_log[i]
            else:
                est = lo = hi = se = np.nan
            out_rows.append({**common, "statistic": "discontinued_by", "time": float(t), "estimate": est, "lower": lo, "upper": hi,
                             "se": se, "n_at_risk": float(y_n[i]) if i < n_weeks else 0.0})
        # restricted mean weeks on the program up to tau: sum of S(k) over [k, k+1), k < tau (S from the week's start)
        j = int(np.floor(tau))
        if 0 < j <= n_weeks and tau == j:
            rmst = float(surv[:j].sum())
            se_rmst = float(np.sqrt(((infl[:, :j] * surv[:j]).sum(axis=1) ** 2).sum()))
        else:
            rmst = se_rmst = np.nan
        out_rows.append({**common, "statistic": "rmst_on_program", "time": tau, "estimate": rmst, "lower": rmst - z * se_rmst,
                         "upper": rmst + z * se_rmst, "se": se_rmst, "n_at_risk": np.nan})
        curve_rows.append(pd.DataFrame({"group": lev, "week": np.arange(n_weeks), "survival": surv, "lower": s_lo, "upper": s_hi,
                                        "n_at_risk": y_n}))
    summary = pd.DataFrame(out_rows)
    curves = pd.concat(curve_rows, ignore_index=True)
    info = {"censoring": "ipcw", "censoring_model": rec.model, "censoring_covariates": history, "n_records_ended": rec.n_ends,
            "ipcw_range": (float(wt.min()), float(wt.max())),
            "ci": "log-log pointwise, stacked estimating equations (weighted hazards and both record-end models)"}
    return summary, curves, info
