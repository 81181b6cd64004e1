"""Report prose written from the analysis: key findings, methods and limitations.

Each sentence states what was actually done and found in this run (counts, choices, test
verdicts), so the text cannot drift from the numbers. Every sentence leaves as a
:class:`~footdrop_outcomes.release.ReleasedText` with the patients behind its numbers.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.report.analysis import CAUSE_SHORT, EXPECTED_WINDOWS, RecoveryAnalysis, term_label
from footdrop_outcomes.release import ReleasedText
from footdrop_outcomes.report.counts import HIDDEN, count_percent, get_policy, get_threshold, group_sizes, show_count, text
from footdrop_outcomes.report.tables import fmt_p

__all__ = ["cohort_description", "key_findings", "methods_text", "limitations_text", "expected_window_text", "small_cell_text"]


def cohort_origin(cohort: Cohort) -> str:
    """Where the data come from, in words: an imported extract (date, mapping, source checksums)
    or a simulated cohort (generator, version, seed)."""
    meta = cohort.metadata
    gen = meta.get("generator", {}) or {}
    if "source_sha256" in meta or str(gen.get("name", "")).endswith("import_cohort"):
        mapping = meta.get("mapping", {}) or {}
        desc = str(mapping.get("description", "")).strip()
        src = Path(str(mapping.get("source", ""))).name
        sums = ", ".join(f"{k} {str(v)[:12]}" for k, v in sorted((meta.get("source_sha256") or {}).items()))
        return ("De-identified cohort imported" + (f" on {meta['imported_on']}" if meta.get("imported_on") else "")
                + f" by footdrop-outcomes {gen.get('package_version', '?')}"
                + (f" with the mapping {src}" if src else "") + (f" ({desc})" if desc else "")
                + (f"; source files SHA-256 (first 12 digits): {sums}" if sums else ""))
    if cohort.truth is not None or gen:
        version = meta.get("generator_version", gen.get("version"))
        return (f"Synthetic cohort simulated by {gen.get('name', 'the footdrop-outcomes simulator')}"
                + (f", generator version {version}" if version is not None else "")
                + (f", seed {meta['seed']}" if meta.get("seed") is not None else ""))
    return f"De-identified cohort ({cohort.source})" if cohort.source else "De-identified cohort"


def cohort_description(cohort: Cohort) -> str:
    """One sentence: what the cohort is (its origin, see :func:`cohort_origin`) and its size."""
    n = cohort.n_patients
    causes = cohort.patients["cause"].astype(str).nunique()
    sites = cohort.patients["site"].astype(str).nunique()
    meta = cohort.metadata
    extra = f", restricted to {', '.join(CAUSE_SHORT.get(c, c) for c in meta['restricted_to_causes'])}" if meta.get("restricted_to_causes") else ""
    return (f"{cohort_origin(cohort)}{extra}: {show_count(n)} patients with foot drop from {causes} cause{'s' if causes != 1 else ''} "
            f"at {sites} site{'s' if sites != 1 else ''}, {show_count(len(cohort.visits))} strength and gait visits and "
            f"{show_count(len(cohort.adherence))} weeks of home-exercise records.")


def expected_window_text(analysis: RecoveryAnalysis) -> list[ReleasedText]:
    """For each expected window: the model's median among recoverers and the share recovered by the
    window's end, beside the window."""
    out = []
    f = analysis.model_frame
    if f.empty:
        return out
    if analysis.cure is None:  # the cure model could not be fitted: its section says why
        return out
    by = ["cause", "severity"]
    meds = analysis.cure.recovery_medians(by=by)
    meds = meds.assign(cause=meds["cause"].astype(str), severity=meds["severity"].astype(str))
    meds_c = analysis.cure.recovery_medians(by=["cause"]).assign(cause=lambda d: d["cause"].astype(str)).set_index("cause")
    turnbull = analysis.results.get("turnbull_cause")
    cause_n = f["cause"].astype(str).value_counts()
    cell_n = f.groupby([f["cause"].astype(str), f["severity"].astype(str)]).size()
    for (cause, sev), (lo, hi, words) in EXPECTED_WINDOWS.items():
        if sev is None:
            if cause not in meds_c.index:
                continue
            r = meds_c.loc[cause]
            who = CAUSE_SHORT[cause]
        else:
            sel = meds[(meds["cause"] == cause) & (meds["severity"] == sev)]
            if sel.empty:
                continue
            r = sel.iloc[0]
            who = f"{CAUSE_SHORT[cause]} ({sev})"
        inside = "inside" if lo <= r["median"] <= hi else ("before" if r["median"] < lo else "after")
        line = (f"{who}: median time to recovery among those who recover {r['median']:.1f} weeks "
                f"({r['lower']:.1f}-{r['upper']:.1f}), {inside} the expected window of {words}")
        # the share recovered by the window's end: the Turnbull estimate, as in the curve tables
        # (the competing-risks CIF dates recovery at the visit that sees it, so it is lower)
        tb = turnbull.summary if turnbull is not None else None
        at = (tb[(tb["group"].astype(str) == cause) & (tb["statistic"] == "recovered_by") & (tb["time"] <= hi)].tail(1)
              if tb is not None else None)
        if at is not None and not at.empty and at["n"].iloc[0] > get_threshold():
            r2 = at.iloc[0]
            line += (f"; {100 * r2['estimate']:.0f}% ({100 * r2['lower']:.0f}-{100 * r2['upper']:.0f}) of all "
                     f"{CAUSE_SHORT[cause]} patients had recovered by week {r2['time']:g}")
        support = [int(cause_n.get(cause, 0))] + ([] if sev is None else [int(cell_n.get((cause, sev), 0))])
        out.append(text(line + ".", support, replacement=""))
    return out


def key_findings(analysis: RecoveryAnalysis) -> list[ReleasedText]:
    """Bullet sentences with the headline numbers."""
    f = analysis.frame
    mf = analysis.model_frame
    cause_n = mf["cause"].astype(str).value_counts()
    out = [text(f"Recovery (MRC >= {analysis.choices['threshold']}) was seen at a visit in {count_percent(int(f['event'].sum()), len(f))} "
                "patients.", len(f))]
    cure = (analysis.cure.cure_fractions(by=["cause"]).assign(cause=lambda d: d["cause"].astype(str))
            if analysis.cure is not None else pd.DataFrame(columns=["cause", "cure_fraction"]))
    if len(cure) == 1:  # one cause analysed: a share, not a range
        r = cure.iloc[0]
        out.append(text(f"The share of {CAUSE_SHORT[r['cause']]} patients expected never to recover was {100 * r['cure_fraction']:.0f}%.",
                        int(cause_n.get(r["cause"], 0)), replacement=""))
    elif len(cure) > 1:
        lo, hi = cure.loc[cure["cure_fraction"].idxmin()], cure.loc[cure["cure_fraction"].idxmax()]
        out.append(text(f"The share expected never to recover ranged from {100 * lo['cure_fraction']:.0f}% "
                        f"({CAUSE_SHORT[lo['cause']]}) to {100 * hi['cure_fraction']:.0f}% ({CAUSE_SHORT[hi['cause']]}).",
                        [int(cause_n.get(lo["cause"], 0)), int(cause_n.get(hi["cause"], 0))], replacement=""))
    s = analysis.cox.summary if analysis.cox is not None else pd.DataFrame(columns=["term"])
    sev = s[s["term"] == "severity[severe]"]
    if not sev.empty:
        r = sev.iloc[0]
        sev_n = mf["severity"].astype(str).value_counts()
        out.append(text(f"Severe weakness at onset: hazard ratio of recovery {r['hr']:.2f} ({r['hr_lower']:.2f}-{r['hr_upper']:.2f}) "
                        f"against mild, after adjusting for the other terms.", [int(sev_n.get("severe", 0)), int(sev_n.get("mild", 0))],
                        replacement=""))
    out.extend(expected_window_text(analysis))
    for fit in analysis.attempts.values():  # a model the data could not support is said, not hidden
        if fit.sentence():
            out.append(text(fit.sentence(), len(mf)))
    sizes = group_sizes(f["cause"])  # the same protected cause sizes as the tables
    for c in analysis.choices["excluded_causes"]:
        n_c = int((f["cause"].astype(str) == c).sum())
        out.append(text(f"No recovery was seen in {CAUSE_SHORT[c]} ({sizes.text(c, 'n')} patients); it is left out of the regression "
                        "models.", n_c, replacement=""))
    return out


def small_cell_text() -> ReleasedText:
    """The small-cell protection applied, and what it does not cover."""
    t = get_threshold()
    stamp = get_policy().stamp
    internal = (f" This report was made for internal use with a threshold below the minimum for release and is stamped "
                f"'{stamp}'." if stamp else "")
    return text(f"Small cells: causes and severity groups of {t} or fewer patients are left out of the whole report before any "
                f"analysis, so no curve, median, share or model estimate of such a group is shown; other groups (interventions, "
                f"orthosis types, covariate levels, sites) stay in the analysis, and any table cell, model term or figure group behind "
                f"which stand {t} or fewer patients is masked or not drawn; every count of patients from 1 to {t} is shown as ≤{t} "
                f"(without a percentage); breakdowns are protected with their totals, so cells that would let a hidden count be "
                f"worked out are also hidden ({HIDDEN}); numbers at risk under the curves are rounded to 5. Patients per cause are "
                f"hidden the same way in every table; other breakdowns are protected table by table.{internal}", [])


def methods_text(analysis: RecoveryAnalysis) -> ReleasedText:
    """Markdown: outcome definition, censoring handling, models and their checks, as run; a model
    the data could not support is named with the plain-words reason."""
    ch = analysis.choices
    cox, aft, cure = analysis.cox, analysis.aft, analysis.cure
    fits = analysis.attempts
    level = round(100 * (1 - ch["alpha"]))
    excluded = ", ".join(CAUSE_SHORT[c] for c in ch["excluded_causes"])
    cs = analysis.cif.summary
    deaths = int(cs[cs["kind"] == "death"].drop_duplicates("group")["events"].sum())
    parts = [
        f"**Outcome.** Recovery is the first visit with dorsiflexion strength MRC >= {ch['threshold']}. Strength is measured only at "
        "visits, so the recovery time is interval-censored"
        + (f": of the {show_count(aft.info['n'])} patients modelled, {show_count(aft.info['n_interval'])} recovered between two visits, "
           f"{show_count(aft.info['n_left'])} were already recovered at their first visit (left-censored) and "
           f"{show_count(aft.info['n_right'])} were not seen recovered (right-censored at their last visit)." if aft is not None else "."),
        f"**Patients modelled.** {show_count(len(analysis.model_frame))} of {show_count(len(analysis.frame))} patients"
        + (f"; left out of the regression models because no patient recovered: {excluded}." if excluded else "; no cause was left out."),
        "**Recovery curves.** Turnbull's nonparametric maximum-likelihood estimate uses each patient's visit interval as it is; "
        "Kaplan-Meier curves date recovery at the visit that sees it. Medians and the share recovered by each landmark describe all "
        "patients of a group (those who never recover count as not recovered); where the visit schedule leaves a median or share "
        f"undetermined within a range, the range is given; intervals are pointwise {level}% intervals; groups are compared by the "
        "log-rank test (with a trend test across severity).",
    ]
    if cox is not None:
        glob = cox.ph_test[cox.ph_test["term"] == "GLOBAL"].iloc[0]
        violated = [term_label(t) for t, p in zip(cox.ph_test["term"], cox.ph_test["p"]) if t != "GLOBAL" and p < ch["alpha"]]
        se = cox.info.get("se", "model-based")
        parts.append(
            f"**Cox model** ({fits['cox'].fitted}): recovery dated at the first visit where it is seen (a right-censored approximation "
            f"that makes recovery look later than it is), Efron ties, standard errors {se}; {show_count(cox.info['events'])} recoveries. "
            f"Proportional hazards were checked by the score test of R's cox.zph (Kaplan-Meier time transform): global chi-square "
            f"{glob['chisq']:.1f} on {int(glob['df'])} df, p {fmt_p(glob['p'])} - {glob['verdict']}"
            + (f"; terms with evidence against PH: {', '.join(violated)}." if violated else "."))
    if fits["cox"].sentence():
        parts.append(fits["cox"].sentence(bold=True))
    if aft is not None:
        parts.append(f"**Interval-censored AFT model** ({aft.info['formula']}, {aft.distribution}): uses the visit intervals directly by "
                     f"maximum likelihood; log-likelihood {aft.log_likelihood:.1f}, AIC {aft.aic:.1f}. A time ratio above 1 means slower "
                     "recovery.")
    else:
        parts.append(fits["aft"].sentence(bold=True))
    if cure is not None:
        parts.append(f"**Mixture cure model** (incidence and latency: {ch['cure_formula']}, {cure.distribution} latency): separates who "
                     "ever recovers (logistic) from when (AFT), because many patients with some causes never recover and a single survival "
                     f"curve cannot reach zero; its medians describe only the patients who recover. The latency distribution at the end of "
                     f"follow-up (week {cure.info['max_followup']:g}) is {cure.info['latency_survival_at_end']:.3f}, so follow-up is "
                     "long enough to tell the two apart.")
    else:
        parts.append(f"{fits['cure'].sentence(bold=True)} The share recovered by each week (Turnbull) is shown instead.")
    parts.append(f"**Cumulative incidence** of recovery by cause with death as a competing event (Aalen-Johansen), at weeks "
                 f"{', '.join(f'{x:g}' for x in ch['landmarks'])}; {show_count(deaths)} patients died before recovery was seen.")
    versions = next((r.info["versions"] for r in (cox, aft, cure) if r is not None and "versions" in r.info), {})
    parts.append(f"All intervals are {level}% confidence intervals. Software: footdrop-outcomes {versions.get('footdrop_outcomes', '')}, "
                 f"lifelines {versions.get('lifelines', '')}, pandas {versions.get('pandas', '')}.")
    if ch["dropped_terms"]:
        parts.append(f"Terms dropped because they do not vary in the patients analysed: {', '.join(ch['dropped_terms'])}.")
    return text("\n\n".join(parts), len(analysis.frame))


def limitations_text(analysis: RecoveryAnalysis, cohort: Cohort, *, extra: list[ReleasedText] | None = None,
                     pending: str | None = None) -> ReleasedText:
    """Markdown bullets: what the numbers cannot say, from this run's checks; ``extra`` adds the
    limitations of other sections (trajectories, adherence), ``pending`` names analyses not in
    this report."""
    ch = analysis.choices
    p = cohort.patients
    n = len(p)
    dropout = int((p["followup_end"].astype(str) == "dropout").sum())
    out = []
    if analysis.cox is not None:
        glob = analysis.cox.ph_test[analysis.cox.ph_test["term"] == "GLOBAL"].iloc[0]
        if glob["p"] < ch["alpha"]:
            out.append("The proportional-hazards assumption is rejected globally (p " + fmt_p(glob["p"]) + "), so each Cox hazard ratio is "
                       "an average over follow-up; the AFT and cure-model estimates do not rely on proportional hazards.")
        else:
            out.append("The proportional-hazards test found no evidence against the assumption (global p " + fmt_p(glob["p"]) + ").")
    out.extend(f"{fit.model} not shown: {fit.reason}." for fit in analysis.attempts.values() if not fit.ok)
    out.append("The Cox model and the cumulative incidence date recovery at the visit that sees it, so they place recovery later "
               "than it happened; the interval-censored models do not.")
    out.append(f"{count_percent(dropout, n)} patients dropped out; their censoring is assumed unrelated to their chance of recovery.")
    if ch["excluded_causes"]:
        out.append("Causes without any recovery (" + ", ".join(CAUSE_SHORT[c] for c in ch["excluded_causes"]) + ") have no hazard or time ratio.")
    if cohort.truth is not None or "generator" in cohort.metadata:
        out.append("The data are simulated: the numbers show what the methods recover, not clinical results.")
    out.extend(str(x) for x in (extra or []) if x)
    for by, groups in ch.get("small_groups_not_drawn", {}).items():
        if groups:
            out.append(f"Groups of {get_threshold()} or fewer patients are left out of the recovery curves by {by} and their tables "
                       f"and log-rank test: {', '.join(CAUSE_SHORT.get(g, g) for g in groups)}.")
    out.append(small_cell_text())
    if pending:
        out.append(pending)
    return text("\n".join(f"- {x}" for x in out), n)
