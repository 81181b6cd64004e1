"""Non-parametric recovery curves: Kaplan-Meier, Turnbull NPMLE, log-rank and trend tests.

Recovery is seen only at visits, so the time to recovery is interval-censored: recovered some
time in ``(lower, upper]`` (the last visit without and the first visit with MRC >= threshold).

* :func:`turnbull` (in :mod:`footdrop_outcomes.survival.turnbull`, importable from here)
  estimates the recovery curve from the intervals themselves (Turnbull's NPMLE). It identifies
  the curve only outside its innermost intervals, so its medians and landmark shares come with
  their identified set and CIs that cover it.
* :func:`kaplan_meier` is the familiar right-censored approximation (recovery dated at the first
  visit where it is seen, which is *late* by up to one visit interval). Greenwood variance; CIs
  on the log-log scale (default, as lifelines) or log scale (R's default); medians and their CIs
  by R ``survival``'s rule, so the numbers match R (tested to 1e-10 on the shared reference).
* :func:`logrank_test`: overall log-rank (R ``survdiff``), pairwise with Holm adjustment, and the
  trend test across ordered groups (e.g. severity mild < moderate < severe).

Both curve functions return a :class:`CurveResult` whose ``summary`` is one tidy table per group:
median time to recovery with CI, probability of having recovered at landmark times (default 6
and 12 weeks, 6, 12 and 18 months) with CI and number at risk, and the restricted mean time not
yet recovered up to ``tau``; each row says how the data identify it and which population it
describes (all patients, non-recoverers included). ``.plot()`` draws the curves with a
number-at-risk table under them.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.errors import ConfigError, FootdropError, FootdropWarning
from footdrop_outcomes.release.suppression import DEFAULT_THRESHOLD, at_risk_labels
from footdrop_outcomes.survival._entry import (
    check_entry,
    drop_recovered_at_entry,
    entry_times,
)
from footdrop_outcomes.survival._input import (
    DAYS_PER,
    TimeUnit,
    as_frame,
    check_choice,
    check_columns,
)

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = [
    "DEFAULT_LANDMARK_WEEKS",
    "POPULATION_ALL",
    "CurveResult",
    "LogRankResult",
    "kaplan_meier",
    "logrank_test",
    "number_at_risk",
    "turnbull",  # noqa: F822 - module __getattr__ below
]

ConfType = Literal["log-log", "log"]

#: Population of every curve statistic here: all patients, those who never recover counted as not
#: yet recovered at every time ("half of all patients had recovered by ..."). A cure model's
#: median among those who recover describes another population.
POPULATION_ALL = "all patients"

#: 6 and 12 weeks, 6, 12 and 18 months, in weeks.
DEFAULT_LANDMARK_WEEKS: tuple[float, ...] = (6.0, 12.0, 26.0, 52.0, 78.0)
_TOL = np.sqrt(np.finfo(float).eps)  # R's tolerance for "S(t) equals 0.5"


class CurveWarning(FootdropWarning):
    """A curve statistic that could not be estimated as asked (e.g. tau beyond follow-up)."""


# ------------------------------------------------------------------------------------------------
# result objects


@dataclass(frozen=True, repr=False, kw_only=True)
class CurveResult(AnalysisResult):
    """Recovery curves by group.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per group and statistic: ``group``, ``statistic`` (``median``,
        ``recovered_by``, ``rmst``), ``time`` (the landmark or tau; empty for the median),
        ``estimate``, ``lower``, ``upper``, ``n_at_risk`` (at the landmark), ``n``,
        ``events``, and ``note`` ("not reached", "beyond follow-up", ...) where the estimate or
        a limit is undefined. ``recovered_by`` is the probability of having recovered by
        ``time``; ``rmst`` is the restricted mean time *not yet recovered* within ``time``.
        Then ``identified`` (bool), ``identification`` (``"point"``, ``"set"``, ``"not
        reached"``, ``"not identifiable"``), ``set_lower`` / ``set_upper`` (the identified set;
        equal to the estimate for a point) and ``population`` (:data:`POPULATION_ALL`). Kaplan-Meier
        estimates are points of its right-censored approximation; for Turnbull see
        :func:`~footdrop_outcomes.survival.turnbull.turnbull`. Show a median or share as a number
        only where ``identified``; a ``"set"`` as "between set_lower and set_upper".
    curves : pandas.DataFrame
        ``group``, ``time``, ``survival`` (probability of not yet having recovered), ``se``,
        ``lower``, ``upper``, ``n_at_risk``, ``events``: the step function (Kaplan-Meier) or
        the identified points of the NPMLE (Turnbull; linear inside innermost intervals).
    """

    curves: pd.DataFrame
    at_risk_times: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def survival_at(self, times: Sequence[float], group: object | None = None) -> pd.DataFrame:
        """Survival (not yet recovered) with CI at ``times`` for one group (default: the first)."""
        g = self._one_group(group)
        return _evaluate(g, np.asarray(times, dtype=float), self.info["method"]).assign(group=str(group) if group is not None else g["group"].iloc[0])

    def plot(self, ax: Any = None, *, kind: Literal["recovered", "survival"] = "recovered", ci: bool = True,
             at_risk: bool = True, at_risk_times: Sequence[float] | None = None, landmarks: bool = False,
             small_cells: int | None = DEFAULT_THRESHOLD) -> Any:
        """Draw the curves by group, with pointwise CI bands and a number-at-risk table under them.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Created (with room for the table) when None.
        kind : {"recovered", "survival"}
            Cumulative probability of recovery (``1 - S``) or of not yet having recovered.
        ci : bool
            Draw pointwise confidence bands.
        at_risk : bool
            Add the number-at-risk table below the axes.
        at_risk_times : sequence of float, optional
            Times of the table's columns (default: the x tick positions).
        landmarks : bool
            Mark the landmark times of the summary with dotted vertical lines.
        small_cells : int or None
            Small-cell protection of the at-risk numbers (:func:`~footdrop_outcomes.privacy.at_risk_labels`):
            counts 1..``small_cells`` show as "≤N" and the others are rounded to 5, so that
            differences between columns cannot reveal a few patients. None shows exact counts
            (for analysts' own eyes only).

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        check_choice("kind", kind, ("recovered", "survival"))
        n_groups = self.curves["group"].nunique()
        if ax is None:
            _, ax = plt.subplots(figsize=(7.5, 4.2 + (0.2 * n_groups + 0.6 if at_risk else 0.0)))
        linear = self.info["method"] in LINEAR_METHODS
        for group, g in self.curves.groupby("group", sort=False, observed=True):
            t = np.r_[0.0, g["time"].to_numpy()]
            s = np.r_[1.0, g["survival"].to_numpy()]
            lo, up = np.r_[1.0, g["lower"].to_numpy()], np.r_[1.0, g["upper"].to_numpy()]
            y, ylo, yup = (1 - s, 1 - up, 1 - lo) if kind == "recovered" else (s, lo, up)
            finite = np.isfinite(t)
            t, y, ylo, yup = t[finite], y[finite], ylo[finite], yup[finite]
            if linear:
                line = ax.plot(t, y, label=str(group))[0]
                if ci:
                    ax.fill_between(t, ylo, yup, alpha=0.15, color=line.get_color(), linewidth=0)
            else:
                line = ax.step(t, y, where="post", label=str(group))[0]
                if ci:
                    ax.fill_between(t, ylo, yup, step="post", alpha=0.15, color=line.get_color(), linewidth=0)
        if landmarks:
            for lm in self.info.get("landmarks", ()):
                ax.axvline(lm, color="0.6", linestyle=":", linewidth=0.8)
        unit = self.info.get("time_unit", "time")
        ax.set_xlabel(f"{unit} since onset")
        ax.set_ylabel("probability recovered" if kind == "recovered" else "probability not yet recovered")
        ax.set_ylim(0, 1)
        ax.set_xlim(left=0)
        if n_groups > 4:  # many curves: legend beside the axes, not over the curves
            ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        else:
            ax.legend(frameon=False, fontsize="small", loc="upper left" if kind == "recovered" else "upper right")
        method = {"turnbull": "Turnbull NPMLE",
                  "piecewise_hazard": {"linear": "Piecewise-linear hazard", "constant": "Piecewise-constant hazard"}.get(
                      self.info.get("hazard_form", ""), "Piecewise hazard")}.get(self.info["method"],
                                                                                                    "Kaplan-Meier")
        ax.set_title(f"{method}" + (f" by {self.info['group']}" if self.info.get("group") else ""), fontsize="medium")
        if at_risk:
            _draw_at_risk(ax, self, at_risk_times, small_cells)
        return ax

    def _one_group(self, group: object | None) -> pd.DataFrame:
        c = self.curves
        if group is None:
            return c[c["group"] == c["group"].iloc[0]]
        g = c[c["group"] == str(group)]
        if g.empty:
            raise FootdropError(f"no curve for group {group!r}; groups: {list(c['group'].unique())}")
        return g


@dataclass(frozen=True, repr=False, kw_only=True)
class LogRankResult(AnalysisResult):
    """Log-rank tests.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per test: ``test`` (``overall``, ``trend``, ``pairwise``), ``comparison``,
        ``chisq``, ``df``, ``p``, ``p_holm`` (pairwise rows: Holm-adjusted over all pairs).
    observed_expected : pandas.DataFrame
        Per group: ``n``, ``observed`` and ``expected`` events, ``o_minus_e``, ``o_over_e``.
    """

    observed_expected: pd.DataFrame

    def plot(self, ax: Any = None) -> Any:
        """Observed / expected recoveries by group (1 = no difference from the pooled rate)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.45 * len(self.observed_expected) + 1.2))
        oe = self.observed_expected
        ax.barh(oe["group"].astype(str), oe["o_over_e"], color="tab:blue", alpha=0.8)
        ax.axvline(1.0, color="0.3", linewidth=0.8)
        ax.invert_yaxis()
        ax.set_xlabel("observed / expected recoveries")
        overall = self.summary[self.summary["test"] == "overall"].iloc[0]
        ax.set_title(f"log-rank chi-square {overall['chisq']:.1f}, df {int(overall['df'])}, p {_fmt_p(overall['p'])}",
                     fontsize="medium")
        return ax


# ------------------------------------------------------------------------------------------------
# public functions


def kaplan_meier(
    data: Cohort | pd.DataFrame,
    *,
    group: str | None = None,
    landmarks: Sequence[float] | None = None,
    tau: float | None = None,
    conf_type: ConfType = "log-log",
    alpha: float = 0.05,
    duration_col: str = "time",
    event_col: str = "event",
    entry_col: str | None = None,
    time_unit: TimeUnit = "weeks",
) -> CurveResult:
    """Kaplan-Meier curves of time to recovery (right-censored approximation), by group.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort (its right-censored view: recovery dated at the first visit where it is seen)
        or one row per patient with ``duration_col`` and ``event_col``.
    group : str, optional
        Column to stratify by (e.g. ``"cause"``, ``"severity"``, ``"afo"``).
    landmarks : sequence of float, optional
        Times (in ``time_unit``) at which to report the probability of having recovered.
        Default: 6 and 12 weeks, 6, 12 and 18 months.
    tau : float, optional
        Horizon of the restricted mean; default: the largest landmark. Where a group's
        follow-up ends before tau with patients still unrecovered, the last estimate is carried
        forward and the ``note`` says so (a tau given explicitly also warns).
    conf_type : {"log-log", "log"}
        Scale of the pointwise CIs (R ``conf.type``; lifelines uses log-log, R defaults to log).
    alpha : float
        1 - confidence level.
    duration_col, event_col : str
        Outcome columns of a DataFrame.
    entry_col : str, optional
        Late entry (left truncation): the time each patient was first seen, in the unit of the
        times (a cohort: its patients' ``first_contact_day``, in days, converted; a cohort
        without that column enters everyone at onset). A patient is at risk from entry on (R
        ``survfit(Surv(entry, exit, event))``): the risk set at ``t`` holds those with
        ``entry < t <= exit``. Entry after exit is refused (naming column and rows); patients
        already recovered when first seen (event at entry) are left out with a
        :class:`~footdrop_outcomes.survival._entry.LateEntryWarning` and counted in
        ``info["excluded_at_entry"]``. Where nobody enters at onset the curve is conditional on
        not having recovered by the earliest entry (``info["earliest_entry"]``).
    time_unit : {"days", "weeks"}
        Unit of a cohort's times (and of the default landmarks).

    Returns
    -------
    CurveResult

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> km = kaplan_meier(simulate_cohort(500, seed=3), group="severity")
    >>> km.summary.query("statistic == 'median'")[["group", "estimate"]].shape
    (3, 2)
    """
    check_choice("conf_type", conf_type, get_args(ConfType))
    _check_alpha(alpha)
    df = as_frame(data, time_unit=time_unit)
    check_columns(df, duration_col=duration_col, event_col=event_col)
    landmarks_, tau_ = _landmarks(landmarks, tau, time_unit)
    z = _z(alpha)
    groups = _groups(df, group)
    t_all = df[duration_col].to_numpy(dtype=float)
    e_all = df[event_col].to_numpy().astype(bool)
    entry_all = entry_times(data, df, entry_col, time_unit)
    if entry_all is not None:
        check_entry(df, entry_all, t_all, entry_col=str(entry_col), exit_col=duration_col)
    curves, rows, risk, excluded = [], [], {}, {}
    for label, idx in groups:
        t, e = t_all[idx], e_all[idx]
        entry = None
        if entry_all is not None:
            keep = ~(e & (t <= entry_all[idx]))  # recovered when first seen: never at risk
            excluded[label] = drop_recovered_at_entry(df.iloc[idx], keep, entry_col=str(entry_col), label=label)
            t, e, entry = t[keep], e[keep], entry_all[idx][keep]
            if t.size == 0:  # everyone in the group had recovered when first seen
                risk[label] = np.empty((2, 0))
                rows.extend(no_one_at_risk_rows(label, landmarks_, tau_))
                continue
        c = _km_arrays(t, e, z, conf_type, entry)
        curves.append((label, c))
        risk[label] = np.sort(t) if entry is None else np.vstack([np.sort(t), np.sort(entry)])
        rows.extend(_summarise(c, label, t, e, landmarks_, tau_, method="kaplan_meier", alpha=alpha, risk=risk[label],
                               warn_tau=tau is not None))
    info = {"method": "kaplan_meier", "group": group, "n": len(df), "events": int(e_all.sum()),
            "groups": len(groups), "conf_type": conf_type, "alpha": alpha, "landmarks": landmarks_, "tau": tau_,
            "time_unit": df.attrs.get("time_unit", time_unit), "entry_col": entry_col}
    if entry_all is not None:
        info.update(excluded_at_entry=excluded, earliest_entry=float(entry_all.min()) if entry_all.size else 0.0)
    return CurveResult(summary=pd.DataFrame(rows), info=info, curves=_stack(curves), at_risk_times=risk)



def logrank_test(
    data: Cohort | pd.DataFrame,
    *,
    group: str,
    order: Sequence[object] | None = None,
    scores: Sequence[float] | None = None,
    pairwise: bool = True,
    trend: bool = True,
    duration_col: str = "time",
    event_col: str = "event",
    time_unit: TimeUnit = "weeks",
) -> LogRankResult:
    """Log-rank test across groups (R ``survdiff``, rho = 0), pairwise (Holm) and trend.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        As in :func:`kaplan_meier` (right-censored times).
    group : str
        Grouping column.
    order : sequence, optional
        Order of the groups for the trend test (default: a categorical's order, else sorted).
        ``severity`` is ordered mild < moderate < severe.
    scores : sequence of float, optional
        Scores of the ordered groups for the trend test (default 1, 2, ..., k).
    pairwise : bool
        Also test every pair of groups, with Holm's step-down adjustment (one more pass over
        the data per pair).
    trend : bool
        Also test for a trend across the ordered groups. With ``pairwise=False, trend=False``
        only the overall test is computed, in one pass (as R's ``survdiff``).

    Returns
    -------
    LogRankResult
        ``summary`` rows in the order overall, trend (if asked), pairwise (if asked); the
        ``p_holm`` column is always present (NaN outside pairwise rows).

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> lr = logrank_test(simulate_cohort(600, seed=4), group="severity")
    >>> list(lr.summary["test"].unique())
    ['overall', 'trend', 'pairwise']
    >>> logrank_test(simulate_cohort(600, seed=4), group="severity", pairwise=False, trend=False).summary["test"].tolist()
    ['overall']
    """
    df = as_frame(data, time_unit=time_unit)
    check_columns(df, duration_col=duration_col, event_col=event_col)
    groups = _groups(df, group)
    labels = [g for g, _ in groups]
    if len(groups) < 2:
        raise FootdropError(f"log-rank test needs at least two groups of {group!r}; found {labels}")
    t = df[duration_col].to_numpy(dtype=float)
    e = df[event_col].to_numpy().astype(bool)
    code = np.empty(len(df), dtype=np.int64)
    for k, (_, idx) in enumerate(groups):
        code[idx] = k
    o, ex, v = _logrank_stats(t, e, code, len(groups))
    if o.sum() == 0:
        raise FootdropError(f"log-rank test: no recoveries in any group of {group!r}")
    rows = [{"test": "overall", "comparison": " vs ".join(labels), **_chisq(o, ex, v)}]
    weights = None
    if trend:
        row, weights = _trend_row(o, ex, v, labels, group, order, scores)
        rows.append(row)
    if pairwise:
        pair_rows = []
        for a, b in combinations(range(len(labels)), 2):
            m = (code == a) | (code == b)
            oo, ee, vv = _logrank_stats(t[m], e[m], (code[m] == b).astype(np.int64), 2)
            pair_rows.append({"test": "pairwise", "comparison": f"{labels[a]} vs {labels[b]}", **_chisq(oo, ee, vv)})
        adj = _holm([r["p"] for r in pair_rows])
        for r, p in zip(pair_rows, adj, strict=True):
            r["p_holm"] = p
        rows.extend(pair_rows)
    summary = pd.DataFrame(rows)
    if "p_holm" not in summary:
        summary["p_holm"] = np.nan
    n = np.bincount(code, minlength=len(labels))
    with np.errstate(divide="ignore", invalid="ignore"):
        oe = pd.DataFrame({"group": labels, "n": n, "observed": o, "expected": ex, "o_minus_e": o - ex,
                           "o_over_e": np.where(ex > 0, o / ex, np.nan)})
    info = {"method": "logrank", "group": group, "n": len(df), "events": int(e.sum()), "groups": len(labels),
            "tests": [x for x, on in (("overall", True), ("trend", trend), ("pairwise", pairwise)) if on]}
    if weights is not None:
        info["trend_scores"] = dict(zip(labels, weights.tolist(), strict=True))
    return LogRankResult(summary=summary, info=info, observed_expected=oe)


def _trend_row(o: np.ndarray, ex: np.ndarray, v: np.ndarray, labels: list[str], group: str,
               order: Sequence[object] | None, scores: Sequence[float] | None) -> tuple[dict[str, Any], np.ndarray]:
    """Trend test across ordered groups: score-weighted O - E over its variance (1 df); and the scores."""
    if order is not None:
        missing = [str(x) for x in order if str(x) not in labels]
        if missing or len(order) != len(labels):
            raise ConfigError(f"order must list each group of {group!r} once: groups {labels}, got {list(order)}")
        pos = [labels.index(str(x)) for x in order]
    else:
        pos = list(range(len(labels)))
    w = np.arange(1, len(labels) + 1, dtype=float) if scores is None else np.asarray(scores, dtype=float)
    if w.size != len(labels):
        raise ConfigError(f"scores needs {len(labels)} values (one per group of {group!r}), got {w.size}")
    weights = np.empty(len(labels))
    weights[pos] = w
    u = weights @ (o - ex)
    var_u = weights @ v @ weights
    stat = u**2 / var_u if var_u > 0 else np.nan
    return {"test": "trend", "comparison": " < ".join(labels[p] for p in pos), "chisq": stat, "df": 1,
            "p": chi2.sf(stat, 1) if np.isfinite(stat) else np.nan}, weights


def number_at_risk(result: CurveResult, times: Sequence[float]) -> pd.DataFrame:
    """Number at risk (still under observation and not yet recovered) at ``times``, by group.

    Returns a table with one row per group and one column per time, as printed under a plot.
    For Turnbull curves a patient counts as at risk at ``t`` when seen unrecovered at or after
    ``t`` (``lower >= t``).
    """
    ts = np.asarray(times, dtype=float)
    out = {group: _count_at_risk(t, ts) for group, t in result.at_risk_times.items()}
    return pd.DataFrame(out, index=[_fmt_num(t) for t in ts]).T.rename_axis("group")


def _count_at_risk(sorted_times: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Number of patients whose risk time (time, or lower bound) is >= each of ``at``.

    With late entry ``sorted_times`` has two rows, the sorted risk times and the sorted entry
    times: at risk at ``t`` are those with ``entry < t <= time`` (entry is never after the risk
    time, so this is the count of risk times >= t less the count of entries >= t).
    """
    if sorted_times.ndim == 2:
        exit_, entry = sorted_times
        return (exit_.size - np.searchsorted(exit_, at, side="left")) - (entry.size - np.searchsorted(entry, at, side="left"))
    return sorted_times.size - np.searchsorted(sorted_times, at, side="left")


# ------------------------------------------------------------------------------------------------
# Kaplan-Meier


def _stack(curves: list[tuple[str, dict[str, np.ndarray]]]) -> pd.DataFrame:
    """One curves table, ``group`` first: ``pd.concat`` of the groups' tables with ``ignore_index``, in one step."""
    if not curves:
        return pd.concat([])  # the error pandas gives for no groups, as before
    labels = np.empty(len(curves), dtype=object)
    labels[:] = [label for label, _ in curves]
    sizes = [c["time"].size for _, c in curves]
    cols = {"group": np.repeat(labels, sizes)}
    cols.update({k: np.concatenate([c[k] for _, c in curves]) for k in curves[0][1]})
    return pd.DataFrame(cols)


def _km_curve(t: np.ndarray, e: np.ndarray, z: float, conf_type: ConfType,
              entry: np.ndarray | None = None) -> pd.DataFrame:
    """The Kaplan-Meier step function of one group as a table (see :func:`_km_arrays`)."""
    return pd.DataFrame(_km_arrays(t, e, z, conf_type, entry))


def _km_arrays(t: np.ndarray, e: np.ndarray, z: float, conf_type: ConfType,
               entry: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Columns ``time``, ``survival``, ``se``, ``lower``, ``upper``, ``n_at_risk``, ``events``, ``censored`` of one
    group's Kaplan-Meier step function (Greenwood se; pointwise CI on the ``conf_type`` scale)."""
    times = np.unique(t)
    n_at = t.size - np.searchsorted(np.sort(t), times, side="left")
    if entry is not None:  # at risk from entry on: entry < t <= exit
        n_at = n_at - (entry.size - np.searchsorted(np.sort(entry), times, side="left"))
    d = np.bincount(np.searchsorted(times, t[e]), minlength=times.size).astype(float)
    n = n_at.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.cumprod(1 - np.where(n > 0, d / n, 0.0))  # n = 0: only exits of patients never at risk
    with np.errstate(divide="ignore", invalid="ignore"):
        # Greenwood: se of log S (R's std.err); infinite once S reaches 0
        term = np.where(d > 0, d / (n * (n - d)), 0.0)
        se_log = np.sqrt(np.cumsum(term))
        se = np.where(s > 0, s * se_log, np.nan)  # undefined once S = 0 (R: infinite std.err)
    lower, upper = _ci(s, se_log, z, conf_type)
    censored = np.bincount(np.searchsorted(times, t[~e]), minlength=times.size)
    return {"time": times, "survival": s, "se": se, "lower": lower, "upper": upper,
            "n_at_risk": n_at, "events": d.astype(np.int64), "censored": censored}


def _ci(s: np.ndarray, se_log: np.ndarray, z: float, conf_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise limits of S given the se of log S; NaN where S = 0 (as R), 1 where S = 1."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "log":
            lower = s * np.exp(-z * se_log)
            upper = np.minimum(s * np.exp(z * se_log), 1.0)
        else:
            log_s = np.log(s)
            lower = s ** np.exp(-z * se_log / log_s)
            upper = s ** np.exp(z * se_log / log_s)
    zero, one = s <= 0, s >= 1
    lower = np.where(zero, np.nan, np.where(one, 1.0, lower))
    upper = np.where(zero, np.nan, np.where(one, 1.0, upper))
    return lower, upper


# ------------------------------------------------------------------------------------------------
# shared summaries


def _landmarks(landmarks: Sequence[float] | None, tau: float | None, time_unit: str) -> tuple[list[float], float]:
    check_choice("time_unit", time_unit, get_args(TimeUnit))
    if landmarks is None:
        lm = [x * DAYS_PER["weeks"] / DAYS_PER[time_unit] for x in DEFAULT_LANDMARK_WEEKS]
    else:
        lm = [float(x) for x in landmarks]
        if any(not np.isfinite(x) or x <= 0 for x in lm):
            raise ConfigError(f"landmarks must be positive finite times, got {list(landmarks)}")
    tau_ = max(lm) if tau is None else float(tau)
    if not np.isfinite(tau_) or tau_ <= 0:
        raise ConfigError(f"tau must be a positive finite time, got {tau}")
    return lm, tau_


def _z(alpha: float) -> float:
    """``norm.ppf(1 - alpha / 2)``, kept per alpha (scipy's distribution machinery costs more than the curve)."""
    return _z_cached(float(alpha))  # a numpy scalar or 0-d array is unhashable or a distinct key


@functools.lru_cache(maxsize=16)
def _z_cached(alpha: float) -> float:
    return float(norm.ppf(1 - alpha / 2))


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be between 0 and 1, got {alpha}")


def _groups(df: pd.DataFrame, group: str | None) -> list[tuple[str, np.ndarray]]:
    if group is None:
        return [("all", np.arange(len(df)))]
    if group not in df.columns:
        raise FootdropError(f"data has no column {group!r} to group by (columns: {list(df.columns)[:15]})")
    col = df[group]
    if col.isna().any():
        rows = ", ".join(map(str, df.index[col.isna().to_numpy()][:8]))
        raise FootdropError(f"data.{group}: group labels are missing in rows {rows}")
    if isinstance(col.dtype, pd.CategoricalDtype):  # by code: the rows equal to each category
        codes = col.cat.codes.to_numpy()
        pos = [(str(level), np.flatnonzero(codes == k)) for k, level in enumerate(col.cat.categories)]
        return [(label, idx) for label, idx in pos if idx.size]
    levels = sorted(col.unique().tolist())
    values = col.to_numpy()
    out = []
    for level in levels:
        idx = np.flatnonzero(values == level)
        if idx.size:  # unused categories have no curve
            out.append((str(level), idx))
    return out


#: Curves drawn and read linearly between their tabulated points (the rest are step functions).
LINEAR_METHODS = ("turnbull", "piecewise_hazard")


def _evaluate(curve: pd.DataFrame, times: np.ndarray, method: str) -> pd.DataFrame:
    """Curve values at arbitrary times: step (KM) or linear between identified points (Turnbull)."""
    return pd.DataFrame(_evaluate_arrays(curve, times, method))


def _evaluate_arrays(curve: pd.DataFrame | dict[str, np.ndarray], times: np.ndarray, method: str) -> dict[str, np.ndarray]:
    """:func:`_evaluate`'s columns, from a curve table or its columns."""
    ct = np.asarray(curve["time"])
    cols = ("survival", "se", "lower", "upper")
    out = {"time": times}
    if method in LINEAR_METHODS:
        for col in cols:
            y = np.r_[1.0 if col != "se" else 0.0, np.asarray(curve[col])]
            out[col] = np.interp(times, np.r_[0.0, ct], y)
            # beyond the last identified point the curve is flat at its last value
    else:
        pos = np.searchsorted(ct, times, side="right") - 1
        for col in cols:
            y = np.asarray(curve[col])
            out[col] = np.where(pos >= 0, y[np.maximum(pos, 0)], 1.0 if col != "se" else 0.0)
    return out


def _quantile_time(t: np.ndarray, y: np.ndarray, p: float = 0.5) -> float:
    """First time the step curve y falls to <= p; the midpoint rule of R when it sits at p."""
    ok = np.isfinite(y)
    t, y = t[ok], y[ok]
    if y.size == 0:  # e.g. the CI limits once everyone has recovered at the first time: NA in R
        return np.nan
    keep = np.r_[True, np.diff(y) != 0]  # R drops duplicated values (flat stretches)
    t, y = t[keep], y[keep]
    hit = np.flatnonzero(y <= p + _TOL)
    if hit.size == 0:
        return np.nan
    i = hit[0]
    if abs(y[i] - p) < _TOL and i + 1 < t.size:
        return 0.5 * (t[i] + t[i + 1])
    return float(t[i])


def _quantile_linear(t: np.ndarray, y: np.ndarray, p: float = 0.5) -> float:
    """First time the piecewise-linear curve (from (0, 1)) reaches p."""
    ok = np.isfinite(y)
    tt, yy = np.r_[0.0, t[ok]], np.r_[1.0, y[ok]]
    hit = np.flatnonzero(yy <= p + _TOL)
    if hit.size == 0:
        return np.nan
    i = hit[0]
    if i == 0 or yy[i - 1] == yy[i]:
        return float(tt[i])
    return float(tt[i - 1] + (yy[i - 1] - p) / (yy[i - 1] - yy[i]) * (tt[i] - tt[i - 1]))


def _km_rmst(curve: pd.DataFrame | dict[str, np.ndarray], tau: float) -> tuple[float, float]:
    """Area under the Kaplan-Meier step function from 0 to tau and its standard error."""
    t = np.asarray(curve["time"])
    s = np.asarray(curve["survival"])
    # S = 1 on [0, t1), S_j on [t_j, t_{j+1})
    before = t < tau
    knots = np.r_[0.0, t[before], tau]
    seg = np.diff(knots) * np.r_[1.0, s[before]]
    area = float(seg.sum())
    # Var = sum_j A_j^2 d_j / (n_j (n_j - d_j)), A_j = area from t_j to tau (R print.survfit rmean)
    d = np.asarray(curve["events"])[before].astype(float)
    n = np.asarray(curve["n_at_risk"])[before].astype(float)
    tail = np.cumsum(seg[::-1])[::-1][1:]  # area after each t_j
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where((d > 0) & (n > d), tail**2 * d / (n * (n - d)), 0.0)
    return area, float(np.sqrt(term.sum()))


def _summarise(curve: pd.DataFrame | dict[str, np.ndarray], label: str, t: np.ndarray, e: np.ndarray, landmarks: list[float], tau: float,
               *, method: str, alpha: float, risk: np.ndarray, warn_tau: bool,
               rmst: tuple[float, float] | None = None) -> list[dict[str, Any]]:
    n, events = int(t.size), int(e.sum())
    last = float(t.max()) if t.size else 0.0
    ct = np.asarray(curve["time"])
    surv = np.asarray(curve["survival"])
    base = {"group": label, "n": n, "events": events}
    q = _quantile_linear if method in LINEAR_METHODS else _quantile_time
    med = q(ct, surv)
    lcl = q(ct, np.asarray(curve["lower"]))
    ucl = q(ct, np.asarray(curve["upper"]))
    note = ""
    if np.isnan(med):
        note = "not reached"
    elif np.isnan(ucl):
        note = "upper limit not reached"
    rows = [{**base, "statistic": "median", "time": np.nan, "estimate": med, "lower": lcl, "upper": ucl,
             "n_at_risk": np.nan, "note": note}]  # identification columns: _identified below
    at = _evaluate_arrays(curve, np.asarray(landmarks, dtype=float), method)
    n_risk = _count_at_risk(risk, np.asarray(landmarks, dtype=float))
    for k, lm in enumerate(landmarks):
        s, lo, up = at["survival"][k], at["lower"][k], at["upper"][k]
        note = ""
        if lm > last and s > 0:
            note = "beyond follow-up: last estimate carried forward"
        elif not np.isfinite(lo) or not np.isfinite(up):
            note = "CI undefined (no one left unrecovered)"
        rows.append({**base, "statistic": "recovered_by", "time": lm, "estimate": 1 - s, "lower": 1 - up,
                     "upper": 1 - lo, "n_at_risk": int(n_risk[k]), "note": note})
    area, se = rmst if rmst is not None else _km_rmst(curve, tau)
    z = _z(alpha)
    s_last = surv[-1] if surv.size else 1.0
    beyond = tau > last and s_last > 0  # once everyone has recovered the area is exact
    note = "tau beyond follow-up: last estimate carried forward" if beyond else ""
    if beyond and warn_tau:  # the default tau is stated in the note only
        warnings.warn(f"group {label!r}: tau = {tau:g} is beyond the last follow-up time {last:g}; "
                      "the restricted mean assumes the last estimate holds", CurveWarning, stacklevel=3)
    rows.append({**base, "statistic": "rmst", "time": tau, "estimate": area, "lower": area - z * se,
                 "upper": area + z * se, "n_at_risk": np.nan, "note": note})
    return [_identified(r) for r in rows]


NO_ONE_AT_RISK = "no patient at risk: all had recovered when first seen (late entry)"


def no_one_at_risk_rows(label: str, landmarks: list[float], tau: float) -> list[dict[str, Any]]:
    """A group's summary rows when late entry leaves nobody at risk: every estimate missing, said why."""
    nan = np.nan

    def row(statistic: str, time: float, n_at_risk: float) -> dict[str, Any]:
        return {"group": label, "n": 0, "events": 0, "statistic": statistic, "time": time, "estimate": nan,
                "lower": nan, "upper": nan, "n_at_risk": n_at_risk, "note": NO_ONE_AT_RISK, "identified": False,
                "identification": "not identifiable", "set_lower": nan, "set_upper": nan,
                "population": POPULATION_ALL}

    rows = [row("median", nan, nan)]
    rows += [row("recovered_by", lm, 0) for lm in landmarks]
    rows.append(row("rmst", tau, nan))
    return rows


def _identified(row: dict[str, Any]) -> dict[str, Any]:
    """The identification columns of a row whose estimate is a point (or not reached)."""
    est = row["estimate"]
    kind = "point" if np.isfinite(est) else "not reached"
    return {**row, "identified": kind == "point", "identification": kind, "set_lower": est, "set_upper": est,
            "population": POPULATION_ALL}


# ------------------------------------------------------------------------------------------------
# log-rank


def _logrank_stats(t: np.ndarray, e: np.ndarray, code: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed, expected and the hypergeometric covariance of O - E (survdiff, rho = 0)."""
    times = np.unique(t[e])
    if times.size == 0:
        return np.zeros(k), np.zeros(k), np.zeros((k, k))
    # at risk per group at each event time: n_g(t) = #{t_i >= t, group g}
    n_g = np.empty((times.size, k))
    d_g = np.empty((times.size, k))
    for g in range(k):
        tg = np.sort(t[code == g])
        n_g[:, g] = tg.size - np.searchsorted(tg, times, side="left")
        d_g[:, g] = np.bincount(np.searchsorted(times, t[(code == g) & e]), minlength=times.size)
    n = n_g.sum(axis=1)
    d = d_g.sum(axis=1)
    expected = (n_g * (d / n)[:, None]).sum(axis=0)
    observed = d_g.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(n > 1, d * (n - d) / (n**2 * (n - 1)), 0.0)
    v = np.diag((f[:, None] * n_g * n[:, None]).sum(axis=0)) - (n_g * f[:, None]).T @ n_g
    return observed, expected, v


def _chisq(o: np.ndarray, ex: np.ndarray, v: np.ndarray) -> dict[str, float]:
    # groups with zero expected events carry no information (R: df = sum(exp > 0) - 1)
    keep = np.flatnonzero(ex > 0)
    if keep.size < 2:
        return {"chisq": np.nan, "df": 0, "p": np.nan}
    sub = keep[:-1]
    diff = (o - ex)[sub]
    vv = v[np.ix_(sub, sub)]
    stat = float(diff @ np.linalg.pinv(vv) @ diff)
    df = int(np.linalg.matrix_rank(vv))
    return {"chisq": stat, "df": df, "p": float(chi2.sf(stat, df))}


def _holm(p: Sequence[float]) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    m = p.size
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


# ------------------------------------------------------------------------------------------------
# plotting helpers


def _draw_at_risk(ax: Any, result: CurveResult, times: Sequence[float] | None, small_cells: int | None) -> None:
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    ax.figure.canvas.draw_idle()
    if times is None:
        lo, hi = ax.get_xlim()
        times = [x for x in ax.get_xticks() if lo <= x <= hi]
    table = number_at_risk(result, times)
    labels = table.astype(int).astype(str) if small_cells is None else at_risk_labels(table, small_cells)
    divider = make_axes_locatable(ax)
    tab_ax = divider.append_axes("bottom", size=0.2 * len(table) + 0.2, pad=0.55, sharex=ax)
    tab_ax.set_ylim(len(table) - 0.5, -0.5)
    colours = {str(line.get_label()): line.get_color() for line in ax.get_lines()}
    for row, (group, counts) in enumerate(labels.iterrows()):
        for x, c in zip(times, counts.to_numpy(), strict=True):
            tab_ax.text(x, row, str(c), ha="center", va="center", fontsize="x-small")
        tab_ax.text(-0.05, row, str(group), transform=tab_ax.get_yaxis_transform(), ha="right", va="center",
                    fontsize="x-small", color=colours.get(str(group), "black"))
    tab_ax.set_yticks([])
    tab_ax.tick_params(axis="x", labelbottom=False, length=0)
    for side in ("top", "right", "left", "bottom"):
        tab_ax.spines[side].set_visible(False)
    note = "" if small_cells is None else f" (counts 1-{small_cells} hidden, others rounded to 5)"
    tab_ax.set_title("number at risk" + note, fontsize="x-small", loc="left")


def _fmt_num(x: float) -> str:
    return f"{x:g}"


def _fmt_p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def __getattr__(name: str) -> Any:
    """``turnbull`` lives in its own module; it stays importable from here."""
    if name == "turnbull":
        from footdrop_outcomes.survival.turnbull import turnbull

        return turnbull
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
