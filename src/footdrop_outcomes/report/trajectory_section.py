"""The strength and gait trajectories section: fits, tables, figure and prose from the run.

:func:`analyse_trajectories` fits the trajectories layer's linear mixed model
(:func:`footdrop_outcomes.trajectories.fit_trajectory`) to gait speed and to dorsiflexion strength
(MRC grade as a continuous score), with the same fixed effects for both: ``time * (cause +
severity)`` plus age, diabetes, current smoking and FES, time = log(1 + weeks since onset), a
random intercept and slope per patient, REML. Terms that do not vary in the patients analysed are
dropped and causes without any measurement of an outcome are left out of that outcome's model;
fit warnings (boundary, non-convergence) are captured and reported in the text, never hidden.
At registry scale both models are fitted on a simple random sample of
``REGISTRY_SAMPLE_SIZES["trajectories"]`` patients when the cohort has more than ``REGISTRY_THRESHOLD``
(:func:`~footdrop_outcomes.report.analysis.section_sample`; ``choices["sample"]``, one sentence in
the methods).

>>> from footdrop_outcomes import simulate_cohort
>>> t = analyse_trajectories(simulate_cohort(300, seed=3))
>>> sorted(t.fits)
['gait_speed', 'mrc']
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes.cohort.vocabulary import CAUSES
from footdrop_outcomes.report.analysis import CAUSE_SHORT, section_sample, term_label
from footdrop_outcomes.release import ReleasedFigure, ReleasedTable, ReleasedText, term_support
from footdrop_outcomes.report.counts import figure, protect, show_count, table, text

__all__ = ["TrajectoryAnalysis", "analyse_trajectories", "fixed_effects_table", "variance_table", "trajectory_figure",
           "mcid_text", "methods_text", "limitations", "key_findings", "patients_table", "OUTCOMES"]

#: Outcome column -> (name in the report, unit, digits).
OUTCOMES: dict[str, tuple[str, str, int]] = {"gait_speed": ("Gait speed", "m/s", 3), "mrc": ("Dorsiflexion strength", "MRC grade", 2)}
FORMULA = "time * (cause + severity) + age_c + diabetes + current_smoker + fes"
_COVARIATES = ("age_c", "diabetes", "current_smoker", "fes")
_PROFILE_FIXED = {"diabetes": 0, "current_smoker": 0, "fes": 0}


def _text(s: pd.Series) -> pd.Series:
    """``s.astype(str)``: for a categorical column without missing values, one string per category taken by code
    (equal values; on a registry's millions of visit rows ``astype(str)`` costs seconds and a copy per call)."""
    if isinstance(s.dtype, pd.CategoricalDtype) and not s.isna().any():
        cats = np.asarray(s.cat.categories.astype(str), dtype=object)
        return pd.Series(cats[s.cat.codes.to_numpy()], index=s.index, name=s.name)
    return s.astype(str)


@dataclass(frozen=True)
class TrajectoryAnalysis:
    """Both trajectory fits and what was decided on the way.

    Attributes
    ----------
    fits : dict
        ``gait_speed`` and ``mrc`` -> :class:`~footdrop_outcomes.trajectories.TrajectoryResult`.
    long : pandas.DataFrame
        The visit table (``trajectory_frame``) the models were fitted to (of the registry sample
        when ``choices["sample"]["sampled"]``).
    mcid : pandas.DataFrame or None
        ``time_to_mcid`` for the chosen profile (None when its cause or severity is not in the data).
    choices : dict
        ``formulas`` (per outcome, as fitted), ``dropped_terms``, ``excluded_causes`` (per outcome:
        no measurement), ``warnings`` (per outcome), ``profile``, ``mcid``, ``from_week``, ``alpha``,
        ``sample`` (:attr:`~footdrop_outcomes.report.analysis.RegistrySample.record`).
    """

    fits: dict[str, Any]
    long: pd.DataFrame
    mcid: pd.DataFrame | None
    choices: dict[str, Any] = field(default_factory=dict)


def _formula_for(long: pd.DataFrame) -> tuple[str, list[str]]:
    dropped = [c for c in _COVARIATES if pd.to_numeric(long[c], errors="coerce").nunique() < 2]
    factors = [f for f in ("cause", "severity") if _text(long[f]).nunique() > 1]
    dropped += [f for f in ("cause", "severity") if f not in factors]
    rhs = f"time * ({' + '.join(factors)})" if factors else "time"
    rest = [c for c in _COVARIATES if c not in dropped]
    return " + ".join([rhs, *rest]), dropped


def analyse_trajectories(cohort: Any, *, alpha: float = 0.05, mcid: float = 0.10, mcid_cause: str = "stroke",
                         mcid_severity: str = "moderate") -> TrajectoryAnalysis:
    """Fit gait-speed and strength trajectories and the time to the gait-speed MCID of a profile."""
    from footdrop_outcomes.trajectories import fit_trajectory, trajectory_frame

    sample = section_sample(cohort, "trajectories")
    long = trajectory_frame(sample.cohort)
    fits: dict[str, Any] = {}
    formulas: dict[str, str] = {}
    dropped_all: set[str] = set()
    excluded: dict[str, list[str]] = {}
    warned: dict[str, list[str]] = {}
    for outcome in OUTCOMES:
        has = long.groupby(_text(long["cause"]), observed=True)[outcome].apply(lambda s: s.notna().any())
        gone = sorted(c for c, ok in has.items() if not ok)
        data = long[~_text(long["cause"]).isin(gone)].copy()
        for col in ("cause", "severity"):
            if isinstance(data[col].dtype, pd.CategoricalDtype):
                data[col] = data[col].cat.remove_unused_categories()
        formula, dropped = _formula_for(data)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fits[outcome] = fit_trajectory(data, outcome, formula, alpha=alpha)
        formulas[outcome] = formula
        dropped_all.update(dropped)
        excluded[outcome] = gone
        warned[outcome] = list(dict.fromkeys(str(w.message) for w in caught))
    # time to the MCID in gait speed, measured from the usual first visit
    first = long.groupby("patient_id", observed=True)["weeks"].min()
    from_week = float(np.round(first.median(), 1))
    gait = fits["gait_speed"]
    present = set(_text(gait.prepared.frame["cause"])) if "cause" in gait.prepared.frame.columns else set(_text(long["cause"]))
    sev_present = set(_text(long["severity"]))
    # a profile outside the patients analysed is not estimable (also when the model has no cause or severity term)
    profile = _profile(gait, mcid_cause, mcid_severity) if mcid_cause in present and mcid_severity in sev_present else None
    table = None
    if profile is not None:
        table = gait.time_to_mcid(profile, mcid=mcid, from_week=from_week)
    choices = {"formulas": formulas, "dropped_terms": sorted(dropped_all), "excluded_causes": excluded, "warnings": warned,
               "profile": {"cause": mcid_cause, "severity": mcid_severity}, "mcid": mcid, "from_week": from_week, "alpha": alpha,
               "sample": sample.record}
    return TrajectoryAnalysis(fits=fits, long=long, mcid=table, choices=choices)


def _profile(fit: Any, cause: str | None, severity: str) -> dict[str, Any] | None:
    """A covariate profile: the given cause and severity, mean age, no diabetes, smoking or FES."""
    levels = fit.design.levels
    prof: dict[str, Any] = {}
    for var in fit.design.variables:
        if var == "cause":
            if cause is None:
                prof[var] = levels[var][0]
            elif cause not in levels.get(var, []):
                return None
            else:
                prof[var] = cause
        elif var == "severity":
            if severity not in levels.get(var, []):
                return None
            prof[var] = severity
        elif var in _PROFILE_FIXED:
            prof[var] = _PROFILE_FIXED[var]
        else:
            prof[var] = float(pd.to_numeric(fit.prepared.frame[var]).mean())
    return prof


def _ci(est: float, lo: float, hi: float, digits: int) -> str:
    """``est (lo to hi)``: "to" because the bounds are often negative."""
    return f"{est:.{digits}f} ({lo:.{digits}f} to {hi:.{digits}f})"


def _term(term: str) -> str:
    """``lw`` -> ``Slope (per log week)``; ``lw:cause[stroke]`` -> ``Slope: Stroke``."""
    if term == "Intercept":
        return "Intercept (at onset)"
    if term == "lw":
        return "Slope per log(1 + weeks)"
    m = re.fullmatch(r"lw:(.+)", term)
    if m:
        return f"Slope: {_level_label(m.group(1))}"
    return _level_label(term)


def _level_label(term: str) -> str:
    return {"age_c": "Age (per 10 years)", "current_smoker": "Current smoker", "diabetes": "Diabetes", "fes": "FES"}.get(term, term_label(term))


def _patients(ta: TrajectoryAnalysis) -> pd.DataFrame:
    """One row per patient of the visit table (the groups behind every estimate)."""
    long = ta.long
    cols = [c for c in ("patient_id", "cause", "severity", "diabetes", "current_smoker", "fes") if c in long.columns]
    return long[cols].drop_duplicates("patient_id")


def _term_support(term: str, patients: pd.DataFrame) -> int:
    """Patients behind a trajectory-model term: the smallest factor level it involves (an interaction
    ``time:cause[stroke]`` is the stroke patients), else all patients."""
    parts = [x for x in str(term).split(":") if x]
    return min(term_support(x, patients) for x in parts) if parts else len(patients)


def fixed_effects_table(ta: TrajectoryAnalysis) -> ReleasedTable:
    """Fixed effects of both models side by side: estimate (CI) per outcome."""
    level = round(100 * (1 - ta.choices["alpha"]))
    cols: dict[str, dict[str, str]] = {}
    order: list[str] = []
    for outcome, (name, unit, digits) in OUTCOMES.items():
        s = ta.fits[outcome].summary
        cols[outcome] = {t: _ci(e, lo, hi, digits) for t, e, lo, hi in zip(s["term"], s["estimate"], s["lower"], s["upper"])}
        order += [t for t in s["term"] if t not in order]
    out = pd.DataFrame({"Term": [_term(t) for t in order],
                        **{f"{OUTCOMES[o][0]}, {OUTCOMES[o][1]} ({level}% CI)": [cols[o].get(t, "-") for t in order] for o in OUTCOMES}})
    pats = _patients(ta)
    return table(out, [_term_support(t, pats) for t in order], keep=["Term"])


def variance_table(ta: TrajectoryAnalysis) -> ReleasedTable:
    """Variance components (SDs, correlation, residual SD, ICC at onset) and fit facts per outcome."""
    level = round(100 * (1 - ta.choices["alpha"]))
    names = {"sd_intercept": "SD of patient intercepts", "sd_slope": "SD of patient slopes", "corr_intercept_slope": "Correlation intercept-slope",
             "sd_residual": "Residual SD", "icc": "ICC at onset (between-patient share)"}
    rows: dict[str, dict[str, str]] = {}
    for outcome in OUTCOMES:
        fit = ta.fits[outcome]
        vc = fit.variance_components
        for _, r in vc.iterrows():
            label = names.get(r["component"], r["component"])
            txt = (_ci(r["estimate"], r["lower"], r["upper"], 3) if np.isfinite(r["lower"]) and np.isfinite(r["upper"])
                   else f"{r['estimate']:.3f}")
            rows.setdefault(label, {})[outcome] = txt
        rows.setdefault("Patients / visits", {})[outcome] = f"{show_count(fit.info['groups'])} / {show_count(fit.info['n'])}"
        rows.setdefault("Converged; boundary fit", {})[outcome] = (f"{'yes' if fit.info['converged'] else 'NO'}; "
                                                                   f"{'YES' if fit.info['boundary'] else 'no'}")
    out = pd.DataFrame({"Component": list(rows),
                        **{f"{OUTCOMES[o][0]} ({level}% CI)": [rows[k].get(o, "-") for k in rows] for o in OUTCOMES}})
    return table(out, len(_patients(ta)), keep=["Component"])


def patients_table(ta: TrajectoryAnalysis) -> ReleasedTable:
    """Patients with at least one measurement of each outcome, by cause (protected counts)."""
    long = ta.long
    present = [c for c in CAUSES if (_text(long["cause"]) == c).any()]
    out = {"Cause": [CAUSE_SHORT[c] for c in present] + ["All"]}
    for outcome, (name, _, _) in OUTCOMES.items():
        has = long[long[outcome].notna()].groupby(_text(long["cause"]), observed=True)["patient_id"].nunique()
        prot = protect(has.reindex(present, fill_value=0).astype("int64"))
        out[f"Patients with {name.lower()}"] = [prot.text(c, "n") for c in present] + [prot.text("Total", "n")]
    n = _patients(ta)["cause"].astype(str).value_counts()
    return table(pd.DataFrame(out), [int(n[c]) for c in present] + [int(n.sum())], keep=["Cause"])


def trajectory_figure(ta: TrajectoryAnalysis) -> ReleasedFigure:
    """Two panels: population-mean gait speed and strength by cause with CI bands, for a patient
    of the profile's severity, mean age, no diabetes, smoking or FES. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.5))
    level = round(100 * (1 - ta.choices["alpha"]))
    sev = ta.choices["profile"]["severity"]
    handles: dict[str, Any] = {}
    colors = dict(zip(CAUSES, plt.get_cmap("tab10").colors))
    for ax, (outcome, (name, unit, _)) in zip(axes, OUTCOMES.items()):
        fit = ta.fits[outcome]
        at = {k: v for k, v in {**_PROFILE_FIXED, "severity": sev}.items() if k in fit.design.variables
              and (k != "severity" or v in fit.design.levels.get("severity", []))}
        tr = fit.trajectories(by="cause" if "cause" in fit.design.levels else None, at=at)
        if "cause" not in tr.columns:
            tr = tr.assign(cause=str(_text(ta.long["cause"]).iloc[0]))
        for cause, d in tr.groupby(_text(tr["cause"]), sort=False):
            line = ax.plot(d["weeks"], d["mean"], color=colors.get(cause), linewidth=1.4)[0]
            ax.fill_between(d["weeks"], d["lower"], d["upper"], color=line.get_color(), alpha=0.18, linewidth=0)
            handles.setdefault(cause, line)
        ax.set_xlabel("weeks since onset")
        ax.set_ylabel(f"{name.lower()} ({unit})")
        ax.set_title(f"{name} (mean, {level}% CI)", loc="left", fontsize="medium")
        ax.spines[["top", "right"]].set_visible(False)
    order = [c for c in CAUSES if c in handles]
    fig.legend([handles[c] for c in order], [CAUSE_SHORT[c] for c in order], loc="lower center", ncol=4, frameon=False,
               fontsize="small", bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    n = _patients(ta)["cause"].astype(str).value_counts()
    return figure(fig, {c: int(n.get(c, 0)) for c in handles})


def mcid_text(ta: TrajectoryAnalysis) -> ReleasedText:
    """One sentence: weeks until the profile's mean gait speed has gained the MCID (withheld when the
    profile's cause, or its cause and severity together, has 1 to threshold patients)."""
    ch = ta.choices
    prof = ch["profile"]
    pats = _patients(ta)
    in_cause = _text(pats["cause"]) == prof["cause"]
    support = [int(in_cause.sum()), int((in_cause & (_text(pats["severity"]) == prof["severity"])).sum())]
    return text(_mcid_sentence(ta), [n for n in support if n > 0])


def _mcid_sentence(ta: TrajectoryAnalysis) -> str:
    ch = ta.choices
    prof = ch["profile"]
    who = f"{CAUSE_SHORT.get(prof['cause'], prof['cause'])}, {prof['severity']} severity"
    if ta.mcid is None:
        return f"Time to a clinically important gain in gait speed: not estimable for {who} (not in the patients analysed)."
    r = ta.mcid.iloc[0]
    level = round(100 * (1 - ch["alpha"]))
    if not np.isfinite(r["weeks"]):
        return (f"For a patient with {who} (mean age, no diabetes, not smoking, no FES), mean gait speed does not gain "
                f"{ch['mcid']:g} m/s between week {ch['from_week']:g} and week {r['horizon']:.0f}.")
    hi = f"{r['upper']:.1f}" if np.isfinite(r["upper"]) else "not reached"
    return (f"For a patient with {who} (mean age, no diabetes, not smoking, no FES), mean gait speed gains the minimal "
            f"clinically important difference of {ch['mcid']:g} m/s over its value at week {ch['from_week']:g} (the median "
            f"week of the first visit) by week {r['weeks']:.1f} after onset ({level}% CI {r['lower']:.1f}-{hi}; "
            f"{100 * r['p_reached']:.0f}% of simulated draws reach it by week {r['horizon']:.0f}).")


def key_findings(ta: TrajectoryAnalysis) -> list[ReleasedText]:
    """Bullet sentences: how fast each outcome improves, by cause, and the time to MCID."""
    out = []
    pats = _patients(ta)
    ref = int(((_text(pats["cause"]) == "peroneal_compression") & (_text(pats["severity"]) == "mild")).sum())
    for outcome, (name, unit, digits) in OUTCOMES.items():
        fit = ta.fits[outcome]
        s = fit.summary.set_index("term")
        if "lw" in s.index:
            r = s.loc["lw"]
            out.append(text(f"{name}: the reference group (peroneal compression, mild) gains {r['estimate']:.{digits}f} {unit} per unit of "
                       f"log(1 + weeks) ({r['lower']:.{digits}f} to {r['upper']:.{digits}f}); the ICC at onset is {fit.info['icc']:.2f}.",
                            [len(pats), *([ref] if ref else [])], replacement=""))
    out.append(mcid_text(ta))
    return out


def methods_text(ta: TrajectoryAnalysis) -> ReleasedText:
    """Markdown: the models as fitted, with their convergence and boundary checks."""
    ch = ta.choices
    level = round(100 * (1 - ch["alpha"]))
    parts = []
    for outcome, (name, unit, _) in OUTCOMES.items():
        fit = ta.fits[outcome]
        i = fit.info
        checks = (f"converged ({i['optimizer']}, largest projected gradient {i['projected_gradient']:.1e})" if i["converged"]
                  else "did NOT converge after every optimiser was tried: treat its estimates with caution")
        boundary = (f"a boundary fit ({i.get('boundary_detail') or 'a variance component at its limit'}): its variance CIs are not reported"
                    if i["boundary"] else "no variance component at its boundary")
        excl = ch["excluded_causes"][outcome]
        parts.append(
            f"**{name}** ({unit}): linear mixed model `{ch['formulas'][outcome]}` with time = log(1 + weeks since onset), "
            f"a random intercept and slope per patient, {i['method']}; {show_count(i['n'])} visits of "
            f"{show_count(i['groups'])} patients" + (f", {show_count(i['n_missing_outcome'])} visits without a measurement left out"
                                                     if i["n_missing_outcome"] else "")
            + (f"; causes without any measurement left out: {', '.join(CAUSE_SHORT.get(c, c) for c in excl)}" if excl else "")
            + f". The fit {checks}, with {boundary}. AIC {i['aic']:.1f}.")
        if ch["warnings"][outcome]:
            parts.append(f"Fit warnings for {name.lower()} (numbers replaced by #): "
                         + "; ".join(re.sub(r"\d+(?:[.,]\d+)*(?:e[-+]?\d+)?", "#", str(w)) for w in ch["warnings"][outcome]) + ".")
    parts.append(f"Fixed-effect intervals are Wald {level}% intervals (p-values use the normal reference); variance-component "
                 "intervals are Wald intervals on the log-SD and Fisher-z scales. Mean curves set the random effects to 0 (a typical "
                 "patient, not the average of patients). The time to the MCID is the first week at which the profile's mean curve "
                 "has risen by the MCID, with a percentile interval over 2,000 draws of the fixed effects.")
    sample = ch.get("sample") or {}
    if sample.get("sampled"):
        parts.append(f"**Registry scale**: both models are fitted on a simple random sample of {show_count(sample['n_sample'])} of the "
                     f"{show_count(sample['n_cohort'])} patients (seed {sample['seed']}; a fixed size that bounds the computing time; their standard "
                     "errors and intervals are those of the sample); the other sections use every patient.")
    if ch["dropped_terms"]:
        parts.append(f"Terms dropped because they do not vary in the patients analysed: {', '.join(ch['dropped_terms'])}.")
    return text("\n\n".join(parts), len(_patients(ta)))


def limitations(ta: TrajectoryAnalysis) -> list[ReleasedText]:
    """Limitation sentences from this fit."""
    out = ["Trajectories: MRC strength is an ordinal 0-5 grade modelled as a continuous score; gait speed is clipped at a "
           "floor and rounded, and treated as observed; dropout is assumed ignorable given the measurements seen (missing at random)."]
    bad = [OUTCOMES[o][0] for o, f in ta.fits.items() if not f.info["converged"] or f.info["boundary"]]
    if bad:
        out.append(f"The trajectory model of {', '.join(bad)} reached a boundary or did not converge (see Methods).")
    return [text(x, len(_patients(ta))) for x in out]
