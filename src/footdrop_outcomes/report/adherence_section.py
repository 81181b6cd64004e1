"""The adherence and interventions section: analyses through the adherence layer's public API,
tables, figures and prose from the run.

* adherence by intervention (:func:`footdrop_outcomes.adherence.adherence_metrics`) and its mean
  weekly course over the programme;
* discontinuation of home exercise by supervised physiotherapy
  (:func:`~footdrop_outcomes.adherence.discontinuation`, Kaplan-Meier and Cox);
* supervised physiotherapy vs none, adjusted by inverse probability of treatment weighting
  (:func:`~footdrop_outcomes.adherence.fit_propensity`, :func:`~footdrop_outcomes.adherence.weighted_comparison`),
  with the balance before and after weighting (love plot);
* adherence and recovery: the naive and time-varying Cox models of
  :func:`~footdrop_outcomes.adherence.adherence_effect`, and the interval-censored mixture cure
  model with time-varying cumulative adherence
  (:func:`footdrop_outcomes.survival.fit_time_varying_cure`, called directly: the adherence
  layer does not wrap it).

An analysis that cannot be fitted on the cohort (e.g. too few patients) is reported as such with
the reason; nothing is filled in.

**Registry scale.** The adherence metrics (table and weekly curves) use every patient; the models
(discontinuation, propensity and weighted comparison, adherence and recovery, weekly trend,
intention to treat vs per protocol) are fitted on a simple random sample of
``REGISTRY_SAMPLE_SIZES["adherence"]`` patients when the cohort has more than ``REGISTRY_THRESHOLD``
(:func:`~footdrop_outcomes.report.analysis.section_sample`: seeded, recorded in
``choices["sample"]``, said in one sentence of the methods). Above ``METRICS_CHUNK`` patients the
result keeps the weekly curves the figure draws, not the per-patient-week table behind them.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes.report.analysis import CAUSE_SHORT, section_sample, term_label
from footdrop_outcomes.release import ReleasedFigure, ReleasedTable, ReleasedText, term_support
from footdrop_outcomes.report.degrade import DATA_FAILURES, plain_reason, plain_warning
from footdrop_outcomes.report.counts import count_percent, figure, get_threshold, is_small, protect, show_count, table, text
from footdrop_outcomes.report.tables import fmt_ci, fmt_p

__all__ = ["AdherenceAnalysis", "analyse_adherence", "adherence_table", "adherence_figure", "discontinuation_figure",
           "discontinuation_table", "comparison_table", "love_plot", "recovery_effect_table", "key_findings", "methods_text",
           "limitations", "GROUP_LABELS", "trend_table", "trend_figure", "itt_table", "unavailable", "effect_text"]

GROUP_LABELS = {
    "home_exercise": "Home exercise", "supervised_physio": "Supervised physiotherapy", "afo_carbon": "AFO, carbon",
    "afo_rigid": "AFO, rigid", "afo_hinged": "AFO, hinged", "afo_posterior_leaf": "AFO, posterior leaf", "fes": "FES",
    "surgery_decompression": "Surgery: decompression", "surgery_nerve_repair_graft": "Surgery: nerve repair/graft",
    "surgery_tendon_transfer": "Surgery: tendon transfer",
}
DISCONTINUATION_FORMULA = "supervised_physio + severity + smoking"
TV_CURE_FORMULA = "cause + severity"


def _ordinal(x: float) -> str:
    """1 -> 1st, 99 -> 99th, 2.5 -> 2.5th."""
    if float(x).is_integer():
        n = int(x)
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"
    return f"{x:g}th"


def _label(group: str) -> str:
    return GROUP_LABELS.get(group, group.replace("_", " ").capitalize())


@dataclass(frozen=True)
class AdherenceAnalysis:
    """Results of the adherence section; an entry of ``failed`` (name -> reason) replaces a result
    that could not be fitted. ``metrics`` (every patient) keeps no per-week table: ``weekly_curves``
    holds the mean weekly course by intervention it gave (:meth:`AdherenceMetrics.curves`, every
    programme week). ``patients`` are the patients the models were fitted on (the registry sample,
    ``choices["sample"]``, or every patient)."""

    metrics: Any
    discontinuation: Any | None
    propensity: Any | None
    comparison: Any | None
    effect: Any | None
    tv_cure: Any | None
    trend: Any | None = None
    itt: Any | None = None
    choices: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    patients: pd.DataFrame | None = None
    weekly_curves: pd.DataFrame | None = None


def _pats(aa: AdherenceAnalysis) -> pd.DataFrame:
    """The patients analysed (one row each): the groups behind every estimate."""
    if aa.patients is None:
        return pd.DataFrame({"patient_id": aa.metrics.per_patient.index})
    return aa.patients


def _sizes(aa: AdherenceAnalysis, column: str) -> dict[str, int]:
    p = _pats(aa)
    return {str(k): int(v) for k, v in p[column].astype(str).value_counts().items()} if column in p.columns else {}


def _terms_support(terms: Any, aa: AdherenceAnalysis) -> list[int]:
    p = _pats(aa)
    return [min(term_support(x, p) for x in str(t).split(":") if x) for t in terms]


def _attempt(name: str, fn: Any, failed: dict[str, str], warned: dict[str, list[str]]) -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn()
        except (*DATA_FAILURES, ValueError) as e:  # the data cannot support it: said in plain words in the section
            failed[name] = plain_reason(e)
            out = None
    msgs = list(dict.fromkeys(str(w.message) for w in caught if not issubclass(w.category, (DeprecationWarning, FutureWarning))))
    if msgs:
        warned[name] = msgs
    return out


def analyse_adherence(cohort: Any, *, threshold: int = 4, alpha: float = 0.05,
                      propensity_formula: str = "C(cause) + C(severity) + age + diabetes") -> AdherenceAnalysis:
    """Run every analysis of the section on ``cohort``.

    When the report is rendered by :func:`~footdrop_outcomes.report.render.render_report`, a worker
    process may already have computed this analysis from the same cohort and arguments while the
    kernel ran the others; its result is used then (:mod:`footdrop_outcomes.report.prefetch`: only
    for the same package version, release policy, arguments and cohort content).
    """
    from footdrop_outcomes.report import prefetch

    arguments = {"threshold": threshold, "alpha": alpha, "propensity_formula": propensity_formula}
    found, result = prefetch.take("adherence", cohort, arguments)
    if found:
        return result
    return _analyse_adherence(cohort, **arguments)


def _analyse_adherence(cohort: Any, *, threshold: int, alpha: float, propensity_formula: str) -> AdherenceAnalysis:
    from footdrop_outcomes.adherence import adherence_effect, discontinuation, fit_propensity, weighted_comparison
    failed: dict[str, str] = {}
    warned: dict[str, list[str]] = {}
    metrics, curves = _metrics(cohort)  # descriptive: every patient
    sample = section_sample(cohort, "adherence")
    full, cohort = cohort, sample.cohort  # the models: the registry sample (every patient in a smaller cohort)
    disc = _attempt("discontinuation", lambda: discontinuation(cohort, group="supervised_physio", formula=DISCONTINUATION_FORMULA),
                    failed, warned)
    ps = _attempt("propensity", lambda: fit_propensity(cohort, "supervised_physio", propensity_formula), failed, warned)
    wc = _attempt("comparison", lambda: weighted_comparison(ps, alpha=alpha), failed, warned) if ps is not None else None
    eff = _attempt("effect", lambda: adherence_effect(cohort, outcome="observed", alpha=alpha), failed, warned)
    from footdrop_outcomes.adherence import adherence_trend, itt_per_protocol

    trend = _attempt("trend", lambda: adherence_trend(cohort, group="supervised_physio", alpha=alpha), failed, warned)
    itt = _attempt("itt", lambda: itt_per_protocol(cohort, device="afo", outcome="observed", alpha=alpha), failed, warned)

    cure_name = "interval-censored cure: cumulative (tv)"
    if eff is not None and cure_name in getattr(eff, "fits", {}):
        # the adherence layer fits the visit-interval cure model itself (recommended on visit data)
        tvc = eff.fits[cure_name]
        excluded = ["als"]
        formula = None
    else:
        tvc, excluded, formula = _direct_tv_cure(cohort, threshold, alpha, failed, warned)
    truth = None
    cohort = full  # the simulated truth and the treatment clocks of the whole cohort
    if cohort.truth is not None:
        try:
            truth = float(cohort.truth.value("recovery_latency", "cumulative_adherence_per_10pct", "log_hazard_ratio"))
        except Exception:  # a cohort without this truth entry
            truth = None
    # generator v2: the adherence effect acts only on patients not operated on (decompression, nerve repair: recovery timed
    # from surgery, no adherence effect); a model over both clocks has no true value (adherence_effect's truth_note)
    truth_targeted = truth is not None and not (
        cohort.truth is not None and "treatment_clock" in cohort.truth.patients.columns
        and bool((cohort.truth.patients["treatment_clock"] == "surgery").any()))
    choices = {"threshold": threshold, "alpha": alpha, "propensity_formula": propensity_formula, "tv_formula": formula,
               "tv_excluded_causes": excluded, "warnings": warned, "truth_log_hr_per_10": truth, "truth_targeted": truth_targeted,
               "tv_from_adherence_effect": formula is None,
               "synthetic": cohort.truth is not None or "generator" in cohort.metadata, "sample": sample.record}
    return AdherenceAnalysis(metrics=metrics, discontinuation=disc, propensity=ps, comparison=wc, effect=eff, tv_cure=tvc,
                             trend=trend, itt=itt, choices=choices, failed=failed, patients=sample.cohort.patients.copy(),
                             weekly_curves=curves)


#: Patients per chunk of the descriptive adherence metrics of a larger cohort (:func:`_metrics`).
METRICS_CHUNK = 100_000


def _metrics(cohort: Any) -> tuple[Any, pd.DataFrame]:
    """:func:`~footdrop_outcomes.adherence.adherence_metrics` of every patient without its per-week table, and the
    weekly curves (:meth:`AdherenceMetrics.curves`, every programme week) it gives.

    A cohort of more than :data:`METRICS_CHUNK` patients is done in chunks of patients (taken in the order of
    their ids, as ``adherence_metrics`` orders them): the per-patient-week table of a registry (tens of millions
    of rows, several GB) never exists whole. Each patient's metrics use only that patient's weeks, so the
    per-patient table is the same; the group summary is formed from it as ``adherence_metrics`` forms it, and
    the curves from per-chunk sums (equal to rounding).
    """
    import dataclasses

    from footdrop_outcomes.adherence import adherence_metrics
    from footdrop_outcomes.adherence.metrics import group_summary

    if cohort.n_patients <= METRICS_CHUNK:
        m = adherence_metrics(cohort)
        last = int(m.weekly["program_week"].max()) + 1 if len(m.weekly) else 0
        return m, m.curves(max_week=last)  # the per-week table kept (curves(), plot()); dropped only in chunks below
    pats, adh = cohort.patients, cohort.adherence
    order = np.argsort(np.asarray(pats["patient_id"].astype(str), dtype=object), kind="stable")
    chunk_of = np.empty(len(pats), dtype=np.int64)
    chunk_of[order] = np.arange(len(pats)) // METRICS_CHUNK
    # each adherence row's chunk, through its patient's row (category codes: no string per row)
    pid, aid = pats["patient_id"], adh["patient_id"]
    if (isinstance(pid.dtype, pd.CategoricalDtype) and isinstance(aid.dtype, pd.CategoricalDtype)
            and pid.cat.categories.equals(aid.cat.categories) and pid.notna().all()):
        row_of_code = np.full(len(pid.cat.categories) + 1, -1, dtype=np.int64)  # last slot: a missing id (code -1)
        row_of_code[pid.cat.codes.to_numpy()] = np.arange(len(pid))
        pos = row_of_code[aid.cat.codes.to_numpy()]
    else:
        pos = pd.Index(pid.astype(str)).get_indexer(aid.astype(str))
    row_chunk = np.where(pos >= 0, chunk_of[np.maximum(pos, 0)], -1)
    if (pos < 0).any():  # weeks of a patient not in the patients table: adherence_metrics says so
        m = adherence_metrics(cohort)
        return dataclasses.replace(m, weekly=m.weekly.iloc[0:0]), m.curves(max_week=int(m.weekly["program_week"].max()) + 1)
    per, members, sums, counts = [], [], [], {}
    for k in range(int(chunk_of.max()) + 1):
        m = adherence_metrics(adh.iloc[np.flatnonzero(row_chunk == k)], pats.iloc[np.flatnonzero(chunk_of == k)])
        if k == 0:
            first = m
        per.append(m.per_patient)
        members.append(m.membership)
        w = m.weekly[["patient_id", "program_week", "weekly_share"]].dropna().merge(m.membership, on="patient_id")
        w["sq"] = w["weekly_share"] ** 2
        sums.append(w.groupby(["group", "program_week"], observed=True)[["weekly_share", "sq"]].agg(["sum", "size"]))
        for key, value in m.info["rules"].items():  # rows each rule touched: summed over the chunks
            if isinstance(value, int) and not isinstance(value, bool):
                counts[key] = counts.get(key, 0) + value
        del m, w
    per_patient = pd.concat(per, ignore_index=True)
    membership = pd.concat(members, ignore_index=True)
    # the group summary as adherence_metrics forms it (by intervention)
    long = per_patient.merge(membership, on="patient_id", how="inner")
    labels = [c[5:] for c in first.summary.columns if c.startswith("cat: ")]
    summary = group_summary(long, labels).reindex(columns=first.summary.columns)
    info = {**first.info, "n": len(per_patient), "groups": len(summary), "rules": {**first.info["rules"], **counts}}
    metrics = dataclasses.replace(first, summary=summary, info=info, per_patient=per_patient, weekly=first.weekly.iloc[0:0],
                                  membership=membership)
    tot = pd.concat(sums).groupby(level=[0, 1]).sum()
    n = tot[("weekly_share", "size")].to_numpy(dtype=float)
    s1, s2 = tot[("weekly_share", "sum")].to_numpy(), tot[("sq", "sum")].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        sd = np.sqrt(np.maximum(s2 - n * mean ** 2, 0.0) / (n - 1))
    curves = pd.DataFrame({"group": tot.index.get_level_values(0), "program_week": tot.index.get_level_values(1), "mean": mean,
                           "std": np.where(n > 1, sd, np.nan), "n": n.astype(np.int64)})
    se = curves["std"] / np.sqrt(curves["n"])
    curves["lower"] = curves["mean"] - 1.96 * se
    curves["upper"] = curves["mean"] + 1.96 * se
    return metrics, curves


def _direct_tv_cure(cohort: Any, threshold: int, alpha: float, failed: dict[str, str], warned: dict[str, list[str]]) -> tuple[Any, list[str], str]:
    """The visit-interval cure model with time-varying adherence, fitted directly (for an adherence
    layer whose ``adherence_effect`` does not include it)."""
    from footdrop_outcomes.survival import adherence_exposure, fit_time_varying_cure, survival_frame

    frame = survival_frame(cohort, threshold=threshold, time_unit="weeks")
    events = frame.groupby(frame["cause"].astype(str), observed=True)["event"].sum()
    excluded = sorted(c for c, e in events.items() if e == 0)
    frame = frame[~frame["cause"].astype(str).isin(excluded)].copy()
    for col in ("cause", "severity"):
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].cat.remove_unused_categories()
    terms = [t for t in ("cause", "severity") if frame[t].astype(str).nunique() > 1]
    formula = " + ".join(terms) or "1"
    tvc = _attempt("tv_cure", lambda: fit_time_varying_cure(frame, incidence_formula=formula, latency_formula=formula,
                                                             exposure_table=adherence_exposure(cohort.adherence), alpha=alpha),
                   failed, warned)
    return tvc, excluded, formula


def unavailable(aa: AdherenceAnalysis, name: str) -> ReleasedText:
    """A sentence for an analysis that could not be fitted on this cohort (with the reason)."""
    reason = aa.failed.get(name) or "not available"
    return text(f"Not fitted on this cohort: {reason}.", [])


def _but_als(aa: AdherenceAnalysis) -> str:
    """", all causes but ALS" when ALS patients are in the cohort (a group left out of the report is not named here)."""
    return ", all causes but ALS" if "als" in _sizes(aa, "cause") else ""


#: The analyses of this section, as named on the page.
_ANALYSIS_NAMES = {"discontinuation": "time to stopping home exercise", "propensity": "propensity model",
                   "comparison": "weighted comparison", "effect": "adherence and recovery", "trend": "weekly adherence trend",
                   "itt": "intention to treat vs per protocol", "tv_cure": "cure model with time-varying adherence"}


# -- tables ------------------------------------------------------------------------------------

def adherence_table(aa: AdherenceAnalysis) -> ReleasedTable:
    """Adherence by intervention: patients, session share, weeks adherent, patients by category."""
    s = aa.metrics.summary
    per = aa.metrics.per_patient
    prot = protect(s.set_index("group")["n_patients"].astype("int64"))
    cats = [c for c in s.columns if c.startswith("cat: ") and c != "cat: nothing prescribed"]
    thr = aa.metrics.info["threshold"]
    rows = []
    for _, r in s.iterrows():
        n = int(r["n_patients"])
        row = {"Intervention": _label(str(r["group"])), "Patients": prot.text(r["group"], "n")}
        if is_small(n):
            row.update({"Sessions done, mean / median": "-", f"Weeks >= {100 * thr:.0f}% done, mean": "-"})
            row.update({f"{c[5:]} of sessions, n (%)": "-" for c in cats})
        else:
            row["Sessions done, mean / median"] = f"{100 * r['session_share_mean']:.0f}% / {100 * r['session_share_median']:.0f}%"
            row[f"Weeks >= {100 * thr:.0f}% done, mean"] = f"{100 * r['weeks_adherent_share_mean']:.0f}%"
            for c in cats:
                row[f"{c[5:]} of sessions, n (%)"] = count_percent(int(round(r[c] * n)), n)
        rows.append(row)
    del per
    return table(pd.DataFrame(rows), [int(n) for n in s["n_patients"]], keep=["Intervention"])


def discontinuation_table(aa: AdherenceAnalysis) -> ReleasedTable:
    """Stopping home exercise, by supervised physiotherapy: median weeks and share stopped by week."""
    d = aa.discontinuation
    s = d.summary
    sizes = {str(g): int(x["n"].iloc[0]) for g, x in s.groupby("group", sort=False, observed=True)}
    prot = protect(pd.Series(sizes, dtype="int64"))
    rows = []
    for g, x in s.groupby("group", sort=False, observed=True):
        g = str(g)
        med = x[x["statistic"] == "median"].iloc[0]
        row = {"Supervised physiotherapy": "yes" if g == "True" else "no", "Patients": prot.text(g, "n"),
               "Stopped, n (%)": count_percent(int(med["events"]), int(med["n"])),
               "Median weeks to stopping (95% CI)": (fmt_ci(med["estimate"], med["lower"], med["upper"], digits=0)
                                                     if np.isfinite(med["estimate"]) and np.isfinite(med["upper"])
                                                     else (f"{med['estimate']:.0f}" if np.isfinite(med["estimate"]) else "not reached"))}
        for _, r in x[x["statistic"] == "discontinued_by"].iterrows():
            row[f"Stopped by week {r['time']:g}, %"] = fmt_ci(r["estimate"], r["lower"], r["upper"], pct=True)
        if is_small(sizes[g]):
            row = {k: (v if k in ("Supervised physiotherapy", "Patients") else "-") for k, v in row.items()}
        rows.append(row)
    return table(pd.DataFrame(rows), [sizes[str(g)] for g, _ in s.groupby("group", sort=False, observed=True)],
                 keep=["Supervised physiotherapy"])


def discontinuation_cox_table(aa: AdherenceAnalysis) -> ReleasedTable:
    """Hazard ratios of stopping home exercise."""
    cox = aa.discontinuation.cox
    s = cox.summary
    level = round(100 * (1 - cox.alpha))
    out = pd.DataFrame({"Term": [term_label(t).replace("Supervised physio: True", "Supervised physiotherapy") for t in s["term"]],
                        f"Hazard ratio of stopping ({level}% CI)": [fmt_ci(h, lo, hi) for h, lo, hi in zip(s["hr"], s["hr_lower"], s["hr_upper"])],
                        "p": [fmt_p(p) for p in s["p"]]})
    return table(out, _terms_support(s["term"], aa), keep=["Term"])


def comparison_table(aa: AdherenceAnalysis) -> ReleasedTable:
    """Supervised physiotherapy vs none: crude and weighted hazard ratio of recovery."""
    s = aa.comparison.summary
    level = round(100 * (1 - aa.choices["alpha"]))
    s = s[s["estimand"] == "log_hr"]
    out = pd.DataFrame({"Analysis": [("Crude" if a == "crude" else "Weighted (IPTW, ATE)") for a in s["analysis"]],
                        f"Hazard ratio of recovery ({level}% CI)": [fmt_ci(np.exp(e), np.exp(lo), np.exp(hi))
                                                                    for e, lo, hi in zip(s["estimate"], s["lower"], s["upper"])],
                        "Patients": [show_count(n) for n in s["n"]]})
    arms = _sizes(aa, "supervised_physio")
    return table(out, min(arms.values()) if arms else int(s["n"].min()), keep=["Analysis"])


MISCLASS_MODEL = "interval-censored cure with rating error: cumulative (tv)"


def names_of_models() -> dict[str, str]:
    """Report names of adherence_effect's models."""
    return {"naive: mean adherence over follow-up": "Cox, mean over follow-up (naive)",
            "time-varying: cumulative": "Cox, time-varying",
            "time-varying: cumulative + current": "Cox, time-varying, two terms",
            "interval-censored cure: cumulative (tv)": "Cure model on visit intervals, time-varying",
            "interval-censored cure with rating error: cumulative (tv)": "Cure model allowing for grading error, time-varying"}


def recovery_effect_table(aa: AdherenceAnalysis) -> ReleasedTable:
    """Hazard ratio of recovery per 10 points of adherence, model by model (observed recovery)."""
    level = round(100 * (1 - aa.choices["alpha"]))
    names = names_of_models()
    terms = {"mean_adherence": "mean", "cumulative_adherence": "cumulative", "current_adherence": "last week"}
    truth = aa.choices["truth_log_hr_per_10"]
    rows = []
    if aa.effect is not None:
        for _, r in aa.effect.summary.iterrows():
            rec = ", recommended" if bool(r.get("recommended", False)) else ""
            rows.append({"Model": names.get(r["model"], r["model"]) + rec, "Adherence term": terms.get(r["term"], r["term"]),
                         f"HR per 10 points ({level}% CI)": fmt_ci(r["hr_per_10pct"], r["lower"], r["upper"], digits=3),
                         "Patients": show_count(aa.effect.info["n"]), "Recoveries": show_count(r["events"]),
                         # the truth only beside a model that targets it (adherence_effect fills it there)
                         "_truth": (None if pd.isna(r.get("truth", np.nan)) else float(r["truth"]))})
    if aa.tv_cure is not None and not aa.choices["tv_from_adherence_effect"]:
        s = aa.tv_cure.summary
        r = s[(s["component"] == "latency") & s["term"].str.startswith("cumulative_adherence")].iloc[0]
        rows.append({"Model": "Cure model on visit intervals, time-varying",
                     "Adherence term": "cumulative",
                     f"HR per 10 points ({level}% CI)": fmt_ci(r["estimate"], r["lower"], r["upper"], digits=3),
                     "Patients": show_count(aa.tv_cure.info["n"]), "Recoveries": show_count(aa.tv_cure.info["events"]),
                     "_truth": truth if aa.choices.get("truth_targeted", True) else None})
    out = pd.DataFrame(rows)
    if out.empty:
        return table(out, 0)
    if truth is not None:
        # (a column of None becomes NaN in pandas: test for a number, not for None)
        out["Simulated truth"] = [f"{np.exp(t):.3f}" if t is not None and np.isfinite(t) else "not the target" for t in out["_truth"]]
    return table(out.drop(columns="_truth"), len(_pats(aa)), keep=["Model", "Adherence term"])


def trend_table(aa: AdherenceAnalysis) -> ReleasedTable:
    """GEE of weekly adherence: odds ratios of completing a session (population-averaged)."""
    s = aa.trend.summary
    s = s[s["term"] != "Intercept"]
    level = round(100 * (1 - aa.choices["alpha"]))

    def label(t: str) -> str:  # terms named as everywhere else: supervised_physio, smoking[current], supervised_physio:program_week
        parts = ["Per programme week" if p == "program_week" else term_label(p) for p in t.split(":")]
        return "Supervised physiotherapy x week" if parts == ["Supervised physiotherapy", "Per programme week"] else ":".join(parts)

    out = pd.DataFrame({"Term": [label(t).replace("Supervised physiotherapy:Per programme week", "Supervised physiotherapy x week")
                                 for t in s["term"]],
                        f"Odds ratio ({level}% CI)": [fmt_ci(np.exp(e), np.exp(lo), np.exp(hi), digits=3)
                                                      for e, lo, hi in zip(s["estimate"], s["lower"], s["upper"])],
                        "p": [fmt_p(p) for p in s["p"]]})
    return table(out, _terms_support(s["term"], aa), keep=["Term"])


def itt_table(aa: AdherenceAnalysis) -> ReleasedTable:
    """Ankle-foot orthosis vs none: intention-to-treat and per-protocol hazard ratios of recovery."""
    s = aa.itt.summary
    level = round(100 * (1 - aa.choices["alpha"]))
    out = pd.DataFrame({"Analysis": s["analysis"].str.replace("PP", "per protocol").str.replace("ITT", "Intention to treat"),
                        f"Hazard ratio ({level}% CI)": [fmt_ci(h, lo, hi) for h, lo, hi in zip(s["hr"], s["lower"], s["upper"])],
                        "Patients": [show_count(n) for n in s["n_patients"]],
                        "Recoveries": [show_count(n) for n in s["events"]],
                        "Source of bias": s["bias_source"].str.replace("_", " ")})
    afo = _pats(aa)["afo"].astype(str) if "afo" in _pats(aa).columns else pd.Series([], dtype=str)
    arms = [int((afo == "none").sum()), int((afo != "none").sum())] if len(afo) else []
    support = [min([int(n), *arms]) for n in s["n_patients"]]
    return table(out, support, keep=["Analysis", "Source of bias"])


# -- figures ------------------------------------------------------------------------------------

def trend_figure(aa: AdherenceAnalysis) -> ReleasedFigure:
    """GEE curves of weekly adherence by supervised physiotherapy (bands: 95% CI; points:
    observed weekly means of weeks with enough patients)."""
    import matplotlib.pyplot as plt

    cur = aa.trend.curves
    fig, ax = plt.subplots(figsize=(6.6, 3.2))
    for i, (g, d) in enumerate(cur.groupby(cur["group"].astype(str), sort=True)):
        label = "supervised physiotherapy" if g == "True" else "no supervised physiotherapy"
        line = ax.plot(d["program_week"], 100 * d["mean"], color=f"C{i}", linewidth=1.4, label=label)[0]
        ax.fill_between(d["program_week"], 100 * d["lower"], 100 * d["upper"], color=line.get_color(), alpha=0.2, linewidth=0)
        ok = d["n"] > 2 * get_threshold()
        ax.plot(d["program_week"][ok], 100 * d["observed_mean"][ok], "o", color=line.get_color(), markersize=2.2, alpha=0.6)
    ax.set_xlabel("weeks since the start of the home-exercise programme")
    ax.set_ylabel("sessions completed, %")
    ax.set_ylim(0, 100)
    ax.legend(frameon=False, fontsize="small", loc="lower left")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return figure(fig, _sizes(aa, "supervised_physio"))


def adherence_figure(aa: AdherenceAnalysis, *, max_week: int = 52, min_patients: int = 20) -> ReleasedFigure:
    """Mean weekly share of sessions completed over programme weeks, by intervention (groups of at
    least ``min_patients`` patients in a week), with 95% bands."""
    import matplotlib.pyplot as plt

    cur = aa.metrics.curves(max_week) if aa.weekly_curves is None else aa.weekly_curves
    cur = cur[(cur["program_week"] < max_week) & (cur["n"] >= max(min_patients, 2 * get_threshold()))]
    keep = ["home_exercise", "supervised_physio", "afo_carbon", "afo_rigid", "afo_hinged", "fes"]
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    n_group = {str(g): int(n) for g, n in zip(aa.metrics.summary["group"], aa.metrics.summary["n_patients"])}
    drawn = [k for k in keep if k in set(cur["group"].astype(str))]
    for i, g in enumerate(drawn):
        d = cur[cur["group"].astype(str) == g]
        line = ax.plot(d["program_week"], 100 * d["mean"], color=f"C{i}", linewidth=1.3, label=_label(g))[0]
        ax.fill_between(d["program_week"], 100 * d["lower"], 100 * d["upper"], color=line.get_color(), alpha=0.15, linewidth=0)
    ax.axhline(100 * aa.metrics.info["threshold"], color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel("weeks since the start of the home-exercise programme")
    ax.set_ylabel("sessions completed, % (mean)")
    ax.set_ylim(0, 100)
    ax.legend(frameon=False, fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return figure(fig, {g: n_group.get(g, 0) for g in drawn})


def discontinuation_figure(aa: AdherenceAnalysis) -> ReleasedFigure:
    """Share still doing home exercise by supervised physiotherapy, with protected numbers at risk."""
    ax = aa.discontinuation.plot(kind="survival", small_cells=get_threshold())
    fig = ax.figure
    for label in fig.findobj(lambda o: hasattr(o, "get_text") and hasattr(o, "set_text")):
        t = label.get_text()
        if t in ("True", "False"):
            label.set_text("supervised physiotherapy" if t == "True" else "no supervised physiotherapy")
    ax.set_title("Still doing home exercise (Kaplan-Meier, 95% CI)", fontsize="medium")
    ax.set_ylabel("still on the programme")
    s = aa.discontinuation.summary
    return figure(fig, {str(g): int(x["n"].iloc[0]) for g, x in s.groupby("group", sort=False, observed=True)})


def love_plot(aa: AdherenceAnalysis) -> ReleasedFigure:
    """Absolute standardised mean differences before and after weighting."""
    import matplotlib.pyplot as plt

    s = aa.propensity.summary.copy()
    s["label"] = [(CAUSE_SHORT.get(lv, lv.replace("_", " ")) if cov == "cause" else
                   f"{cov.replace('_', ' ').capitalize()}: {lv.replace('_', ' ')}" if lv else cov.replace("_", " ").capitalize())
                  for cov, lv in zip(s["covariate"], s["level"].astype(str))]
    s = s.iloc[np.argsort(np.abs(s["smd_unweighted"].to_numpy()))]
    fig, ax = plt.subplots(figsize=(6.0, 0.22 * len(s) + 1.2))
    y = np.arange(len(s))
    ax.scatter(np.abs(s["smd_unweighted"]), y, marker="o", facecolors="none", edgecolors="#b2182b", label="before weighting")
    ax.scatter(np.abs(s["smd_weighted"]), y, marker="o", color="#2166ac", label="after weighting")
    ax.axvline(0.1, color="grey", linestyle=":", linewidth=0.8)
    ax.set_yticks(y, s["label"])
    ax.set_xlabel("absolute standardised mean difference (supervised vs not)")
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    p = _pats(aa)
    support = {f"{cov}={lv}": (int((p[cov].astype(str) == lv).sum()) if lv and cov in p.columns else len(p))
               for cov, lv in zip(s["covariate"], s["level"].astype(str))}
    arms = _sizes(aa, "supervised_physio")
    return figure(fig, {**support, **{f"supervised_physio={k}": v for k, v in arms.items()}})


# -- prose ----------------------------------------------------------------------------------------

def key_findings(aa: AdherenceAnalysis) -> list[ReleasedText]:
    """Bullet sentences with the section's headline numbers."""
    out = []
    s = aa.metrics.summary.set_index("group")
    arms = list(_sizes(aa, "supervised_physio").values())
    if "home_exercise" in s.index:
        out.append(text(f"Patients completed on average {100 * s.loc['home_exercise', 'session_share_mean']:.0f}% of prescribed home-exercise sessions"
                   + (f" ({100 * s.loc['supervised_physio', 'session_share_mean']:.0f}% with supervised physiotherapy)."
                      if "supervised_physio" in s.index else "."),
                        [int(s.loc["home_exercise", "n_patients"]), *([int(s.loc["supervised_physio", "n_patients"])]
                                                                      if "supervised_physio" in s.index else [])], replacement=""))
    if aa.comparison is not None:
        c = aa.comparison.summary.set_index("analysis")
        if "weighted" in c.index:
            w, cr = c.loc["weighted"], c.loc["crude"]
            out.append(text(f"Supervised physiotherapy: hazard ratio of recovery {np.exp(cr['estimate']):.2f} crude and "
                            f"{np.exp(w['estimate']):.2f} ({np.exp(w['lower']):.2f}-{np.exp(w['upper']):.2f}) after weighting for "
                            f"{_formula_words(aa.choices['propensity_formula'])}.", arms, replacement=""))
    mis = getattr(aa.effect, "fits", {}).get(MISCLASS_MODEL) if aa.effect is not None else None
    if mis is not None:
        # rated grades: the cure model of the first MRC >= 4 is attenuated; the model allowing for grading error is the least biased
        s2 = mis.summary
        r = s2[(s2["component"] == "latency") & s2["term"].str.startswith("cumulative_adherence")].iloc[0]
        out.append(text(f"Among patients who recover, each 10 more points of cumulative adherence raise the rate of recovery by a factor "
                        f"{r['estimate']:.2f} ({r['lower']:.2f}-{r['upper']:.2f}) in the mixture cure model allowing for error in the "
                        "strength grading; grading error still pulls this towards no effect (docs/adherence.md, section 5.1).",
                        int(mis.info["n"]), replacement=""))
    elif aa.tv_cure is not None:
        s2 = aa.tv_cure.summary
        r = s2[(s2["component"] == "latency") & s2["term"].str.startswith("cumulative_adherence")].iloc[0]
        out.append(text(f"Among patients who recover, each 10 more points of cumulative adherence raise the rate of recovery by a factor "
                        f"{r['estimate']:.2f} ({r['lower']:.2f}-{r['upper']:.2f}) in the mixture cure model with time-varying adherence.",
                        int(aa.tv_cure.info["n"]), replacement=""))
    return out


def effect_text(aa: AdherenceAnalysis) -> ReleasedText:
    """How to read the adherence-and-recovery table, with this run's numbers."""
    if aa.effect is None:
        return unavailable(aa, "effect")
    s = aa.effect.summary
    best = s[s["recommended"]] if "recommended" in s.columns else s.iloc[0:0]
    cox = s[(s["model"] == "time-varying: cumulative") & (s["term"] == "cumulative_adherence")]
    parts = []
    info = aa.effect.info
    if not best.empty:
        b = best.iloc[0]
        parts.append(f"The estimate to read is the recommended one: {b['hr_per_10pct']:.3f} ({b['lower']:.3f}-{b['upper']:.3f}) per 10 points "
                     "of cumulative adherence: the model measured without bias on data like these in the simulator's tests.")
    elif info.get("cure_model_skipped"):
        parts.append("No estimate is recommended: the cure model could not be fitted on these data, and the Cox models are "
                     "attenuated when recovery is dated at visits.")
    elif info.get("least_biased") and info.get("grading") == "rated":
        lb = s[(s["model"] == info["least_biased"]) & (s["term"] == "cumulative_adherence")]
        parts.append("No estimate is recommended: strength grades carry rater error, which dates recovery wrongly and pulls every "
                     "model here towards no effect, and none was shown unbiased on rated grades in the simulator's tests.")
        if not lb.empty:
            r = lb.iloc[0]
            parts.append(f"The least biased is the {names_of_models().get(r['model'], r['model']).lower()}: {r['hr_per_10pct']:.3f} "
                         f"({r['lower']:.3f}-{r['upper']:.3f}) per 10 points of cumulative adherence, still pulled towards 1 "
                         "(docs/adherence.md, section 5.1).")
    else:
        parts.append("No estimate is recommended for these data.")
    if not cox.empty:
        c = cox.iloc[0]
        parts.append(f"The time-varying Cox model on visit-dated recovery gives {c['hr_per_10pct']:.3f}: dating recovery at the visit "
                     "that sees it, and mixing in patients who never recover, pull it towards 1.")
    truth = aa.choices["truth_log_hr_per_10"]
    if truth is not None and not aa.choices.get("truth_targeted", True):
        parts.append(f"The simulated truth, {np.exp(truth):.3f} per 10 points, is the effect among recovering patients who were "
                     "not operated on: the simulation gives patients after decompression or nerve repair no adherence effect "
                     "and times their recovery from surgery, so no model here, fitted to all patients, estimates it (the "
                     "table says 'not the target'). The cure model is also pulled towards 1 by error in the MRC grading "
                     "(docs/adherence.md, section 5.1).")
    elif truth is not None:
        parts.append(f"The simulated truth is {np.exp(truth):.3f} per 10 points among patients who recover, on the latent time "
                     "scale (last week's adherence has no direct effect: 1.000); the table shows it only beside the models "
                     "that estimate that quantity.")
    return text(" ".join(parts), int(aa.effect.info["n"]))


def methods_text(aa: AdherenceAnalysis) -> ReleasedText:
    """Markdown: how each adherence analysis was done, as run."""
    ch = aa.choices
    m = aa.metrics.info
    parts = [f"**Adherence** is the share of prescribed home-exercise sessions completed, summed over exercises and weeks; a week "
             f"counts as adherent when at least {100 * m['threshold']:.0f}% of its sessions were done; weeks with nothing prescribed are "
             f"left out and missing weeks skipped. A patient counts in every intervention received."]
    sample = ch.get("sample") or {}
    if sample.get("sampled"):
        parts.append(f"**Registry scale**: the adherence table and weekly curves use all {show_count(sample['n_cohort'])} patients; the models "
                     f"below are fitted on a simple random sample of {show_count(sample['n_sample'])} of them (seed {sample['seed']}; a fixed size "
                     "that bounds the computing time; their standard errors and intervals are those of the sample).")
    if aa.discontinuation is not None:
        d = aa.discontinuation.info
        parts.append(f"**Discontinuation**: stopping home exercise is the first run of {d['consecutive']} recorded weeks below "
                     f"{100 * d['threshold']:.0f}% of sessions, dated at the programme week in which that run starts; patients who "
                     "never stop are censored at the last week in which such a run could still have been seen to start. "
                     f"Kaplan-Meier curves by supervised physiotherapy and a Cox model ({DISCONTINUATION_FORMULA}).")
    if aa.propensity is not None:
        p = aa.propensity.info
        ess = p["effective_sample_size"]
        truncation = ("not truncated" if not p.get("trim") else
                      f"truncated at the {_ordinal(100 * p['trim'])}/{_ordinal(100 - 100 * p['trim'])} percentiles "
                      f"({p['weight_bounds'][0]:.2f}-{p['weight_bounds'][1]:.2f})")
        parts.append(f"**Adjusted comparison**: a logistic propensity model of supervised physiotherapy ({p['formula']}) gives "
                     f"stabilised inverse-probability weights for the average treatment effect, {truncation}; "
                     f"effective sample sizes {ess['treated']:.0f} treated and {ess['control']:.0f} controls. The largest absolute "
                     f"standardised mean difference fell from {p['max_abs_smd_unweighted']:.3f} to {p['max_abs_smd_weighted']:.3f} "
                     f"({'balanced' if p['max_abs_smd_weighted'] <= 0.1 else 'NOT balanced'} by the 0.1 rule). Weighted Cox model; "
                     "recovery dated at the visit that sees it; standard errors from stacked estimating equations "
                     "(M-estimation sandwich) that account for estimating the propensity model and the arm shares (Lunceford and Davidian, Stat Med 2004).")
    if aa.effect is not None:
        parts.append(f"**Adherence and recovery (Cox)**: recovery dated at the first visit with MRC >= 4{_but_als(aa)}, "
                     f"adjusted for {aa.effect.info['covariates']}: adherence averaged over the whole follow-up (naive: it uses "
                     f"adherence after the time compared, an immortal-time bias) against lagged cumulative adherence as a "
                     f"time-varying covariate in weekly episodes ({show_count(aa.effect.info['episodes'])} episodes).")
    if aa.tv_cure is not None:
        i = aa.tv_cure.info
        excl = ", ".join(CAUSE_SHORT.get(c, c) for c in ch["tv_excluded_causes"] if c in _sizes(aa, "cause"))
        parts.append(f"**Mixture cure model with time-varying adherence**: uses the visit intervals directly (recovery between the "
                     f"last visit below MRC {ch['threshold']} and the first at or above it): logistic incidence ({i['incidence_formula']}) "
                     f"and Weibull proportional-hazards latency ({i['latency_formula']}) with the weekly lagged cumulative adherence; "
                     f"maximum likelihood, {i['iterations']} BFGS iterations, largest gradient {i['max_abs_gradient']:.1e}"
                     + (f"; causes left out (no recovery possible or seen): {excl}" if excl else "") + ".")
    mis = getattr(aa.effect, "fits", {}).get(MISCLASS_MODEL) if aa.effect is not None else None
    if mis is not None:
        rates = mis.info["error_rates"]
        parts.append("**Cure model allowing for grading error**: the same model with recovery as a hidden state that each visit's "
                     f"grade reads with error: a visit reads MRC {ch['threshold']} or more before recovery with probability "
                     f"{100 * rates['false recovery rate']:.1f}% and below it after recovery with probability "
                     f"{100 * rates['missed recovery rate']:.1f}% (estimated); these constant rates remove about half of the bias "
                     "that grading error causes in the simulator's tests, not all of it.")
    if aa.trend is not None:
        t = aa.trend.info
        parts.append(f"**Weekly adherence over time** ({t['method']}): {t['formula']}, weeks 0-{t['max_week'] - 1} of the programme, "
                     f"{show_count(t['patient_weeks'])} patient-weeks; {t['working_correlation'].lower()}. Curves are standardised "
                     "over the covariates of all patients analysed.")
    if aa.itt is not None:
        t = aa.itt.info
        parts.append(f"**Intention to treat vs per protocol** (ankle-foot orthosis vs none, {t['outcome']} recovery{_but_als(aa)}): IPT weights for the prescription ({t['confounders']}); deviation = {t['deviation']} "
                     f"({show_count(t['n_deviated'])} patients deviated); per-protocol analyses: completers only (biased by "
                     f"immortal time, shown for contrast), censoring at deviation, and censoring with inverse-probability-of-censoring "
                     f"weights from {t['censoring_covariates']} (weights {t['ipcw_range'][0]:.2f}-{t['ipcw_range'][1]:.2f}).")
    for name, reason in aa.failed.items():
        parts.append(f"**Not fitted ({_ANALYSIS_NAMES.get(name, name)})**: {reason}.")
    warned = ch["warnings"]
    if warned:
        parts.append("Notes from the fits: "
                     + "; ".join(f"{k}: {' / '.join(dict.fromkeys(plain_warning(x) for x in v))}" for k, v in warned.items()) + ".")
    return text("\n\n".join(parts), len(_pats(aa)))


def limitations(aa: AdherenceAnalysis) -> list[ReleasedText]:
    """Limitation sentences for the adherence analyses of this run."""
    out = ["Adherence comparisons are observational: the weighted comparison removes imbalance only in the covariates of the "
           "propensity model; unmeasured confounding (e.g. motivation) remains possible."]
    if aa.effect is not None and aa.effect.info.get("grading", "rated") == "exact":
        out.append("The Cox models of adherence and recovery date recovery at the visit that sees it, so their adherence effect is "
                   "attenuated; the mixture cure model with time-varying adherence uses the visit intervals and is the estimate to read.")
    elif aa.effect is not None:
        out.append("The Cox models of adherence and recovery date recovery at the visit that sees it, so their adherence effect is "
                   "attenuated. The mixture cure model uses the visit intervals, but error in the strength grading dates recovery "
                   "wrongly and still pulls it towards no effect; the model allowing for grading error removes part of that bias, "
                   "not all of it (docs/adherence.md, section 5.1).")
    out.append("Not shown: a dose-response curve of adherence (its Cox spline is attenuated on visit-dated recovery) and "
               "intention-to-treat vs per-protocol comparisons for FES and supervised physiotherapy (only AFO is shown).")
    if aa.failed:
        out.append("Some adherence analyses could not be fitted on this cohort (see Methods).")
    return [text(x, []) for x in out]


def _formula_words(formula: str) -> str:
    """``C(cause) + C(severity) + age + diabetes`` as "cause, severity, age and diabetes"."""

    terms = [re.sub(r"^C\((\w+)\)$", r"\1", t.strip()).replace("_", " ") for t in formula.split("+")]
    return terms[0] if len(terms) == 1 else ", ".join(terms[:-1]) + " and " + terms[-1]
