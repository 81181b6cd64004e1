"""The time-to-recovery analysis behind the report notebooks, in one call.

The outcome report and the time-to-recovery notebook both run the same fits on the same patients;
:func:`analyse_recovery` does it once, records every choice it made (causes left out because no
patient recovered, model terms dropped because they do not vary) in ``choices``, and returns the
results that the tables, figures and the methods text are written from.

>>> from footdrop_outcomes import simulate_cohort
>>> res = analyse_recovery(simulate_cohort(300, seed=3))
>>> sorted(res.results)
['aft', 'cif', 'cox', 'cure', 'km_cause', 'km_severity', 'logrank_cause', 'logrank_severity', 'turnbull_cause', 'turnbull_severity']
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.cohort.vocabulary import CAUSES
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.report.counts import get_threshold
from footdrop_outcomes.report.degrade import ModelAttempt, attempt

__all__ = ["RecoveryAnalysis", "analyse_recovery", "restrict_causes", "EXPECTED_WINDOWS", "CAUSE_SHORT", "term_label",
           "RegistrySample", "registry_sample", "section_sample", "REGISTRY_SAMPLE_SIZES", "REGISTRY_SAMPLE_SEED",
           "REGISTRY_THRESHOLD"]

#: Expected recovery windows from the clinical literature the report compares against, in weeks
#: since onset: (cause, severity or None for all severities) -> (from, to, in words).
EXPECTED_WINDOWS: dict[tuple[str, str | None], tuple[float, float, str]] = {
    ("peroneal_compression", "mild"): (6.0, 12.0, "6-12 weeks"),
    ("stroke", None): (26.0, 78.0, "6-18 months"),
}

#: Short cause labels for table headers and figure legends.
CAUSE_SHORT: dict[str, str] = {
    "peroneal_compression": "Peroneal compression",
    "lumbar_radiculopathy": "L5 radiculopathy",
    "stroke": "Stroke",
    "multiple_sclerosis": "Multiple sclerosis",
    "als": "ALS",
    "peripheral_neuropathy": "Neuropathy",
    "post_surgical_hip_knee": "After hip/knee surgery",
    "post_surgical_spine": "After spine surgery",
}


def term_label(term: str) -> str:
    """A model term as a reader sees it: ``cause[stroke]`` -> ``Cause: Stroke (vs Peroneal
    compression)`` is too long for a forest plot, so ``Stroke``; ``severity[severe]`` -> ``Severe
    severity``; ``age`` -> ``Age (per year)``.

    >>> term_label("cause[post_surgical_spine]"), term_label("severity[severe]"), term_label("age")
    ('After spine surgery', 'Severity: severe', 'Age (per year)')
    """
    m = re.fullmatch(r"(\w+)\[(?:T\.)?(.+)\]", term)
    if m:
        var, level = m.groups()
        if var == "cause":
            return CAUSE_SHORT.get(level, level)
        return f"{var.replace('_', ' ').capitalize()}: {level.replace('_', ' ')}"
    return {"age": "Age (per year)", "diabetes": "Diabetes", "bmi": "BMI (per kg/m2)", "hba1c": "HbA1c (per %)",
            "days_to_treatment": "Days to treatment (per day)", "supervised_physio": "Supervised physiotherapy",
            "fes": "Functional electrical stimulation", "baseline_mrc": "Baseline MRC (per grade)"}.get(term, term.replace("_", " "))


@dataclass(frozen=True)
class RecoveryAnalysis:
    """Everything the report shows about time to recovery.

    Attributes
    ----------
    frame : pandas.DataFrame
        The survival frame of the patients analysed (one row per patient).
    model_frame : pandas.DataFrame
        ``frame`` without the causes in which nobody recovered (their effects are not estimable).
    results : dict
        ``cox`` (:class:`~footdrop_outcomes.survival.CoxResult`), ``aft``, ``cure``, ``cif``,
        ``turnbull_cause`` / ``turnbull_severity`` (interval-censored NPMLE curves),
        ``km_cause`` / ``km_severity`` (Kaplan-Meier, visit-dated), ``logrank_cause`` /
        ``logrank_severity`` (None when the group does not vary).
    choices : dict
        What was decided from the data: ``excluded_causes`` (no recovery seen), ``dropped_terms``
        (constant in the data), ``cox_formula`` / ``aft_formula`` / ``cure_formula`` as fitted,
        ``cluster``, ``threshold``, ``landmarks``, ``alpha``, ``distribution``; ``late_entry``
        (True when patients were at risk from first contact), ``entry_col``,
        ``n_recovered_by_entry`` (seen recovered at first contact: never at risk, left out of
        curves and models) and ``n_no_time_after_entry`` (followed no time after first contact:
        they add nothing to any estimate, left out too); ``missing_data`` (per model: the
        complete-case counts of its ``info``, and the warning text).
    attempts : dict
        ``cox``, ``aft``, ``cure`` -> :class:`~footdrop_outcomes.report.degrade.ModelAttempt`:
        what was fitted, and in plain words why a model could not be (the report goes on without it).
    """

    frame: pd.DataFrame
    model_frame: pd.DataFrame
    results: dict[str, Any]
    choices: dict[str, Any] = field(default_factory=dict)
    attempts: dict[str, ModelAttempt] = field(default_factory=dict)

    @property
    def cox(self) -> Any:
        """The Cox fit, or None when the data could not support it (see ``attempts["cox"]``)."""
        return self.results["cox"]

    @property
    def aft(self) -> Any:
        """The interval-censored AFT fit, or None (see ``attempts["aft"]``)."""
        return self.results["aft"]

    @property
    def cure(self) -> Any:
        """The mixture cure fit, or None (see ``attempts["cure"]``)."""
        return self.results["cure"]

    @property
    def cif(self) -> Any:
        return self.results["cif"]


def restrict_causes(cohort: Cohort, causes: Sequence[str] = ()) -> Cohort:
    """The cohort restricted to ``causes`` (all when empty): :meth:`Cohort.subset`, so truth and
    origin are kept; ``metadata["restricted_to_causes"]`` records the choice."""
    causes = list(causes)
    if not causes:
        return cohort
    unknown = sorted(set(causes) - set(CAUSES))
    if unknown:
        raise ConfigError(f"causes: {unknown} not known; allowed: {list(CAUSES)}")
    if not cohort.patients["cause"].astype(str).isin(causes).any():
        raise ConfigError(f"no patient in the cohort has a cause in {causes}")
    sub = cohort.subset(causes=causes, label="causes analysed")
    sub.metadata["restricted_to_causes"] = causes
    return sub


#: Registry scale: a model whose cost grows with the cohort far beyond its need for precision is fitted on a simple
#: random sample of this many patients when the cohort has more (smaller cohorts, e.g. the demo, are analysed whole).
#: ``adherence``: the adherence section's models (discontinuation, propensity and weighted comparison, adherence and
#: recovery, weekly trend, intention to treat vs per protocol). At 10,000 patients of a simulated registry (v2) every
#: one of them has a standard error far below its effect or its known bias: the log HR per 10 points of cumulative
#: adherence 0.005-0.013 (estimates 0.06-0.09), the weighted supervised-physiotherapy and AFO log HRs 0.021-0.026, the
#: GEE supervised-physiotherapy log OR 0.020 (estimate 0.29), while rater error biases the cure models by about 0.06
#: (docs/adherence.md, section 5.1); they cost about 31 s of CPU there and grow linearly (about 4,000 s at 1,000,000).
#: ``trajectories``: the two linear mixed models on the visit table (about 0.17 ms of CPU and 13 KB per patient:
#: 170 s and 13 GB at 1,000,000 patients, session 6); at 100,000 patients (a sample of a 250,000-patient v2 cohort)
#: their fixed-effect SEs are a seventh of those at 2,000 (median ratio 0.14, range 0.13-0.17, both models) and 45 of
#: the 48 fixed effects have |z| > 5. The adherence sample is the first part of the trajectory sample (one permutation, see
#: :func:`registry_sample`). Everything descriptive, the recovery curves, Cox, AFT and the recovery section's cure models use every patient.
REGISTRY_SAMPLE_SIZES: dict[str, int] = {"adherence": 10_000, "trajectories": 100_000}
#: A cohort of more than this many patients is at registry scale: only then does a section fit its models on the
#: sample above (:func:`section_sample`); a cohort of 10,001 to 100,000 patients is analysed whole (its adherence
#: models then take minutes, not seconds).
REGISTRY_THRESHOLD = 100_000
#: Seed of the registry sample's permutation (recorded in each section's ``choices["sample"]``).
REGISTRY_SAMPLE_SEED = 20_160_616


@dataclass(frozen=True)
class RegistrySample:
    """The patients a registry-scale model is fitted on (:func:`registry_sample`).

    Attributes
    ----------
    cohort : Cohort
        The sample (the cohort itself, the same object, when it is not larger than ``size``).
    sampled : bool
        True when ``cohort`` is a sample.
    n_cohort, size, seed : int
        Patients in the whole cohort, the sample size rule and the permutation's seed.
    """

    cohort: Cohort
    sampled: bool
    n_cohort: int
    size: int
    seed: int

    @property
    def record(self) -> dict[str, Any]:
        """What a section's ``choices["sample"]`` records."""
        return {"sampled": self.sampled, "n_cohort": self.n_cohort, "n_sample": self.cohort.n_patients, "size": self.size,
                "seed": self.seed}


def _sample_order(ids: pd.Series, seed: int) -> np.ndarray:
    """Row positions of the patients in the order of a seeded permutation of their sorted ids: the same cohort
    gives the same order whatever its row order, and the first k of a larger sample are the sample of size k."""
    by_id = np.argsort(np.asarray(ids.astype(str), dtype=object), kind="stable")
    return by_id[np.random.default_rng(seed).permutation(len(by_id))]


def _rows_of(table: pd.DataFrame, kept_ids: pd.Series) -> pd.DataFrame:
    """Rows of ``table`` whose patient is in ``kept_ids``; category codes when both are categorical with the same
    categories (no string per row: the adherence table of a registry has tens of millions of rows)."""
    col = table["patient_id"]
    if (isinstance(col.dtype, pd.CategoricalDtype) and isinstance(kept_ids.dtype, pd.CategoricalDtype)
            and col.cat.categories.equals(kept_ids.cat.categories)):
        wanted = np.zeros(len(col.cat.categories), dtype=bool)
        wanted[kept_ids.cat.codes.to_numpy()] = True
        codes = col.cat.codes.to_numpy()
        mask = wanted[np.where(codes >= 0, codes, 0)] & (codes >= 0)
    else:
        mask = col.astype(str).isin(set(kept_ids.astype(str))).to_numpy()
    return table.loc[mask].reset_index(drop=True)


def section_sample(cohort: Cohort, section: str) -> RegistrySample:
    """The patients a report section fits its models on: the registry sample of ``REGISTRY_SAMPLE_SIZES[section]``
    patients when the cohort has more than ``REGISTRY_THRESHOLD``, else the whole cohort.

    >>> from footdrop_outcomes import simulate_cohort
    >>> section_sample(simulate_cohort(300, seed=3), "adherence").sampled
    False
    """
    n = cohort.n_patients
    return registry_sample(cohort, REGISTRY_SAMPLE_SIZES[section] if n > REGISTRY_THRESHOLD else max(n, 1))


def registry_sample(cohort: Cohort, size: int, *, seed: int = REGISTRY_SAMPLE_SEED) -> RegistrySample:
    """A simple random sample of ``size`` patients, or the cohort itself when it has no more than ``size``.

    The sample is the first ``size`` patients of one permutation (``numpy.random.default_rng(seed)``) of the
    patients sorted by id: deterministic for a cohort, whatever its row order, and nested (a smaller sample is part
    of a larger one). Visits and adherence weeks follow their patients, the simulation truth is restricted to them
    and ``metadata["subset"]`` records the draw, as :meth:`Cohort.subset` does; the tables are not validated again
    (they are rows of a validated cohort).

    Parameters
    ----------
    cohort : Cohort
    size : int
        The sample size; cohorts of at most this many patients are returned whole.
    seed : int
        Seed of the permutation.

    Returns
    -------
    RegistrySample

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> c = simulate_cohort(300, seed=3)
    >>> registry_sample(c, 1000).cohort is c, registry_sample(c, 100).cohort.n_patients
    (True, 100)
    """
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ConfigError(f"registry_sample: size must be a positive whole number, got {size!r}")
    n = cohort.n_patients
    if n <= size:
        return RegistrySample(cohort=cohort, sampled=False, n_cohort=n, size=int(size), seed=int(seed))
    rows = np.sort(_sample_order(cohort.patients["patient_id"], seed)[:size])
    patients = cohort.patients.iloc[rows].reset_index(drop=True)
    kept = patients["patient_id"]
    visits, adherence = _rows_of(cohort.visits, kept), _rows_of(cohort.adherence, kept)
    if isinstance(kept.dtype, pd.CategoricalDtype):
        # the sample's own ids as the categories of all three tables (a groupby over ids then never meets the
        # registry's million unobserved ones)
        cats = kept.cat.remove_unused_categories().cat.categories
        for t in (patients, visits, adherence):
            if isinstance(t["patient_id"].dtype, pd.CategoricalDtype):
                t["patient_id"] = t["patient_id"].cat.set_categories(cats)
    truth = None
    if cohort.truth is not None:
        tp = cohort.truth.patients
        pos = pd.Index(tp["patient_id"].astype(str)).get_indexer(kept.astype(str))
        truth = type(cohort.truth)(parameters=cohort.truth.parameters.copy(), patients=tp.iloc[pos[pos >= 0]].reset_index(drop=True))
    record = {"label": f"registry sample (seed {int(seed)})", "patients": int(size), "n_patients_before": n,
              "n_patients_after": int(size), "visits_after": len(visits), "adherence_weeks_after": len(adherence)}
    meta = dict(cohort.metadata)
    meta["subset"] = [*list(cohort.metadata.get("subset", [])), record]
    sample = Cohort(patients=patients, visits=visits, adherence=adherence, metadata=meta, truth=truth,
                    source=f"{cohort.source} (registry sample)", _validated=True)
    return RegistrySample(cohort=sample, sampled=True, n_cohort=n, size=int(size), seed=int(seed))


def _usable_terms(formula: str, frame: pd.DataFrame) -> tuple[str, list[str]]:
    """Drop plain column terms that do not vary in ``frame`` (e.g. ``cause`` when one cause is
    analysed); return the formula kept and the terms dropped."""
    terms = [t.strip() for t in formula.split("+") if t.strip()]
    kept, dropped = [], []
    for t in terms:
        if t in frame.columns and frame[t].astype(str).nunique() < 2:
            dropped.append(t)
        else:
            kept.append(t)
    return " + ".join(kept), dropped


def _constant_model() -> Any:
    raise FootdropError("every term of the model is constant among the patients analysed")


def analyse_recovery(
    cohort: Cohort,
    *,
    causes: Sequence[str] = (),
    threshold: int = 4,
    landmarks: Sequence[float] = (6, 12, 26, 52, 78),
    alpha: float = 0.05,
    cox_formula: str = "cause + severity + age + diabetes",
    cluster: str | None = "site",
    distribution: str = "weibull",
    late_entry: bool | None = None,
) -> RecoveryAnalysis:
    """Fit the report's recovery models.

    Cox (right-censored at the visit where recovery is seen, cluster-robust SEs, PH score test),
    interval-censored AFT, mixture cure model (``cause + severity`` for incidence and latency),
    and Aalen-Johansen cumulative incidence by cause with death competing. Causes in which no
    patient was seen to recover are left out of the regression models (recorded in
    ``choices["excluded_causes"]``) but stay in the cumulative incidence.

    **Late entry.** With late entry (left truncation) a patient is at risk from first contact
    (``patients.first_contact_day``, the survival frame's ``entry``), not from onset: the
    Turnbull and Kaplan-Meier curves, the Cox model and the AFT model take ``entry_col="entry"``,
    and patients already recovered at first contact, or followed no time after it, are never at
    risk and are left out of them (counted in ``choices``). The cure model and the cumulative
    incidence have no late-entry form here and use every patient from onset (the methods say
    so). Late entry is right for a referral sample, where those who recovered before first
    contact never reach the data; where the extract keeps them (seen recovered at their first
    visit, as in the v2 simulator) the plain curves are right (their first interval covers
    recovery before contact) and late entry would drop them and bias recovery upwards
    (docs/survival.md, "When to use entry").

    Parameters
    ----------
    late_entry : bool, optional
        None (default): use late entry when the cohort records first contact and nobody in it
        was recovered at first contact (``choices["late_entry_reason"]`` says which applied);
        True: use it (needs ``first_contact_day``); False: everyone at risk from onset.

    **Missing covariates.** Each model leaves out the patients missing one of its own variables
    (complete cases; :func:`~footdrop_outcomes.survival.fit_cox` and the others count them in
    their ``info``); the warnings are collected in ``choices["missing_data"]`` for the report's
    missing-data section instead of being printed.

    Returns
    -------
    RecoveryAnalysis
    """
    from footdrop_outcomes.survival import (competing_frame, cumulative_incidence, fit_cox, fit_cure_model, fit_interval_aft, kaplan_meier,
                                            logrank_test, survival_frame, turnbull)

    from footdrop_outcomes.survival import MissingDataWarning

    cohort = restrict_causes(cohort, causes)
    frame = survival_frame(cohort, threshold=threshold)
    has_entry = "entry" in frame.columns
    if late_entry and not has_entry:
        raise ConfigError("late_entry=True: the cohort has no patients.first_contact_day (schema 1.1); every patient is then "
                          "taken as observed from onset (late_entry=None)")
    at_risk = np.ones(len(frame), dtype=bool)
    n_recovered_by_entry = n_no_time = 0
    if has_entry:
        t, e, en = frame["time"].to_numpy(float), frame["event"].to_numpy(bool), frame["entry"].to_numpy(float)
        at_risk = t > en  # recovered by first contact, or followed no time after it: never at risk (adds nothing)
        n_recovered_by_entry, n_no_time = int((~at_risk & e).sum()), int((~at_risk & ~e).sum())
    if late_entry is None:
        # late entry assumes those who recovered before first contact are absent (a referral sample); patients seen
        # recovered at first contact show that this extract keeps them, and then the plain curves are the right ones
        use_entry = has_entry and n_recovered_by_entry == 0
        reason = ("no first contact recorded" if not has_entry else
                  "referral sample: nobody was recovered at first contact" if use_entry else
                  "patients seen recovered at first contact are in the data, so it is not a referral sample")
    else:
        use_entry = bool(late_entry)
        reason = "asked for" if use_entry else "not asked for"
    entry_col = "entry" if use_entry else None
    if not use_entry:
        at_risk = np.ones(len(frame), dtype=bool)
        n_recovered_by_entry = n_no_time = 0
    risk_frame = frame[at_risk]
    events = risk_frame.groupby(risk_frame["cause"].astype(str), observed=True)["event"].sum()
    excluded = sorted(c for c, e in events.items() if e == 0)
    model_frame = risk_frame[~risk_frame["cause"].astype(str).isin(excluded)].copy()
    for col in ("cause", "severity"):
        if isinstance(model_frame[col].dtype, pd.CategoricalDtype):
            model_frame[col] = model_frame[col].cat.remove_unused_categories()
    cox_f, dropped_cox = _usable_terms(cox_formula, model_frame)
    aft_f, dropped_aft = _usable_terms("cause + severity + age", model_frame)
    cure_f, dropped_cure = _usable_terms("cause + severity", model_frame)
    cluster = cluster or None
    # a model the data cannot support (not identifiable, separation, no variation, no convergence)
    # never stops the report: the section says why, with the simpler sound model where there is one
    missing_warnings: dict[str, list[str]] = {}

    def quiet(model: str, fit: Callable[[], Any]) -> Callable[[], Any]:
        # a complete-case fit warns; the report says it in its missing-data section and methods, not on stderr
        def run() -> Any:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", MissingDataWarning)
                out = fit()
            missing_warnings[model] = [str(w.message) for w in caught if issubclass(w.category, MissingDataWarning)]
            for w in caught:
                if not issubclass(w.category, MissingDataWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            return out
        return run

    cox_candidates = ([(cox_f, quiet("cox", lambda: fit_cox(model_frame, cox_f, cluster=cluster, alpha=alpha, entry_col=entry_col)))]
                      if cox_f else [(cox_formula, _constant_model)])
    if cox_f and cluster:
        cox_candidates.append((f"{cox_f} (model-based standard errors)",
                               quiet("cox", lambda: fit_cox(model_frame, cox_f, cluster=None, alpha=alpha, entry_col=entry_col))))
    attempts = {
        "cox": attempt("Cox model", cox_candidates),
        "aft": attempt(f"Interval-censored {distribution} AFT model",
                       [(aft_f, quiet("aft", lambda: fit_interval_aft(model_frame, aft_f, distribution=distribution,  # type: ignore[arg-type]
                                                                      alpha=alpha, entry_col=entry_col)))]
                       if aft_f else [("cause + severity + age", _constant_model)]),
        "cure": attempt("Mixture cure model",
                        [(cure_f, quiet("cure", lambda: fit_cure_model(model_frame, incidence_formula=cure_f, latency_formula=cure_f,  # type: ignore[arg-type]
                                                                       distribution=distribution, alpha=alpha)))]
                        if cure_f else [("cause + severity", _constant_model)]),
    }
    cox, aft, cure = (attempts[k].result for k in ("cox", "aft", "cure"))
    cframe = competing_frame(cohort, threshold=threshold, frame=frame)  # the survival frame built above, not again
    cframe["cause"] = cframe["cause"].astype(str)
    cif = cumulative_incidence(cframe, group="cause", competing=("death",), landmarks=list(landmarks), alpha=alpha)
    curves: dict[str, Any] = {}
    lm = [float(x) for x in landmarks]
    small_groups: dict[str, list[str]] = {}
    for by in ("cause", "severity"):
        # a curve of a handful of patients shows each of them (every step is one person): such groups are not drawn
        sizes = risk_frame[by].astype(str).value_counts()
        small_groups[by] = sorted(g for g, n in sizes.items() if 1 <= n <= get_threshold())
        cf = risk_frame[~risk_frame[by].astype(str).isin(small_groups[by])].copy()
        if isinstance(cf[by].dtype, pd.CategoricalDtype):
            cf[by] = cf[by].cat.remove_unused_categories()
        curves[f"turnbull_{by}"] = turnbull(cf, group=by, landmarks=lm, alpha=alpha, entry_col=entry_col)
        curves[f"km_{by}"] = kaplan_meier(cf, group=by, landmarks=lm, alpha=alpha, entry_col=entry_col)
        curves[f"logrank_{by}"] = logrank_test(cf, group=by, pairwise=False, trend=(by == "severity")) if cf[by].astype(str).nunique() > 1 else None
    choices = {
        "excluded_causes": excluded,
        "small_groups_not_drawn": small_groups,
        "dropped_terms": sorted(set(dropped_cox + dropped_aft + dropped_cure)),
        "cox_formula": cox_f,
        "aft_formula": aft_f,
        "cure_formula": cure_f,
        "cluster": cluster,
        "threshold": threshold,
        "landmarks": [float(x) for x in landmarks],
        "alpha": alpha,
        "distribution": distribution,
        "causes": list(causes),
        "late_entry": use_entry,
        "late_entry_reason": reason,
        "entry_col": entry_col,
        "n_recovered_by_entry": n_recovered_by_entry,
        "n_no_time_after_entry": n_no_time,
        "missing_data": {
            k: {**{key: r.info.get(key) for key in ("n_input", "n_dropped_missing", "dropped_by_variable", "missing_data", "n")},
                "warnings": missing_warnings.get(k, [])}
            for k, r in (("cox", cox), ("aft", aft), ("cure", cure)) if r is not None
        },
    }
    return RecoveryAnalysis(frame=frame, model_frame=model_frame, results={"cox": cox, "aft": aft, "cure": cure, "cif": cif, **curves},
                            choices=choices, attempts=attempts)
