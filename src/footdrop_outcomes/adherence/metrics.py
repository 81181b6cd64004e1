"""Adherence metrics from the weekly adherence table.

Definitions (``docs/adherence.md``):

* **session share**: home-exercise sessions completed / sessions prescribed, summed over the six
  exercises (and over weeks for a window), so weeks and exercises with more sessions weigh more;
* **weekly share**: the session share of one week; **cumulative share**: through this week;
* **AFO wear / FES use ratio**: hours worn / hours prescribed (may exceed 1: patients can wear a
  device longer than prescribed; the simulator allows up to 1.15);
* **adherent week**: weekly share >= ``threshold`` (default 0.8); **proportion of weeks
  adherent** counts only weeks with something prescribed;
* **category**: the patient's session share cut at ``cut_points`` (default 0.5 and 0.8).

Rules for bad input (each one has a test):

* ``completed > prescribed``: error naming table, column, rows and patient ids
  (``completed_above_prescribed="error"``), or ``"cap"`` to count completed = prescribed;
* weeks starting after the patient's end of follow-up (``7 * week > patients.followup_days``):
  error (``beyond_followup="error"``) or ``"drop"`` the rows; checked only when a patients table is
  given;
* ``prescribed = 0`` in a week: the week has no denominator; its weekly share is NaN, it is left
  out of every share and of the proportion of weeks adherent, and counted in
  ``n_weeks_nothing_prescribed``. A patient with nothing prescribed at all has NaN shares and
  category ``"nothing prescribed"`` (never a silent NaN: the count says why);
* missing weeks (gaps between a patient's first and last recorded week):
  ``missing_weeks="skip"`` (default; the same rule as the survival layer's exposure) leaves them
  out and counts them in ``n_missing_weeks``; ``"non_adherent"`` inserts them with the patient's
  previous week's prescription and nothing completed (devices: prescribed hours carried forward,
  0 worn);
* negative or missing session counts and duplicated ``(patient_id, week)`` rows: always an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Sequence, get_args

import numpy as np
import pandas as pd

from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.adherence._input import AdherenceInputError, EXERCISE_COLUMNS, check_choice, rows_text, split_input
from footdrop_outcomes.cohort.vocabulary import EXERCISES
from footdrop_outcomes.errors import ConfigError

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["weekly_adherence", "patient_adherence", "adherence_metrics", "intervention_membership", "AdherenceMetrics"]

ExcessRule = Literal["error", "cap"]
BeyondRule = Literal["error", "drop"]
MissingRule = Literal["skip", "non_adherent"]
TimeAxis = Literal["program", "onset"]

DEVICES = ("afo", "fes")


def weekly_adherence(
    data: Cohort | pd.DataFrame,
    patients: pd.DataFrame | None = None,
    *,
    threshold: float = 0.8,
    completed_above_prescribed: ExcessRule = "error",
    beyond_followup: BeyondRule = "error",
    missing_weeks: MissingRule = "skip",
) -> pd.DataFrame:
    """One row per patient-week with session and device adherence.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort, or its ``adherence`` table (``patient_id``, ``week``,
        ``<exercise>_prescribed`` / ``_completed`` for the six exercises; optional
        ``afo_hours_prescribed``, ``afo_hours``, ``fes_hours_prescribed``, ``fes_hours``).
    patients : pandas.DataFrame, optional
        The patients table (``patient_id``, ``followup_days``), to check weeks against follow-up.
        Taken from the cohort when ``data`` is one.
    threshold : float
        Weekly session share at or above which a week counts as adherent.
    completed_above_prescribed : {"error", "cap"}
        Rule for weeks with more sessions completed than prescribed.
    beyond_followup : {"error", "drop"}
        Rule for weeks starting after ``patients.followup_days``.
    missing_weeks : {"skip", "non_adherent"}
        Rule for weeks missing between a patient's first and last recorded week.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``week`` (since onset), ``program_week`` (0 = the patient's first
        recorded week), ``prescribed``, ``completed``, ``weekly_share`` (NaN when nothing was
        prescribed), ``cumulative_share`` (through this week; NaN until something was
        prescribed), ``adherent`` (nullable boolean), ``imputed`` (inserted missing week),
        ``afo_hours_prescribed``, ``afo_hours``, ``afo_ratio`` and the same for ``fes``.
        ``attrs["rules"]`` records the rules and how many rows each one touched.

    Raises
    ------
    AdherenceInputError
        Missing columns, negative or missing counts, duplicated weeks, and (under the default
        rules) completed above prescribed or weeks after follow-up.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> w = weekly_adherence(simulate_cohort(200, seed=1))
    >>> bool(w["weekly_share"].dropna().between(0, 1).all())
    True
    """
    check_choice("completed_above_prescribed", completed_above_prescribed, get_args(ExcessRule))
    check_choice("beyond_followup", beyond_followup, get_args(BeyondRule))
    check_choice("missing_weeks", missing_weeks, get_args(MissingRule))
    if not 0 < threshold <= 1:
        raise ConfigError(f"threshold must be in (0, 1], got {threshold!r}")
    table, patients = split_input(data, patients)
    missing = [c for c in ("patient_id", "week", *EXERCISE_COLUMNS) if c not in table.columns]
    if missing:
        raise AdherenceInputError(f"adherence table lacks column(s) {missing}; see docs/data_dictionary.md")
    a = table.reset_index(drop=True)
    rules: dict[str, Any] = {"completed_above_prescribed": completed_above_prescribed, "beyond_followup": beyond_followup,
                             "missing_weeks": missing_weeks, "threshold": threshold}

    week = pd.to_numeric(a["week"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(week) | (week < 0) | (week != np.round(week)))
    if bad.size:
        raise AdherenceInputError(f"adherence.week must be a whole number >= 0; {rows_text(a, bad)}")
    for col in EXERCISE_COLUMNS:
        v = pd.to_numeric(a[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(v) | (v < 0))
        if bad.size:
            raise AdherenceInputError(f"adherence.{col} must be a count >= 0 (no missing values); {rows_text(a, bad)}")
    pid = a["patient_id"].astype(str).to_numpy()
    dup = np.flatnonzero(pd.DataFrame({"p": pid, "w": week}).duplicated(keep=False).to_numpy())
    if dup.size:
        raise AdherenceInputError(f"adherence: (patient_id, week) must be unique; {rows_text(a, dup)}")

    prescribed = np.zeros(len(a), dtype=np.int64)
    completed = np.zeros(len(a), dtype=np.int64)
    n_capped = 0
    for stem in EXERCISES:
        p = a[f"{stem}_prescribed"].to_numpy(dtype=np.int64)
        c = a[f"{stem}_completed"].to_numpy(dtype=np.int64)
        over = np.flatnonzero(c > p)
        if over.size and completed_above_prescribed == "error":
            raise AdherenceInputError(
                f"adherence.{stem}_completed: more sessions completed than prescribed ({stem}_prescribed); "
                f"{rows_text(a, over)}. Fix the rows, or pass completed_above_prescribed='cap' to count them as fully completed")
        n_capped += over.size
        prescribed += p
        completed += np.minimum(c, p)
    rules["rows_capped"] = int(n_capped)

    keep = np.ones(len(a), dtype=bool)
    if patients is not None and {"patient_id", "followup_days"} <= set(patients.columns):
        fu = pd.Series(patients["followup_days"].to_numpy(dtype=float), index=patients["patient_id"].astype(str).to_numpy())
        fu = fu[~fu.index.duplicated()]
        limit = fu.reindex(pid).to_numpy()
        late = np.flatnonzero(np.isfinite(limit) & (7 * week > limit))
        if late.size and beyond_followup == "error":
            raise AdherenceInputError(
                f"adherence.week: week starts after the patient's end of follow-up (patients.followup_days); "
                f"{rows_text(a, late)}. Fix the rows, or pass beyond_followup='drop' to leave them out")
        keep[late] = False
        rules["rows_dropped_beyond_followup"] = int(late.size)

    out = pd.DataFrame({"patient_id": pid, "week": week.astype(np.int64), "prescribed": prescribed, "completed": completed})
    for dev in DEVICES:
        hp, h = f"{dev}_hours_prescribed", f"{dev}_hours"
        if {hp, h} <= set(a.columns):
            out[hp] = pd.to_numeric(a[hp], errors="coerce").to_numpy(dtype=float)
            out[h] = pd.to_numeric(a[h], errors="coerce").to_numpy(dtype=float)
            neg = np.flatnonzero((out[h].to_numpy() < 0) | (out[hp].to_numpy() < 0))
            if neg.size:
                raise AdherenceInputError(f"adherence.{h}: hours must be >= 0; {rows_text(a, neg)}")
        else:
            out[hp] = np.nan
            out[h] = np.nan
    out = out.loc[keep]
    out["imputed"] = False
    out = out.sort_values(["patient_id", "week"], kind="stable").reset_index(drop=True)

    if missing_weeks == "non_adherent" and len(out):
        first = out.groupby("patient_id", sort=False)["week"].transform("min").to_numpy()
        last = out.groupby("patient_id", sort=False)["week"].transform("max").to_numpy()
        starts = np.flatnonzero(np.r_[True, out["patient_id"].to_numpy()[1:] != out["patient_id"].to_numpy()[:-1]])
        n_full = (last - first + 1)[starts]
        ids = np.repeat(out["patient_id"].to_numpy()[starts], n_full)
        weeks = np.repeat(first[starts], n_full) + (np.arange(n_full.sum()) - np.repeat(np.cumsum(n_full) - n_full, n_full))
        full = pd.DataFrame({"patient_id": ids, "week": weeks}).merge(out, on=["patient_id", "week"], how="left")
        gap = full["prescribed"].isna().to_numpy()
        g = full.groupby("patient_id", sort=False)
        carried = g[["prescribed", *[f"{d}_hours_prescribed" for d in DEVICES]]].ffill()
        full.loc[gap, "prescribed"] = carried.loc[gap, "prescribed"]
        full.loc[gap, "completed"] = 0
        for dev in DEVICES:
            full.loc[gap, f"{dev}_hours_prescribed"] = carried.loc[gap, f"{dev}_hours_prescribed"]
            full.loc[gap, f"{dev}_hours"] = np.where(np.isnan(carried.loc[gap, f"{dev}_hours_prescribed"]), np.nan, 0.0)
        full["imputed"] = gap
        full["prescribed"] = full["prescribed"].astype(np.int64)
        full["completed"] = full["completed"].astype(np.int64)
        out = full
        rules["weeks_inserted"] = int(gap.sum())

    g = out.groupby("patient_id", sort=False)
    out.insert(2, "program_week", out["week"].to_numpy() - g["week"].transform("min").to_numpy())
    p = out["prescribed"].to_numpy()
    c = out["completed"].to_numpy()
    cum_p = g["prescribed"].cumsum().to_numpy()
    cum_c = g["completed"].cumsum().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["weekly_share"] = np.where(p > 0, c / np.maximum(p, 1), np.nan)
        out["cumulative_share"] = np.where(cum_p > 0, cum_c / np.maximum(cum_p, 1), np.nan)
        for dev in DEVICES:
            hp = out[f"{dev}_hours_prescribed"].to_numpy()
            out[f"{dev}_ratio"] = np.where(hp > 0, out[f"{dev}_hours"].to_numpy() / np.where(hp > 0, hp, 1.0), np.nan)
    adherent = pd.array(out["weekly_share"].to_numpy() >= threshold, dtype="boolean")
    adherent[np.isnan(out["weekly_share"].to_numpy())] = pd.NA
    out["adherent"] = adherent
    cols = ["patient_id", "week", "program_week", "prescribed", "completed", "weekly_share", "cumulative_share", "adherent",
            "imputed", *[f"{d}_{k}" for d in DEVICES for k in ("hours_prescribed", "hours", "ratio")]]
    out = out[cols]
    out.attrs["rules"] = rules
    return out


def _category_labels(cut_points: Sequence[float]) -> list[str]:
    cuts = list(cut_points)
    labels = [f"<{cuts[0]:.0%}"]
    labels += [f"{a:.0%}-<{b:.0%}" for a, b in zip(cuts[:-1], cuts[1:])]
    labels.append(f">={cuts[-1]:.0%}")
    return labels


def patient_adherence(
    weekly: pd.DataFrame,
    *,
    window: tuple[float, float] | None = None,
    time: TimeAxis = "program",
    threshold: float | None = None,
    cut_points: Sequence[float] = (0.5, 0.8),
) -> pd.DataFrame:
    """Per-patient adherence over all weeks or a window, from :func:`weekly_adherence`.

    Parameters
    ----------
    weekly : pandas.DataFrame
        Output of :func:`weekly_adherence`.
    window : (float, float), optional
        Half-open range of weeks ``[start, end)`` to summarise; default all weeks.
    time : {"program", "onset"}
        Whether ``window`` counts weeks since the patient's first program week or since onset.
    threshold : float, optional
        Weekly share that counts as adherent; default the one used by :func:`weekly_adherence`.
    cut_points : sequence of float
        Increasing cut points in (0, 1] of the session share that define the categories.

    Returns
    -------
    pandas.DataFrame
        One row per patient: ``n_weeks``, ``n_weeks_nothing_prescribed``, ``n_missing_weeks``
        (gaps; imputed weeks count here too), ``sessions_prescribed``, ``sessions_completed``,
        ``session_share``, ``mean_weekly_share``, ``weeks_adherent_share``, ``category``,
        ``afo_ratio``, ``fes_ratio`` (hours worn / prescribed; NaN without the device).
        Patients with no week in the window are left out.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> w = weekly_adherence(simulate_cohort(200, seed=1))
    >>> first12 = patient_adherence(w, window=(0, 12))
    >>> bool((first12["n_weeks"] <= 12).all())
    True
    """
    check_choice("time", time, get_args(TimeAxis))
    cuts = list(cut_points)
    if not cuts or any(not 0 < x <= 1 for x in cuts) or any(b <= a for a, b in zip(cuts[:-1], cuts[1:])):
        raise ConfigError(f"cut_points must be increasing values in (0, 1], got {cut_points!r}")
    thr = weekly.attrs.get("rules", {}).get("threshold", 0.8) if threshold is None else threshold
    w = weekly
    if window is not None:
        lo, hi = window
        if not hi > lo:
            raise ConfigError(f"window must be (start, end) with end > start, got {window!r}")
        t = w["program_week" if time == "program" else "week"].to_numpy()
        w = w.loc[(t >= lo) & (t < hi)]
    share = w["weekly_share"].to_numpy()
    d = pd.DataFrame({
        "patient_id": w["patient_id"].to_numpy(),
        "week": w["week"].to_numpy(),
        "prescribed": w["prescribed"].to_numpy(),
        "completed": w["completed"].to_numpy(),
        "share": share,
        "has": ~np.isnan(share),
        "adh": np.where(np.isnan(share), 0.0, share >= thr),
        "imputed": w["imputed"].to_numpy(),
    })
    for dev in DEVICES:
        hp = w[f"{dev}_hours_prescribed"].to_numpy()
        d[f"{dev}_p"] = np.where(hp > 0, hp, 0.0)
        d[f"{dev}_h"] = np.where(hp > 0, w[f"{dev}_hours"].to_numpy(), 0.0)
    g = d.groupby("patient_id", sort=False)
    agg = g.agg(n_weeks=("week", "size"), first=("week", "min"), last=("week", "max"), has=("has", "sum"), adh=("adh", "sum"),
                sessions_prescribed=("prescribed", "sum"), sessions_completed=("completed", "sum"),
                mean_weekly_share=("share", "mean"), imputed=("imputed", "sum"),
                afo_p=("afo_p", "sum"), afo_h=("afo_h", "sum"), fes_p=("fes_p", "sum"), fes_h=("fes_h", "sum"))
    out = pd.DataFrame({"patient_id": agg.index.to_numpy(), "n_weeks": agg["n_weeks"].to_numpy()})
    out["n_weeks_nothing_prescribed"] = (agg["n_weeks"] - agg["has"]).to_numpy()
    out["n_missing_weeks"] = ((agg["last"] - agg["first"] + 1) - agg["n_weeks"] + agg["imputed"]).to_numpy()
    out["sessions_prescribed"] = agg["sessions_prescribed"].to_numpy()
    out["sessions_completed"] = agg["sessions_completed"].to_numpy()
    sp = out["sessions_prescribed"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["session_share"] = np.where(sp > 0, out["sessions_completed"].to_numpy() / np.maximum(sp, 1), np.nan)
        out["mean_weekly_share"] = agg["mean_weekly_share"].to_numpy()
        has = agg["has"].to_numpy()
        out["weeks_adherent_share"] = np.where(has > 0, agg["adh"].to_numpy() / np.maximum(has, 1), np.nan)
        for dev in DEVICES:
            p = agg[f"{dev}_p"].to_numpy()
            out[f"{dev}_ratio"] = np.where(p > 0, agg[f"{dev}_h"].to_numpy() / np.where(p > 0, p, 1.0), np.nan)
    labels = _category_labels(cuts)
    cat = pd.cut(out["session_share"], [-np.inf, *cuts, np.inf], right=False, labels=labels)
    cat = cat.cat.add_categories(["nothing prescribed"]).fillna("nothing prescribed")
    out.insert(out.columns.get_loc("afo_ratio"), "category", cat)
    out.attrs.update({"threshold": thr, "window": window, "time": time, "cut_points": tuple(cuts)})
    return out


def intervention_membership(patients: pd.DataFrame) -> pd.DataFrame:
    """Long table of which patient receives which intervention (a patient can be in several).

    Labels: ``home_exercise``, ``supervised_physio``, ``afo_<type>``, ``fes``,
    ``surgery_<kind>`` (from the patients table's ``home_exercise``, ``supervised_physio``,
    ``afo``, ``fes`` and ``surgery`` columns, whichever are present).

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> m = intervention_membership(simulate_cohort(100, seed=1).patients)
    >>> sorted(m.columns)
    ['intervention', 'patient_id']
    """
    pid = patients["patient_id"].astype(str).to_numpy()
    parts = []
    for col in ("home_exercise", "supervised_physio", "fes"):
        if col in patients.columns:
            on = patients[col].astype(bool).to_numpy()
            parts.append(pd.DataFrame({"patient_id": pid[on], "intervention": col}))
    for col, prefix in (("afo", "afo_"), ("surgery", "surgery_")):
        if col in patients.columns:
            v = patients[col].astype(str).to_numpy()
            on = v != "none"
            parts.append(pd.DataFrame({"patient_id": pid[on], "intervention": np.char.add(prefix, v[on].astype(str))}))
    if not parts:
        raise AdherenceInputError("patients table has none of the intervention columns home_exercise, supervised_physio, afo, fes, surgery")
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True, repr=False, kw_only=True)
class AdherenceMetrics(AnalysisResult):
    """Adherence metrics: a per-group summary, with the per-patient and weekly tables behind it.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per group (intervention by default): ``group``, ``n_patients``, mean and
        median ``session_share``, mean ``weeks_adherent_share``, share of patients in each
        category (``cat: <label>`` columns), mean ``afo_ratio`` and ``fes_ratio`` (of patients
        with the device).
    per_patient : pandas.DataFrame
        :func:`patient_adherence` output, plus the grouping column when grouped by a column.
    weekly : pandas.DataFrame
        :func:`weekly_adherence` output.
    """

    per_patient: pd.DataFrame
    weekly: pd.DataFrame
    membership: pd.DataFrame

    def curves(self, max_week: int = 52) -> pd.DataFrame:
        """Mean weekly session share by program week and group, with a normal-approximation 95% CI."""
        w = self.weekly.loc[self.weekly["program_week"] < max_week, ["patient_id", "program_week", "weekly_share"]].dropna()
        w = w.merge(self.membership, on="patient_id")
        g = w.groupby(["group", "program_week"], observed=True)["weekly_share"]
        out = g.agg(["mean", "std", "size"]).reset_index()
        se = out["std"] / np.sqrt(out["size"])
        out["lower"] = out["mean"] - 1.96 * se
        out["upper"] = out["mean"] + 1.96 * se
        return out.rename(columns={"size": "n"})

    def plot(self, ax: Any = None, max_week: int = 52, **kwargs: Any) -> Any:
        """Mean weekly session share over program weeks, one line per group with its 95% CI band."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        cur = self.curves(max_week)
        for label, d in cur.groupby("group", sort=False):
            line = ax.plot(d["program_week"], d["mean"], label=str(label), **kwargs)[0]
            ax.fill_between(d["program_week"], d["lower"], d["upper"], color=line.get_color(), alpha=0.2, linewidth=0)
        ax.axhline(self.info["threshold"], color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("weeks since program start")
        ax.set_ylabel("share of prescribed sessions completed")
        ax.set_ylim(0, 1)
        ax.legend(fontsize="small")
        return ax


def group_summary(long: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """The per-group summary of :func:`adherence_metrics` from per-patient metrics joined to groups.

    ``long`` has one row per patient and group (``group``, ``session_share``, ``weeks_adherent_share``,
    ``category``, ``afo_ratio``, ``fes_ratio``); ``labels`` are the adherence categories in order.
    """
    rows = []
    for label, d in long.groupby("group", sort=False):
        row: dict[str, Any] = {"group": label, "n_patients": len(d),
                               "session_share_mean": d["session_share"].mean(), "session_share_median": d["session_share"].median(),
                               "weeks_adherent_share_mean": d["weeks_adherent_share"].mean()}
        for lab in labels:
            row[f"cat: {lab}"] = float((d["category"] == lab).mean())
        row["afo_ratio_mean"] = d["afo_ratio"].mean() if d["afo_ratio"].notna().any() else np.nan
        row["fes_ratio_mean"] = d["fes_ratio"].mean() if d["fes_ratio"].notna().any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def adherence_metrics(
    data: Cohort | pd.DataFrame,
    patients: pd.DataFrame | None = None,
    *,
    by: str | None = None,
    threshold: float = 0.8,
    window: tuple[float, float] | None = None,
    time: TimeAxis = "program",
    cut_points: Sequence[float] = (0.5, 0.8),
    completed_above_prescribed: ExcessRule = "error",
    beyond_followup: BeyondRule = "error",
    missing_weeks: MissingRule = "skip",
) -> AdherenceMetrics:
    """Adherence per patient and per intervention (or any patients column).

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort or its adherence table.
    patients : pandas.DataFrame, optional
        Patients table (needed to group, and to check follow-up); taken from a cohort.
    by : str, optional
        Patients column to group by (e.g. ``"severity"``); default: by intervention
        (:func:`intervention_membership`; a patient counts in each intervention received).
        Without a patients table, one group ``"all"``.
    threshold, window, time, cut_points
        See :func:`weekly_adherence` and :func:`patient_adherence`.
    completed_above_prescribed, beyond_followup, missing_weeks
        Bad-input rules, see :func:`weekly_adherence`.

    Returns
    -------
    AdherenceMetrics

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> m = adherence_metrics(simulate_cohort(300, seed=2))
    >>> "supervised_physio" in set(m.summary["group"])
    True
    """
    weekly = weekly_adherence(data, patients, threshold=threshold, completed_above_prescribed=completed_above_prescribed,
                              beyond_followup=beyond_followup, missing_weeks=missing_weeks)
    _, patients = split_input(data, patients)
    per = patient_adherence(weekly, window=window, time=time, threshold=threshold, cut_points=cut_points)
    if patients is None:
        if by is not None:
            raise ConfigError(f"by={by!r} needs a patients table (pass patients= or a Cohort)")
        membership = pd.DataFrame({"patient_id": per["patient_id"], "group": "all"})
    elif by is None:
        membership = intervention_membership(patients).rename(columns={"intervention": "group"})
    else:
        if by not in patients.columns:
            raise ConfigError(f"by={by!r} is not a column of the patients table (columns: {list(patients.columns)})")
        membership = pd.DataFrame({"patient_id": patients["patient_id"].astype(str).to_numpy(), "group": patients[by].astype(str).to_numpy()})
        per = per.merge(membership.rename(columns={"group": by}), on="patient_id", how="left")
    long = per.merge(membership, on="patient_id", how="inner")
    summary = group_summary(long, [*_category_labels(cut_points), "nothing prescribed"])
    info = {"method": "adherence metrics", "n": len(per), "groups": len(summary), "by": by or "intervention",
            "threshold": threshold, "window": window, "time": time, "cut_points": tuple(cut_points), "rules": weekly.attrs["rules"]}
    return AdherenceMetrics(summary=summary, info=info, per_patient=per, weekly=weekly, membership=membership)
