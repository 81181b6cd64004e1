"""The site-comparison report: case mix, risk-adjusted recovery and adherence, funnel plots, ranks,
and the three-level trajectory model's site SD, built from the ``sites`` package's results.

Release rule (on top of the report's small-cell rule, :mod:`footdrop_outcomes.report.counts`):

* **A site of threshold or fewer patients is left out of the whole report with its patients**
  (:func:`load_site_cohort`: :func:`~footdrop_outcomes.release.release_cohort` with ``site``
  among the protected groups), before any analysis: it is in no model, table, figure or total, so
  its size cannot be worked out as a difference of totals. The title page says that such sites
  were left out, without their codes or number of patients.
* Every table cell is released with the patients behind it (a site's row: its patients; an
  observed count of 1 to threshold is shown as ``≤N`` and the ratio, flag and rank that would give
  it back are masked, :meth:`~footdrop_outcomes.sites.SiteComparison.released`); Table 1 by site
  protects its counts with complementary suppression (:func:`footdrop_outcomes.cohort.table1.table_one`).
* Figures draw only sites above the threshold; a funnel point whose observed count is 1 to
  threshold is not drawn.

>>> from footdrop_outcomes import simulate_cohort
>>> from footdrop_outcomes.cohort.simulate import SimulationConfig
>>> sa = analyse_sites(simulate_cohort(1500, seed=3, config=SimulationConfig(n_sites=5)), n_draws=200)
>>> sorted(sa.sites)
['S01', 'S02', 'S03', 'S04', 'S05']
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.release import (
    ReleasedFigure,
    ReleasedTable,
    ReleasedText,
)
from footdrop_outcomes.report.counts import (
    figure,
    get_policy,
    show_count,
    static,
    table,
    text,
)

__all__ = ["SITE_GROUPS", "SiteAnalysis", "adherence_figure", "adherence_table", "analyse_sites", "case_mix_table",
           "dispersion_text", "funnel_figure", "load_site_cohort", "methods_text", "oe_table", "rank_figure", "rank_table",
           "release_rule_text", "sites_text", "trajectory_table", "trajectory_text"]

#: Groups whose small levels are left out of the site report with their patients: the sites, the
#: groups this report is organised by. Causes and severities are covariates here (case mix), masked
#: where they are shown (Table 1's cells) as every other covariate level, not left out: leaving them
#: out too would cascade (a site shrinks when its few ALS patients go) and empty a real cohort.
SITE_GROUPS: tuple[str, ...] = ("site",)
#: Case-mix model of the expected recoveries (patient characteristics only).
CASE_MIX = "severity + age + diabetes + smoking"
#: Fixed effects of the three-level gait-speed model (as the trajectories report).
GAIT_FORMULA = "time * (cause + severity) + age_c + diabetes + current_smoker + fes"


def load_site_cohort(cohort_path: str, causes: list[str] | None = None) -> Any:
    """Load the cohort, restricted to ``causes``, without any **site** of 1 to threshold patients (left out with their patients before any analysis). Call after
    :func:`~footdrop_outcomes.report.notebook.setup`; the title page then names what was left out."""
    from footdrop_outcomes.cohort.cohort import load_cohort
    from footdrop_outcomes.release import release_cohort
    from footdrop_outcomes.report import notebook as nbh
    from footdrop_outcomes.report.analysis import restrict_causes

    released = release_cohort(restrict_causes(load_cohort(cohort_path), causes or []), get_policy(), by=SITE_GROUPS)
    nbh._state["released"] = released  # the title page's "left out" sentence
    return released.cohort


@dataclass(frozen=True)
class SiteAnalysis:
    """Everything the site report shows, computed once.

    Attributes
    ----------
    cohort : Cohort
        The patients analysed (no site of threshold or fewer patients).
    sites : dict
        Site code -> patients.
    comparison : SiteComparison or None
        Observed vs expected recoveries (None when it could not be computed: ``choices["errors"]``).
    adherence : SiteAdherence or None
        Observed vs expected adherence.
    trajectory : TrajectoryResult or None
        Three-level gait-speed model (visits in patients in sites).
    choices : dict
        ``formula``, ``strata``, ``overdispersion``, ``n_draws``, ``seed``, ``alpha``, ``errors``
        (analysis -> error class name) and ``warnings`` (analysis -> messages of the fit).
    """

    cohort: Any
    sites: dict[str, int]
    comparison: Any
    adherence: Any
    trajectory: Any
    choices: dict[str, Any] = field(default_factory=dict)


def analyse_sites(cohort: Any, *, formula: str = CASE_MIX, strata: str | None = "cause", overdispersion: str = "additive",
                  n_draws: int = 2000, seed: int = 0, threshold: int = 4, alpha: float = 0.05) -> SiteAnalysis:
    """Run the site comparison, adherence by site and the three-level gait model on ``cohort``.

    An analysis the data cannot support (fewer than 3 sites, a horizon with no expected recovery,
    a model that fails) is recorded in ``choices["errors"]`` by its error class and said in words
    in the report; the others still run.
    """
    from footdrop_outcomes.sites.comparison import adherence_by_site, compare_sites
    from footdrop_outcomes.trajectories import fit_trajectory

    policy = get_policy()
    sites = cohort.patients["site"].astype(str).value_counts().sort_index()
    errors: dict[str, str] = {}
    caught: dict[str, list[str]] = {}
    comparison = adherence = trajectory = None
    try:
        comparison = compare_sites(cohort, formula=formula, strata=strata, overdispersion=overdispersion,  # type: ignore[arg-type]
                                   policy=policy, n_draws=n_draws, seed=seed, threshold=threshold)
    except FootdropError as e:
        errors["comparison"] = type(e).__name__
    try:
        adherence = adherence_by_site(cohort, policy=policy)
    except FootdropError as e:
        errors["adherence"] = type(e).__name__
    try:
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            trajectory = fit_trajectory(cohort, "gait_speed", GAIT_FORMULA, site_col="site", site_random="intercept", alpha=alpha)
        caught["trajectory"] = list(dict.fromkeys(type(w.message).__name__ for w in ws))
    except FootdropError as e:
        errors["trajectory"] = type(e).__name__
    choices = {"formula": formula, "strata": strata, "overdispersion": overdispersion, "n_draws": n_draws, "seed": seed,
               "alpha": alpha, "threshold": threshold, "errors": errors, "warnings": caught}
    return SiteAnalysis(cohort=cohort, sites={str(k): int(v) for k, v in sites.items()}, comparison=comparison,
                        adherence=adherence, trajectory=trajectory, choices=choices)


def _fixed(s: str) -> ReleasedText:
    """Method text whose numbers are not derived from the data (levels, years, model notation)."""
    return text(s, [])


def _n(sa: SiteAnalysis) -> int:
    return int(sum(sa.sites.values()))


def sites_text(sa: SiteAnalysis) -> ReleasedText:
    """Which sites are compared and how many patients each has."""
    parts = ", ".join(f"{s} ({show_count(n)})" for s, n in sa.sites.items())
    return text(f"The report compares {len(sa.sites)} sites; patients per site: {parts}.", list(sa.sites.values()))


def release_rule_text() -> ReleasedText:
    """The release rule, in words."""
    t = get_policy().threshold
    return text(f"**Release rule.** A site of {t} or fewer patients is left out of the whole report with its patients, "
                "before any analysis, so that its size cannot be worked out from totals; the title page says whether any "
                f"was, without naming it. A count from 1 to {t} is shown as ≤{t}; an observed count that small also hides "
                "its site's ratio, flag and rank, and its funnel point is not drawn. The number of patients of a site is "
                "given once (Table 1); an analysis that uses fewer of them (for example those with home-exercise records) "
                "does not print its own number, so no difference of two counts can be read off. Figures draw only sites "
                "above the threshold.", [])


def case_mix_table(sa: SiteAnalysis) -> ReleasedTable:
    """Table 1 by site (cohort/table1.py), released with complementary suppression."""
    from footdrop_outcomes.cohort.table1 import table_one

    # patient characteristics (the case mix); treatments are the sites' practice, not case mix
    covs = [c for c in ("age", "sex", "cause", "severity", "diabetes", "smoking", "bmi", "days_to_treatment")
            if c in sa.cohort.patients.columns]
    return table_one(sa.cohort, by="site", covariates=covs, overall=True).released(get_policy())


def _no_result(what: str, sa: SiteAnalysis, key: str) -> ReleasedText:
    reason = {"FootdropError": "the data do not support it (fewer than three sites above the threshold, or no recovery "
                               "expected by a horizon)"}.get(sa.choices["errors"].get(key, ""), "the model could not be fitted")
    return static(f"*{what}: not shown.* {reason[0].upper() + reason[1:]}.")


def oe_table(sa: SiteAnalysis, horizon: str) -> ReleasedTable | ReleasedText:
    """Observed vs expected recoveries by ``horizon`` ("12 weeks", "end of follow-up") per site:
    O, E, O/E, 95% and 99.8% limits, flag. Masked as :meth:`SiteComparison.released`."""
    if sa.comparison is None:
        return _no_result("Observed vs expected recoveries", sa, "comparison")
    s = sa.comparison.summary
    s = s[s["horizon"] == horizon].reset_index(drop=True)
    out = pd.DataFrame({
        "Site": s["site"].astype(str),
        "Observed (O)": [show_count(o) for o in s["observed"]],
        "Expected (E)": [f"{e:.1f}" for e in s["expected"]],
        "O/E": [f"{r:.2f}" for r in s["ratio"]],
        "95% limits": [f"{a:.2f}-{b:.2f}" for a, b in zip(s["lower_95"], s["upper_95"], strict=True)],
        "99.8% limits": [f"{a:.2f}-{b:.2f}" for a, b in zip(s["lower_998"], s["upper_998"], strict=True)],
        "Outside limits": [f"{f998} 99.8%" if f998 else (f"{f95} 95%" if f95 else "no") for f95, f998 in zip(s["flag_95"], s["flag_998"], strict=True)],
    })
    obs = s["observed"].to_numpy()
    n = s["n"].to_numpy()
    support = pd.DataFrame({c: n for c in out.columns})
    for c in ("Observed (O)", "O/E", "Outside limits"):
        support[c] = np.where(obs == 0, n, obs)
    return table(out, support, keep=["Site"])


def dispersion_text(sa: SiteAnalysis) -> ReleasedText:
    """The over-dispersion found and how the limits handle it (Spiegelhalter 2005)."""
    if sa.comparison is None:
        return _no_result("Over-dispersion", sa, "comparison")
    d = sa.comparison.dispersion
    how = {"additive": "the limits add the between-site variance tau² (DerSimonian-Laird on winsorised z-scores)",
           "multiplicative": "the limits are widened by the square root of phi when phi is above 1",
           "none": "the limits are the plain Poisson limits (no allowance for over-dispersion)"}[sa.choices["overdispersion"]]
    parts = "; ".join(f"by {r.horizon}: phi = {r.phi:.2f}, tau² = {r.tau2:.4f}" for r in d.itertuples())
    return text(f"**Over-dispersion.** Spiegelhalter's phi (mean squared winsorised z-score; 1 when sites differ only by "
                f"chance) and the additive between-site variance on the square-root scale: {parts}. In the funnel plots {how}.",
                list(sa.sites.values()))


def funnel_figure(sa: SiteAnalysis) -> ReleasedFigure | ReleasedText:
    """Funnel plots of O/E against E at both horizons, 95% and 99.8% limits."""
    if sa.comparison is None:
        return _no_result("Funnel plots", sa, "comparison")
    import matplotlib.pyplot as plt

    n_h = sa.comparison.summary["horizon"].nunique()
    fig, axes = plt.subplots(1, n_h, figsize=(7.2, 3.4), squeeze=False)  # the page's width
    sa.comparison.plot(ax=axes.ravel())
    for ax in axes.ravel():
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return figure(fig, dict(sa.sites))


def rank_table(sa: SiteAnalysis) -> ReleasedTable | ReleasedText:
    """Each site's rank (1 = most recoveries for its case mix) with its 95% interval, per horizon,
    in site order (not a league table)."""
    if sa.comparison is None:
        return _no_result("Ranks", sa, "comparison")
    s = sa.comparison.summary
    horizons = list(dict.fromkeys(s["horizon"]))
    wide = {h: s[s["horizon"] == h].set_index("site") for h in horizons}
    site_list = list(wide[horizons[0]].index)
    out = pd.DataFrame({"Site": site_list})
    support = pd.DataFrame({"Site": [sa.sites[x] for x in site_list]})
    for h in horizons:
        w = wide[h].loc[site_list]
        out[f"Rank by {h} (95% interval)"] = [f"{r} ({a} to {b})" for r, a, b in zip(w["rank"], w["rank_lower"], w["rank_upper"], strict=True)]
        obs = w["observed"].to_numpy()
        support[f"Rank by {h} (95% interval)"] = np.where(obs == 0, w["n"].to_numpy(), obs)
    return table(out, support, keep=["Site"])


def rank_figure(sa: SiteAnalysis) -> ReleasedFigure | ReleasedText:
    """Rank intervals per site and horizon, sites in code order (a site whose observed count is 1 to threshold is not drawn)."""
    import matplotlib.pyplot as plt

    if sa.comparison is None:
        return _no_result("Rank intervals", sa, "comparison")
    s = sa.comparison.summary
    policy = get_policy()
    horizons = list(dict.fromkeys(s["horizon"]))
    site_list = sorted(sa.sites)
    fig, axes = plt.subplots(1, len(horizons), figsize=(7.2, 0.3 * len(site_list) + 1.4), squeeze=False, sharey=True)
    for ax, h in zip(axes.ravel(), horizons, strict=True):
        w = s[s["horizon"] == h].set_index("site").reindex(site_list)
        y = np.arange(len(site_list))
        show = ~w["observed"].map(policy.is_small).to_numpy()
        ax.errorbar(w["rank"].to_numpy()[show], y[show],
                    xerr=[(w["rank"] - w["rank_lower"]).to_numpy()[show], (w["rank_upper"] - w["rank"]).to_numpy()[show]],
                    fmt="o", color="black", capsize=3)
        ax.set_yticks(y, site_list)
        ax.set_xlim(0.5, len(site_list) + 0.5)
        ax.set_xlabel("rank (1 = most recoveries\nfor the case mix)", fontsize=8)
        ax.set_title(f"recovery by {h}", fontsize=9)
    axes[0, 0].invert_yaxis()  # once: the axes share y, and a second call would undo it (first site at the top)
    fig.tight_layout()
    return figure(fig, dict(sa.sites))


def adherence_table(sa: SiteAnalysis) -> ReleasedTable | ReleasedText:
    """Observed vs expected adherence per site: shares and O - E (95% CI), flag. The number of
    patients with home-exercise records is not printed (Table 1 gives the site's patients; the
    difference of the two would be a count); a site mean of 1 to threshold patients is masked."""
    if sa.adherence is None:
        return _no_result("Adherence by site", sa, "adherence")
    s = sa.adherence.summary
    out = pd.DataFrame({
        "Site": s["site"].astype(str),
        "Observed": [f"{100 * v:.1f}%" for v in s["observed"]],
        "Expected": [f"{100 * v:.1f}%" for v in s["expected"]],
        "O - E, points (95% CI)": [f"{100 * d:+.1f} ({100 * a:+.1f} to {100 * b:+.1f})"
                                   for d, a, b in zip(s["difference"], s["lower"], s["upper"], strict=True)],
        "Outside limits": [f"{f998} 99.8%" if f998 else (f"{f95} 95%" if f95 else "no")
                           for f95, f998 in zip(s["flag_95"], s["flag_998"], strict=True)],
    })
    return table(out, s["n"].to_numpy(), keep=["Site"])


def adherence_figure(sa: SiteAnalysis) -> ReleasedFigure | ReleasedText:
    """Funnel plot of observed minus expected adherence (points) against the site's patients (as in
    Table 1), with 95% and 99.8% limits drawn from the residual SD at that number of patients (the
    flags use each site's own number of patients with records)."""
    import matplotlib.pyplot as plt
    from scipy import stats

    if sa.adherence is None:
        return _no_result("Adherence funnel plot", sa, "adherence")
    s = sa.adherence.summary
    size = np.array([sa.sites[x] for x in s["site"]], dtype=float)
    sd = float(sa.adherence.info["residual_sd"])
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    grid = np.linspace(max(2.0, 0.8 * size.min()), 1.1 * size.max(), 200)
    for level, style in ((0.95, "--"), (0.998, ":")):
        zc = float(stats.norm.ppf(0.5 + level / 2))
        ax.plot(grid, 100 * zc * sd / np.sqrt(grid), style, color="grey", label=f"{100 * level:g}% limits")
        ax.plot(grid, -100 * zc * sd / np.sqrt(grid), style, color="grey")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.scatter(size, 100 * s["difference"], color="black", zorder=3)
    for x, y, label in zip(size, 100 * s["difference"], s["site"], strict=True):
        ax.annotate(str(label), (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set_xlabel("patients at the site")
    ax.set_ylabel("observed - expected adherence (points)")
    ax.set_title("adherence to home exercise")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return figure(fig, {x: sa.sites[x] for x in s["site"]})


def trajectory_table(sa: SiteAnalysis) -> ReleasedTable | ReleasedText:
    """Variance components of the three-level gait-speed model (site SD first) with their CIs."""
    if sa.trajectory is None:
        return _no_result("Three-level gait-speed model", sa, "trajectory")
    level = round(100 * (1 - sa.choices["alpha"]))
    names = {"sd_site_intercept": "SD of site intercepts (m/s)", "sd_intercept": "SD of patient intercepts (m/s)",
             "sd_slope": "SD of patient slopes (m/s per log week)", "corr_intercept_slope": "Correlation of patient intercept and slope",
             "sd_residual": "Residual SD (m/s)", "icc_site": "Between-site share of variance at onset",
             "icc": "Between-patient share of variance at onset"}
    vc = sa.trajectory.variance_components.set_index("component")
    rows = [c for c in names if c in vc.index]

    def cell(c: str) -> str:
        r = vc.loc[c]
        if np.isfinite(r["lower"]) and np.isfinite(r["upper"]):
            return f"{r['estimate']:.3f} ({r['lower']:.3f} to {r['upper']:.3f})"
        return f"{r['estimate']:.3f}"
    out = pd.DataFrame({"Component": [names[c] for c in rows], f"Estimate ({level}% CI)": [cell(c) for c in rows]})
    return table(out, _n(sa), keep=["Component"])


def trajectory_text(sa: SiteAnalysis) -> ReleasedText:
    """The three-level model in words, with its site SD."""
    if sa.trajectory is None:
        return _no_result("Three-level gait-speed model", sa, "trajectory")
    vc = sa.trajectory.variance_components.set_index("component")
    sd = float(vc.loc["sd_site_intercept", "estimate"])
    share = float(vc.loc["icc_site", "estimate"]) if "icc_site" in vc.index else float("nan")
    warned = sa.choices["warnings"].get("trajectory") or []
    note = (" The fit gave a warning (" + ", ".join(warned) + "): read the site SD with care (a boundary fit means the data "
            "show no clear site variation).") if warned else ""
    return text(f"Gait speed was modelled over log(1 + weeks since onset) with visits within patients within sites "
                f"(random patient intercept and slope, random site intercept; REML; fixed effects {GAIT_FORMULA.replace('*', '×')}). "
                f"Sites differ in gait speed at onset by an SD of {sd:.3f} m/s after case mix, "
                f"{100 * share:.1f}% of the variance at onset.{note}", _n(sa))


def methods_text(sa: SiteAnalysis) -> list[ReleasedText]:
    """The methods, one paragraph each."""
    strata = sa.choices["strata"]
    draws = sa.choices["n_draws"]
    return [
        _fixed("**Expected recoveries (indirect standardisation).** A Cox model of the time to recovery (first visit with "
               "dorsiflexion at the recovery grade) on patient characteristics only (" + ", ".join(t.strip() for t in sa.choices["formula"].split("+"))
               + (f"; baseline hazard by {strata}" if strata else "") + ") is fitted on all sites together, without any "
               "site term and without treatments (a site's practice is what is compared). A site's expected recoveries E "
               "are the sum over its patients of the model's cumulative hazard up to the horizon or the end of their "
               "follow-up; O is the number observed. O/E above one: more recoveries than the case mix predicts."),
        _fixed("**Funnel plots.** O/E against E with control limits at 95% and 99.8% on the square-root scale "
               "(Spiegelhalter 2005), allowing for each site being part of its own reference. Over-dispersion is "
               "estimated from winsorised z-scores; the chosen handling is stated with the plots."),
        text(f"**Ranks with uncertainty.** Each site's ratio is drawn {draws:,} times from its posterior (Jeffreys, plus "
             "the between-site variance when additive over-dispersion is used) and ranked in every draw; the table gives the "
             "rank and its 95% interval. Overlapping intervals mean the data cannot order those sites: this is not a "
             "league table.", []),
        _fixed("**Adherence.** Each patient's share of prescribed home-exercise sessions completed; the expected share of a "
               "site is the mean of a linear case-mix model (cause, severity, age, diabetes, smoking; no site term) over its "
               "patients; the difference O - E has the standard error of a site mean from the pooled within-site residual SD."),
        _fixed("**Three-level trajectories.** Gait speed over log(1 + weeks), visits within patients within sites "
               "(lme4's (1 + lw | patient) + (1 | site)), REML; the site SD is the between-site variation after case mix."),
    ]
