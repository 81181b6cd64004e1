"""Report tables: tidy DataFrames of text cells, ready for :func:`styled`.

Every patient count goes through :mod:`footdrop_outcomes.report.counts`, and every table leaves as a
:class:`~footdrop_outcomes.release.ReleasedTable` with the patients behind each row or cell (its
support), so a statistic of a group of 1 to threshold patients is masked.

>>> from footdrop_outcomes import simulate_cohort
>>> t = table_one(simulate_cohort(200, seed=2)).frame
>>> t.columns[-1], t.index[0]
('All', 'Patients')
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.cohort.recovery import recovery_intervals
from footdrop_outcomes.cohort.vocabulary import CAUSES
from footdrop_outcomes.report.analysis import CAUSE_SHORT, EXPECTED_WINDOWS, RecoveryAnalysis, term_label
from footdrop_outcomes.release import ReleasedTable, ReleasedText, term_support
from footdrop_outcomes.report.counts import HIDDEN, count_percent, get_threshold, group_sizes, is_small, protect, table, text

__all__ = ["table_one", "recovery_table", "cumulative_incidence_table", "hazard_ratio_table", "time_ratio_table",
           "cure_table", "ph_test_table", "followup_table", "curve_table", "logrank_text", "styled", "TableDisplay",
           "TABLE_MIMETYPE", "fmt_p", "fmt_ci"]


def fmt_p(p: float) -> str:
    """A p-value as printed: ``<0.001`` below one in a thousand, else three decimals."""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_ci(est: float, lo: float, hi: float, *, digits: int = 2, pct: bool = False) -> str:
    """``est (lo-hi)``; ``pct`` prints proportions as percentages; a positive value that would
    round to zero shows as ``<0.01`` (never ``0.00`` for a ratio).

    >>> fmt_ci(0.02, 0.004, 0.12), fmt_ci(1.5, 1.2, 1.9), fmt_ci(0.3, 0.2, 0.4, pct=True)
    ('0.02 (<0.01-0.12)', '1.50 (1.20-1.90)', '30% (20-40)')
    """
    def one(x: float) -> str:
        if not np.isfinite(x):
            return "NR" if x == np.inf else "-"  # not reached / not estimable, never "nan" or "inf" on a page
        if pct:
            return f"{100 * x:.0f}%"
        return f"<{10.0 ** -digits:.{digits}f}" if 0 < x < 0.5 * 10.0 ** -digits else f"{x:.{digits}f}"

    if not np.isfinite(est):
        return "not estimable"
    if not (np.isfinite(lo) or np.isfinite(hi)):
        return f"{one(est)} (CI not estimable)"
    return f"{one(est)} ({one(lo).rstrip('%')}-{one(hi).rstrip('%')})"


def _median_iqr(x: pd.Series, digits: int = 0) -> str:
    x = pd.to_numeric(x, errors="coerce").dropna()
    if x.empty:
        return "-"
    q1, q2, q3 = np.percentile(x, [25, 50, 75])
    return f"{q2:.{digits}f} ({q1:.{digits}f}-{q3:.{digits}f})"


def table_one(cohort: Cohort, *, threshold: int = 4) -> ReleasedTable:
    """Baseline characteristics by cause (columns) and overall: Table 1.

    Rows: patients, age, sex, severity, baseline MRC, diabetes, current smoking, BMI, days to
    treatment, interventions, follow-up and how it ended, recovery seen at a visit. Every count
    is protected (:mod:`~footdrop_outcomes.report.counts`): each categorical breakdown is one
    cause x category table with its margins, so no small cell follows from the totals.
    """
    p = cohort.patients.copy()
    rec = recovery_intervals(cohort, threshold=threshold).table
    p["recovered"] = rec["event"].to_numpy(bool)
    p["followup_weeks"] = p["followup_days"] / 7.0
    p["cause"] = p["cause"].astype(str)
    present = [c for c in CAUSES if (p["cause"] == c).any()]
    keys = present + ["Total"]
    names = [CAUSE_SHORT[c] for c in present] + ["All"]
    groups = [p[p["cause"] == c] for c in present] + [p]
    rows: dict[str, list[str]] = {}

    def add(label: str, fn: Any) -> None:  # summaries of a handful of patients are not shown
        rows[label] = ["-" if is_small(len(g)) else fn(g) for g in groups]

    def block(values: pd.Series, categories: list[tuple[str, Any]]) -> None:
        """One protected cause x category table; show the rows for ``categories`` (label, value)."""
        tab = pd.crosstab(p["cause"], values.astype(str)).reindex(index=present, fill_value=0)
        prot = protect(tab)
        for label, value in categories:
            col = str(value)
            if col not in tab.columns:
                rows[label] = [count_percent(0, prot.count(k, "Total")) for k in keys]
            else:
                rows[label] = [count_percent(prot.count(k, col), prot.count(k, "Total"), hidden=prot.hidden(k, col),
                                             total_hidden=prot.hidden(k, "Total") or patients.hidden(k, "n")) for k in keys]

    patients = group_sizes(p["cause"])
    rows["Patients"] = [patients.text(k, "n") for k in keys]
    add("Age, years, median (IQR)", lambda g: _median_iqr(g["age"]))
    block(p["sex"], [("Female, n (%)", "female")])
    block(p["severity"], [(f"Severity {sev}, n (%)", sev) for sev in ("mild", "moderate", "severe")])
    add("Baseline MRC, median (IQR)", lambda g: _median_iqr(g["baseline_mrc"]))
    # nullable covariates (schema 1.1): an unknown value is shown as "not recorded", never counted as "no"
    # (the "not recorded" row appears when some value is missing)
    diabetes = p["diabetes"].astype("boolean")
    block(diabetes.astype(object).where(diabetes.notna(), "not recorded"),
          [("Diabetes, n (%)", True)] + [("Diabetes not recorded, n (%)", "not recorded")] * bool(diabetes.isna().any()))
    block(p["smoking"].astype(object).where(p["smoking"].notna(), "not recorded"),
          [("Current smoker, n (%)", "current")] + [("Smoking not recorded, n (%)", "not recorded")] * bool(p["smoking"].isna().any()))
    add("BMI, median (IQR)", lambda g: _median_iqr(g["bmi"], 1))
    add("Days to treatment, median (IQR)", lambda g: _median_iqr(g["days_to_treatment"]))
    block(p["supervised_physio"].astype(bool), [("Supervised physiotherapy, n (%)", True)])
    block(p["afo"].astype(str) != "none", [("Ankle-foot orthosis, n (%)", True)])
    block(p["fes"].astype(bool), [("FES, n (%)", True)])
    block(p["surgery"].astype(str) != "none", [("Surgery, n (%)", True)])
    add("Follow-up, weeks, median (IQR)", lambda g: _median_iqr(g["followup_weeks"]))
    block(p["followup_end"], [("Dropped out, n (%)", "dropout"), ("Died, n (%)", "death")])
    block(p["recovered"], [(f"Recovered (MRC >= {threshold}) at a visit, n (%)", True)])
    out = pd.DataFrame(rows, index=names).T
    support = pd.DataFrame([[len(g) for g in groups]] * len(out), index=out.index, columns=out.columns)
    return table(out, support)


def _causes_in(analysis: RecoveryAnalysis) -> list[str]:
    present = set(analysis.frame["cause"].astype(str))
    return [c for c in CAUSES if c in present]


def _expected(cause: str) -> str:
    out = [f"{txt}" + ("" if sev is None else f" ({sev})") for (c, sev), (_, _, txt) in EXPECTED_WINDOWS.items() if c == cause]
    return "; ".join(out) or "-"


def recovery_table(analysis: RecoveryAnalysis) -> ReleasedTable:
    """Recovery by cause, all patients of each cause: patients, recovery seen at a visit, the share
    expected never to recover (mixture cure model), and the expected window.

    No median here: the report gives one median per group, the Turnbull median of all patients
    (:func:`curve_table`), so that a group never shows two medians of different populations."""
    f = analysis.frame
    alpha = analysis.choices["alpha"]
    level = round(100 * (1 - alpha))
    empty = pd.DataFrame(columns=["cure_fraction", "median", "lower", "upper"])
    cure_by = (analysis.cure.cure_fractions(by=["cause"]).assign(cause=lambda d: d["cause"].astype(str)).set_index("cause")
               if analysis.cure is not None else empty)
    rows = []
    causes = _causes_in(analysis)
    seen = protect(pd.crosstab(f["cause"].astype(str), f["event"].astype(bool)).reindex(index=causes, columns=[True, False], fill_value=0))
    sizes = group_sizes(f["cause"])  # the same protected cause sizes as Table 1
    for c in causes:
        never = fmt_ci(*cure_by.loc[c, ["cure_fraction", "lower", "upper"]], pct=True) if c in cure_by.index else "not estimable"
        rows.append({"Cause": CAUSE_SHORT[c], "Patients": sizes.text(c, "n"),
                     "Recovery seen, n (%)": count_percent(seen.count(c, True), seen.count(c, "Total"), hidden=seen.hidden(c, True),
                                                           total_hidden=sizes.hidden(c, "n") or seen.hidden(c, "Total")),
                     f"Expected never to recover (cure model), % ({level}% CI)": never,
                     "Expected window": _expected(c)})
    n = f["cause"].astype(str).value_counts()
    return table(pd.DataFrame(rows), [int(n[c]) for c in causes], keep=["Cause", "Expected window"])


def cumulative_incidence_table(analysis: RecoveryAnalysis) -> ReleasedTable:
    """Cumulative incidence of recovery (death competing) by cause at each landmark, % (CI)."""
    s = analysis.cif.summary
    s = s[s["kind"] == "recovery"]
    rows = []
    for c in _causes_in(analysis):
        g = s[s["group"].astype(str) == c].set_index("landmark")
        row = {"Cause": CAUSE_SHORT[c]}
        for lm in analysis.choices["landmarks"]:
            r = g.loc[lm] if lm in g.index else None
            label = f"{lm:g} weeks"
            if r is None:
                row[label] = "-"
            elif not np.isfinite(r["lower"]):
                row[label] = f"{100 * r['cif']:.0f}%"
            else:
                row[label] = fmt_ci(r["cif"], r["lower"], r["upper"], pct=True)
        rows.append(row)
    n = analysis.frame["cause"].astype(str).value_counts()
    return table(pd.DataFrame(rows), [int(n.get(c, 0)) for c in _causes_in(analysis)], keep=["Cause"])


def hazard_ratio_table(cox: Any, frame: pd.DataFrame) -> ReleasedTable:
    """Cox hazard ratios of recovery with CI, p and the term's PH test; ``frame`` (the patients
    fitted) gives each term's support (the patients at a factor level)."""
    level = round(100 * (1 - cox.alpha))
    ph = cox.ph_test.set_index("term")
    s = cox.summary
    out = pd.DataFrame({
        "Term": [term_label(t) for t in s["term"]],
        f"Hazard ratio ({level}% CI)": [fmt_ci(h, lo, hi) for h, lo, hi in zip(s["hr"], s["hr_lower"], s["hr_upper"])],
        "p": [fmt_p(p) for p in s["p"]],
        "PH test p": [fmt_p(ph.loc[t, "p"]) if t in ph.index else "-" for t in s["term"]],
    })
    return table(out, [term_support(t, frame) for t in s["term"]], keep=["Term"])


def time_ratio_table(aft: Any, frame: pd.DataFrame) -> ReleasedTable:
    """AFT time ratios (how much longer recovery takes) with CI and p; intercept left out."""
    level = round(100 * (1 - aft.alpha))
    s = aft.summary[aft.summary["term"] != "Intercept"]
    out = pd.DataFrame({
        "Term": [term_label(t) if t != "log(scale)" else "Scale (Weibull: 1/shape)" for t in s["term"]],
        f"Time ratio ({level}% CI)": [fmt_ci(e, lo, hi) for e, lo, hi in zip(s["time_ratio"], s["tr_lower"], s["tr_upper"])],
        "p": [fmt_p(p) for p in s["p"]],
    })
    return table(out, [term_support(t, frame) for t in s["term"]], keep=["Term"])


def cure_table(cure: Any, frame: pd.DataFrame) -> ReleasedTable:
    """Cure model: odds ratios of ever recovering (incidence) and time ratios among recoverers
    (latency), side by side per term."""
    s = cure.summary
    level = round(100 * (1 - cure.alpha))
    inc = s[(s["component"] == "incidence") & (s["term"] != "Intercept")].set_index("term")
    lat = s[(s["component"] == "latency") & (s["measure"] == "time_ratio") & (s["term"] != "Intercept")].set_index("term")
    terms = list(dict.fromkeys([*inc.index, *lat.index]))
    out = pd.DataFrame({
        "Term": [term_label(t) for t in terms],
        f"Odds ratio of ever recovering ({level}% CI)": [fmt_ci(*inc.loc[t, ["estimate", "lower", "upper"]]) if t in inc.index else "-" for t in terms],
        f"Time ratio if recovering ({level}% CI)": [fmt_ci(*lat.loc[t, ["estimate", "lower", "upper"]]) if t in lat.index else "-" for t in terms],
    })
    return table(out, [term_support(t, frame) for t in terms], keep=["Term"])


def ph_test_table(cox: Any, frame: pd.DataFrame) -> ReleasedTable:
    """The proportional-hazards score test per term and globally."""
    t = cox.ph_test
    out = pd.DataFrame({"Term": [term_label(x) if x != "GLOBAL" else "Global" for x in t["term"]],
                         "Chi-square": [f"{v:.2f}" for v in t["chisq"]], "df": t["df"].astype(int).astype(str),
                         "p": [fmt_p(p) for p in t["p"]], "Verdict": t["verdict"].astype(str)})
    return table(out, [term_support(x, frame) for x in t["term"]], keep=["Term", "Verdict"])


#: Mimetype of the table model a displayed report table carries beside its HTML (read by the Word export).
TABLE_MIMETYPE = "application/vnd.footdrop.table+json"
#: Version of the table model's JSON layout.
TABLE_MODEL_VERSION = 1
_NUMBER = re.compile(r"^\s*Table\s+([0-9]+[A-Za-z]?)\b")


def _mark(cell: str, masked: bool) -> str:
    """The suppression mark of a shown cell: ``masked`` (support 1..threshold: ``-``), ``small``
    (a count shown as ``≤N``), ``hidden`` (complementary suppression: ``*``) or ``""``."""
    if masked:
        return "masked"
    if cell == HIDDEN:
        return "hidden"
    if cell.startswith("≤"):
        return "small"
    return ""


def _marks_footnotes(marks: list[list[str]], threshold: int) -> list[str]:
    """Footnotes explaining the suppression marks a table uses (none when it uses none)."""
    used = {m for row in marks for m in row}
    notes = []
    if "small" in used:
        notes.append(f"≤{threshold}: a count from 1 to {threshold}, shown without a percentage.")
    if "hidden" in used:
        notes.append(f"{HIDDEN}: a count hidden so that a small count cannot be worked out from the totals.")
    if "masked" in used:
        notes.append(f"-: not shown (based on {threshold} or fewer patients) or not estimable.")
    return notes


class TableDisplay:
    """A released report table as displayed: one model, two renderings from the same strings.

    In a notebook it displays as ``text/html`` (a pandas Styler: caption, cells and footnotes,
    used by the PDF and HTML exports) and as :data:`TABLE_MIMETYPE`, a JSON table model
    (:meth:`model`: caption, table number, header rows, body cells as the exact display strings,
    suppression marks, footnotes) that the Word export
    (:func:`footdrop_outcomes.report.docx_export.export_docx`) turns into a real Word table.
    Made by :func:`styled`.

    Attributes
    ----------
    frame : pandas.DataFrame
        The cells as shown (text).
    caption : str
    footnotes : tuple of str
        Given footnotes, then those explaining the suppression marks used.
    """

    def __init__(self, frame: pd.DataFrame, caption: str, *, index: bool, nowrap: bool, left: list[str] | None,
                 masked: pd.DataFrame | None, footnotes: tuple[str, ...], threshold: int) -> None:
        self.frame = frame
        self.caption = caption
        self._index, self._nowrap, self._left = index, nowrap, left
        self._masked = masked
        cells = [[str(v) for v in row] for row in frame.itertuples(index=False, name=None)]
        m = masked.to_numpy(dtype=bool) if masked is not None else np.zeros(frame.shape, dtype=bool)
        self._cells = cells
        self._marks = [[_mark(c, bool(m[i, j])) for j, c in enumerate(row)] for i, row in enumerate(cells)]
        self.footnotes = tuple(footnotes) + tuple(n for n in _marks_footnotes(self._marks, threshold) if n not in footnotes)

    @property
    def styler(self) -> Any:
        """The pandas Styler of the HTML rendering (caption, stable id, no index unless asked)."""
        uuid = hashlib.sha1(self.caption.encode()).hexdigest()[:8]
        sty = self.frame.style.set_caption(self.caption).set_uuid(uuid)
        if self._left:
            sty = sty.set_properties(subset=[c for c in self._left if c in self.frame.columns], **{"text-align": "left"})
        if self._nowrap:
            sty = sty.set_table_attributes('class="fd-nowrap"')
        if not self._index:
            sty = sty.hide(axis="index")
        return sty

    def to_html(self) -> str:
        """The table as HTML: the Styler's table, then one ``<p class="fd-table-note">`` per footnote."""
        notes = "".join(f'<p class="fd-table-note" style="font-size: 7.5pt; margin: 0.15em 0;">{html.escape(n)}</p>' for n in self.footnotes)
        return self.styler.to_html() + notes

    def _repr_html_(self) -> str:
        return self.to_html()

    def model(self) -> dict[str, Any]:
        """The table model (JSON-serialisable), the same strings as the HTML.

        Keys: ``version``; ``number`` (from a caption ``"Table N. ..."``, else None); ``caption``;
        ``header``: header rows, each a list of strings (one row per column level; with an index,
        its name is the first entry); ``body``: rows of cell strings (with an index, the row label
        first); ``marks``: like ``body``, ``""``, ``"masked"``, ``"small"`` or ``"hidden"`` per cell
        (row labels ``""``); ``index``: whether the first column is the row label; ``footnotes``;
        ``align``: ``"left"`` or ``"right"`` per column; ``nowrap``: cells are meant to stay on one line.
        """
        cols = self.frame.columns
        levels = [[str(c) for c in cols.get_level_values(k)] for k in range(cols.nlevels)]
        left = set(self._left or [])
        # as the print stylesheet: the first column (row labels) and the ``left`` columns to the left
        align = ["left" if ((j == 0 and not self._index) or (isinstance(c, str) and c in left)) else "right"
                 for j, c in enumerate(cols)]
        body, marks = [list(r) for r in self._cells], [list(r) for r in self._marks]
        if self._index:
            names = [n for n in self.frame.index.names]
            stub = "" if names == [None] else " / ".join("" if n is None else str(n) for n in names)
            levels = [[stub if k == 0 else "", *row] for k, row in enumerate(levels)]
            labels = [" / ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in self.frame.index]
            body = [[lab, *row] for lab, row in zip(labels, body)]
            marks = [["", *row] for row in marks]
            align = ["left", *align]
        m = _NUMBER.match(self.caption)
        return {"version": TABLE_MODEL_VERSION, "number": m.group(1) if m else None, "caption": self.caption,
                "header": levels, "body": body, "marks": marks, "index": bool(self._index),
                "footnotes": list(self.footnotes), "align": align, "nowrap": bool(self._nowrap)}

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": self.caption, "text/html": self.to_html(), TABLE_MIMETYPE: self.model()}

    def __repr__(self) -> str:
        return f"TableDisplay({self.caption!r}, {self.frame.shape[0]} rows x {self.frame.shape[1]} columns)"


def styled(table: ReleasedTable | pd.DataFrame, caption: str, *, index: bool = False, nowrap: bool = False,
           left: list[str] | None = None, footnotes: tuple[str, ...] | list[str] = ()) -> TableDisplay:
    """A released table as displayed: a :class:`TableDisplay` (HTML from a pandas Styler with a
    caption, no index unless asked and a stable id, so the same HTML every run; plus the JSON table
    model of the same strings for the Word export).

    ``table`` is a :class:`~footdrop_outcomes.release.ReleasedTable` (its masked cells are marked
    as such) or the text frame of one; ``nowrap`` keeps each cell on one line (for tables of
    short cells that are known to fit); ``left`` lists text columns to align left; ``footnotes``
    go under the table (a footnote explaining ``≤N``, ``*`` and masked ``-`` cells is added when
    the table has any).
    """
    masked = None
    if isinstance(table, ReleasedTable):
        frame, masked, threshold = table.frame, table.masked, table.policy.threshold
    elif isinstance(table, pd.DataFrame):
        frame, threshold = table, get_threshold()
    else:
        raise TypeError(f"styled needs a ReleasedTable or its frame, got {type(table).__name__}")
    return TableDisplay(frame, caption, index=index, nowrap=nowrap, left=left, masked=masked,
                        footnotes=tuple(footnotes), threshold=threshold)


def followup_table(cohort: Cohort) -> ReleasedTable:
    """Follow-up by cause: visits per patient, weeks followed, how follow-up ended."""
    p = cohort.patients
    visits = cohort.visits.groupby(cohort.visits["patient_id"].astype(str), observed=True).size()
    p = p.assign(n_visits=p["patient_id"].astype(str).map(visits).fillna(0).to_numpy(), weeks=p["followup_days"] / 7.0)
    rows = []
    present = [c for c in CAUSES if (p["cause"].astype(str) == c).any()]
    ends = protect(pd.crosstab(p["cause"].astype(str), p["followup_end"].astype(str))
                   .reindex(index=present, columns=["study_end", "dropout", "death"], fill_value=0))
    sizes = group_sizes(p["cause"])  # the same protected cause sizes as Table 1

    def pct(k: str, col: str) -> str:
        return count_percent(ends.count(k, col), ends.count(k, "Total"), hidden=ends.hidden(k, col),
                             total_hidden=ends.hidden(k, "Total") or sizes.hidden(k, "n"))

    for c in present + ["All"]:
        g = p if c == "All" else p[p["cause"].astype(str) == c]
        k = "Total" if c == "All" else c
        rows.append({"Cause": CAUSE_SHORT.get(c, c), "Patients": sizes.text(k, "n"),
                     "Visits per patient, median (IQR)": "-" if is_small(len(g)) else _median_iqr(g["n_visits"]),
                     "Weeks followed, median (IQR)": "-" if is_small(len(g)) else _median_iqr(g["weeks"]),
                     "Study end, n (%)": pct(k, "study_end"),
                     "Dropout, n (%)": pct(k, "dropout"),
                     "Death, n (%)": pct(k, "death")})
    n = p["cause"].astype(str).value_counts()
    return table(pd.DataFrame(rows), [int(n[c]) for c in present] + [len(p)], keep=["Cause"])


#: What a curve table's caption adds when its medians may be ranges.
MEDIAN_NOTE = ("n.i. (a-b): not identifiable; the visits leave the median anywhere between weeks a and b, "
               "so no estimate or confidence interval is given")


def _identified(r: Any, *, digits: int, scale: float) -> str:
    """A median or landmark share as the data identify it: a point ``est (lo-hi)``; for a share, a
    range the visit schedule leaves open ``a to b (lo-hi)`` (its CI covers the whole range); for a
    median, such a range as ``n.i. (a-b)`` (not identifiable: the caption says so, see
    :data:`MEDIAN_NOTE`), with no CI (a nominal CI is claimed for point medians only); or words
    (not reached, not identifiable)."""
    how = str(r.get("identification", "point"))
    if how == "not identifiable":
        return "not identifiable"
    if how == "not reached":
        return "not reached"

    median = str(r.get("statistic", "")) == "median"

    def f(x: float) -> str:  # a median's missing upper limit is one the curve never reaches
        return "NR" if x == np.inf or (median and not np.isfinite(x)) else (f"{scale * x:.{digits}f}" if np.isfinite(x) else "-")

    ci = f" ({f(r['lower'])}-{f(r['upper'])})" if np.isfinite(r["lower"]) or np.isfinite(r["upper"]) else ""
    if how == "set" and np.isfinite(r.get("set_lower", np.nan)) and np.isfinite(r.get("set_upper", np.nan)) \
            and f(r["set_lower"]) != f(r["set_upper"]):
        if median:  # the visits leave the median anywhere in the range: no estimate, and no CI claimed for one
            return f"n.i. ({f(r['set_lower'])}-{f(r['set_upper'])})"  # the caption spells it out (MEDIAN_NOTE)
        return f"{f(r['set_lower'])} to {f(r['set_upper'])}{ci}"
    return f"{f(r['estimate'])}{ci}" if np.isfinite(r["estimate"]) else "-"


def curve_table(curves: Any, *, expected: bool = False, groups: pd.Series | None = None, median: bool = True) -> ReleasedTable:
    """Median time to recovery and the share recovered by each landmark, by group, from a
    Kaplan-Meier or Turnbull :class:`~footdrop_outcomes.survival.CurveResult`; with
    ``expected``, the expected window beside each cause. ``groups`` (every patient's group, e.g.
    ``rec.frame["cause"]``, including groups left out of the curves) makes the patient counts the
    same protected sizes as Table 1's. ``median=False`` leaves the median out (a report shows one
    median per group: the Turnbull one; the visit-dated Kaplan-Meier table gives shares only)."""
    s = curves.summary
    level = round(100 * (1 - curves.info["alpha"]))
    rows = []
    sizes = {str(k): int(g[g["statistic"] == "median"]["n"].iloc[0]) for k, g in s.groupby("group", sort=False, observed=True)}
    sizes_p = group_sizes(groups) if groups is not None else protect(pd.Series(sizes, dtype="int64"))
    for group, g in s.groupby("group", sort=False, observed=True):
        group = str(group)
        med = g[g["statistic"] == "median"].iloc[0]
        row = {"Group": CAUSE_SHORT.get(group, group.capitalize()), "Patients": sizes_p.text(group, "n")}
        if median:
            row[f"Median weeks, all patients ({level}% CI)"] = _identified(med, digits=1, scale=1.0)
        for _, r in g[g["statistic"] == "recovered_by"].iterrows():
            row[f"% by {r['time']:g} wk"] = _identified(r, digits=0, scale=100.0)
        if is_small(sizes[group]):  # shares of a handful of patients give their counts back
            row = {k: (v if k in ("Group", "Patients") else "-") for k, v in row.items()}
        if expected:
            row["Expected window"] = _expected(group)
        rows.append(row)
    support = [sizes[str(g)] for g, _ in s.groupby("group", sort=False, observed=True)]
    return table(pd.DataFrame(rows), support, keep=["Group", "Expected window"] if expected else ["Group"])


def logrank_text(result: Any, by: str, groups: pd.Series) -> ReleasedText:
    """One sentence: the overall (and trend) log-rank test across the groups of ``by``; ``groups``
    (every tested patient's group) gives the support."""
    if result is None:
        return text(f"Only one {by} group: no log-rank test.", [])
    s = result.summary
    o = s[s["test"] == "overall"].iloc[0]
    txt = f"Log-rank test across {by} groups: chi-square {o['chisq']:.1f} on {int(o['df'])} df, p {fmt_p(o['p'])}"
    t = s[s["test"] == "trend"]
    if not t.empty and by == "severity":  # a trend test needs ordered groups
        txt += f"; trend ({t.iloc[0]['comparison']}) chi-square {t.iloc[0]['chisq']:.1f}, p {fmt_p(t.iloc[0]['p'])}"
    tested = groups.astype(str).value_counts()
    return text(txt + ".", [int(n) for n in tested.to_numpy() if n > 0])
