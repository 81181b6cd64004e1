"""Report figures: views of the result tables, sized for an A4 page (vector SVG in the PDF).

Each figure a page shows leaves as a :class:`~footdrop_outcomes.release.ReleasedFigure` with the
patients behind every group it draws: a group of 1 to threshold patients is refused.

Conventions for every figure of the reports (issue 13): axis labels in plain words with their unit;
weeks since onset on a readable grid (:func:`week_ticks`: steps of 1, 2, 4, 13, 26 or 52 weeks);
ratio axes on a log scale labelled with plain numbers (0.5, 1, 2, not 10⁻¹); legends beside the
axes, never over the curves; and **one direction for every recovery curve**: the cumulative share
of patients recovered, rising from 0% (Turnbull, Kaplan-Meier, cumulative incidence alike).

>>> week_ticks(81)
[0.0, 13.0, 26.0, 39.0, 52.0, 65.0, 78.0]
>>> week_ticks(20)
[0.0, 4.0, 8.0, 12.0, 16.0, 20.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes.report.analysis import CAUSE_SHORT, RecoveryAnalysis, term_label
from footdrop_outcomes.release import ReleasedFigure, term_support
from footdrop_outcomes.report.counts import figure, get_threshold, is_small

__all__ = ["forest_plot", "model_forest", "cumulative_incidence_plot", "cause_severity_plot", "curve_plot", "week_ticks",
           "weeks_axis", "percent_axis", "ratio_axis", "RECOVERED_LABEL", "GROUP_COLOURS"]

#: The y label of every recovery curve (one direction throughout: the share recovered, rising).
RECOVERED_LABEL = "patients recovered (%)"


#: One colour per group in every figure (a cause or a severity keeps its colour from figure to figure).
#: Causes: Paul Tol's "muted" qualitative scheme (first eight), chosen for colour-blind readers: every
#: pair stays at CIEDE2000 >= 11.8 with protanopia, deuteranopia and tritanopia simulated (Machado
#: 2009; tests/report/test_figure_export.py), where matplotlib's tab10 fell to 1.3 (L5 vs stroke).
GROUP_COLOURS: dict[str, str] = {
    "peroneal_compression": "#332288", "lumbar_radiculopathy": "#88CCEE", "stroke": "#44AA99", "multiple_sclerosis": "#117733",
    "als": "#999933", "peripheral_neuropathy": "#DDCC77", "post_surgical_hip_knee": "#CC6677", "post_surgical_spine": "#882255",
    "mild": "#74a9cf", "moderate": "#0570b0", "severe": "#d94801",
}


def _colour_cycle(ax: Any, groups: list[str]) -> None:
    """Draw the next curves of ``ax`` in the groups' fixed colours (:data:`GROUP_COLOURS`)."""
    fallback = iter(["#7f7f7f", "#bcbd22", "#393b79", "#637939", "#8c6d31", "#843c39"])
    ax.set_prop_cycle(color=[GROUP_COLOURS.get(g) or next(fallback, "#333333") for g in groups])


def week_ticks(t_max: float, *, max_ticks: int = 8) -> list[float]:
    """Tick positions for a weeks-since-onset axis from 0 to ``t_max``: the smallest step of 1, 2,
    4, 13 (3 months), 26 (6 months) or 52 weeks (a year) that gives at most ``max_ticks`` + 1 ticks."""
    t_max = float(t_max) if np.isfinite(t_max) and t_max > 0 else 1.0
    step = next((s for s in (1, 2, 4, 13, 26, 52) if t_max / s <= max_ticks), 52 * int(np.ceil(t_max / (52 * max_ticks))))
    return [float(x) for x in np.arange(0.0, t_max + 1e-9, step)]


def weeks_axis(ax: Any, t_max: float, *, label: str = "weeks since onset") -> list[float]:
    """Put a weeks axis on ``ax`` (ticks from :func:`week_ticks`, limits 0 to ``t_max``); return the ticks."""
    ticks = week_ticks(t_max)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.set_xlim(0, max(float(t_max), ticks[-1]) * 1.01)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 0
    note = {13.0: " (ticks every 3 months)", 26.0: " (ticks every 6 months)", 52.0: " (ticks every year)"}.get(step, "")
    ax.set_xlabel(label + note)
    return ticks


def percent_axis(ax: Any, *, label: str = RECOVERED_LABEL) -> None:
    """A 0-100% y axis for shares drawn on a 0-1 scale."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    ax.set_ylim(0, 1)
    ax.yaxis.set_major_locator(MultipleLocator(0.2))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{100 * y:.0f}"))
    ax.set_ylabel(label)


def ratio_axis(ax: Any, lo: float, hi: float) -> None:
    """A log-scale ratio axis labelled with plain numbers (0.1, 0.2, 0.5, 1, 2, 5, ...), never powers of ten."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    lo, hi = min(lo, 1.0), max(hi, 1.0)
    decades = np.log10(hi / lo)
    # 1-2-5 steps over up to 1.5 decades, 1-3 up to 3, powers of ten beyond: labels never crowd
    mantissas = (1, 2, 5) if decades <= 1.5 else (1, 3) if decades <= 3 else (1,)
    nice = [m * 10.0 ** e for e in range(-6, 7) for m in mantissas]
    ticks = [t for t in nice if lo / 1.05 <= t <= hi * 1.05]
    ax.set_xlim(lo / 1.3, hi * 1.3)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def forest_plot(labels: list[str], est: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, xlabel: str, title: str, ax: Any = None) -> Any:
    """Estimates with CIs on a log axis, one row per label (top to bottom), reference line at 1."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.3, 0.32 * len(labels) + 1.1))
    y = np.arange(len(labels))[::-1]
    est, lo, hi = map(np.asarray, (est, lo, hi))
    ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="o", color="#0b2e4f", ecolor="#6b8799", capsize=2.5, markersize=4)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    finite = np.r_[lo[np.isfinite(lo) & (lo > 0)], hi[np.isfinite(hi) & (hi > 0)], est[np.isfinite(est) & (est > 0)]]
    ratio_axis(ax, float(finite.min()) if finite.size else 0.5, float(finite.max()) if finite.size else 2.0)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_xlabel(xlabel)
    ax.set_title(title, loc="left", fontsize="medium")
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def model_forest(analysis: RecoveryAnalysis) -> ReleasedFigure:
    """Two panels: Cox hazard ratios (left; above 1 = faster recovery) and AFT time ratios
    (right; above 1 = slower recovery). A model the data could not support gets a panel that
    says so; terms behind which stand ``threshold`` or fewer patients are not drawn."""
    import matplotlib.pyplot as plt

    cox, aft = analysis.cox, analysis.aft
    level = round(100 * (1 - analysis.choices["alpha"]))
    frame = analysis.model_frame

    def shown(s: pd.DataFrame) -> pd.DataFrame:
        return s[[not is_small(term_support(t, frame)) for t in s["term"]]]

    s = shown(cox.summary) if cox is not None else None
    a = shown(aft.summary[~aft.summary["term"].isin(["Intercept", "log(scale)"])]) if aft is not None else None
    n = max(len(s) if s is not None else 1, len(a) if a is not None else 1, 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.0, 0.3 * n + 1.3), sharey=False)
    panels = [(ax1, s, "hr", "hr_lower", "hr_upper", "hazard ratio", "Cox model: rate of recovery\n(above 1: faster)"),
              (ax2, a, "time_ratio", "tr_lower", "tr_upper", "time ratio",
               f"{analysis.choices['distribution'].capitalize()} AFT model: time to recovery\n(above 1: slower)")]
    for ax, tab, est, lo, hi, what, title in panels:
        if tab is None or tab.empty:
            ax.set_axis_off()
            ax.set_title(title, loc="left", fontsize="medium")
            ax.text(0.0, 0.5, "not estimable from these data\n(see the model section)", transform=ax.transAxes, va="center")
            continue
        forest_plot([term_label(t) for t in tab["term"]], tab[est], tab[lo], tab[hi], xlabel=f"{what} ({level}% CI, log scale)",
                    title=title, ax=ax)
    fig.tight_layout()
    terms = [*(s["term"] if s is not None else []), *(a["term"] if a is not None else [])]
    return figure(fig, {t: term_support(t, frame) for t in terms} or len(frame))


def cumulative_incidence_plot(analysis: RecoveryAnalysis) -> ReleasedFigure:
    """Cumulative incidence of recovery by cause (death competing), with landmark guides."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    rc = analysis.cif.curves
    _colour_cycle(ax, list(dict.fromkeys(rc.loc[rc["kind"] == "recovery", "group"].astype(str))))
    analysis.cif.plot(ax=ax, kind="recovery")
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: list(CAUSE_SHORT).index(labels[i]) if labels[i] in CAUSE_SHORT else len(CAUSE_SHORT))
    ax.legend([handles[i] for i in order], [CAUSE_SHORT.get(labels[i], labels[i]) for i in order], frameon=False, fontsize="small",
              loc="center left", bbox_to_anchor=(1.0, 0.5))
    for lm in analysis.choices["landmarks"]:
        ax.axvline(lm, color="#bbb", linewidth=0.6, zorder=0)
    c = analysis.cif.curves
    weeks_axis(ax, float(np.nanmax(c["time"].to_numpy(dtype=float))) if len(c) else 1.0)
    percent_axis(ax, label=RECOVERED_LABEL + ",\ndeath as a competing event")
    ax.set_title("Recovered, by cause (cumulative incidence, 95% CI; grey lines: landmark weeks)", fontsize="medium", loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    sizes = analysis.frame["cause"].astype(str).value_counts()
    drawn = set(analysis.cif.summary["group"].astype(str))
    return figure(fig, {g: int(sizes.get(g, 0)) for g in drawn})


def cause_severity_plot(cohort: Any) -> ReleasedFigure:
    """Patients by cause, stacked by severity at onset (horizontal bars), drawn from the protected
    cause x severity table (:func:`footdrop_outcomes.report.counts.protect`): the hidden cells of a
    cause are drawn together as one hatched segment (their sum follows from the shown cells and the
    cause's total anyway), and a cause whose total is hidden gets no bar. Returns the Figure."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from footdrop_outcomes.cohort.vocabulary import CAUSES, SEVERITIES
    from footdrop_outcomes.report.counts import protect

    p = cohort.patients
    tab = pd.crosstab(p["cause"].astype(str), p["severity"].astype(str))
    tab = tab.reindex(index=[c for c in CAUSES if c in tab.index][::-1], columns=[s for s in SEVERITIES if s in tab.columns], fill_value=0)
    prot = protect(tab)
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(tab) + 1.2))
    labels = [CAUSE_SHORT[c] for c in tab.index]
    left = np.zeros(len(tab))
    for sev, color in zip(tab.columns, ("#9ecae1", "#4292c6", "#08306b")):
        widths = np.array([0 if prot.hidden(c, sev) or prot.hidden(c, "Total") else tab.loc[c, sev] for c in tab.index], dtype=float)
        ax.barh(labels, widths, left=left, color=color, label=sev)
        left += widths
    hidden = np.array([0 if prot.hidden(c, "Total") else sum(tab.loc[c, s] for s in tab.columns if prot.hidden(c, s)) for c in tab.index], dtype=float)
    if hidden.any():
        ax.barh(labels, hidden, left=left, color="white", edgecolor="#777", hatch="////", linewidth=0.5, label="hidden (small numbers)")
    for y, c in enumerate(tab.index):
        if prot.hidden(c, "Total"):
            ax.text(0, y, "  not shown (small numbers)", va="center", fontsize="small", color="#555")
    ax.set_xlabel("number of patients")
    ax.legend(title="severity at onset", frameon=False, fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    # bars are protected counts (hidden cells drawn as one segment); a cause with a hidden total has none
    return figure(fig, {c: int(tab.loc[c].sum()) for c in tab.index if not prot.hidden(c, "Total")})


def _curve_extent(points: pd.DataFrame, threshold: int) -> float:
    """Where a curve figure's time axis ends: the last time at which some group still has more than
    ``threshold`` patients under follow-up (``n_at_risk`` of the curve points), else the last
    time of any curve. Beyond it every step of every curve is one of a handful of patients (and
    with five years of follow-up the first year, where recovery happens, was squeezed into a
    fifth of the width)."""
    t = points["time"].to_numpy(dtype=float)
    finite = np.isfinite(t)
    t_last = float(np.nanmax(t[finite])) if finite.any() else 1.0
    if "n_at_risk" not in points.columns:
        return t_last
    enough = finite & (points["n_at_risk"].to_numpy(dtype=float) > threshold)
    return float(t[enough].max()) if enough.any() else t_last


def curve_plot(curves: Any, *, title: str) -> ReleasedFigure:
    """Recovery curves by group with CI bands and the number-at-risk table under them (from
    :meth:`CurveResult.plot`), group names as readers know them. The time axis ends where no group
    has more than the small-cell threshold of patients under follow-up (:func:`_curve_extent`).
    Returns the Figure."""
    import matplotlib.pyplot as plt

    t_max = _curve_extent(curves.curves, get_threshold())
    ticks = week_ticks(t_max)
    n_groups = curves.curves["group"].nunique()
    _, ax = plt.subplots(figsize=(7.0, 3.6 + 0.2 * n_groups + 0.6))
    _colour_cycle(ax, list(dict.fromkeys(curves.curves["group"].astype(str))))
    # the same direction as every recovery curve of the report: the share recovered, rising
    curves.plot(ax=ax, kind="recovered", at_risk=True, at_risk_times=ticks, small_cells=get_threshold())  # at-risk: privacy.at_risk_labels
    fig = ax.figure
    for txt in fig.findobj(lambda o: hasattr(o, "get_text") and hasattr(o, "set_text")):
        label = txt.get_text()
        if label in CAUSE_SHORT:
            txt.set_text(CAUSE_SHORT[label])
        elif label in ("mild", "moderate", "severe"):
            txt.set_text(label.capitalize())
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    # beside the axes, never over the curves
    ax.legend(handles, [CAUSE_SHORT.get(x, x.capitalize() if x in ("mild", "moderate", "severe") else x) for x in labels],
              frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("")  # the curve method's own title: the report's title says it
    ax.set_title(title, fontsize="medium", loc="left")
    weeks_axis(ax, t_max)
    percent_axis(ax)
    s = curves.summary
    return figure(fig, {str(g): int(x["n"].iloc[0]) for g, x in s.groupby("group", sort=False, observed=True)})
