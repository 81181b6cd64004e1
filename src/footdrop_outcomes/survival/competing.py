"""Competing events: cumulative incidence of recovery when death (or another event) ends follow-up.

When a competing event such as death ends follow-up, ``1 - Kaplan-Meier`` of recovery
overstates the chance of recovering (it treats the dead as if they could still recover later).
The Aalen-Johansen estimator gives the cumulative incidence function (CIF) of each event
kind: ``F_k(t) = sum_{t_j <= t} S(t_j-) d_kj / n_j``, with ``S`` the all-cause Kaplan-Meier
curve. The CIFs of all kinds and ``S`` add up to 1 at every time.

Variance: the delta-method ("Greenwood-type") estimator of Marubini & Valsecchi (1995, eq. 10.8);
with no competing events it reduces exactly to Greenwood's formula for ``1 - KM`` (tested).
Pointwise CIs use the log(-log) transform of ``F``, so they stay inside (0, 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.cohort.vocabulary import FOLLOWUP_ENDS
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.survival._input import DAYS_PER, TimeUnit, check_choice, survival_frame

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["CompetingResult", "cumulative_incidence", "competing_frame"]


def competing_frame(cohort: Cohort, *, competing: Sequence[str] = ("death",), threshold: int = 4,
                    time_unit: TimeUnit = "weeks", frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per patient: ``time`` and ``status`` (``recovery``, a competing kind, or ``censored``).

    Recovery is dated at the first visit where it is seen. A patient not seen recovered whose
    follow-up ended with a competing kind (``patients.followup_end``) has that event at
    ``followup_days``; everyone else is censored at the last visit.

    Parameters
    ----------
    cohort : Cohort
    competing : sequence of str
        Follow-up ends (``patients.followup_end``) that count as competing events.
    threshold : int
        MRC grade that defines recovery.
    time_unit : {"days", "weeks"}
        Unit of ``time``.
    frame : pandas.DataFrame, optional
        The cohort's :func:`~footdrop_outcomes.survival.survival_frame` with this ``threshold``
        and ``time_unit`` (default approximation), when it is already built (it is the costly
        part on a registry); built here otherwise. A frame of other patients, threshold or unit
        is refused.

    Returns
    -------
    pandas.DataFrame
        The survival frame without ``lower``, ``upper``, ``kind``, ``event``, with ``time`` and
        ``status``.
    """
    unknown = set(competing) - set(FOLLOWUP_ENDS)
    if unknown or not competing:
        raise ConfigError(f"competing must be a non-empty subset of {list(FOLLOWUP_ENDS)}, got {list(competing)}")
    p = cohort.patients
    if frame is None:
        frame = survival_frame(cohort, threshold=threshold, time_unit=time_unit)
    elif (len(frame) != len(p) or "patient_id" not in frame.columns
          or not np.array_equal(frame["patient_id"].to_numpy(), p["patient_id"].to_numpy())
          or frame.attrs.get("threshold") != threshold or frame.attrs.get("time_unit") != time_unit
          or frame.attrs.get("approximation", "first_visit") != "first_visit"):
        raise ConfigError("frame must be survival_frame(cohort) of this cohort's patients, in their order, with the "
                          "same threshold and time_unit and the default approximation")
    end = p["followup_end"].astype(str).to_numpy()
    ended = np.isin(end, list(competing)) & ~frame["event"].to_numpy(bool)
    status = np.where(frame["event"].to_numpy(bool), "recovery", np.where(ended, end, "censored"))
    time = np.where(ended, p["followup_days"].to_numpy() / DAYS_PER[time_unit], frame["time"].to_numpy())
    out = frame.drop(columns=["lower", "upper", "kind", "event"]).assign(time=time, status=status)
    out.attrs.update(frame.attrs)
    return out


@dataclass(frozen=True, repr=False, kw_only=True)
class CompetingResult(AnalysisResult):
    """Cumulative incidence by event kind (and group).

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per group, event kind and landmark: ``cif``, ``lower``, ``upper``, ``n``,
        ``events``, plus ``one_minus_km`` for recovery (the naive estimate, for contrast).
    curves : pandas.DataFrame
        ``group``, ``kind``, ``time``, ``cif``, ``se``, ``lower``, ``upper`` at every event time.
    """

    curves: pd.DataFrame

    def plot(self, ax: Any = None, *, kind: str = "recovery") -> Any:
        """Step plot of the CIF of ``kind`` by group, with pointwise CI bands."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        sub = self.curves[self.curves["kind"] == kind]
        if sub.empty:
            raise FootdropError(f"no curve for event kind {kind!r}; kinds: {sorted(self.curves['kind'].unique())}")
        for group, g in sub.groupby("group", sort=False):
            t = np.r_[0.0, g["time"].to_numpy()]
            line = ax.step(t, np.r_[0.0, g["cif"].to_numpy()], where="post", label=str(group))[0]
            ax.fill_between(t, np.r_[0.0, g["lower"].to_numpy()], np.r_[0.0, g["upper"].to_numpy()], step="post",
                            alpha=0.15, color=line.get_color(), linewidth=0)
        ax.set_xlabel(f"{self.info.get('time_unit', 'time')} since onset")
        ax.set_ylabel(f"cumulative incidence of {kind}")
        ax.set_ylim(0, 1)
        ax.legend(frameon=False, fontsize="small")
        return ax


def _aalen_johansen(time: np.ndarray, status: np.ndarray, kinds: Sequence[str], z: float) -> pd.DataFrame:
    order = np.argsort(time, kind="stable")
    time, status = time[order], status[order]
    t_all = np.unique(time)
    n_at = time.size - np.searchsorted(time, t_all, side="left")
    d = {k: np.bincount(np.searchsorted(t_all, time[status == k]), minlength=t_all.size).astype(float) for k in kinds}
    d_all = sum(d.values())
    keep = d_all > 0
    t, n, d_all = t_all[keep], n_at[keep].astype(float), d_all[keep]
    s = np.cumprod(1 - d_all / n)
    s_prev = np.r_[1.0, s[:-1]]
    rows = []
    for k in kinds:
        dk = d[k][keep]
        f = np.cumsum(s_prev * dk / n)
        # Marubini & Valsecchi (1995): Var F(t) = sum_j {[F(t)-F(t_j)]^2 d_j/(n_j(n_j-d_j))
        #   + S(t_j-)^2 d_kj (n_j-d_kj)/n_j^3 - 2 [F(t)-F(t_j)] S(t_j-) d_kj/n_j^2}, for every t
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(n > d_all, d_all / (n * (n - d_all)), 0.0)
        b = s_prev**2 * dk * (n - dk) / n**3
        c = s_prev * dk / n**2
        # expand [F(t) - F(t_j)]^2 = F(t)^2 - 2 F(t) F(t_j) + F(t_j)^2 into cumulative sums
        ca, caf, caff = np.cumsum(a), np.cumsum(a * f), np.cumsum(a * f * f)
        cb, cc, ccf = np.cumsum(b), np.cumsum(c), np.cumsum(c * f)
        var = (f**2 * ca - 2 * f * caf + caff) + cb - 2 * (f * cc - ccf)
        se = np.sqrt(np.maximum(var, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = se / (f * np.abs(np.log(f)))
            lower = np.where((f > 0) & (f < 1), f ** np.exp(z * theta), np.nan)
            upper = np.where((f > 0) & (f < 1), f ** np.exp(-z * theta), np.nan)
        rows.append(pd.DataFrame({"kind": k, "time": t, "cif": f, "se": se, "lower": lower, "upper": upper, "n_at_risk": n}))
    return pd.concat(rows, ignore_index=True)


def cumulative_incidence(
    data: Cohort | pd.DataFrame,
    *,
    group: str | None = None,
    competing: Sequence[str] = ("death",),
    landmarks: Sequence[float] = (6, 12, 26, 52, 78),
    alpha: float = 0.05,
    duration_col: str = "time",
    status_col: str = "status",
    event_of_interest: str = "recovery",
    time_unit: TimeUnit = "weeks",
) -> CompetingResult:
    """Aalen-Johansen cumulative incidence of recovery and of competing events.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort (see :func:`competing_frame`) or one row per patient with ``duration_col`` and
        ``status_col`` (event kind, or ``"censored"``).
    group : str, optional
        Column to stratify by (e.g. ``"cause"``).
    competing : sequence of str
        With a cohort: the ``followup_end`` kinds that compete with recovery (default death).
        With a DataFrame: the status values, other than ``event_of_interest`` and
        ``"censored"``, that are competing events.
    landmarks : sequence of float
        Times at which the summary reports the CIFs.
    alpha : float
        1 - confidence level of the pointwise intervals.
    time_unit : {"days", "weeks"}
        Unit of a cohort's times.

    Returns
    -------
    CompetingResult

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> res = cumulative_incidence(simulate_cohort(400, seed=5), group="cause")
    >>> sorted(res.summary["kind"].unique())
    ['death', 'recovery']
    """
    check_choice("time_unit", time_unit, ("days", "weeks"))
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be between 0 and 1, got {alpha!r}")
    if isinstance(data, pd.DataFrame):
        frame = data
        for col in (duration_col, status_col) + ((group,) if group else ()):
            if col not in frame.columns:
                raise FootdropError(f"data has no column {col!r}")
        allowed = {event_of_interest, "censored", *competing}
        odd = set(frame[status_col].astype(str)) - allowed
        if odd:
            raise FootdropError(f"data.{status_col} has value(s) {sorted(odd)}; allowed: {sorted(allowed)}")
    else:
        frame = competing_frame(data, competing=competing, time_unit=time_unit)
    t = pd.to_numeric(frame[duration_col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(t) | (t < 0)
    if bad.any():
        raise FootdropError(f"data.{duration_col}: times must be finite and >= 0; rows {frame.index[np.flatnonzero(bad)[:8]].tolist()} are not")
    status = frame[status_col].astype(str).to_numpy()
    kinds = [event_of_interest, *competing]
    z = float(norm.ppf(1 - alpha / 2))
    groups = [("all", np.ones(len(frame), bool))] if group is None else [
        (str(g), (frame[group] == g).to_numpy()) for g in pd.unique(frame[group].dropna())]
    curves, summary = [], []
    for name, sel in groups:
        if not sel.any():
            continue
        c = _aalen_johansen(t[sel], status[sel], kinds, z).assign(group=name)
        curves.append(c)
        rec_only = _aalen_johansen(t[sel], np.where(status[sel] == event_of_interest, event_of_interest, "censored"), [event_of_interest], z)
        for kind in kinds:
            ck = c[c["kind"] == kind]
            for lm in landmarks:
                i = np.searchsorted(ck["time"].to_numpy(), lm, side="right") - 1
                row = {"group": name, "kind": kind, "landmark": lm, "n": int(sel.sum()),
                       "events": int((status[sel] == kind).sum())}
                if i < 0:
                    row.update(cif=0.0, lower=np.nan, upper=np.nan)
                else:
                    row.update(cif=ck["cif"].iloc[i], lower=ck["lower"].iloc[i], upper=ck["upper"].iloc[i])
                if kind == event_of_interest:
                    j = np.searchsorted(rec_only["time"].to_numpy(), lm, side="right") - 1
                    row["one_minus_km"] = rec_only["cif"].iloc[j] if j >= 0 else 0.0
                summary.append(row)
    info = {"method": "Aalen-Johansen cumulative incidence", "n": int(len(frame)), "competing": list(competing),
            "events": int((status == event_of_interest).sum()), "groups": len(curves), "alpha": alpha,
            "time_unit": frame.attrs.get("time_unit", time_unit), "variance": "delta method (Marubini & Valsecchi 1995); CI log(-log)"}
    cols = ["group", "kind", "time", "cif", "se", "lower", "upper", "n_at_risk"]
    return CompetingResult(summary=pd.DataFrame(summary), info=info, curves=pd.concat(curves, ignore_index=True)[cols])
