"""Table 1: baseline characteristics by intervention (or any grouping), with standardised mean differences.

Rows: ``n``; for each numeric covariate ``mean (SD)``; for each boolean covariate ``n (%)`` of
True; for each categorical covariate one row per level with ``n (%)``; a ``missing`` row when a
covariate has missing values. Percentages use the non-missing patients of the group.

SMD: for two groups, (mean2 - mean1) / sqrt((s1^2 + s2^2) / 2), second group minus first (True minus
False for a boolean ``by``) on the covariate (a categorical
covariate: on each level's indicator, one SMD per level row); for more groups, the largest
absolute pairwise SMD (``smd`` column named ``max |SMD|``). Sample SDs (n - 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.adherence._input import AdherenceInputError
from footdrop_outcomes.errors import ConfigError

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["table_one", "TableOne", "DEFAULT_COVARIATES"]

#: Baseline covariates shown by default (those present in the data).
DEFAULT_COVARIATES = ("age", "sex", "cause", "severity", "baseline_mrc", "diabetes", "hba1c", "smoking", "bmi",
                      "days_to_treatment", "supervised_physio", "afo", "fes", "surgery")


def _smd(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    sd = np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    return float((a.mean() - b.mean()) / sd) if sd > 0 else 0.0


@dataclass(frozen=True, repr=False, kw_only=True)
class TableOne(AnalysisResult):
    """Baseline table by group.

    Attributes
    ----------
    summary : pandas.DataFrame
        Tidy: ``variable``, ``level``, ``group``, ``n``, ``count`` (categorical/boolean),
        ``percent``, ``mean``, ``sd``, ``missing``; one row per variable, level and group.
    smd : pandas.DataFrame
        ``variable``, ``level``, ``smd`` (two groups: signed; more: largest absolute pairwise).
    table : pandas.DataFrame
        Rendering-friendly: ``variable``, ``level``, one formatted column per group
        (``"<group> (n=...)"``) and ``SMD``.
    """

    smd: pd.DataFrame
    table: pd.DataFrame

    def plot(self, ax: Any = None, threshold: float = 0.1, **kwargs: Any) -> Any:
        """Absolute SMD per variable (and level), with the 0.1 reference line."""
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


def table_one(
    data: Cohort | pd.DataFrame,
    by: str = "supervised_physio",
    covariates: Sequence[str] | None = None,
    *,
    digits: int = 1,
) -> TableOne:
    """Baseline characteristics by group with standardised mean differences.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort (its patients table) or one row per patient.
    by : str
        Grouping column (e.g. ``"supervised_physio"``, ``"afo"``, ``"surgery"``).
    covariates : sequence of str, optional
        Columns to describe; default :data:`DEFAULT_COVARIATES` present in the data (minus ``by``).
    digits : int
        Decimals of means, SDs and percentages in :attr:`TableOne.table`.

    Returns
    -------
    TableOne

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> t1 = table_one(simulate_cohort(500, seed=1), by="supervised_physio")
    >>> list(t1.table.columns)[:2]
    ['variable', 'level']
    """
    if isinstance(data, pd.DataFrame):
        df = data.reset_index(drop=True)
    else:
        df = data.patients.reset_index(drop=True)
    if by not in df.columns:
        raise ConfigError(f"by={by!r} is not a column of the data (columns: {list(df.columns)[:20]})")
    if df[by].isna().any():
        raise AdherenceInputError(f"data.{by}: the grouping column has missing values in rows {np.flatnonzero(df[by].isna())[:8].tolist()}")
    covs = [c for c in (covariates or DEFAULT_COVARIATES) if c != by and (covariates is not None or c in df.columns)]
    lacking = [c for c in covs if c not in df.columns]
    if lacking:
        raise ConfigError(f"covariates {lacking} are not columns of the data")
    g = df[by]
    groups = list(g.cat.categories[g.cat.categories.isin(g.unique())]) if isinstance(g.dtype, pd.CategoricalDtype) else sorted(g.unique())
    if len(groups) < 2:
        raise AdherenceInputError(f"data.{by}: only one group ({groups}); nothing to compare")
    masks = {grp: (g == grp).to_numpy() for grp in groups}
    tidy, smds = [], []

    def smd_of(x: np.ndarray) -> float:
        vals = [_smd(x[masks[b]], x[masks[a]]) for a, b in combinations(groups, 2)]
        if len(groups) == 2:
            return vals[0]
        return float(np.nanmax(np.abs(vals))) if not np.all(np.isnan(vals)) else float("nan")

    for grp in groups:
        tidy.append({"variable": "n", "level": "", "group": str(grp), "n": int(masks[grp].sum())})
    for c in covs:
        s = df[c]
        miss = s.isna().to_numpy()
        if pd.api.types.is_bool_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
            if pd.api.types.is_bool_dtype(s):
                levels: list[Any] = [True]
            elif isinstance(s.dtype, pd.CategoricalDtype):
                levels = list(s.cat.categories)
            else:
                levels = sorted(s.dropna().unique())
            for lev in levels:
                x = np.where(miss, np.nan, (s == lev).to_numpy(dtype=float))
                label = "" if lev is True else str(lev)
                for grp in groups:
                    m = masks[grp] & ~miss
                    tidy.append({"variable": c, "level": label, "group": str(grp), "n": int(m.sum()), "count": int(np.nansum(x[m])),
                                 "percent": 100 * float(np.nanmean(x[m])) if m.any() else np.nan})
                smds.append({"variable": c, "level": label, "smd": smd_of(x)})
        else:
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            for grp in groups:
                v = x[masks[grp]]
                v = v[~np.isnan(v)]
                tidy.append({"variable": c, "level": "", "group": str(grp), "n": len(v), "mean": v.mean() if len(v) else np.nan,
                             "sd": v.std(ddof=1) if len(v) > 1 else np.nan})
            smds.append({"variable": c, "level": "", "smd": smd_of(x)})
        if miss.any():
            for grp in groups:
                tidy.append({"variable": c, "level": "missing", "group": str(grp), "n": int(masks[grp].sum()),
                             "missing": int(miss[masks[grp]].sum())})
    summary = pd.DataFrame(tidy)
    for col in ("count", "percent", "mean", "sd", "missing"):
        if col not in summary.columns:
            summary[col] = np.nan
    smd = pd.DataFrame(smds, columns=["variable", "level", "smd"])

    def fmt(r: pd.Series) -> str:
        if r["variable"] == "n":
            return f"{int(r['n'])}"
        if r["level"] == "missing":
            return f"{int(r['missing'])}"
        if not np.isnan(r["mean"]):
            return f"{r['mean']:.{digits}f} ({r['sd']:.{digits}f})"
        return f"{int(r['count'])} ({r['percent']:.{digits}f}%)"

    summary["_text"] = summary.apply(fmt, axis=1)
    n_of = {grp: int(masks[grp].sum()) for grp in groups}
    wide = summary.pivot_table(index=["variable", "level"], columns="group", values="_text", aggfunc="first", sort=False, observed=True)
    wide = wide[[str(grp) for grp in groups]]
    wide.columns = [f"{grp} (n={n_of[grp]})" for grp in groups]
    wide = wide.reset_index().merge(smd, on=["variable", "level"], how="left")
    wide["SMD" if len(groups) == 2 else "max |SMD|"] = wide.pop("smd").map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    wide.loc[wide["variable"] == "n", "variable"] = "patients"
    wide.loc[wide["variable"] == "patients", "level"] = ""
    info = {"method": "table one", "n": len(df), "groups": len(groups), "by": by, "covariates": covs,
            "smd": "signed, two groups" if len(groups) == 2 else "largest absolute pairwise"}
    return TableOne(summary=summary.drop(columns="_text"), info=info, smd=smd, table=wide)
