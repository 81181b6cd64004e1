"""Report figures: views of the result tables, sized for an A4 page (vector SVG in the PDF).

Each figure a page shows leaves as a :class:`~footdrop_outcomes.release.ReleasedFigure` with the
patients behind every group it draws: a group of 1 to threshold patients is refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes.report.analysis import CAUSE_SHORT, RecoveryAnalysis, term_label
from footdrop_outcomes.release import ReleasedFigure, term_support
from footdrop_outcomes.report.counts import figure, get_threshold, is_small

__all__ = ["forest_plot", "model_forest", "cumulative_incidence_plot", "cause_severity_plot", "curve_plot"]


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
    panels = [(ax1, s, "hr", "hr_lower", "hr_upper", "hazard ratio", "Cox: rate of recovery"),
              (ax2, a, "time_ratio", "tr_lower", "tr_upper", "time ratio",
               f"{analysis.choices['distribution'].capitalize()} AFT: time to recovery")]
    for ax, tab, est, lo, hi, what, title in panels:
        if tab is None or tab.empty:
            ax.set_axis_off()
            ax.set_title(title, loc="left", fontsize="medium")
            ax.text(0.0, 0.5, "not estimable from these data\n(see the model section)", transform=ax.transAxes, va="center")
            continue
        forest_plot([term_label(t) for t in tab["term"]], tab[est], tab[lo], tab[hi], xlabel=f"{what} ({level}% CI)", title=title, ax=ax)
    fig.tight_layout()
    terms = [*(s["term"] if s is not None else []), *(a["term"] if a is not None else [])]
    return figure(fig, {t: term_support(t, frame) for t in terms} or len(frame))


def cumulative_incidence_plot(analysis: RecoveryAnalysis) -> ReleasedFigure:
    """Cumulative incidence of recovery by cause (death competing), with landmark guides."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    analysis.cif.plot(ax=ax, kind="recovery")
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: list(CAUSE_SHORT).index(labels[i]) if labels[i] in CAUSE_SHORT else len(CAUSE_SHORT))
    ax.legend([handles[i] for i in order], [CAUSE_SHORT.get(labels[i], labels[i]) for i in order], frameon=False, fontsize="small",
              loc="center left", bbox_to_anchor=(1.0, 0.5))
    for lm in analysis.choices["landmarks"]:
        ax.axvline(lm, color="#bbb", linewidth=0.6, zorder=0)
    ax.set_xlabel("weeks since onset")
    ax.set_ylabel("recovered (cumulative incidence)")
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
    ax.set_xlabel("patients")
    ax.legend(title="severity at onset", frameon=False, fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    # bars are protected counts (hidden cells drawn as one segment); a cause with a hidden total has none
    return figure(fig, {c: int(tab.loc[c].sum()) for c in tab.index if not prot.hidden(c, "Total")})


def curve_plot(curves: Any, *, title: str) -> ReleasedFigure:
    """Recovery curves by group with CI bands and the number-at-risk table under them (from
    :meth:`CurveResult.plot`), group names as readers know them. Returns the Figure."""
    ax = curves.plot(kind="recovered", at_risk=True, small_cells=get_threshold())  # at-risk numbers: privacy.at_risk_labels
    fig = ax.figure
    for text in [*(ax.get_legend().get_texts() if ax.get_legend() else []), *fig.findobj(lambda o: hasattr(o, "get_text") and hasattr(o, "set_text"))]:
        t = text.get_text()
        if t in CAUSE_SHORT:
            text.set_text(CAUSE_SHORT[t])
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel("weeks since onset")
    s = curves.summary
    return figure(fig, {str(g): int(x["n"].iloc[0]) for g, x in s.groupby("group", sort=False, observed=True)})
