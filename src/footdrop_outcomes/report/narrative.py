"""Report prose written from the analysis: key findings, methods and limitations.

Each sentence states what was actually done and found in this run (counts, choices, test
verdicts), so the text cannot drift from the numbers. Every sentence leaves as a
:class:`~footdrop_outcomes.release.ReleasedText` with the patients behind its numbers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.report.analysis import CAUSE_SHORT, EXPECTED_WINDOWS, RecoveryAnalysis, term_label
from footdrop_outcomes.release import ReleasedText, term_support
from footdrop_outcomes.report.counts import HIDDEN, count_percent, get_policy, get_threshold, group_sizes, is_small, show_count, text
from footdrop_outcomes.report.tables import fmt_ci, fmt_p

__all__ = ["cohort_description", "key_findings", "methods_text", "limitations_text", "expected_window_text", "expected_window_intro",
           "small_cell_text", "executive_summary", "models_intro", "REFERENCES", "cite", "references_text", "section_references",
           "GLOSSARY", "glossary_text"]


def _is_imported(cohort: Cohort) -> bool:
    meta = cohort.metadata
    gen = meta.get("generator", {}) or {}
    return "source_sha256" in meta or str(gen.get("name", "")).endswith("import_cohort")


def _is_simulated(cohort: Cohort) -> bool:
    """A synthetic cohort (truth, or a simulator's metadata); an imported extract never is."""
    return not _is_imported(cohort) and (cohort.truth is not None or bool(cohort.metadata.get("generator")))


def cohort_origin(cohort: Cohort) -> str:
    """Where the data come from, in words: an imported extract (date, mapping, source checksums)
    or a simulated cohort (generator, version, seed)."""
    meta = cohort.metadata
    gen = meta.get("generator", {}) or {}
    if _is_imported(cohort):
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
    """For each expected window of a cause analysed: the share of all its patients recovered by the
    window's end and its median time to recovery, both from the Turnbull curves (all patients,
    including those who never recover: the one median per group of the report), beside the window."""
    out: list[ReleasedText] = []
    tb = analysis.results.get("turnbull_cause")
    if tb is None:
        return out
    s = tb.summary.assign(group=tb.summary["group"].astype(str))
    level = round(100 * (1 - analysis.choices["alpha"]))
    for (cause, sev), (lo, hi, words) in EXPECTED_WINDOWS.items():
        g = s[s["group"] == cause]
        if g.empty:
            continue
        n_c = int(g["n"].iloc[0])
        window = f"the expected window of {words}" + (f" for {sev} cases" if sev is not None else "")
        at = g[(g["statistic"] == "recovered_by") & (g["time"] <= hi)].tail(1)
        parts = []
        if not at.empty:
            share = _share(at.iloc[0], level)
            if share is not None:
                parts.append(f"{share} of all {_bare(cause)} patients" + (" (all severities)" if sev is not None else "")
                             + f" had recovered by week {at['time'].iloc[0]:g}, the end of {window}")
        med = g[g["statistic"] == "median"]
        if not med.empty:
            m = _median_words(med.iloc[0], level)
            parts.append(f"median time to recovery of all {_bare(cause)} patients {m}")
        if parts:
            out.append(text(f"{CAUSE_SHORT[cause]}: " + "; ".join(parts) + ".", n_c, replacement=""))
    return out


def expected_window_intro(analysis: RecoveryAnalysis) -> ReleasedText:
    """The sentence that opens the time-to-recovery section: the expected windows of the causes
    analysed (none named for a cause that is not in the data)."""
    present = set(analysis.frame["cause"].astype(str))
    windows = [f"{words} {'for ' + sev + ' ' + _bare(c) if sev else _with(c)}" for (c, sev), (_, _, words) in EXPECTED_WINDOWS.items()
               if c in present]
    head = ("How many patients recover, and how many are expected never to recover (mixture cure model), by cause. Medians "
            "and the share recovered by each week follow below, from the recovery curves.")
    tail = (f" Expected recovery windows from the clinical literature: {_and(windows)}." if windows
            else " No cause analysed here has an expected recovery window in this report.")
    return text(head + tail, [])


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


#: Causes as they read inside a sentence, with their preposition ("after stroke").
_WITH: dict[str, str] = {
    "peroneal_compression": "with peroneal compression", "lumbar_radiculopathy": "with L5 radiculopathy", "stroke": "after stroke",
    "multiple_sclerosis": "with multiple sclerosis", "als": "with ALS", "peripheral_neuropathy": "with neuropathy",
    "post_surgical_hip_knee": "after hip or knee surgery", "post_surgical_spine": "after spine surgery",
}
_BARE: dict[str, str] = {
    "peroneal_compression": "peroneal compression", "lumbar_radiculopathy": "L5 radiculopathy", "stroke": "stroke",
    "multiple_sclerosis": "multiple sclerosis", "als": "ALS", "peripheral_neuropathy": "neuropathy",
    "post_surgical_hip_knee": "hip or knee surgery", "post_surgical_spine": "spine surgery",
}


def _with(group: str, var: str = "cause") -> str:
    if var == "severity":
        return f"with {group} weakness at onset"
    return _WITH.get(group, f"with {group.replace('_', ' ')}")


def _bare(group: str, var: str = "cause") -> str:
    if var == "severity":
        return f"{group} weakness at onset"
    return _BARE.get(group, group.replace("_", " "))


def _and(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``.

    >>> _and(["a"]), _and(["a", "b", "c"])
    ('a', 'a, b and c')
    """
    items = [x for x in items if x]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def _ok(x: Any) -> bool:
    return x is not None and bool(np.isfinite(x))


def _share(r: Any, level: int, *, first: bool = True) -> str | None:
    """A Turnbull share recovered as the data identify it, in words (None when not identified)."""
    how = str(r.get("identification", "point"))
    if how in ("not identifiable", "not reached") or not _ok(r["estimate"]):
        return None
    core = f"{100 * r['estimate']:.0f}%"
    if how == "set" and _ok(r.get("set_lower")) and _ok(r.get("set_upper")) and f"{100 * r['set_lower']:.0f}" != f"{100 * r['set_upper']:.0f}":
        core = f"{100 * r['set_lower']:.0f}-{100 * r['set_upper']:.0f}%"
    if _ok(r["lower"]) and _ok(r["upper"]):
        core += f" ({level}% CI {100 * r['lower']:.0f}-{100 * r['upper']:.0f}%)" if first else f" ({100 * r['lower']:.0f}-{100 * r['upper']:.0f}%)"
    return core


def _median_words(r: Any, level: int) -> str:
    """A Turnbull median in words: weeks with CI, a range the visits leave open, or why not."""
    how = str(r.get("identification", "point"))
    if how == "not identifiable" or (how != "not reached" and not _ok(r["estimate"])):
        return "not identifiable from the visit schedule"
    if how == "not reached":
        return "not reached (fewer than half recovered during follow-up)"
    core = f"{r['estimate']:.1f} weeks"
    if how == "set" and _ok(r.get("set_lower")) and _ok(r.get("set_upper")) and f"{r['set_lower']:.1f}" != f"{r['set_upper']:.1f}":
        return f"not identifiable from the visit schedule (somewhere between {r['set_lower']:.1f} and {r['set_upper']:.1f} weeks)"
    up = f"{r['upper']:.1f}" if _ok(r["upper"]) else "not reached"
    return core + (f" ({level}% CI {r['lower']:.1f} to {up})" if _ok(r["lower"]) else "")


def _level(term: Any, var: str) -> str:
    """The level of a main-effect term: ``cause[stroke]`` -> ``stroke`` (also ``cause[T.stroke]``)."""
    return str(term)[len(var) + 1:-1].removeprefix("T.")


def _reference_and_terms(summary: pd.DataFrame, frame: pd.DataFrame, var: str) -> tuple[str | None, pd.DataFrame]:
    """The reference level of factor ``var`` in a fitted model (the level of the data without a
    term) and the model's rows for the other levels."""
    rows = summary[summary["term"].astype(str).str.fullmatch(rf"{re.escape(var)}\[[^\]]+\]")]  # main effects only
    if rows.empty or var not in frame.columns:
        return None, rows
    levels = [str(x) for x in frame[var].astype(str).unique()]
    termed = {_level(t, var) for t in rows["term"]}
    ref = [lv for lv in levels if lv not in termed]
    return (ref[0] if len(ref) == 1 else None), rows


def _comparisons(analysis: RecoveryAnalysis, *, vars: tuple[str, ...] = ("cause", "severity")) -> list[ReleasedText]:
    """Which groups recover faster or slower than the reference, with CIs: Cox hazard ratios, or
    the AFT time ratios when the Cox model could not be fitted. Levels of threshold or fewer
    patients are left out of the sentence; a small reference group withholds it."""
    frame = analysis.model_frame
    level = round(100 * (1 - analysis.choices["alpha"]))
    if analysis.cox is not None:
        s, est, lo, hi, what, model = analysis.cox.summary, "hr", "hr_lower", "hr_upper", "hazard ratio", "Cox model"
    elif analysis.aft is not None:
        s, est, lo, hi, what, model = analysis.aft.summary, "time_ratio", "tr_lower", "tr_upper", "time ratio", "AFT model"
    else:
        return []
    out = []
    first = True
    for var in vars:
        ref, rows = _reference_and_terms(s, frame, var)
        if ref is None:
            continue
        n_ref = int((frame[var].astype(str) == ref).sum())
        groups: dict[str, list[str]] = {"slower": [], "faster": [], "no clear difference": []}
        support = [n_ref]
        for _, r in rows.iterrows():
            lv = _level(r["term"], var)
            n_lv = term_support(str(r["term"]), frame)
            if is_small(n_lv) or not (_ok(r[est]) and _ok(r[lo]) and _ok(r[hi])):
                continue
            support.append(n_lv)
            faster = r[lo] > 1 if what == "hazard ratio" else r[hi] < 1
            slower = r[hi] < 1 if what == "hazard ratio" else r[lo] > 1
            key = "faster" if faster else "slower" if slower else "no clear difference"
            e_, l_, h_ = (fmt_ci(r[k], r[k], r[k]).split(" ")[0] for k in (est, lo, hi))  # '<0.01', never '0.00'
            ci = f"{what} {e_}, {level}% CI {l_}-{h_}" if first else f"{e_}, {l_}-{h_}"
            first = False
            groups[key].append(f"{_with(lv, var)} ({ci})")
        if len(support) < 2:
            continue
        clauses = [f"recovery was {k} {_and(v)}" if k != "no clear difference" else f"there was no clear difference {_and(v)}"
                   for k, v in groups.items() if v]
        adjusted = "adjusted for the other terms of the " + model if len(s) > len(rows) else model
        out.append(text(f"Compared with {_bare(ref, var)}, {'; '.join(clauses)} ({adjusted}).", support, replacement=""))
    return out


def _not_estimated(analysis: RecoveryAnalysis) -> ReleasedText | None:
    """One sentence: what could not be estimated on these data, and why."""
    items, support = [], [len(analysis.frame)]
    for fit in analysis.attempts.values():
        if not fit.ok:
            items.append(f"the {fit.model[0].lower() + fit.model[1:]} could not be fitted because {fit.reason}")
        elif fit.fell_back:
            items.append(f"the {fit.model[0].lower() + fit.model[1:]} as requested could not be fitted because {fit.reason}, so the "
                         f"simpler {fit.fitted} is shown")
    for c in analysis.choices["excluded_causes"]:
        items.append(f"no recovery was seen {_with(c)}, so it has no hazard or time ratio")
    tb = analysis.results.get("turnbull_cause")
    if tb is not None:
        m = tb.summary[tb.summary["statistic"] == "median"]
        unid = [str(g) for g, how, e in zip(m["group"], m["identification"], m["estimate"])
                if str(how) == "not identifiable" or (str(how) not in ("not reached",) and not _ok(e))]
        reached = [str(g) for g, how in zip(m["group"], m["identification"]) if str(how) == "not reached"]
        sizes = dict(zip(m["group"].astype(str), m["n"].astype(int)))
        if unid:
            items.append(f"the visit schedule does not pin down the median time to recovery {_and([_with(g) for g in unid])}")
            support += [sizes[g] for g in unid]
        if reached:
            items.append(f"fewer than half of the patients {_and([_with(g) for g in reached])} recovered during follow-up, so their "
                         "median is not reached")
            support += [sizes[g] for g in reached]
    if not items:
        return None
    head = "Could not be estimated from these data: " if len(items) > 1 else ""
    body = "; ".join(items)
    return text(head + (body[0].upper() + body[1:] if not head else body) + ".", support, replacement="")


def executive_summary(analysis: RecoveryAnalysis, cohort: Cohort, *, adherence: Any = None, short: bool = False) -> list[ReleasedText]:
    """The executive summary: a few plain sentences that interpret this run's results.

    Who was analysed; the share of each cause's patients recovered by week 12 (the landmark
    nearest to it) and by the last landmark (Turnbull, all patients); which groups recover faster
    or slower than the reference with CIs (Cox, else AFT); the one median per cause (Turnbull,
    all patients); what could not be estimated and why; and, given the adherence analysis
    (:func:`footdrop_outcomes.report.adherence_section.analyse_adherence`), its headline. No new
    statistic: every number comes from ``analysis`` (and ``adherence``) and leaves through release
    control with the patients behind it; a sentence about a group of threshold or fewer patients
    is withheld (show with :func:`footdrop_outcomes.report.notebook.paragraph`, which leaves
    withheld sentences out). ``short``: who, one landmark, the first comparison (causes, else severity), what was
    not estimated.

    Returns
    -------
    list of ReleasedText
        Four to eight sentences (fewer when the data support fewer statements).
    """
    f = analysis.frame
    ch = analysis.choices
    level = round(100 * (1 - ch["alpha"]))
    n = len(f)
    causes = [c for c in CAUSE_SHORT if c in set(f["cause"].astype(str))]
    p = cohort.patients
    sites = p["site"].astype(str).nunique()
    fu = float(np.median(p["followup_days"].to_numpy(dtype=float) / 7.0)) if len(p) else float("nan")
    out = [text(f"This report analyses {show_count(n)} patients with foot drop "
                + (f"({_and([_bare(c) for c in causes])}) " if len(causes) > 1 else f"{_with(causes[0])} " if causes else "")
                + f"from {sites} site{'s' if sites != 1 else ''}, followed for a median of {fu:.0f} weeks; a patient counts as "
                f"recovered at the first visit with dorsiflexion strength MRC grade {ch['threshold']} or more.", n)]
    tb = analysis.results.get("turnbull_cause")
    lms = [float(x) for x in ch["landmarks"]]
    if tb is not None and lms:
        s = tb.summary.assign(group=tb.summary["group"].astype(str))
        early = min(lms, key=lambda x: (abs(x - 12.0), x))
        weeks = [early] if short else list(dict.fromkeys([early, max(lms)]))
        for i, week in enumerate(weeks):
            parts, support = [], []
            for c in causes:
                r = s[(s["group"] == c) & (s["statistic"] == "recovered_by") & (s["time"] == week)]
                if r.empty:
                    continue
                share = _share(r.iloc[0], level, first=not parts)
                if share is None:
                    continue
                parts.append(f"{share} {_with(c)}" if len(causes) > 1 else f"{share} of patients {_with(c)}")
                support.append(int(r["n"].iloc[0]))
            if parts:
                end = " (the last week reported)" if i and week == max(lms) else ""
                lead = f"By week {week:g}{end}, " + ("the share of patients recovered was " if len(causes) > 1 else "")
                out.append(text(lead + _and(parts) + (" had recovered" if len(causes) == 1 else "") + ".", support, replacement=""))
    compared = _comparisons(analysis)
    out.extend(compared[:1] if short else compared)
    if tb is not None and not short:
        m = tb.summary[tb.summary["statistic"] == "median"]
        shown = [(str(g), _median_words(r, level), int(r["n"])) for (g, r) in zip(m["group"], m.to_dict("records"))
                 if not str(_median_words(r, level)).startswith(("not identifiable", "not reached"))]
        if shown:
            out.append(text("Median time to recovery of all patients, counting those who never recover as not recovered: "
                            + "; ".join(f"{w} {_with(g)}" for g, w, _ in shown) + ".", [k for _, _, k in shown], replacement=""))
    missing = _not_estimated(analysis)
    if missing is not None:
        out.append(missing)
    if adherence is not None and not short:
        from footdrop_outcomes.report.adherence_section import key_findings as adherence_findings

        head = [x for x in adherence_findings(adherence) if x and not x.withheld and str(x).startswith("Patients completed")]
        out.extend(head[:1])
    return out[:8]


def models_intro(analysis: RecoveryAnalysis) -> ReleasedText:
    """How to read the model section, with this run's reference groups (from the fitted model, so
    never a group that was not analysed)."""
    frame = analysis.model_frame
    summary = (analysis.cox.summary if analysis.cox is not None else analysis.aft.summary if analysis.aft is not None else None)
    refs = []
    for var in ("cause", "severity"):
        ref = _reference_and_terms(summary, frame, var)[0] if summary is not None else None
        if ref is not None:
            refs.append(_bare(ref, var))
    ref_words = (f" Reference groups: {_and(refs)}." if refs else "")
    dropped = [t for t in analysis.choices["dropped_terms"] if t in ("cause", "severity")]
    if dropped:
        ref_words += " " + " ".join(f"{t.capitalize()} is not in the models: one {t} analysed." for t in dropped)
    return text(f"Hazard ratios above 1 mean faster recovery (Cox model {cite('cox')}); time ratios above 1 mean slower recovery "
                f"(interval-censored AFT model {cite('aft')}).{ref_words}", [])


#: The methods' references, numbered in the order the outcome report's methods name them (the
#: recovery methods first, so the time-to-recovery report's list is the start of the same list).
REFERENCES: dict[str, str] = {
    "km": "Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. J Am Stat Assoc. 1958;53(282):457-481.",
    "turnbull": "Turnbull BW. The empirical distribution function with arbitrarily grouped, censored and truncated data. "
                "J R Stat Soc Series B. 1976;38(3):290-295.",
    "logrank": "Mantel N. Evaluation of survival data and two new rank order statistics arising in its consideration. "
               "Cancer Chemother Rep. 1966;50(3):163-170.",
    "cox": "Cox DR. Regression models and life-tables. J R Stat Soc Series B. 1972;34(2):187-220.",
    "efron": "Efron B. The efficiency of Cox's likelihood function for censored data. J Am Stat Assoc. 1977;72(359):557-565.",
    "robust": "Lin DY, Wei LJ. The robust inference for the Cox proportional hazards model. J Am Stat Assoc. 1989;84(408):1074-1078.",
    "zph": "Grambsch PM, Therneau TM. Proportional hazards tests and diagnostics based on weighted residuals. Biometrika. "
           "1994;81(3):515-526.",
    "aft": "Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data. 2nd ed. Hoboken: Wiley; 2002.",
    "cure": "Farewell VT. The use of mixture models for the analysis of survival data with long-term survivors. Biometrics. "
            "1982;38(4):1041-1046.",
    "aalen_johansen": "Aalen OO, Johansen S. An empirical transition matrix for non-homogeneous Markov chains based on censored "
                      "observations. Scand J Stat. 1978;5(3):141-150.",
    "mixed": "Laird NM, Ware JH. Random-effects models for longitudinal data. Biometrics. 1982;38(4):963-974.",
    "mcid": "Perera S, Mody SH, Woodman RC, Studenski SA. Meaningful change and responsiveness in common physical performance "
            "measures in older adults. J Am Geriatr Soc. 2006;54(5):743-749.",
    "gee": "Liang KY, Zeger SL. Longitudinal data analysis using generalized linear models. Biometrika. 1986;73(1):13-22.",
    "propensity": "Rosenbaum PR, Rubin DB. The central role of the propensity score in observational studies for causal effects. "
                  "Biometrika. 1983;70(1):41-55.",
    "iptw": "Austin PC, Stuart EA. Moving towards best practice when using inverse probability of treatment weighting (IPTW) using "
            "the propensity score to estimate causal treatment effects in observational studies. Stat Med. 2015;34(28):3661-3679.",
    "ipcw": "Robins JM, Finkelstein DM. Correcting for noncompliance and dependent censoring in an AIDS clinical trial with inverse "
            "probability of censoring weighted (IPCW) log-rank tests. Biometrics. 2000;56(3):779-788.",
}
_RECOVERY_REFS = ("km", "turnbull", "logrank", "cox", "efron", "robust", "zph", "aft", "cure", "aalen_johansen")


def cite(*keys: str) -> str:
    """The citation marks of :data:`REFERENCES` entries, e.g. ``[4, 5]``.

    >>> cite("cox", "efron")
    '[4, 5]'
    """
    order = list(REFERENCES)
    unknown = [k for k in keys if k not in REFERENCES]
    if unknown:
        raise KeyError(f"no reference {unknown[0]!r}; known: {', '.join(order)}")
    return "[" + ", ".join(str(order.index(k) + 1) for k in keys) + "]"


def section_references(section: str) -> ReleasedText:
    """The references of a section whose methods text is written elsewhere (``"trajectories"`` or
    ``"adherence"``), as one line that cites them."""
    lines = {
        "trajectories": f"References: linear mixed models {cite('mixed')}; minimal clinically important gain in gait speed {cite('mcid')}.",
        "adherence": (f"References: population-averaged models (GEE) {cite('gee')}; propensity score {cite('propensity')} and inverse "
                      f"probability of treatment weighting with balance checks {cite('iptw')}; inverse probability of censoring "
                      f"weighting {cite('ipcw')}; Cox {cite('cox')} and mixture cure models {cite('cure')}."),
    }
    if section not in lines:
        raise KeyError(f"no references for section {section!r}; sections: {', '.join(lines)}")
    return text(lines[section], [])


def references_text(*, recovery_only: bool = False) -> ReleasedText:
    """The numbered reference list (Markdown); ``recovery_only`` stops after the recovery methods
    (the time-to-recovery report), which keeps the same numbers."""
    keys = list(REFERENCES)[:len(_RECOVERY_REFS)] if recovery_only else list(REFERENCES)
    return text("\n".join(f"{i}. {REFERENCES[k]}" for i, k in enumerate(keys, start=1)), [])


#: Terms a reader meets in the reports, in plain words (no number derived from data).
GLOSSARY: dict[str, str] = {
    "AFO (ankle-foot orthosis)": "a brace that holds the foot up while walking.",
    "AFT model (accelerated failure time)": "a model of how much longer or shorter recovery takes; its time ratio of 2 means "
                                            "recovery takes twice as long.",
    "Censoring": "a patient's recovery time is not known exactly: not yet recovered at the last visit (right-censored), "
                 "recovered some time between two visits (interval-censored), or already recovered at the first visit.",
    "Competing event": "an event, such as death, after which recovery can no longer happen; the share recovered is then "
                       "estimated with it taken into account (cumulative incidence).",
    "Confidence interval (CI)": "the range of values compatible with the data; a 95% interval would contain the true value "
                                "in 95 of 100 repeated studies. Wide intervals mean few patients or few recoveries.",
    "Cure fraction (expected never to recover)": "the share of patients whom the mixture cure model expects never to reach "
                                                 "the recovery threshold, however long they are followed.",
    "FES (functional electrical stimulation)": "a device that stimulates the nerve to lift the foot during walking.",
    "GEE (generalised estimating equations)": "a model of a population average (here the weekly share of exercise "
                                              "sessions done) that allows for repeated weeks of the same patient.",
    "Hazard ratio (HR)": "how fast one group recovers compared with a reference group at any time: above 1 faster, below 1 "
                         "slower; 0.5 means recovering at half the rate.",
    "ICC (intra-class correlation)": "the share of the variation between measurements that is due to differences between "
                                     "patients rather than from visit to visit.",
    "IPTW, IPCW (inverse probability weighting)": "weighting patients so that groups that received different care, or "
                                                  "patients who stopped being followed, are compared fairly.",
    "Kaplan-Meier estimate": "the share of patients recovered over time, dating each recovery at the visit that sees it.",
    "MCID (minimal clinically important difference)": "the smallest gain that patients notice; for gait speed usually "
                                                      "0.1 metres per second.",
    "Median time to recovery": "the week by which half of all patients of a group have recovered, counting patients who "
                               "never recover as not recovered; 'not reached' when fewer than half recover during follow-up, "
                               "'not identifiable' when the visit schedule does not show when the half was passed.",
    "Mixture cure model": "a model that separates who ever recovers from how fast those who recover do so.",
    "MRC grade": "the Medical Research Council scale of muscle strength, from 0 (no movement) to 5 (normal strength); "
                 "here of lifting the foot (dorsiflexion).",
    "p-value": "how surprising the data would be if there were no difference; small values (below 0.05) are evidence of a "
               "difference, not of its size.",
    "Proportional hazards": "the assumption of the Cox model that a hazard ratio stays the same over follow-up; it is tested.",
    "Small-cell protection": "every count of patients from 1 to 10 (the threshold of the report) is shown as '≤10', and "
                             "groups that small are left out, so that no patient can be recognised.",
    "Turnbull estimate": "the share of patients recovered over time, using that recovery happened somewhere between two "
                         "visits (interval-censored), without assuming a shape for the curve.",
}


def glossary_text() -> ReleasedText:
    """The glossary as Markdown bullets (term in bold, then its meaning); the small-cell threshold
    is the report's."""
    t = get_threshold()
    items = [(k, v.replace("from 1 to 10", f"from 1 to {t}").replace("'≤10'", f"'≤{t}'")) for k, v in sorted(GLOSSARY.items(), key=lambda kv: kv[0].lower())]
    return text("\n".join(f"- **{k}**: {v}" for k, v in items), [])



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
        f"**Recovery curves.** Turnbull's nonparametric maximum-likelihood estimate {cite('turnbull')} uses each patient's visit "
        f"interval as it is; Kaplan-Meier curves {cite('km')} date recovery at the visit that sees it. Medians and the share "
        "recovered by each landmark describe all patients of a group (those who never recover count as not recovered); where the "
        f"visit schedule leaves a share undetermined within a range, the range is given with an interval covering all of it; a "
        "median the visits leave anywhere within a range is reported as not identifiable, with that range and no confidence "
        f"interval (a median is given as a number only where the visits pin it down); intervals are pointwise {level}% "
        f"intervals; groups are compared by the log-rank test {cite('logrank')} (with a trend test across severity).",
        "**Which patients each table describes.** One median per group: every median time to recovery in this report is the "
        "Turnbull median of *all* patients of the group, including those who never recover (the column says \"all patients\"); "
        "no median among recoverers only is shown. The recovery-by-cause table describes all patients of each cause (recovery seen "
        "at a visit) and the cure model's share expected never to recover; the recovery-curve tables describe all patients of each "
        "group shown; the Kaplan-Meier tables give shares only (dated at the visit, so lower), and the cumulative incidence table "
        "the share recovered with death as a competing event; the model tables describe the patients modelled"
        + (f" (all but {excluded})." if excluded else "."),
    ]
    if cox is not None:
        glob = cox.ph_test[cox.ph_test["term"] == "GLOBAL"].iloc[0]
        violated = [term_label(t) for t, p in zip(cox.ph_test["term"], cox.ph_test["p"]) if t != "GLOBAL" and p < ch["alpha"]]
        se = cox.info.get("se", "model-based")
        parts.append(
            f"**Cox model** {cite('cox')} ({fits['cox'].fitted}): recovery dated at the first visit where it is seen (a right-censored "
            f"approximation that makes recovery look later than it is), Efron ties {cite('efron')}, standard errors {se}"
            + (f" {cite('robust')}" if "model-based" not in str(se) else "") + f"; {show_count(cox.info['events'])} recoveries. "
            f"Proportional hazards were checked by the score test {cite('zph')} of R's cox.zph (Kaplan-Meier time transform): "
            f'<span class="fd-keep">global chi-square {glob["chisq"]:.1f} on {int(glob["df"])} df</span>, p {fmt_p(glob["p"])} - {glob["verdict"]}'
            + (f"; terms with evidence against PH: {', '.join(violated)}." if violated else "."))
    if fits["cox"].sentence():
        parts.append(fits["cox"].sentence(bold=True))
    if aft is not None:
        parts.append(f"**Interval-censored AFT model** {cite('aft')} ({aft.info['formula']}, {aft.distribution}): uses the visit intervals directly by "
                     f"maximum likelihood; log-likelihood {aft.log_likelihood:.1f}, AIC {aft.aic:.1f}. A time ratio above 1 means slower "
                     "recovery.")
    else:
        parts.append(fits["aft"].sentence(bold=True))
    if cure is not None:
        parts.append(f"**Mixture cure model** {cite('cure')} (incidence and latency: {ch['cure_formula']}, {cure.distribution} latency): "
                     "separates who ever recovers (logistic) from when (AFT), because many patients with some causes never recover and a "
                     "single survival curve cannot reach zero. The report shows its share expected never to recover and its odds and time "
                     "ratios, not its medians among recoverers (one median per group: the Turnbull one). The latency distribution at the end of "
                     f"follow-up (week {cure.info['max_followup']:g}) is {cure.info['latency_survival_at_end']:.3f}, so follow-up is "
                     "long enough to tell the two apart.")
    else:
        parts.append(f"{fits['cure'].sentence(bold=True)} The share recovered by each week (Turnbull) is shown instead.")
    parts.append(f"**Cumulative incidence** of recovery by cause with death as a competing event (Aalen-Johansen {cite('aalen_johansen')}), at weeks "
                 f"{', '.join(f'{x:g}' for x in ch['landmarks'])}; {show_count(deaths)} patients died before recovery was seen.")
    versions = next((r.info["versions"] for r in (cox, aft, cure) if r is not None and "versions" in r.info), {})
    software = ", ".join(f"{name} {versions[key]}" for key, name in (("footdrop_outcomes", "footdrop-outcomes"), ("lifelines", "lifelines"),
                                                                      ("numpy", "numpy"), ("scipy", "scipy"), ("pandas", "pandas"))
                         if versions.get(key))
    parts.append(f"All intervals are {level}% confidence intervals." + (f" Software: {software}." if software else ""))
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
    if _is_simulated(cohort):
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
