"""Pieces of the simulator v2 calibration report kept beside the targets.

The report itself is written through the notebook -> PDF route of every other report:
:func:`footdrop_outcomes.report.calibration_section.calibration_report` (CLI
``footdrop-outcomes calibration-report``) runs ``calibration_report.ipynb``. This module holds
what belongs to the targets rather than to the report layer: the pass rule, the known reasons
why a target disagrees, the result class, and the figure of one target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes._result import AnalysisResult

__all__ = ["DISCREPANCY_NOTES", "PASS_RULE", "CalibrationReport"]

#: How a target passes (printed on every page).
PASS_RULE = ("A target passes when the simulated value (mean over replicate cohorts) lies inside the pass interval: the "
             "published 95% CI (or a Wilson 95% interval from n for a proportion), widened to value +/- tolerance where a "
             "tolerance is stated and wider. The latent-truth value decides; the value seen from the tables is shown beside it.")

#: Known reasons why a target can disagree (docs/simulation.md, section 11.3); shown when it fails.
#: Written after the final calibration run; nothing was tuned to them.
DISCREPANCY_NOTES: dict[str, str] = {
    "completion_bethoux": (
        "Bethoux 2014 enrolled 495 Medicare-eligible (older) patients, unblinded, about half on FES; dropout was calibrated on "
        "FASTEST (mean age 61), v2 has no age effect on dropout (no source) and its stroke device users are mostly AFO users."),
    "mrc_ankle_kappa_myositis": (
        "Different population and scale use: myositis patients are almost all near-normal (range restriction lowers kappa), "
        "graded by other raters; the rater error was calibrated on radial palsy grades spread over the whole scale."),
    "peroneal_dec_baseline_mrc0": (
        "Chow's series are late, chronic palsies (mean 9.7 months to surgery); v2's operated peroneal patients include early "
        "decompressions, and the onset strength is uniform within the severe band."),
    "fastest_change_30wk_fes": (
        "The simulated quantity is the training effect alone (from Taylor's FES clinic). FASTEST's change also includes eight "
        "physiotherapy sessions and familiarisation and, if its baseline walk was without the device, the orthotic effect."),
    "fastest_change_30wk_afo": (
        "As for FES: the simulated quantity is the training effect alone; FASTEST's change also includes physiotherapy, "
        "familiarisation and possibly the orthotic effect."),
    "lumbar_dec_full_albayrak": (
        "Acute disc herniation operated after 12 days recovers better than the degenerative (disc + stenosis) populations of "
        "the calibration meta-analysis [L14]; v2 has one reference probability for both, and full strength by 78 weeks rather "
        "than at 'final follow-up'."),
    "peroneal_dec_good_fabre": (
        "The pre-operative strength effect (log OR 1.3 per grade, calibrated on lumbar ORs [L5]) makes partial peroneal palsies "
        "recover almost always; Fabre's series are chronic entrapments with long delays. v2 has no non-responders beyond the "
        "incidence model."),
    "peroneal_dec_improved_king": (
        "As for Fabre: partial palsies recover almost always in v2; King's series are chronic entrapments, and its grading has a "
        "ceiling for near-normal patients."),
    "peroneal_dec_mrc5_final": (
        "From the tables: rater error turns a true 5.0-5.5 into a recorded 4 about a fifth of the time, and the last visit often "
        "comes before full strength (dropout, missed visits, the 78-week window; Chow followed for 28 months)."),
}

_Z = 1.959963984540054
_GREEN, _RED, _GREY, _BLUE = "#1a7f37", "#c62828", "#6e7781", "#0b5394"


@dataclass(frozen=True, repr=False)
class CalibrationReport(AnalysisResult):
    """A written calibration report.

    Attributes
    ----------
    summary : pandas.DataFrame
        The :func:`calibration_check` table (one row per target).
    counts : pandas.DataFrame
        :func:`pass_counts` of it: targets and passes by set.
    path : pathlib.Path
        The PDF written.
    info : dict
        ``n``, ``replicates``, ``seed``, ``pages``, ``sources``.
    """

    counts: pd.DataFrame | None = None
    path: Path | None = None

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Every target on one axis: where the simulated value falls in its pass interval (0 = low, 1 = high).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Drawn on this axes (a new figure otherwise).
        **kwargs
            Passed to ``Axes.errorbar``.
        """
        import matplotlib.pyplot as plt

        s = self.summary
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.22 * len(s) + 1))
        width = (s["high"] - s["low"]).to_numpy(float)
        pos = (s["latent"].to_numpy(float) - s["low"].to_numpy(float)) / np.where(width > 0, width, np.nan)
        err = _Z * s["latent_se"].to_numpy(float) / np.where(width > 0, width, np.nan)
        y = np.arange(len(s))[::-1]
        ax.axvspan(0, 1, color="#e8f5e9", zorder=0)
        colors = [_GREEN if ok else _RED for ok in s["pass_latent"]]
        ax.errorbar(pos, y, xerr=np.nan_to_num(err), fmt="none", ecolor=_GREY, **kwargs)
        ax.scatter(pos, y, c=colors, zorder=3, s=18)
        ax.set_yticks(y, [f"{i} ({st[:3]})" for i, st in zip(s["id"], s["set"].astype(str))], fontsize=6)
        ax.set_xlabel("simulated value within the pass interval (0 = lower, 1 = upper limit)")
        return ax


def _target_panel(ax: Any, r: pd.Series) -> None:
    """Published value and interval against the simulated values with their 95% Monte Carlo intervals."""
    ok = bool(r["pass_latent"])
    labels, ys = ["published", "simulated (latent)", "simulated (tables)"], [2, 1, 0]
    ax.axvspan(r["low"], r["high"], color="#e8f5e9" if ok else "#ffebee", zorder=0, label="pass interval")
    # the published interval: its CI, else the pass interval built from n; a bare value has no bar
    has_interval = pd.notna(r["ci_low"]) or pd.notna(r["n"])
    lo_ci = r["ci_low"] if pd.notna(r["ci_low"]) else r["low"]
    hi_ci = r["ci_high"] if pd.notna(r["ci_high"]) else r["high"]
    if not has_interval:
        lo_ci = hi_ci = r["value"]
    ax.errorbar([r["value"]], [2], xerr=[[r["value"] - lo_ci], [hi_ci - r["value"]]], fmt="s", color="black", capsize=4)
    for y, est, se in ((1, r["latent"], r["latent_se"]), (0, r["observed"], r["observed_se"])):
        if pd.isna(est):
            ax.text(r["value"], y, "not shown by the tables", fontsize=7, color=_GREY, va="center", ha="center")
            continue
        err = _Z * se if pd.notna(se) else 0.0
        ax.errorbar([est], [y], xerr=[[err], [err]], fmt="o", color=_BLUE, capsize=4)
    vals = [v for v in (r["low"], r["high"], r["latent"], r["observed"], lo_ci, hi_ci) if pd.notna(v)]
    pad = 0.15 * (max(vals) - min(vals) or abs(max(vals)) or 1.0)
    ax.set_xlim(min(vals) - pad, max(vals) + pad)
    ax.set_ylim(-0.6, 2.6)
    ax.set_yticks(ys, labels, fontsize=7.5)
    ax.tick_params(axis="x", labelsize=7.5)
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
