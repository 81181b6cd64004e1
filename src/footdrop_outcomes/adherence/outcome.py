"""Adherence and recovery: time-varying Cox against the naive whole-follow-up average.

Adherence is measured while patients are followed, and patients who recover leave the adherence
record. A model that gives each patient their adherence **averaged over the whole follow-up**
uses information from after the time at which it is compared (and patients must survive
unrecovered to accumulate a long average): immortal-time bias. The valid model uses adherence
known up to each time: the lagged cumulative share of prescribed sessions completed
(``cumulative_adherence``, the simulator's exposure) and optionally last week's share
(``current_adherence``), in weekly ``(start, stop]`` episodes
(:func:`footdrop_outcomes.survival.counting_process`,
:func:`footdrop_outcomes.survival.fit_cox_time_varying`).

With ``outcome="latent"`` (synthetic cohorts) the models are fitted on the true latent recovery
times of recovering patients, where the time-varying model is correctly specified and its truth is
``cohort.truth`` (``cumulative_adherence_per_10pct``). With ``outcome="observed"`` recovery is
dated at the first visit that sees it: both models are attenuated (docs/survival.md), and the
comparison with the truth is reported, not hidden. For visit-dated recovery the interval-censored
mixture cure model with weekly time-varying adherence
(:func:`footdrop_outcomes.survival.fit_time_varying_cure`) is fitted beside the Cox models: it uses
the visit intervals themselves and separates who recovers from when, the generator's own model.
It is unbiased when the grades are exact, but attenuated when they are rated with error (real
grades; generator v2), so on rated grades the misclassification-aware cure model
(:func:`footdrop_outcomes.survival.misclass.fit_misclassified_cure`) is fitted too. An estimator
is marked ``recommended`` only where docs/adherence.md (section 5.1) measured it unbiased on such
data (:data:`MEASURED`); otherwise nothing is, and ``info`` names the least biased one and says why.

:func:`dose_response` replaces the linear adherence term by a natural cubic spline of cumulative
adherence and draws the hazard-ratio curve with its confidence band.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy.stats import norm

from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.adherence._input import AdherenceInputError, check_choice
from footdrop_outcomes.errors import FootdropError, FootdropWarning
from footdrop_outcomes.survival._missing import Missing

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = [
    "MEASURED",
    "AdherenceEffect",
    "AdherenceWarning",
    "DoseResponse",
    "adherence_effect",
    "dose_response",
    "grading",
    "measured_unbiased",
    "natural_spline_basis",
]


class AdherenceWarning(FootdropWarning):
    """A model of the default set could not be fitted on the data and was left out (the reason is given)."""

Outcome = Literal["observed", "latent"]
Population = Literal["recovering", "all_but_als", "conservative", "recovering_conservative"]
#: Operations after which generator v2 times recovery from surgery, with no adherence effect (the "treatment clock").
OPERATED = ("decompression", "nerve_repair_graft")
DEFAULT_COVARIATES = "cause + severity + age + diabetes + smoking + days_to_treatment + supervised_physio"


@dataclass(frozen=True, repr=False, kw_only=True)
class AdherenceEffect(AnalysisResult):
    """Adherence effect on recovery from several models, side by side.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per model and adherence term: ``model``, ``term``, ``log_hr_per_10pct``,
        ``se``, ``hr_per_10pct``, ``lower``, ``upper`` (HR CI), ``truth`` (log HR per 10 points,
        synthetic cohorts), ``bias_in_se``, ``recommended`` (the estimator to report), ``n``,
        ``events``.
    fits : dict
        The :class:`~footdrop_outcomes.survival.CoxResult` of each Cox model and the
        :class:`~footdrop_outcomes.survival.TimeVaryingCureResult` of the cure model.
    """

    fits: dict[str, Any]

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Hazard ratio per 10 points of adherence with 95% CI, per model; the truth as a line."""
        import matplotlib.pyplot as plt

        s = self.summary
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.5 * len(s) + 1.5))
        y = np.arange(len(s))[::-1]
        ax.errorbar(s["hr_per_10pct"], y, xerr=[s["hr_per_10pct"] - s["lower"], s["upper"] - s["hr_per_10pct"]], fmt="o", **kwargs)
        truth = s.loc[s["term"] != "current_adherence", "truth"].dropna()
        if len(truth):
            ax.axvline(float(np.exp(truth.iloc[0])), color="C3", linestyle="--", label="truth (estimators that target it)")
            ax.legend(fontsize="small")
        ax.axvline(1.0, color="grey", linewidth=0.8)
        ax.set_yticks(y, s["model"] + ": " + s["term"], fontsize="small")
        ax.set_xlabel("hazard ratio of recovery per 10 points of adherence")
        return ax


def default_outcome(cohort: Cohort, outcome: str | None) -> str:
    """``outcome`` if given, else ``"latent"`` for a cohort with truth and ``"observed"`` without."""
    if outcome is not None:
        return outcome
    return "latent" if getattr(cohort, "truth", None) is not None else "observed"


def _prepare(cohort: Cohort, outcome: str, population: str | None, *, formulas: tuple[str, ...] = (),
             missing: Missing = "drop", model: str = "adherence_effect") -> tuple[pd.DataFrame, pd.DataFrame, float, str]:
    """Patient frame and weekly counting-process episodes of the analysed patients, the truth and the population.

    Patients with a missing variable of ``formulas`` are left out once, for every model; the
    complete-case counts are in ``frame.attrs["missing_info"]``."""
    from footdrop_outcomes.survival import counting_process, survival_frame
    from footdrop_outcomes.survival._missing import drop_incomplete, formula_variables

    check_choice("outcome", outcome, get_args(Outcome))
    population = population or ("recovering" if outcome == "latent" else "all_but_als")
    check_choice("population", population, get_args(Population))
    truth = np.nan
    tp = None
    if cohort.truth is not None:
        truth = cohort.truth.value("recovery_latency", "cumulative_adherence_per_10pct", "log_hazard_ratio")
        tp = cohort.truth.patients.assign(patient_id=cohort.truth.patients["patient_id"].astype(str)).set_index("patient_id")
    recovering_only = population in ("recovering", "recovering_conservative")
    if tp is None and (outcome == "latent" or recovering_only):
        raise AdherenceInputError(f"outcome={outcome!r}, population={population!r} need a synthetic cohort (cohort.truth is None)")
    frame = survival_frame(cohort)
    ids = frame["patient_id"].astype(str)
    latent = None
    if outcome == "latent":
        assert tp is not None
        lat = tp["latent_recovery_day"].reindex(ids).to_numpy()
        fu = cohort.patients["followup_days"].to_numpy(dtype=float)
        seen = np.isfinite(lat) & (lat <= fu)
        latent = pd.DataFrame({"patient_id": ids.to_numpy(), "time": np.where(seen, lat, fu) / 7, "event": seen})
        frame["time"] = latent["time"].to_numpy()
        frame["event"] = seen
    if recovering_only:
        assert tp is not None
        keep = tp["will_recover"].reindex(ids).to_numpy(dtype=bool)
    else:
        keep = (frame["cause"] != "als").to_numpy()
    if population in ("conservative", "recovering_conservative"):
        if "surgery" not in cohort.patients.columns:
            raise AdherenceInputError(f"population={population!r} needs the column patients.surgery (to leave out "
                                      f"{' and '.join(OPERATED)})")
        keep &= ~cohort.patients["surgery"].astype(str).isin(OPERATED).to_numpy()
    frame = frame[keep & (frame["time"].to_numpy() > 0)]
    mixed_clocks = False
    if tp is not None and "treatment_clock" in tp.columns:
        # generator v2: recovery after decompression or nerve repair is timed from surgery and does not depend on
        # adherence (log HR 0), so the generator's log HR is the effect among patients on the onset clock only; a model
        # of one adherence effect over both clocks has no single true value (docs/adherence.md, section 5)
        clock = tp["treatment_clock"].reindex(frame["patient_id"].astype(str)).astype(str)
        if (clock == "surgery").any():
            truth = np.nan
            mixed_clocks = True
    # one complete-case selection for every model of the comparison (they must analyse the same patients)
    needed = [v for f in formulas for v in formula_variables(f, "recovery")]
    frame, dropped = drop_incomplete(frame, needed, missing=missing, model=model, table="patients analysed", stacklevel=4)
    frame = _drop_unused(frame.copy())
    frame["mean_adherence"] = frame["mean_adherence"].fillna(0.0)  # no program week: nothing completed
    cp = counting_process(cohort, outcome=latent)
    cp = _drop_unused(cp[cp["patient_id"].astype(str).isin(set(frame["patient_id"].astype(str)))].copy())
    cp["id"] = cp["patient_id"].astype(str)
    frame.attrs["missing_info"] = dropped
    frame.attrs["mixed_clocks"] = mixed_clocks
    return frame, cp, float(truth), population


def _truth_note(mixed_clocks: bool) -> str:
    if mixed_clocks:
        return ("not the target: generator v2 times recovery after decompression or nerve repair from surgery, with no "
                "adherence effect (log HR 0), and from onset with the adherence effect for the others; one adherence effect "
                "over both has no true value. population='conservative' (or 'recovering_conservative' with the latent "
                "outcome) analyses the patients the generator's log HR is about")
    return ("log HR per 10 points of lagged cumulative adherence among recovering patients, latent time scale "
            "(current: no direct effect); given only for the estimators that target it: Cox models on latent "
            "times of recovering patients and the cure model's latency")


def _drop_unused(df: pd.DataFrame) -> pd.DataFrame:
    for col in df.columns:
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            df[col] = df[col].cat.remove_unused_categories()
    return df


CURE_MODEL = "interval-censored cure: cumulative (tv)"
MISCLASS_MODEL = "interval-censored cure with rating error: cumulative (tv)"
TV_COX = "time-varying: cumulative"

#: Measured bias of each estimator that can be recommended, by the kind of outcome it is fitted to, from
#: docs/adherence.md section 5 (v1, 20 seeds) and 5.1 (generator v2, conservatively treated patients, 24 seeds of
#: 2,500): (bias / Monte Carlo SE, coverage of the 95% CI, Monte Carlo SE of that coverage). ``exact``: visit grades
#: without rater error (generator v1, or v2 with ``mrc_rater_sd = 0``); ``rated``: grades with rater error (real data,
#: generator v2); ``rated+second``: with an independent second rating of every visit; ``latent``: exactly known
#: recovery times. A test checks these numbers against the docs' tables.
MEASURED: dict[tuple[str, str], tuple[float, float, float]] = {
    (CURE_MODEL, "exact"): (-0.1, 0.958, 0.041),
    (CURE_MODEL, "rated"): (-22.9, 0.000, 0.000),
    (MISCLASS_MODEL, "rated"): (-9.3, 0.625, 0.099),
    (MISCLASS_MODEL, "rated+second"): (-5.5, 0.750, 0.088),
    (TV_COX, "latent"): (-1.7, 0.917, 0.056),
}


def measured_unbiased(model: str, kind: str) -> bool:
    """Whether docs/adherence.md measured ``model`` unbiased on outcomes of ``kind`` (see :data:`MEASURED`).

    The rule: bias within 2 Monte Carlo SE of 0, and the 95% CI coverage within 2 of its Monte
    Carlo SEs of 0.95 (and at least 0.90). Unmeasured combinations are not unbiased.
    """
    bias, cover, cover_se = MEASURED.get((model, kind), (math.nan, math.nan, math.nan))
    if not (math.isfinite(bias) and math.isfinite(cover)):
        return False
    return abs(bias) <= 2.0 and cover >= 0.90 and abs(cover - 0.95) <= 2.0 * max(cover_se, 1e-9)


def grading(cohort: Cohort, mrc_rater_error: bool | None = None) -> str:
    """``"rated"`` when the visit MRC grades carry rater error, ``"exact"`` when they do not.

    ``mrc_rater_error`` decides when given. Otherwise: real data (no ``cohort.truth``) are rated;
    simulated cohorts of generator 1 grade the latent strength exactly, generator 2 adds an
    error of SD ``mrc_rater_sd`` (exact only when it is 0).
    """
    if mrc_rater_error is not None:
        return "rated" if mrc_rater_error else "exact"
    if getattr(cohort, "truth", None) is None:
        return "rated"
    meta = cohort.metadata or {}
    version = str((meta.get("generator") or {}).get("version", "1"))
    if version.split(".")[0] == "1":
        return "exact"
    sd = (meta.get("config") or {}).get("mrc_rater_sd", 0.0)
    return "rated" if sd is None or float(sd) > 0 else "exact"


def adherence_effect(
    cohort: Cohort,
    *,
    covariates: str = DEFAULT_COVARIATES,
    outcome: Outcome = "observed",
    population: Population | None = None,
    cure_model: bool | None = None,
    incidence: str | None = None,
    misclassification: bool | None = None,
    second_rating: str | None = None,
    mrc_rater_error: bool | None = None,
    alpha: float = 0.05,
    missing: Missing = "drop",
) -> AdherenceEffect:
    """Effect of home-exercise adherence on recovery: naive average, time-varying Cox and cure models.

    Parameters
    ----------
    cohort : Cohort
        Supplies covariates, visits (observed outcome) and the adherence table; with
        ``outcome="latent"``, ``cohort.truth`` too.
    covariates : str
        Right-hand side of the baseline covariates (formula syntax of
        :func:`footdrop_outcomes.survival.fit_cox`); also the latency part of the cure model.
    outcome : {"observed", "latent"}
        Recovery dated at the first visit with MRC >= 4, or the true latent recovery time
        (synthetic cohorts; recovery after the end of follow-up is censored there).
    population : {"recovering", "all_but_als", "conservative", "recovering_conservative"}, optional
        Patients analysed; default ``"recovering"`` for the latent outcome (the truth is a
        proportional-hazards effect among recovering patients) and ``"all_but_als"`` for the
        observed one (who recovers is unknown in real data; ALS never recovers).
        ``"conservative"`` and ``"recovering_conservative"`` also leave out patients operated
        on with decompression or nerve repair (``patients.surgery``): in generator v2 their
        recovery is timed from surgery and does not depend on adherence, so the generator's
        adherence effect is about the other patients only, and on a v2 cohort ``truth`` is
        empty ("not the target") whenever operated patients are analysed.
    cure_model : bool, optional
        Also fit the interval-censored mixture cure model with weekly time-varying cumulative
        adherence (:func:`footdrop_outcomes.survival.fit_time_varying_cure`) on the visit
        intervals. Default: yes for ``outcome="observed"`` with ``population="all_but_als"`` or
        ``"conservative"`` (where it is the recommended estimator); it needs visit intervals and patients who never
        recover, so it is refused with the latent outcome or a recovering population. When
        the default cannot be fitted on the data (e.g. a small real cohort where nearly every
        patient of a cause recovers, so the incidence part is not identifiable) it is left out
        with an :class:`AdherenceWarning` and ``info["cure_model_skipped"]`` gives the reason;
        no model is then marked as recommended (the Cox models are attenuated on visit-dated
        recovery); ``cure_model=True`` raises.
    incidence : str, optional
        Right-hand side of the cure model's incidence part (who ever recovers); default
        ``covariates``.
    misclassification : bool, optional
        Also fit the cure model for misclassified readings
        (:func:`footdrop_outcomes.survival.misclass.fit_misclassified_cure`: recovery as a hidden
        absorbing state, each visit's "MRC >= 4" read with constant false- and missed-recovery
        rates estimated from the data). Default: yes whenever the cure model is fitted to
        rated grades (see ``mrc_rater_error``). If the default fit fails it is left out with an
        :class:`AdherenceWarning` (``info["misclassification_skipped"]``).
    second_rating : str, optional
        Column of ``cohort.visits`` with an independent second rating of the same visit (an
        inter-rater reliability sample; missing where there is none), used by the
        misclassification model as a second reading.
    mrc_rater_error : bool, optional
        Whether the visit grades carry rater error; default: yes for real data (no
        ``cohort.truth``) and generator-2 cohorts with ``mrc_rater_sd > 0``, no for generator 1
        (:func:`grading`).
    alpha : float
        1 - confidence level.
    missing : {"drop", "raise"}
        Patients with a missing value in ``covariates`` or ``incidence``: left out of every
        model (so that the models compare the same patients) with a
        :class:`~footdrop_outcomes.survival.MissingDataWarning`, and counted in ``info``
        (``n_input``, ``n_dropped_missing``, ``dropped_by_variable``, ``missing_data``); or
        refused with an error naming column and rows (``"raise"``).

    Returns
    -------
    AdherenceEffect
        Models: ``naive: mean adherence over follow-up``, ``time-varying: cumulative``,
        ``time-varying: cumulative + current`` and, with ``cure_model``,
        ``interval-censored cure: cumulative (tv)`` and (``misclassification``)
        ``interval-censored cure with rating error: cumulative (tv)``. ``summary["recommended"]``
        marks an estimator only where docs/adherence.md measured it unbiased on data of this
        kind (:data:`MEASURED`, :func:`measured_unbiased`): the cure model on visit-dated data
        with exact grades, the misclassification model on rated grades if its measurements pass,
        the time-varying Cox model on latent times of recovering patients; nothing otherwise (the
        Cox models are attenuated on visit-dated data; the cure model is attenuated by rater
        error; on generator 2 a model over both treatment clocks has no true value).
        ``info["recommended"]`` is then None, ``info["recommendation_note"]`` says why and
        ``info["least_biased"]`` names the fitted model with the smallest measured bias.
        ``truth`` is filled only where the estimator targets the generator's quantity (Cox rows
        on latent times of recovering patients, the cure models' latency).


    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> e = adherence_effect(simulate_cohort(1500, seed=3), outcome="latent", covariates="severity + cause")
    >>> e.summary["model"].tolist()[:2]
    ['naive: mean adherence over follow-up', 'time-varying: cumulative']
    """
    from footdrop_outcomes.survival import (
        adherence_exposure,
        fit_cox,
        fit_cox_time_varying,
        fit_time_varying_cure,
    )

    frame, cp, truth, population = _prepare(cohort, outcome, population, formulas=(covariates, incidence or covariates),
                                            missing=missing, model="adherence_effect")
    dropped = frame.attrs["missing_info"]
    auto_cure = cure_model is None
    all_patients = population in ("all_but_als", "conservative")
    if cure_model is None:
        cure_model = outcome == "observed" and all_patients
    if cure_model and (outcome != "observed" or not all_patients):
        raise AdherenceInputError("cure_model=True needs outcome='observed' and population='all_but_als' or 'conservative' "
                                  "(visit intervals, and patients who never recover for the incidence part)")
    naive = fit_cox(frame, f"{covariates} + mean_adherence")
    tv = fit_cox_time_varying(cp, f"{covariates} + cumulative_adherence")
    tv2 = fit_cox_time_varying(cp, f"{covariates} + cumulative_adherence + current_adherence")
    z = norm.ppf(1 - alpha / 2)
    rows = []
    fits: dict[str, Any] = {"naive: mean adherence over follow-up": naive, "time-varying: cumulative": tv,
                            "time-varying: cumulative + current": tv2}
    # the truth is a log HR among recovering patients on the latent time scale: a Cox model estimates it only on
    # latent times of recovering patients; on visit-dated data of all patients it estimates another quantity
    cox_targets_truth = outcome == "latent" and population in ("recovering", "recovering_conservative")
    for name, res in fits.items():
        s = res.summary.set_index("term")
        for term in ("mean_adherence", "cumulative_adherence", "current_adherence"):
            if term not in s.index:
                continue
            b, se = s.loc[term, "log_hr"] / 10, s.loc[term, "se"] / 10
            t = (truth if term != "current_adherence" else (0.0 if np.isfinite(truth) else np.nan)) if cox_targets_truth else np.nan
            rows.append({"model": name, "term": term, "log_hr_per_10pct": b, "se": se, "truth": t,
                         "n": res.info["n"], "events": res.info["events"]})
    cure_skipped = None
    if cure_model:
        # BFGS line searches may try steps where a mixture likelihood underflows; convergence is checked by the fit
        try:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                cure = fit_time_varying_cure(frame, incidence_formula=incidence or covariates, latency_formula=covariates,
                                             exposure_table=adherence_exposure(cohort.adherence), alpha=alpha)
        except FootdropError as exc:
            if not auto_cure:
                raise
            # the default (cure_model=None) asks for the cure model where it can be fitted: small, lopsided real
            # cohorts (a cause where nearly everyone recovers) often cannot identify its incidence part
            cure_skipped = str(exc)
            cure_model = False
            warnings.warn(f"adherence_effect: the interval-censored cure model could not be fitted on these data ({exc}); "
                          "no model is marked as recommended, because the Cox models are attenuated on visit-dated recovery; "
                          "try a simpler incidence= formula", AdherenceWarning, stacklevel=2)
    if cure_model:
        fits[CURE_MODEL] = cure
        g = cure.summary.set_index("term").loc["cumulative_adherence per 0.1"]
        rows.append({"model": CURE_MODEL, "term": "cumulative_adherence", "log_hr_per_10pct": float(g["coef"]),
                     "se": float(g["se"]), "truth": truth, "n": cure.info["n"], "events": cure.info["events"]})
    kind = "latent" if outcome == "latent" else grading(cohort, mrc_rater_error)
    auto_mis = misclassification is None
    if misclassification is None:
        misclassification = bool(cure_model) and kind == "rated"
    if misclassification and not cure_model:
        raise AdherenceInputError("misclassification=True needs the cure model (outcome='observed', population='all_but_als' "
                                  "or 'conservative')")
    mis_skipped = None
    if misclassification:
        from footdrop_outcomes.survival.misclass import fit_misclassified_cure

        try:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                mis = fit_misclassified_cure(frame, cohort.visits, incidence_formula=incidence or covariates,
                                             latency_formula=covariates, exposure_table=adherence_exposure(cohort.adherence),
                                             second_rating=second_rating, alpha=alpha)
        except FootdropError as exc:
            if not auto_mis:
                raise
            mis_skipped = str(exc)
            misclassification = False
            warnings.warn(f"adherence_effect: the cure model for misclassified readings could not be fitted on these data ({exc})",
                          AdherenceWarning, stacklevel=2)
    if misclassification:
        fits[MISCLASS_MODEL] = mis
        g = mis.summary.set_index("term").loc["cumulative_adherence per 0.1"]
        rows.append({"model": MISCLASS_MODEL, "term": "cumulative_adherence", "log_hr_per_10pct": float(g["coef"]),
                     "se": float(g["se"]), "truth": truth, "n": mis.info["n"], "events": mis.info["events"]})
    out = pd.DataFrame(rows)
    out["hr_per_10pct"] = np.exp(out["log_hr_per_10pct"])
    out["lower"] = np.exp(out["log_hr_per_10pct"] - z * out["se"])
    out["upper"] = np.exp(out["log_hr_per_10pct"] + z * out["se"])
    out["bias_in_se"] = (out["log_hr_per_10pct"] - out["truth"]) / out["se"]
    # recommended: an estimator measured unbiased for the data at hand (MEASURED). On visit-dated recovery of all
    # patients every Cox model is attenuated (docs/adherence.md section 5), and the cure model is attenuated by rater error
    # (section 5.1), so on rated grades only the misclassification model can be recommended, and only if its measurements
    # pass.
    mis_kind = "rated+second" if second_rating else "rated"
    candidates = [(TV_COX, "latent")] if cox_targets_truth else []
    candidates += [(m, k) for m, k, on in ((MISCLASS_MODEL, mis_kind, misclassification), (CURE_MODEL, kind, cure_model)) if on]
    best, note = _recommend(candidates, kind, bool(frame.attrs["mixed_clocks"]), cure_skipped)
    measured = [(abs(MEASURED[c][0]), c[0]) for c in candidates if math.isfinite(MEASURED.get(c, (math.nan,))[0])]
    # the least biased by the docs' measurements; none where no single true value exists (two treatment clocks)
    least = best or (min(measured)[1] if measured and not frame.attrs["mixed_clocks"] else None)
    out["recommended"] = (out["model"] == best) & (out["term"] == "cumulative_adherence")
    out = out[["model", "term", "log_hr_per_10pct", "se", "hr_per_10pct", "lower", "upper", "truth", "bias_in_se",
               "recommended", "n", "events"]]
    info = {"method": "naive vs time-varying Cox for adherence" + (" and interval-censored time-varying cure model" if cure_model else "")
            + (" (also for misclassified readings)" if misclassification else ""),
            "n": len(frame), "events": int(frame["event"].sum()),
            "outcome": outcome, "population": population, "covariates": covariates, "episodes": len(cp),
            "incidence": (incidence or covariates) if cure_model else None, "recommended": best,
            "recommendation_note": note, "least_biased": least, "grading": kind, "second_rating": second_rating,
            "cure_model_skipped": cure_skipped, "misclassification_skipped": mis_skipped, **dropped,
            "truth_note": _truth_note(frame.attrs["mixed_clocks"])}
    return AdherenceEffect(summary=out, info=info, fits=fits)


def _recommend(candidates: list[tuple[str, str]], kind: str, mixed_clocks: bool,
               cure_skipped: str | None) -> tuple[str | None, str]:
    """The first candidate measured unbiased for its kind of outcome, and a sentence saying why (or why none)."""
    if mixed_clocks:
        return None, ("nothing is recommended: the analysed patients include operated ones whose recovery generator 2 times "
                      "from surgery with no adherence effect, so one adherence effect over both has no true value "
                      "(docs/adherence.md section 5.1); use population='conservative'")
    for model, k in candidates:
        if measured_unbiased(model, k):
            return model, f"{model}: measured unbiased on {k} outcomes (docs/adherence.md section 5)"
    if cure_skipped is not None:
        return None, ("nothing is recommended: the cure model could not be fitted, and the Cox models are attenuated on "
                      "visit-dated recovery")
    if kind == "rated" and candidates:
        return None, ("nothing is recommended: the visit grades carry rater error, and no fitted model was measured "
                      "unbiased on rated grades (docs/adherence.md section 5.1: the cure model of the first MRC >= 4 is "
                      "attenuated by about 44%; the misclassification model removes part of that bias, not all); "
                      "info['least_biased'] names the least biased one")
    return None, "nothing is recommended: no model fitted here targets the adherence effect on these data"


def natural_spline_basis(x: Any, knots: Any) -> np.ndarray:
    """Natural (restricted) cubic spline basis: ``x`` and ``len(knots) - 2`` nonlinear columns.

    Harrell's parametrisation: linear beyond the outer knots, each nonlinear column divided by
    ``(knots[-1] - knots[0]) ** 2`` so the columns have the scale of ``x``.

    Parameters
    ----------
    x : array_like
        Values (e.g. cumulative adherence, 0 to 1).
    knots : array_like
        At least 3 strictly increasing knots.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(x), len(knots) - 1)``; the first column is ``x``.

    Examples
    --------
    >>> natural_spline_basis([0.0, 0.5, 1.0], [0.2, 0.5, 0.8]).shape
    (3, 2)
    """
    x = np.asarray(x, dtype=float)
    t = np.asarray(knots, dtype=float)
    if t.ndim != 1 or t.size < 3 or not np.all(np.diff(t) > 0):
        raise AdherenceInputError(f"knots must be at least 3 strictly increasing values, got {t.tolist()}")
    k = t.size
    scale = (t[-1] - t[0]) ** 2

    def p3(u: np.ndarray) -> np.ndarray:
        return np.maximum(u, 0.0) ** 3

    cols = [x]
    for j in range(k - 2):
        c = (p3(x - t[j]) - p3(x - t[k - 2]) * (t[k - 1] - t[j]) / (t[k - 1] - t[k - 2])
             + p3(x - t[k - 1]) * (t[k - 2] - t[j]) / (t[k - 1] - t[k - 2]))
        cols.append(c / scale)
    return np.column_stack(cols)


@dataclass(frozen=True, repr=False, kw_only=True)
class DoseResponse(AnalysisResult):
    """Hazard ratio of recovery as a smooth function of lagged cumulative adherence.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per grid value: ``adherence``, ``log_hr`` (against ``reference``), ``se``,
        ``hr``, ``lower``, ``upper`` (pointwise CI), ``truth_log_hr`` (the generator's linear
        effect, synthetic cohorts), ``linear_log_hr`` (the linear time-varying Cox fit).
    fit : CoxResult
        Time-varying Cox model with the spline columns ``adh_s0`` (linear) .. ``adh_s<k-2>``.
    linear_fit : CoxResult
        The same model with a linear term.
    """

    fit: Any
    linear_fit: Any

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """HR curve with its pointwise CI band (log scale), the linear fit and the truth if known."""
        import matplotlib.pyplot as plt

        s = self.summary
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        x = 100 * s["adherence"]
        ax.fill_between(x, s["lower"], s["upper"], alpha=0.25, color="C0", linewidth=0)
        ax.plot(x, s["hr"], color="C0", label="spline (time-varying Cox)", **kwargs)
        ax.plot(x, np.exp(s["linear_log_hr"]), color="C2", linestyle=":", label="linear")
        if s["truth_log_hr"].notna().any():
            ax.plot(x, np.exp(s["truth_log_hr"]), color="C3", linestyle="--", label="truth")
        for kn in self.info["knots"]:
            ax.axvline(100 * kn, color="grey", linewidth=0.5, alpha=0.5)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_yscale("log")
        from matplotlib.ticker import FuncFormatter

        for which in ("major", "minor"):
            getattr(ax.yaxis, f"set_{which}_formatter")(FuncFormatter(lambda v, _: f"{v:.3g}"))
        ax.set_xlabel("cumulative adherence (% of sessions completed, lagged)")
        ax.set_ylabel(f"hazard ratio of recovery vs {100 * self.info['reference']:.0f}%")
        ax.legend(fontsize="small")
        return ax


def dose_response(
    cohort: Cohort,
    *,
    covariates: str = DEFAULT_COVARIATES,
    outcome: Outcome | None = None,
    population: Population | None = None,
    knots: int | Any = 4,
    reference: float = 0.7,
    grid: Any = None,
    alpha: float = 0.05,
    missing: Missing = "drop",
) -> DoseResponse:
    """Dose-response of lagged cumulative adherence: a natural cubic spline in the time-varying Cox model.

    The spline columns are built here (:func:`natural_spline_basis`) on the weekly episodes of
    :func:`footdrop_outcomes.survival.counting_process` and passed to
    :func:`footdrop_outcomes.survival.fit_cox_time_varying` as ordinary numeric columns (its
    formula interface takes column names). The curve is ``log HR(x) - log HR(reference)`` with a
    delta-method CI from the model covariance.

    Parameters
    ----------
    cohort : Cohort
    covariates : str
        Baseline covariates (formula right-hand side).
    outcome, population
        As :func:`adherence_effect`. The default is the latent outcome when the cohort has
        one (synthetic cohorts): on visit-dated recovery every Cox model of adherence is
        attenuated (see :func:`adherence_effect`), and the interval-censored cure model takes a
        single linear exposure. On a cohort without truth (real data) the default is the
        observed, visit-dated outcome (``info["outcome"]`` says which was used).
    knots : int or array_like
        Number of knots (at least 3), placed at Harrell's default quantiles of cumulative
        adherence over the episodes that end in recovery with adherence > 0; or the knots.
    reference : float
        Adherence at which HR = 1 (the generator's ``adherence_reference`` is 0.7).
    grid : array_like, optional
        Adherence values of the curve; default 101 points from the 1st to the 99th percentile
        of adherence at recovery (no extrapolation into empty regions).
    alpha : float
    missing : {"drop", "raise"}
        Patients with a missing covariate: left out of both fits with a
        :class:`~footdrop_outcomes.survival.MissingDataWarning` and counted in ``info``, or
        refused (as :func:`adherence_effect`).

    Returns
    -------
    DoseResponse
        ``info`` has ``knots``, the likelihood-ratio test of nonlinearity (``lr_nonlinear``,
        ``df_nonlinear``, ``p_nonlinear``) and the linear slope per 10 points.
    """
    from scipy.stats import chi2

    from footdrop_outcomes.survival import fit_cox_time_varying

    if not 0 <= reference <= 1:
        raise AdherenceInputError(f"reference must be an adherence share in [0, 1], got {reference!r}")
    outcome = default_outcome(cohort, outcome)
    frame, cp, truth, population = _prepare(cohort, outcome, population, formulas=(covariates,), missing=missing,
                                            model="dose_response")
    dropped = frame.attrs["missing_info"]
    x = cp["cumulative_adherence"].to_numpy(float)
    at_event = x[cp["event"].to_numpy(bool) & (x > 0)]
    if at_event.size < 20:
        raise AdherenceInputError(f"only {at_event.size} recoveries with adherence > 0; too few for a spline")
    if np.ndim(knots) == 0:
        nk = int(knots)
        probs = {3: [0.10, 0.5, 0.90], 4: [0.05, 0.35, 0.65, 0.95], 5: [0.05, 0.275, 0.5, 0.725, 0.95],
                 6: [0.05, 0.23, 0.41, 0.59, 0.77, 0.95], 7: [0.025, 0.1833, 0.3417, 0.5, 0.6583, 0.8167, 0.975]}
        if nk not in probs:
            raise AdherenceInputError(f"knots must be 3 to 7 (or explicit values), got {knots!r}")
        kn = np.quantile(at_event, probs[nk])
    else:
        kn = np.asarray(knots, dtype=float)
    basis = natural_spline_basis(x, kn)
    names = [f"adh_s{j}" for j in range(basis.shape[1])]
    cp = cp.assign(**{n: basis[:, j] for j, n in enumerate(names)})
    fit = fit_cox_time_varying(cp, f"{covariates} + {' + '.join(names)}", alpha=alpha)
    lin = fit_cox_time_varying(cp, f"{covariates} + cumulative_adherence", alpha=alpha)
    g = np.linspace(*np.quantile(at_event, [0.01, 0.99]), 101) if grid is None else np.asarray(grid, dtype=float)
    d = natural_spline_basis(g, kn) - natural_spline_basis([reference], kn)
    beta = fit.params[names].to_numpy()
    cov = fit.cov.loc[names, names].to_numpy()
    est = d @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", d, cov, d))
    z = norm.ppf(1 - alpha / 2)
    slope = float(lin.params["cumulative_adherence"])
    out = pd.DataFrame({"adherence": g, "log_hr": est, "se": se, "hr": np.exp(est), "lower": np.exp(est - z * se),
                        "upper": np.exp(est + z * se), "truth_log_hr": 10 * truth * (g - reference),
                        "linear_log_hr": slope * (g - reference)})
    lr = 2 * (fit.log_likelihood - lin.log_likelihood)
    df_nl = len(names) - 1
    info = {"method": "time-varying Cox with a natural cubic spline of lagged cumulative adherence",
            "n": fit.info["n_subjects"], "episodes": fit.info["n"], "events": fit.info["events"], "outcome": outcome,
            "population": population, "covariates": covariates, "knots": kn.tolist(), "reference": reference,
            "lr_nonlinear": float(lr), "df_nonlinear": df_nl, "p_nonlinear": float(chi2.sf(max(lr, 0.0), df_nl)),
            "linear_log_hr_per_10pct": slope / 10, "linear_se_per_10pct": float(lin.summary.set_index("term").loc["cumulative_adherence", "se"]) / 10,
            "truth_log_hr_per_10pct": truth, **dropped}
    return DoseResponse(summary=out, info=info, fit=fit, linear_fit=lin)
