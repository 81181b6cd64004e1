"""Table 1: the cohort described, overall and by group, as a manuscript's first table.

In the manner of R's gtsummary ``tbl_summary()``: one block per characteristic, with its label and
unit (:data:`LABELS`); a continuous characteristic as median (Q1-Q3) (or mean (SD)), a yes/no one as
n (%) of yes, a categorical one as one indented row per level, n (%); a "Not recorded" row with the
count of missing values wherever a value is missing (percentages are of the patients with the value
recorded); an overall column; by-group columns; standardised mean differences; and tests only when
asked (``tests=True``), named in a footnote.

Tests (``tests=True``): a categorical or yes/no characteristic, Pearson's chi-square test without
continuity correction (R ``chisq.test(correct = FALSE)``), or Fisher's exact test when an expected
count is under 5 (exact for 2 x 2 tables; larger tables by a seeded Monte Carlo permutation of the
table with fixed margins, 9,999 resamples); a continuous one, the Kruskal-Wallis rank-sum test
(median summaries; for two groups the Wilcoxon rank-sum test without continuity correction) or
one-way ANOVA (mean summaries; for two groups the pooled-variance t test).

SMD: for two groups, (mean2 - mean1) / sqrt((s1^2 + s2^2) / 2), second group minus first (True minus
False for a boolean ``by``), on the value or, for a categorical characteristic, on each level's
indicator; for more groups, the largest absolute pairwise SMD. Sample SDs (n - 1).

Release: :meth:`TableOne.released` gives the table under release control: every count block
(groups x levels with the overall margin) protected by :func:`footdrop_outcomes.release.suppress_counts`
(counts 1..threshold as ``≤N`` without a percentage, counts that would reveal them as ``*``), group
sizes in the headers the same way, and a summary, SMD or p-value of a group of 1..threshold patients
masked. The cohort layer imports the release package only there (it imports nothing of the cohort
layer); layering is otherwise unchanged.

>>> from footdrop_outcomes import simulate_cohort
>>> t1 = table_one(simulate_cohort(300, seed=2), by="supervised_physio", covariates=["age", "sex", "bmi"])
>>> list(t1.table.columns)
['Characteristic', 'Overall (N = 300)', 'No (N = 139)', 'Yes (N = 161)', 'SMD']
>>> [x.replace(INDENT, "  ") for x in t1.table["Characteristic"].tolist()[:4]]
['Age, years, median (Q1-Q3)', 'Sex, n (%)', '  female', '  male']
"""

from __future__ import annotations

import html
import dataclasses
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.errors import ConfigError, FootdropError

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort
    from footdrop_outcomes.release import ReleasedTable, ReleasePolicy

__all__ = ["table_one", "TableOne", "DEFAULT_COVARIATES", "LABELS", "Table1InputError"]

#: Baseline covariates shown by default (those present in the data).
DEFAULT_COVARIATES = ("age", "sex", "cause", "severity", "baseline_mrc", "diabetes", "hba1c", "smoking", "bmi",
                      "days_to_treatment", "supervised_physio", "afo", "fes", "surgery")

#: Label (with unit) of each patient characteristic; others show their column name.
LABELS: dict[str, str] = {
    "age": "Age, years", "sex": "Sex", "cause": "Cause of foot drop", "severity": "Severity at onset",
    "baseline_mrc": "Baseline dorsiflexion MRC grade (0-5)", "diabetes": "Diabetes", "hba1c": "HbA1c, %",
    "smoking": "Smoking", "bmi": "BMI, kg/m²", "days_to_treatment": "Days from onset to treatment",
    "supervised_physio": "Supervised physiotherapy", "afo": "Ankle-foot orthosis", "fes": "Functional electrical stimulation",
    "surgery": "Surgery for foot drop", "followup_days": "Follow-up, days", "site": "Site",
}

#: Indent of a level row (an em space: kept by HTML, Word and PDF alike).
INDENT = "\u2003"
NOT_RECORDED = "Not recorded"
_MC_RESAMPLES = 9999


class Table1InputError(FootdropError, ValueError):
    """The data cannot be described as asked (grouping column with missing values, one group only)."""


def _smd(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    sd = np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    return float((a.mean() - b.mean()) / sd) if sd > 0 else 0.0


def _kind(s: pd.Series) -> Literal["binary", "categorical", "continuous"]:
    if pd.api.types.is_bool_dtype(s):
        return "binary"
    if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s):
        return "categorical"
    return "continuous"


def _group_label(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "Yes" if value else "No"
    return str(value)


@dataclass(frozen=True, repr=False, kw_only=True)
class TableOne(AnalysisResult):
    """Table 1: patient characteristics overall and by group.

    Attributes
    ----------
    summary : pandas.DataFrame
        Tidy, one row per characteristic, level and group (``group``: the group's value as text;
        ``"Overall"`` only when ``by`` is None): ``variable``, ``level`` (``""``; a category; ``"missing"`` for the count
        of missing values), ``group``, ``n`` (patients with the value recorded; for ``"missing"``
        rows the group's patients), ``count``, ``percent`` (of ``n``), ``mean``, ``sd``,
        ``median``, ``q1``, ``q3``, ``missing``. The first rows (``variable == "n"``) are the group sizes.
    overall : pandas.DataFrame
        The same for the overall column (``group == "Overall"``; empty with ``overall=False``).
    smd : pandas.DataFrame
        ``variable``, ``level``, ``smd`` (two groups: signed; more: largest absolute pairwise).
    tests : pandas.DataFrame
        ``variable``, ``test``, ``statistic``, ``df``, ``p`` (empty unless ``tests=True``).
    table : pandas.DataFrame
        The formatted table, text cells: ``Characteristic`` (labels; level rows indented with
        :data:`INDENT`), ``Overall (N = ...)``, one column per group, ``SMD``, ``p-value``.
    footnotes : tuple of str
        What the cells are (summaries, tests).
    """

    smd: pd.DataFrame
    tests: pd.DataFrame
    table: pd.DataFrame
    footnotes: tuple[str, ...] = ()
    overall: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    def plot(self, ax: Any = None, threshold: float = 0.1, **kwargs: Any) -> Any:
        """Absolute SMD per characteristic (and level), with the 0.1 reference line."""
        import matplotlib.pyplot as plt

        s = self.smd.dropna(subset=["smd"])
        labels = np.where(s["level"] == "", s["variable"], s["variable"] + ": " + s["level"])
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.25 * len(s) + 1.5))
        ax.scatter(np.abs(s["smd"]), np.arange(len(s)), **kwargs)
        ax.axvline(threshold, color="grey", linestyle=":", linewidth=1)
        ax.set_yticks(np.arange(len(s)), labels, fontsize="small")
        ax.set_xlabel("absolute standardised mean difference")
        return ax

    def _repr_html_(self) -> str:
        """The formatted table (not the tidy summary) with its footnotes."""
        sty = self.table.style.hide(axis="index").set_properties(subset=["Characteristic"], **{"text-align": "left"})
        notes = "".join(f"<p style='font-size:smaller'>{html.escape(n)}</p>" for n in self.footnotes)
        return sty.to_html() + notes

    def released(self, policy: ReleasePolicy | None = None) -> ReleasedTable:
        """The formatted table under release control (see the module docstring): a
        :class:`~footdrop_outcomes.release.ReleasedTable` a report page accepts."""
        from footdrop_outcomes.release import ReleasePolicy, release_table

        policy = policy if policy is not None else ReleasePolicy()
        frame, support = _released_frame(self, policy.threshold)
        return release_table(frame, policy, support=support, keep=["Characteristic"])


def _fmt_num(x: float, digits: int) -> str:
    return "-" if not np.isfinite(x) else f"{x:.{digits}f}"


def _p(p: float) -> str:
    return "-" if not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def _test(kind: str, groups: list[np.ndarray], counts: np.ndarray | None, statistic: str, seed: int) -> dict[str, Any]:
    """One test across the groups: counts (groups x levels) for categorical, values for continuous."""
    from scipy import stats

    if kind == "continuous":
        vals = [g[~np.isnan(g)] for g in groups]
        vals = [v for v in vals if len(v)]
        if len(vals) < 2:
            return {"test": "not tested", "statistic": np.nan, "df": np.nan, "p": np.nan}
        if statistic == "median":
            if len(vals) == 2:
                r = stats.mannwhitneyu(vals[0], vals[1], alternative="two-sided", use_continuity=False, method="asymptotic")
                return {"test": "Wilcoxon rank-sum", "statistic": float(r.statistic), "df": np.nan, "p": float(r.pvalue)}
            r = stats.kruskal(*vals)
            return {"test": "Kruskal-Wallis", "statistic": float(r.statistic), "df": len(vals) - 1, "p": float(r.pvalue)}
        if len(vals) == 2:
            r = stats.ttest_ind(vals[0], vals[1], equal_var=True)
            return {"test": "t test", "statistic": float(r.statistic), "df": len(vals[0]) + len(vals[1]) - 2, "p": float(r.pvalue)}
        r = stats.f_oneway(*vals)
        return {"test": "ANOVA", "statistic": float(r.statistic), "df": len(vals) - 1, "p": float(r.pvalue)}
    assert counts is not None
    tab = counts[counts.sum(axis=1) > 0][:, counts.sum(axis=0) > 0]
    if tab.shape[0] < 2 or tab.shape[1] < 2:
        return {"test": "not tested", "statistic": np.nan, "df": np.nan, "p": np.nan}
    expected = stats.contingency.expected_freq(tab)
    if (expected < 5).any():
        if tab.shape == (2, 2):
            r = stats.fisher_exact(tab)
            return {"test": "Fisher exact", "statistic": np.nan, "df": np.nan, "p": float(r.pvalue)}
        method = stats.PermutationMethod(n_resamples=_MC_RESAMPLES, rng=np.random.default_rng(seed))
        r = stats.fisher_exact(tab, method=method)
        return {"test": "Fisher exact (Monte Carlo)", "statistic": np.nan, "df": np.nan, "p": float(r.pvalue)}
    chi2, p, dof, _ = stats.chi2_contingency(tab, correction=False)
    return {"test": "chi-square", "statistic": float(chi2), "df": int(dof), "p": float(p)}


def table_one(
    data: Cohort | pd.DataFrame,
    by: str | None = "supervised_physio",
    covariates: Sequence[str] | None = None,
    *,
    digits: int = 1,
    statistic: Literal["median", "mean"] = "median",
    overall: bool = True,
    tests: bool = False,
    labels: Mapping[str, str] | None = None,
    seed: int = 2026,
) -> TableOne:
    """Table 1: patient characteristics overall and by group, with SMDs and (when asked) tests.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort (its patients table) or one row per patient.
    by : str or None
        Grouping column (e.g. ``"supervised_physio"``, ``"cause"``); None describes the whole cohort.
    covariates : sequence of str, optional
        Columns to describe; default :data:`DEFAULT_COVARIATES` present in the data (minus ``by``).
    digits : int
        Decimals of continuous summaries and percentages.
    statistic : {"median", "mean"}
        Continuous characteristics as median (Q1-Q3) or mean (SD).
    overall : bool
        Add the overall column (always the only one when ``by`` is None).
    tests : bool
        Add a p-value column (tests named in a footnote; see the module docstring).
    labels : mapping, optional
        Labels overriding :data:`LABELS`.
    seed : int
        Seed of the Monte Carlo Fisher test (used only for sparse tables larger than 2 x 2).

    Returns
    -------
    TableOne
        ``.table`` (formatted), ``.summary`` (tidy), ``.smd``, ``.tests``, ``.footnotes``,
        ``.released(policy)``, ``.plot()``.

    Raises
    ------
    ConfigError
        ``by`` or a covariate is not a column, or an option is not one of its values.
    Table1InputError
        ``by`` has missing values, or only one group.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> t1 = table_one(simulate_cohort(500, seed=1), by="severity", covariates=["age", "diabetes"], tests=True)
    >>> t1.table.columns[-1], t1.tests["test"].tolist()
    ('p-value', ['Kruskal-Wallis', 'chi-square'])
    """
    if statistic not in ("median", "mean"):
        raise ConfigError(f"statistic must be 'median' or 'mean', got {statistic!r}")
    df = data.reset_index(drop=True) if isinstance(data, pd.DataFrame) else data.patients.reset_index(drop=True)
    if by is not None and by not in df.columns:
        raise ConfigError(f"by={by!r} is not a column of the data (columns: {list(df.columns)[:20]})")
    names = {**LABELS, **(labels or {})}
    covs = [c for c in (covariates or DEFAULT_COVARIATES) if c != by and (covariates is not None or c in df.columns)]
    lacking = [c for c in covs if c not in df.columns]
    if lacking:
        raise ConfigError(f"covariates {lacking} are not columns of the data")
    if by is not None:
        g = df[by]
        if g.isna().any():
            raise Table1InputError(f"data.{by}: the grouping column has missing values in rows {np.flatnonzero(g.isna())[:8].tolist()}")
        groups = (list(g.cat.categories[g.cat.categories.isin(g.unique())]) if isinstance(g.dtype, pd.CategoricalDtype)
                  else sorted(g.unique()))
        if len(groups) < 2:
            raise Table1InputError(f"data.{by}: only one group; nothing to compare (use by=None to describe the cohort)")
        masks = {str(grp): (g == grp).to_numpy() for grp in groups}
        display = {str(grp): _group_label(grp) for grp in groups}
    else:
        groups, masks, display = [], {}, {}
    cols = ({"Overall": np.ones(len(df), dtype=bool)} if (overall or by is None) else {}) | masks
    glabels = list(masks)
    tidy: list[dict[str, Any]] = [{"variable": "n", "level": "", "group": k, "n": int(m.sum())} for k, m in cols.items()]
    smds: list[dict[str, Any]] = []
    tested: list[dict[str, Any]] = []
    rows: list[tuple[str, str, str]] = []  # (variable, level, label) in display order

    def smd_of(x: np.ndarray) -> float:
        if len(glabels) < 2:
            return float("nan")
        vals = [_smd(x[masks[b]], x[masks[a]]) for a, b in combinations(glabels, 2)]
        if len(glabels) == 2:
            return vals[0]
        return float(np.nanmax(np.abs(vals))) if not np.all(np.isnan(vals)) else float("nan")

    for c in covs:
        s = df[c]
        miss = s.isna().to_numpy()
        kind = _kind(s)
        label = names.get(c, c)
        if kind == "continuous":
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            rows.append((c, "", label + (", median (Q1-Q3)" if statistic == "median" else ", mean (SD)")))
            for k, m in cols.items():
                v = x[m & ~np.isnan(x)]
                q = np.percentile(v, [25, 50, 75]) if len(v) else [np.nan] * 3
                tidy.append({"variable": c, "level": "", "group": k, "n": len(v), "mean": v.mean() if len(v) else np.nan,
                             "sd": v.std(ddof=1) if len(v) > 1 else np.nan, "median": q[1], "q1": q[0], "q3": q[2]})
            smds.append({"variable": c, "level": "", "smd": smd_of(x)})
            if tests and len(glabels) >= 2:
                tested.append({"variable": c, **_test("continuous", [x[masks[k]] for k in glabels], None, statistic, seed)})
        else:
            levels: list[Any] = ([True] if kind == "binary" else list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype)
                                 else sorted(s.dropna().unique()))
            if kind == "binary":
                rows.append((c, "", label + ", n (%)"))
            else:
                rows.append((c, "#header", label + ", n (%)"))
            counts = np.zeros((len(glabels), len(levels)), dtype=int)
            for j, lev in enumerate(levels):
                x = np.where(miss, np.nan, (s == lev).to_numpy(dtype=float))
                level = "" if kind == "binary" else str(lev)
                if kind != "binary":
                    rows.append((c, level, INDENT + level.replace("_", " ")))
                for k, m in cols.items():
                    mm = m & ~miss
                    tidy.append({"variable": c, "level": level, "group": k, "n": int(mm.sum()), "count": int(np.nansum(x[mm])),
                                 "percent": 100 * float(np.nanmean(x[mm])) if mm.any() else np.nan})
                for i, k in enumerate(glabels):
                    counts[i, j] = int(np.nansum(x[masks[k] & ~miss]))
                smds.append({"variable": c, "level": level, "smd": smd_of(x)})
            if kind == "binary" and len(glabels) >= 2:
                no = np.array([int((masks[k] & ~miss).sum()) for k in glabels]) - counts[:, 0]
                counts = np.column_stack([counts[:, 0], no])
            if tests and len(glabels) >= 2:
                tested.append({"variable": c, **_test("categorical", [], counts, statistic, seed)})
        if miss.any():
            rows.append((c, "missing", INDENT + NOT_RECORDED))
            for k, m in cols.items():
                tidy.append({"variable": c, "level": "missing", "group": k, "n": int(m.sum()), "missing": int(miss[m].sum())})
    summary = pd.DataFrame(tidy)
    for col in ("count", "percent", "mean", "sd", "median", "q1", "q3", "missing"):
        if col not in summary.columns:
            summary[col] = np.nan
    smd = pd.DataFrame(smds, columns=["variable", "level", "smd"])
    test_frame = pd.DataFrame(tested, columns=["variable", "test", "statistic", "df", "p"])
    table, notes = _format(summary, smd, test_frame, rows, cols, glabels, digits=digits, statistic=statistic, tests=tests,
                           display=display)
    overall_rows = summary["group"] == "Overall"
    overall_frame = summary[overall_rows].reset_index(drop=True)
    if by is not None:  # the tidy summary stays one row per group (as before); the overall column is .overall
        summary = summary[~overall_rows].reset_index(drop=True)
    info = {"method": "table one", "n": len(df), "groups": len(glabels), "by": by, "covariates": covs, "statistic": statistic,
            "smd": "signed, two groups" if len(glabels) == 2 else "largest absolute pairwise" if glabels else "none",
            "digits": digits, "_rows": rows, "_display": display}
    return TableOne(summary=summary, info=info, smd=smd, tests=test_frame, table=table, footnotes=tuple(notes), overall=overall_frame)


def _cell(r: pd.Series | None, *, digits: int, statistic: str, kind: str) -> str:
    if r is None:
        return ""
    if kind == "missing":
        return f"{int(r['missing'])}"
    if kind == "continuous":
        if statistic == "median":
            return "-" if not np.isfinite(r["median"]) else f"{r['median']:.{digits}f} ({r['q1']:.{digits}f}-{r['q3']:.{digits}f})"
        return "-" if not np.isfinite(r["mean"]) else f"{r['mean']:.{digits}f} ({_fmt_num(r['sd'], digits)})"
    pct = "-" if not np.isfinite(r["percent"]) else f"{r['percent']:.{digits}f}%"
    return f"{int(r['count'])} ({pct})"


def _format(summary: pd.DataFrame, smd: pd.DataFrame, tests_frame: pd.DataFrame, rows: list[tuple[str, str, str]],
            cols: dict[str, np.ndarray], glabels: list[str], *, digits: int, statistic: str, tests: bool,
            display: Mapping[str, str], headers: Mapping[str, str] | None = None, cell: Any = None) -> tuple[pd.DataFrame, list[str]]:
    """The formatted table and its footnotes; ``headers`` and ``cell(variable, level, group, text)``
    let :meth:`TableOne.released` put protected counts in."""
    n_of = summary[summary["variable"] == "n"].set_index("group")["n"]
    heads = dict(headers) if headers is not None else {k: f"{display.get(k, k)} (N = {int(n_of[k]):,})" for k in cols}
    by_key = {(r.variable, r.level, r.group): r for r in summary.itertuples(index=False)}
    smd_of = {(r.variable, r.level): r.smd for r in smd.itertuples(index=False)}
    p_of = {r.variable: r.p for r in tests_frame.itertuples(index=False)}
    continuous = set(summary.loc[summary["median"].notna() | summary["mean"].notna(), "variable"])
    out: list[dict[str, str]] = []
    first_row: set[str] = set()
    for var, level, label in rows:
        row = {"Characteristic": label}
        for k in cols:
            r = by_key.get((var, level, k))
            if level == "#header" or r is None:
                text = ""
            else:
                kind = "missing" if level == "missing" else "continuous" if var in continuous else "count"
                text = _cell(pd.Series(r._asdict()), digits=digits, statistic=statistic, kind=kind)
                if cell is not None:
                    text = cell(var, level, k, text)
            row[heads[k]] = text
        if len(glabels) >= 2:
            v = smd_of.get((var, "" if level == "#header" else level), np.nan) if level not in ("#header", "missing") else np.nan
            row["SMD"] = "" if not np.isfinite(v) else f"{v:.2f}"
        if tests and len(glabels) >= 2:
            row["p-value"] = _p(p_of.get(var, np.nan)) if var not in first_row and var in p_of else ""
        first_row.add(var)
        out.append(row)
    table = pd.DataFrame(out, columns=["Characteristic", *heads.values()] + (["SMD"] if len(glabels) >= 2 else [])
                         + (["p-value"] if tests and len(glabels) >= 2 else []))
    notes = [("Median (Q1-Q3)" if statistic == "median" else "Mean (SD)") + " of the patients with the value recorded; "
             f"n (%): percentages of the patients with the value recorded; {NOT_RECORDED}: patients without it."]
    if len(glabels) == 2:
        notes.append(f"SMD: standardised mean difference, {display.get(glabels[1], glabels[1])} minus {display.get(glabels[0], glabels[0])} "
                     "(on each level's indicator for categories).")
    elif len(glabels) > 2:
        notes.append("SMD: the largest absolute standardised mean difference between two groups.")
    if tests and len(tests_frame):
        used = list(dict.fromkeys(tests_frame["test"]))
        words = {"chi-square": "Pearson's chi-square test", "Fisher exact": "Fisher's exact test (an expected count under 5)",
                 "Fisher exact (Monte Carlo)": f"Fisher's exact test by Monte Carlo ({_MC_RESAMPLES:,} resamples; an expected count under 5)",
                 "Kruskal-Wallis": "Kruskal-Wallis rank-sum test", "Wilcoxon rank-sum": "Wilcoxon rank-sum test",
                 "ANOVA": "one-way ANOVA", "t test": "two-sample t test (pooled variance)", "not tested": "not tested (one group with values)"}
        notes.append("p-values: " + "; ".join(words.get(t, t) for t in used) + ".")
    return table, notes


def _released_frame(one: TableOne, threshold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The formatted table with protected counts, and the support (patients) of every cell."""
    from footdrop_outcomes.release import format_count, suppress_counts

    s = pd.concat([one.summary, one.overall], ignore_index=True) if one.info["by"] is not None else one.summary
    display = one.info["_display"]
    sizes = s[s["variable"] == "n"].set_index("group")["n"].astype(int)
    glabels = [g for g in sizes.index if g != "Overall"]
    order = (["Overall"] if "Overall" in sizes.index else []) + glabels
    sizes = sizes[order]
    cols = {k: np.zeros(0) for k in order}
    if glabels:
        prot_n = suppress_counts(sizes[glabels].rename_axis(None), threshold=threshold, margins=True)
        shown = {k: (format_count(int(sizes[k]), threshold) if 1 <= sizes[k] <= threshold
                     else "*" if prot_n.hidden.loc[k].iloc[0] else format_count(int(sizes[k]), threshold)) for k in glabels}
        shown["Overall"] = format_count(int(sizes.get("Overall", sizes[glabels].sum())), threshold)
    else:
        shown = {"Overall": format_count(int(sizes["Overall"]), threshold)}
    heads = {k: f"{display.get(k, k)} (N = {shown[k]})" for k in sizes.index}
    # protect each count block: groups x (levels + not recorded), margins = the overall column
    blocks: dict[str, Any] = {}
    keys = glabels or ["Overall"]  # without groups, the overall column is the one row of each block
    for var in s.loc[s["count"].notna() | (s["level"] == "missing"), "variable"].unique():
        b = s[(s["variable"] == var) & s["group"].isin(keys)]
        if b["count"].notna().any():
            levels = [lv for lv in dict.fromkeys(b.loc[b["count"].notna(), "level"])]
            c = b[b["count"].notna()].pivot_table(index="group", columns="level", values="count", aggfunc="first", sort=False)[levels]
            c = c.reindex(keys)
            if len(levels) == 1:  # yes/no: the "no" column makes the totals the recorded patients
                recorded = b[b["count"].notna()].set_index("group")["n"].reindex(keys)
                c[" no"] = recorded - c[levels[0]]
            m = b[b["level"] == "missing"].set_index("group")["missing"].reindex(keys)
            if len(m.dropna()):
                c["missing"] = m
            blocks[var] = suppress_counts(c.fillna(0).astype("int64"), threshold=threshold, margins=True)
        else:  # a continuous characteristic with missing values: missing vs recorded per group
            m = b[b["level"] == "missing"].set_index("group")
            c = pd.DataFrame({"missing": m["missing"], " recorded": m["n"] - m["missing"]}).reindex(keys)
            blocks[var] = suppress_counts(c.fillna(0).astype("int64"), threshold=threshold, margins=True)
    by_key = {(r.variable, r.level, r.group): r for r in s.itertuples(index=False)}

    def cell(var: str, level: str, group: str, text: str) -> str:
        r = by_key[(var, level, group)]
        prot = blocks.get(var)
        if level == "missing" or not np.isnan(r.count):
            col = "missing" if level == "missing" else level
            row = "Total" if (group == "Overall" and glabels) else group
            n = int(r.missing) if level == "missing" else int(r.count)
            if prot is not None:
                hidden = bool(prot.hidden.loc[row, col])
                if 1 <= n <= threshold:
                    return format_count(n, threshold)
                if hidden:
                    return "*"
                denominator_hidden = bool(prot.hidden.loc[row, "Total"]) or ("missing" in prot.hidden.columns and bool(prot.hidden.loc[row, "missing"]))
                if level != "missing" and denominator_hidden:
                    return f"{n}"
                return text
            if 1 <= n <= threshold:
                return format_count(n, threshold)
        return text

    rows = one.info["_rows"]
    table, _ = _format(s, one.smd, one.tests, rows, cols, glabels, digits=one.info["digits"], statistic=one.info["statistic"],
                       tests="p-value" in one.table.columns, display=display, headers=heads, cell=cell)
    # support: a group's patients (a summary: those with the value recorded); an SMD: the smallest
    # group (a contrast of every group); a p-value: every patient; empty cells: none
    continuous = set(s.loc[s["median"].notna() | s["mean"].notna(), "variable"])
    support = pd.DataFrame(0, index=table.index, columns=table.columns)
    for i, (var, level, _) in enumerate(rows):
        for k, head in heads.items():
            support.loc[i, head] = int(by_key[(var, "", k)].n) if (var in continuous and level == "") else int(sizes[k])
    if "SMD" in table.columns:
        support["SMD"] = int(sizes[glabels].min())
    if "p-value" in table.columns:
        support["p-value"] = int(sizes[glabels].sum())
    support = support.where(table.ne(""), 0)
    support["Characteristic"] = 0
    return table, support
