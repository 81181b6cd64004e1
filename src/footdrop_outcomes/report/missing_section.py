"""The report's missing-data section: what was missing, what each model left out, and the patient flow.

Three released views, each built from counts only (never a value of the data) and each through
release control (:mod:`footdrop_outcomes.report.counts`, under the report's policy):

* :func:`missingness_table`: missing values per covariate, overall and by cause, from
  :meth:`Cohort.missingness <footdrop_outcomes.cohort.cohort.Cohort.missingness>`. Each
  covariate's cause x (missing, recorded) counts are protected together with their margins
  (:func:`~footdrop_outcomes.report.counts.protect`: counts from 1 to the threshold shown as
  ``≤10``, further cells hidden as ``*`` where a small count could be worked out from the totals).
* :func:`model_drops` / :func:`model_drops_table`: per model, the patients given, those left
  out for a missing value (and which variables were missing), and those analysed, read from the
  results' ``info`` (:func:`~footdrop_outcomes.survival._missing.drop_incomplete` fills it).
* :func:`patient_flow` / :func:`flow_figure`: a STROBE-style flow diagram (patients in the
  cohort -> excluded by each rule -> analysed per model -> how follow-up ended). A flow is a
  chain of running counts, so a small exclusion could be worked out from two exact totals; as for
  numbers at risk, every count of the figure is rounded to 5 and counts from 1 to the threshold
  are shown as ``≤10`` (:func:`~footdrop_outcomes.release.at_risk_labels`).

* :func:`missing_patterns` / :func:`pattern_figure`: which covariates are missing together
  (mice's ``md.pattern``): the patterns of more than the threshold's number of patients, most
  common first, without counts (beside the table's exact totals, pattern counts could pin down a
  small group).
* :func:`imputation_comparison`: the report's Cox model on the complete cases beside the same
  model after multiple imputation (:func:`~footdrop_outcomes.imputation.impute`, Rubin's rules),
  with the fraction of missing information; released per term like the hazard-ratio table.

:func:`missing_data_section` builds all of them, plus a methods paragraph
(:func:`methods_text`: complete cases and late entry as run), in one call for the notebooks.

>>> from footdrop_outcomes import simulate_cohort
>>> t = missingness_table(simulate_cohort(300, seed=3))
>>> list(t.frame.columns)[:2], t.frame["Variable"].tolist()[:2]
(['Variable', 'All patients'], ['Side', 'Diabetes'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from footdrop_outcomes.release import (
    ReleasedFigure,
    ReleasedTable,
    ReleasedText,
    at_risk_labels,
    term_support,
)
from footdrop_outcomes.report.analysis import CAUSE_SHORT, RecoveryAnalysis, term_label
from footdrop_outcomes.report.counts import (
    count_percent,
    figure,
    get_threshold,
    protect,
    show_count,
    static,
    table,
    text,
)
from footdrop_outcomes.report.degrade import DATA_FAILURES
from footdrop_outcomes.report.tables import fmt_ci

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = [
    "VARIABLE_LABELS",
    "ImputationComparison",
    "MissingDataSection",
    "flow_figure",
    "imputation_comparison",
    "methods_text",
    "missing_data_section",
    "missing_patterns",
    "missingness_table",
    "model_drops",
    "model_drops_table",
    "patient_flow",
    "pattern_figure",
]

#: Words for the covariates that may be missing (patients table).
VARIABLE_LABELS: dict[str, str] = {
    "age": "Age", "diabetes": "Diabetes", "smoking": "Smoking", "side": "Side", "hba1c": "HbA1c", "bmi": "BMI",
    "days_to_treatment": "Days to treatment", "surgery_day": "Day of surgery", "dropout_reason": "Reason for dropout",
}

#: Optional columns that are missing by design for most patients (not a gap in the record).
NOT_GAPS = ("surgery_day", "dropout_reason")


def missingness_table(cohort: Cohort, *, by: str | None = "cause", columns: Sequence[str] | None = None) -> ReleasedTable:
    """Missing values per covariate of the patients table, overall and per group, released.

    Parameters
    ----------
    cohort : Cohort
        The cohort the report is written from (after release control of its groups).
    by : str or None
        Categorical patients column of the group columns (default ``cause``); None: overall only.
    columns : sequence of str, optional
        Covariates to show; default every patients column that may be missing and is present,
        except those missing by design (``surgery_day``, ``dropout_reason``).

    Returns
    -------
    ReleasedTable
        ``Variable``, ``All patients`` and one column per group: ``n (p%)`` missing of the
        group's patients; ``≤10`` for a small count, ``*`` for a count hidden so that a small one
        cannot be worked out from the totals.
    """
    m = cohort.missingness(by=None)
    m = m[m["table"] == "patients"]
    groups = cohort.missingness(by=by) if by is not None else None
    if columns is None:
        columns = [c for c in m["column"] if c not in NOT_GAPS]
    rows, support = [], []
    n_all = len(cohort.patients)
    sizes = cohort.patients[by].astype(str).value_counts() if by is not None else pd.Series(dtype="int64")
    levels = [g for g in (CAUSE_SHORT if by == "cause" else sorted(sizes.index)) if g in sizes.index and sizes[g] > 0]
    for col in columns:
        if col not in set(m["column"]):
            continue
        row = {"Variable": VARIABLE_LABELS.get(col, col.replace("_", " ").capitalize())}
        if groups is not None:
            g = groups[(groups["table"] == "patients") & (groups["column"] == col)].set_index("group")
            counts = pd.DataFrame({"missing": [int(g.loc[x, "n_missing"]) if x in g.index else 0 for x in levels],
                                   "recorded": [int(g.loc[x, "n"] - g.loc[x, "n_missing"]) if x in g.index else 0 for x in levels]},
                                  index=levels)
            prot = protect(counts)
            row["All patients"] = prot.percent("Total", "missing")
            for x in levels:
                row[CAUSE_SHORT.get(x, x) if by == "cause" else str(x)] = prot.percent(x, "missing")
        else:
            k = int(m.loc[m["column"] == col, "n_missing"].iloc[0])
            row["All patients"] = count_percent(k, n_all)
        rows.append(row)
        support.append(n_all)
    cols = ["Variable", "All patients", *([CAUSE_SHORT.get(x, x) if by == "cause" else str(x) for x in levels] if by else [])]
    df = pd.DataFrame(rows, columns=cols)
    return table(df, support=support if support else 0, keep=["Variable"])


def _gap_columns(cohort: Cohort, columns: Sequence[str] | None) -> list[str]:
    m = cohort.missingness(by=None)
    present = list(m.loc[m["table"] == "patients", "column"])
    if columns is None:
        return [c for c in present if c not in NOT_GAPS]
    return [c for c in columns if c in present]


def missing_patterns(cohort: Cohort, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Patterns of missing covariates in the patients table (as R mice's ``md.pattern``), unreleased.

    Parameters
    ----------
    cohort : Cohort
    columns : sequence of str, optional
        Covariates; default as :func:`missingness_table` (every patients column that may be
        missing, except those missing by design).

    Returns
    -------
    pandas.DataFrame
        One row per pattern: a boolean column per covariate (True = missing), ``n`` (patients)
        and ``n_missing`` (covariates missing in the pattern); the complete pattern first, then
        by decreasing ``n``. Counts, not yet released: :func:`pattern_figure` releases them.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> p = missing_patterns(simulate_cohort(300, seed=3))
    >>> int(p["n"].sum()), bool(p.iloc[0, :-2].any())
    (300, False)
    """
    cols = _gap_columns(cohort, columns)
    miss = cohort.patients[cols].isna()
    if not cols:
        return pd.DataFrame({"n": [len(miss)], "n_missing": [0]})
    g = miss.value_counts(sort=False).rename("n").reset_index()
    g["n_missing"] = g[cols].sum(axis=1).astype(int)
    g["n"] = g["n"].astype(int)
    g = pd.concat([g[g["n_missing"] == 0], g[g["n_missing"] > 0].sort_values("n", ascending=False, kind="stable")],
                  ignore_index=True)
    return g[[*cols, "n", "n_missing"]]


def pattern_figure(patterns: pd.DataFrame, *, max_rows: int = 12) -> ReleasedFigure:
    """Draw :func:`missing_patterns` as a grid (recorded / missing per covariate) and release it.

    Only patterns of more than the threshold's number of patients are drawn (at most
    ``max_rows``, the most common first), and the figure shows **no counts**: with the exact
    per-covariate totals of the missingness table beside it, the count of a pattern, even
    rounded, or of the patterns left out, could pin down a small group (a review recovered a
    count of 1-10 exactly from rounded pattern counts). The title says, in words, that small
    (and, beyond ``max_rows``, rarer) patterns are not drawn. The counts are in
    :func:`missing_patterns` for the analyst.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    thr = get_threshold()
    cols = [c for c in patterns.columns if c not in ("n", "n_missing")]
    total = int(patterns["n"].sum())
    common = patterns[patterns["n"] > thr]  # in missing_patterns' order: complete first, then the most common
    big = common.head(max(int(max_rows), 1))
    width = max(1.2 + 0.9 * max(len(cols), 1), 5.5)
    fig, ax = plt.subplots(figsize=(min(width, 8.0), 1.8 + 0.32 * (len(big) + 1)))
    colour = {"recorded": "#4c72b0", "missing": "#dd8452"}
    for i, (_, r) in enumerate(big.iterrows()):
        for j, c in enumerate(cols):
            ax.add_patch(plt.Rectangle((j, -i - 1), 1, 1, facecolor=colour["missing" if r[c] else "recorded"],
                                       edgecolor="white", linewidth=1.5))
        k = int(r["n_missing"])
        ax.text(-0.15, -i - 0.5, "complete" if k == 0 else f"{k} missing", va="center", ha="right", fontsize=8)
    ax.set_xticks([j + 0.5 for j in range(len(cols))])
    ax.set_xticklabels([VARIABLE_LABELS.get(c, c.replace("_", " ").capitalize()) for c in cols], fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks([])
    ax.set_xlim(-1.6, max(len(cols), 1) + 0.2)
    ax.set_ylim(-max(len(big), 1) - 0.1, 0.05)
    for side in ("left", "right", "bottom", "top"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)
    ax.legend(handles=[Patch(color=colour[k], label=k) for k in ("recorded", "missing")],
              loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, fontsize=8, frameon=False)
    more = " Rarer patterns are not drawn either." if len(big) < len(common) else ""
    ax.set_title(f"Patterns of missing covariates, most common first (patterns of {thr} or fewer patients are not "
                 f"drawn; no counts, see the table above).{more}", fontsize=9, pad=22, wrap=True)
    fig.tight_layout()
    return figure(fig, total)


@dataclass(frozen=True)
class ImputationComparison:
    """The report's Cox model on complete cases beside the same model after multiple imputation.

    Attributes
    ----------
    table : ReleasedTable or None
        ``Term``, the complete-case hazard ratio (CI), the pooled one (CI) and the fraction of
        missing information; None when nothing was imputed (see ``text``).
    text : ReleasedText
        What was done (or why not), for the section.
    pooled : Any
        The :class:`~footdrop_outcomes.imputation.PooledResult` (None when not run).
    imputation : Any
        The :class:`~footdrop_outcomes.imputation.ImputationResult` (None when not run).
    """

    table: ReleasedTable | None
    text: ReleasedText
    pooled: Any = None
    imputation: Any = None


def imputation_comparison(analysis: RecoveryAnalysis, *, m: int = 20, seed: int = 2026,
                          iterations: int = 10) -> ImputationComparison:
    """The report's Cox model, complete cases against multiple imputation, released.

    The variables of the Cox formula (``analysis.choices["cox_formula"]``) with missing values in
    ``analysis.model_frame`` are imputed by chained equations
    (:func:`~footdrop_outcomes.imputation.impute` with its default outcome summary in every
    imputation model, the other columns of the frame as predictors) ``m`` times; the same
    Cox model (cluster, late entry and CI level as fitted) is fitted to each completed frame and
    pooled by Rubin's rules (:func:`~footdrop_outcomes.imputation.fit_imputed`). Each term is
    released as in the hazard-ratio table, by its support among the complete cases (a factor
    level of threshold or fewer such patients masked in both columns).

    Parameters
    ----------
    analysis : RecoveryAnalysis
    m, seed, iterations
        Imputations, seed (the same seed gives the same table) and sweeps per imputation.

    Returns
    -------
    ImputationComparison
    """
    from footdrop_outcomes.imputation import fit_imputed, impute
    from footdrop_outcomes.survival import fit_cox
    from footdrop_outcomes.survival._missing import formula_variables

    ch = analysis.choices
    cox = analysis.cox
    formula = ch.get("cox_formula")
    if cox is None or not formula:
        return ImputationComparison(None, static("The Cox model was not fitted, so there is no imputed counterpart."))
    frame = analysis.model_frame
    wanted = [v for v in formula_variables(formula, "the report's Cox formula") if v in frame.columns]
    gaps = [v for v in wanted if frame[v].isna().any()]
    if not gaps:
        return ImputationComparison(None, static("No variable of the Cox model was missing, so no imputation was needed."))
    # as fitted: the report falls back to model-based SEs when the clustered fit fails
    cluster, entry_col, alpha = cox.info.get("cluster"), ch.get("entry_col"), float(ch.get("alpha", 0.05))

    def fit(d: pd.DataFrame) -> Any:
        return fit_cox(d, formula, cluster=cluster, alpha=alpha, entry_col=entry_col)

    names = ", ".join(VARIABLE_LABELS.get(v, v.replace("_", " ")).lower() for v in gaps)
    try:
        imp = impute(frame, m=m, seed=seed, columns=gaps, iterations=iterations, outcome="right")
        pooled = fit_imputed(imp, fit, alpha=alpha)
    except DATA_FAILURES as exc:  # the data cannot support it (the message is not shown: only its kind)
        return ImputationComparison(None, text(f"Multiple imputation of {names} could not be run ({type(exc).__name__}).", len(frame)))
    level = round(100 * (1 - alpha))
    cc = cox.summary.set_index("term")
    ps = pooled.summary.set_index("term")
    terms = [t for t in cc.index if t in ps.index]
    df = pd.DataFrame({
        "Term": [term_label(t) for t in terms],
        f"Complete cases: HR ({level}% CI)": [fmt_ci(*cc.loc[t, ["hr", "hr_lower", "hr_upper"]].to_numpy(dtype=float)) for t in terms],
        f"Multiple imputation: HR ({level}% CI)": [fmt_ci(*np.exp(ps.loc[t, ["estimate", "lower", "upper"]].to_numpy(dtype=float)))
                                                   for t in terms],
        "Missing information": [f"{100 * float(ps.loc[t, 'fmi']):.0f}%" for t in terms],
    })
    complete = frame.dropna(subset=wanted)  # a subset of the frame: its supports are the smaller ones
    support = [term_support(t, complete) for t in terms]
    # no counts here: the number left out (all minus complete cases) may be small, and Table 18
    # shows it with its protection
    txt = text(f"The Cox model above uses the patients with every one of its variables recorded (complete cases; the "
               f"table of patients each model left out gives how many). Beside it, the same model on all patients after "
               f"multiple imputation of {names} ({m} imputations by chained equations, the outcome in every imputation "
               "model; estimates pooled by Rubin's rules). Where the two differ, the complete cases are a selected group: "
               "whether a value is missing depends on something related to recovery. The fraction of missing information "
               "is the share of a term's variance that is due to the missing values.", len(frame))
    return ImputationComparison(table(df, support, keep=["Term"]), txt, pooled, imp)


def _unit_counts(info: Mapping[str, Any]) -> tuple[int, int, int, str]:
    """(given, left out for missing values, analysed, unit) from a result's ``info``: patients when
    the model counts them (long data), else rows (one per patient)."""
    if "n_patients_input" in info:
        given, lost = int(info["n_patients_input"]), int(info["n_patients_dropped"])
        return given, lost, given - lost, "patients"
    given = int(info.get("n_input", info.get("n", 0)))
    lost = int(info.get("n_dropped_missing", 0))
    return given, lost, given - lost, "patients"


def model_drops(results: Mapping[str, Any]) -> pd.DataFrame:
    """What each model left out for missing values, from its result's ``info`` (raw counts).

    Parameters
    ----------
    results : mapping
        Model name in words -> a fitted result (with ``info``) or an ``info`` dict. A result
        without the counts (``n_input``) is taken as given complete data.

    Returns
    -------
    pandas.DataFrame
        ``model``, ``n_given``, ``n_missing``, ``n_analysed`` (patients), ``variables``
        (``{variable: rows missing it}``; rows of long data, e.g. visits), ``rows_given`` and
        ``rows_missing`` (rows of the model's data, for long data more than patients). Counts:
        they reach a report only through :func:`model_drops_table`.
    """
    rows = []
    for name, res in results.items():
        if res is None:
            continue
        info = res if isinstance(res, Mapping) else getattr(res, "info", {})
        given, lost, analysed, _ = _unit_counts(info)
        rows.append({"model": str(name), "n_given": given, "n_missing": lost, "n_analysed": analysed,
                     "variables": dict(info.get("dropped_by_variable") or {}),
                     "rows_given": int(info.get("n_input", given)), "rows_missing": int(info.get("n_dropped_missing", 0))})
    return pd.DataFrame(rows, columns=["model", "n_given", "n_missing", "n_analysed", "variables", "rows_given", "rows_missing"])


def model_drops_table(results: Mapping[str, Any]) -> ReleasedTable:
    """:func:`model_drops` as a released table: ``Model``, ``Patients given``, ``Left out (missing
    values)``, ``Missing`` (variables, with rows missing each), ``Analysed``.

    Each model's given / left out / analysed counts are protected together (a small number left
    out is shown as ``≤10`` and the analysed count hidden as ``*``, else it could be worked out).
    """
    d = model_drops(results)
    out = []
    for r in d.to_dict("records"):
        prot = protect(pd.DataFrame({"n": [r["n_missing"], r["n_analysed"]]}, index=["left out", "analysed"]))
        variables = ", ".join(f"{VARIABLE_LABELS.get(v, v).lower()} {show_count(k)}" for v, k in sorted(r["variables"].items()))
        out.append({"Model": r["model"], "Patients given": prot.text("Total", "n"),
                    "Left out (missing values)": prot.text("left out", "n"), "Missing (rows)": variables or "none",
                    "Analysed": prot.text("analysed", "n")})
    df = pd.DataFrame(out, columns=["Model", "Patients given", "Left out (missing values)", "Missing (rows)", "Analysed"])
    return table(df, support=d["n_given"].tolist() if len(d) else 0, keep=["Model"])


def patient_flow(cohort: Cohort, analysis: RecoveryAnalysis, *, models: Mapping[str, Any] | None = None,
                 n_extracted: int | None = None, extracted_exclusions: Mapping[str, int] | None = None) -> pd.DataFrame:
    """The patient flow as a tidy table of raw counts (STROBE style).

    Parameters
    ----------
    cohort : Cohort
        The cohort analysed (:func:`~footdrop_outcomes.report.analysis.analyse_recovery` was run on it).
    analysis : RecoveryAnalysis
    models : mapping, optional
        Model name -> result (or ``info``) to show as "analysed" boxes; default the recovery
        analysis's Cox, AFT and cure models.
    n_extracted : int, optional
        Patients in the extract before the cohort was formed (default: the cohort's patients).
    extracted_exclusions : mapping, optional
        Reason -> patients excluded between the extract and the cohort (e.g. the release
        control's small groups); their sum must be ``n_extracted`` minus the cohort's patients.

    Returns
    -------
    pandas.DataFrame
        ``step`` (``"extracted"``, ``"excluded"``, ``"cohort"``, ``"model_excluded"`` (left out
        of the model named in the label for missing values), ``"analysed"``, ``"followup"``),
        ``label`` (words), ``n`` (patients). Rules that excluded nobody have no row.
    """
    n_cohort = len(cohort.patients)
    n_ext = n_cohort if n_extracted is None else int(n_extracted)
    excl = dict(extracted_exclusions or {})
    if n_ext < n_cohort or (excl and sum(excl.values()) != n_ext - n_cohort):
        from footdrop_outcomes.errors import ConfigError

        raise ConfigError("patient_flow: the exclusions between extract and cohort must add up to n_extracted minus the "
                          "cohort's patients")
    if n_ext > n_cohort and not excl:
        excl = {"not in the cohort analysed": n_ext - n_cohort}
    # without n_extracted the first box is the cohort as given: a report cohort has already left out its
    # small groups (named on the title page, never counted), so it is not "the extract"
    first = "Patients in the extract" if n_extracted is not None else (
        "Patients in the report (small groups left out)" if (cohort.metadata or {}).get("release", {}).get("left_out")
        else "Patients in the cohort")
    rows = [{"step": "extracted", "label": first, "n": n_ext}]
    rows += [{"step": "excluded", "label": str(k), "n": int(v)} for k, v in excl.items() if v]  # rules that excluded nobody: no box
    ch = analysis.choices
    n_frame = len(analysis.frame)
    if n_frame != n_cohort:
        rows.append({"step": "excluded", "label": "cause not analysed", "n": n_cohort - n_frame})
    if ch.get("late_entry"):
        for label, key in (("recovered by first contact (never at risk)", "n_recovered_by_entry"),
                           ("no follow-up after first contact", "n_no_time_after_entry")):
            if ch[key]:
                rows.append({"step": "excluded", "label": label, "n": int(ch[key])})
    n_curves = n_frame - int(ch.get("n_recovered_by_entry", 0)) - int(ch.get("n_no_time_after_entry", 0))
    rows.append({"step": "cohort", "label": "Patients in the recovery curves", "n": n_curves})
    n_noevent = n_curves - len(analysis.model_frame)
    if n_noevent:
        rows.append({"step": "excluded", "label": "cause without any recovery (not in the models)", "n": n_noevent})
    if models is None:
        models = {"Cox model": analysis.cox, "AFT model": analysis.aft, "Cure model": analysis.cure}
    d = model_drops(models)
    for r in d.to_dict("records"):
        vars_ = ", ".join(VARIABLE_LABELS.get(v, v).lower() for v in sorted(r["variables"]))
        if r["n_missing"]:
            rows.append({"step": "model_excluded", "label": f"{r['model']}: missing {vars_}", "n": r["n_missing"]})
        rows.append({"step": "analysed", "label": r["model"], "n": r["n_analysed"]})
    frame = analysis.frame
    if ch.get("late_entry"):
        frame = frame[frame["time"].to_numpy(float) > frame["entry"].to_numpy(float)]  # the patients in the curves
    if "patient_id" in frame.columns and "followup_end" in cohort.patients.columns:
        p = cohort.patients.set_index(cohort.patients["patient_id"].astype(str))
        ends = p.loc[frame["patient_id"].astype(str), "followup_end"].astype(str)
        for reason, k in ends.value_counts().sort_index().items():
            words = {"study_end": "at the end of the study", "dropout": "by dropout", "death": "by death"}
            rows.append({"step": "followup", "label": f"ended {words.get(str(reason), str(reason).replace('_', ' '))}", "n": int(k)})
    return pd.DataFrame(rows, columns=["step", "label", "n"])


def flow_figure(flow: pd.DataFrame) -> ReleasedFigure:
    """Draw :func:`patient_flow` as a STROBE-style diagram and release it.

    Main boxes (extract, curves) run down the left with arrows; each exclusion is a box to the
    right of the arrow it leaves; each model's box says how many it left out for missing values and
    which; how follow-up ended is listed at the bottom. Counts
    are rounded to 5 and counts from 1 to the threshold shown as ``≤10`` (the caption says so).
    """
    import matplotlib.pyplot as plt

    thr = get_threshold()
    label = at_risk_labels(flow["n"].to_numpy(), threshold=thr)
    items = list(zip(flow["step"], flow["label"], label, strict=True))
    main = [(s, lab, n) for s, lab, n in items if s in ("extracted", "cohort")]
    models = [(lab, n) for s, lab, n in items if s == "analysed"]
    model_lost = {lab.split(": missing ")[0]: (lab.split(": missing ")[1], n) for s, lab, n in items if s == "model_excluded"}
    height = 1.3 * (len(main) + 2) + 0.6 * sum(1 for s, *_ in items if s == "excluded")
    fig, ax = plt.subplots(figsize=(8.0, max(4.0, height)))
    ax.set_axis_off()
    y = 0.0
    box = {"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": "black"}
    xbox = {"boxstyle": "round,pad=0.3", "facecolor": "#f2f2f2", "edgecolor": "grey"}
    pending: list[tuple[str, str]] = []
    positions: list[float] = []

    def draw_exclusions(top: float) -> float:
        yy = top
        for lab, n in pending:
            yy -= 0.7
            ax.text(0.55, yy, f"Excluded: {lab}\nn = {n}", ha="left", va="center", fontsize=8, bbox=xbox)
            ax.annotate("", xy=(0.54, yy), xytext=(0.25, yy), arrowprops={"arrowstyle": "->", "color": "grey"})
        pending.clear()
        return yy

    for step, lab, n in items:
        if step in ("extracted", "cohort"):
            if positions:
                y = draw_exclusions(y) - 0.8
                ax.annotate("", xy=(0.25, y + 0.35), xytext=(0.25, positions[-1] - 0.35), arrowprops={"arrowstyle": "->"})
            ax.text(0.25, y, f"{lab}\nn = {n}", ha="center", va="center", fontsize=9, bbox=box)
            positions.append(y)
        elif step == "excluded":
            pending.append((lab, n))
    y = draw_exclusions(y) - 1.3
    if models:
        xs = np.linspace(0.12, 0.88, len(models)) if len(models) > 1 else np.array([0.25])
        for x, (lab, n) in zip(xs, models, strict=True):
            ax.annotate("", xy=(x, y + 0.55), xytext=(0.25, positions[-1] - 0.35), arrowprops={"arrowstyle": "->"})
            lost = model_lost.get(lab)
            note = f"\nleft out: {lost[1]}\n(missing {lost[0]})" if lost else "\nnone left out"
            ax.text(x, y, f"Analysed: {lab}\nn = {n}{note}", ha="center", va="center", fontsize=8, bbox=box)
        y -= 1.2
    ends = [(lab, n) for s, lab, n in items if s == "followup"]
    if ends:
        ax.text(0.02, y, "Follow-up of the patients in the curves: " + "; ".join(f"{lab}: {n}" for lab, n in ends), ha="left", va="top",
                fontsize=8, wrap=True)
        y -= 0.6
    ax.set_xlim(0, 1)
    ax.set_ylim(y - 0.2, 0.7)
    ax.set_title(f"Patient flow (counts rounded to 5; 1 to {thr} shown as ≤{thr})", fontsize=9)
    fig.tight_layout()
    support = int(flow.loc[flow["step"] == "extracted", "n"].iloc[0]) if (flow["step"] == "extracted").any() else 0
    return figure(fig, support)


def methods_text(analysis: RecoveryAnalysis) -> ReleasedText:
    """Methods paragraph: complete cases per model and how late entry was handled, as run."""
    ch = analysis.choices
    parts = []
    md = ch.get("missing_data", {})
    lost = {k: v for k, v in md.items() if v.get("n_dropped_missing")}
    names = {"cox": "Cox", "aft": "AFT", "cure": "cure"}
    if lost:
        parts.append("**Missing covariates.** Each model was fitted to the patients with every one of its variables recorded "
                     "(complete cases): " + "; ".join(
                         f"the {names.get(k, k)} model left out {show_count(v['n_dropped_missing'])} of {show_count(v['n_input'])} "
                         f"({', '.join(VARIABLE_LABELS.get(x, x).lower() for x in sorted(v['dropped_by_variable']))} missing)"
                         for k, v in lost.items())
                     + ". A complete-case analysis is unbiased only when whether a value is missing does not depend on the outcome; "
                     "the missing-data section gives the counts, and multiple imputation is the alternative.")
    else:
        parts.append("**Missing covariates.** No patient modelled had a missing value in a model variable.")
    if ch.get("late_entry"):
        k = int(ch["n_recovered_by_entry"]) + int(ch["n_no_time_after_entry"])
        parts.append("**Late entry.** Patients were counted at risk from their first contact with the service, not from onset "
                     "(left truncation: Turnbull and Kaplan-Meier curves, Cox and AFT models), so the time before a patient was "
                     f"first seen does not count as time without recovery; {show_count(k)} patients already recovered at, or not "
                     "followed after, first contact were never at risk and are left out of those analyses. This assumes that when a "
                     "patient is first seen is unrelated to how fast they recover; where referral or treatment delays themselves slow "
                     "recovery, the curves overstate recovery. The cure model and the cumulative incidence count every patient from "
                     "onset (they have no late-entry form here).")
        starts = [v["start"] for k, c in analysis.results.items() if k.startswith("turnbull_") and c is not None
                  for v in (c.info.get("curve_start") or {}).values()
                  if v.get("start", 0) > 0]
        if starts:
            lo, hi = min(starts), max(starts)
            when = f"week {lo:.1f}" if f"{lo:.1f}" == f"{hi:.1f}" else f"weeks {lo:.1f} to {hi:.1f} across groups"
            parts[-1] += (" Each Turnbull curve starts when a tenth of its group (at least 10 patients) had been seen (" + when + "): before "
                          "that too few are under observation to estimate it, so its shares are among patients not yet "
                          "recovered by then. The Turnbull curve places recoveries only in the narrowest stretches between "
                          "visits that the recovery intervals point to; where a patient's first contact falls inside such a "
                          "stretch, the recoveries in it count as before that first contact, where the data fit best "
                          "(docs/survival.md, late entry).")
    elif "entry" in analysis.frame.columns:
        why = (" because patients seen recovered at their first contact are in the data: the extract keeps those who "
               "recovered before first contact, and each patient's first visit interval covers that time"
               if "not a referral sample" in str(ch.get("late_entry_reason", "")) else "")
        parts.append("**Late entry.** Every patient was counted at risk from onset, although first contact is recorded"
                     + why + ".")
    else:
        parts.append("**Late entry.** Every patient was counted at risk from onset (the data do not record first contact).")
    support = [v["n_input"] for v in md.values() if v.get("n_input")] or [len(analysis.frame)]
    return text("\n\n".join(parts), [*support, len(analysis.frame)])


@dataclass(frozen=True)
class MissingDataSection:
    """The released pieces of the missing-data section.

    Attributes
    ----------
    table : ReleasedTable
        Missing values per covariate, overall and by cause (:func:`missingness_table`).
    models : ReleasedTable
        Patients each model left out for missing values (:func:`model_drops_table`).
    flow : ReleasedFigure
        The STROBE-style patient flow (:func:`flow_figure`).
    methods : ReleasedText
        Complete cases and late entry as run (:func:`methods_text`).
    counts : pandas.DataFrame
        The flow's raw counts (:func:`patient_flow`; not for a page).
    patterns : ReleasedFigure
        Which covariates are missing together (:func:`pattern_figure`).
    imputation : ImputationComparison
        The Cox model on complete cases beside multiple imputation (:func:`imputation_comparison`).
    """

    table: ReleasedTable
    models: ReleasedTable
    flow: ReleasedFigure
    methods: ReleasedText
    counts: pd.DataFrame
    patterns: ReleasedFigure
    imputation: ImputationComparison


def missing_data_section(cohort: Cohort, analysis: RecoveryAnalysis, *, models: Mapping[str, Any] | None = None,
                         by: str | None = "cause", n_extracted: int | None = None,
                         extracted_exclusions: Mapping[str, int] | None = None, m: int = 20,
                         seed: int = 2026) -> MissingDataSection:
    """Everything the missing-data section shows, released, in one call (thin notebook cells).

    Parameters
    ----------
    cohort : Cohort
    analysis : RecoveryAnalysis
        From :func:`~footdrop_outcomes.report.analysis.analyse_recovery` on ``cohort``.
    models : mapping, optional
        Model name -> result for the per-model table and the flow (default the recovery
        analysis's Cox, AFT and cure models; add e.g. the trajectory or adherence fits).
    by, n_extracted, extracted_exclusions
        As :func:`missingness_table` and :func:`patient_flow`.
    m, seed
        Imputations and seed of :func:`imputation_comparison`.

    Returns
    -------
    MissingDataSection
    """
    if models is None:
        models = {"Cox model": analysis.cox, "AFT model": analysis.aft, "Cure model": analysis.cure}
    flow = patient_flow(cohort, analysis, models=models, n_extracted=n_extracted, extracted_exclusions=extracted_exclusions)
    return MissingDataSection(table=missingness_table(cohort, by=by), models=model_drops_table(models),
                              flow=flow_figure(flow), methods=methods_text(analysis), counts=flow,
                              patterns=pattern_figure(missing_patterns(cohort)),
                              imputation=imputation_comparison(analysis, m=m, seed=seed))
