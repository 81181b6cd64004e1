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
comparison with the truth is reported, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy.stats import norm

from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.adherence._input import AdherenceInputError, check_choice

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["adherence_effect", "AdherenceEffect"]

Outcome = Literal["observed", "latent"]
Population = Literal["recovering", "all_but_als"]
DEFAULT_COVARIATES = "cause + severity + age + diabetes + smoking + days_to_treatment + supervised_physio"


@dataclass(frozen=True, repr=False, kw_only=True)
class AdherenceEffect(AnalysisResult):
    """Adherence effect on recovery from several models, side by side.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per model and adherence term: ``model``, ``term``, ``log_hr_per_10pct``,
        ``se``, ``hr_per_10pct``, ``lower``, ``upper`` (HR CI), ``truth`` (log HR per 10 points,
        synthetic cohorts), ``bias_in_se``, ``n``, ``events``.
    fits : dict
        The :class:`~footdrop_outcomes.survival.CoxResult` of each model.
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
        if s["truth"].notna().any():
            ax.axvline(float(np.exp(s["truth"].iloc[0])), color="C3", linestyle="--", label="truth")
            ax.legend(fontsize="small")
        ax.axvline(1.0, color="grey", linewidth=0.8)
        ax.set_yticks(y, s["model"] + ": " + s["term"], fontsize="small")
        ax.set_xlabel("hazard ratio of recovery per 10 points of adherence")
        return ax


def adherence_effect(
    cohort: Cohort,
    *,
    covariates: str = DEFAULT_COVARIATES,
    outcome: Outcome = "observed",
    population: Population | None = None,
    alpha: float = 0.05,
) -> AdherenceEffect:
    """Effect of home-exercise adherence on recovery: naive average vs time-varying Cox.

    Parameters
    ----------
    cohort : Cohort
        Supplies covariates, visits (observed outcome) and the adherence table; with
        ``outcome="latent"``, ``cohort.truth`` too.
    covariates : str
        Right-hand side of the baseline covariates (formula syntax of
        :func:`footdrop_outcomes.survival.fit_cox`).
    outcome : {"observed", "latent"}
        Recovery dated at the first visit with MRC >= 4, or the true latent recovery time
        (synthetic cohorts; recovery after the end of follow-up is censored there).
    population : {"recovering", "all_but_als"}, optional
        Patients analysed; default ``"recovering"`` for the latent outcome (the truth is a
        proportional-hazards effect among recovering patients) and ``"all_but_als"`` for the
        observed one (who recovers is unknown in real data; ALS never recovers).
    alpha : float
        1 - confidence level.

    Returns
    -------
    AdherenceEffect
        Models: ``naive: mean adherence over follow-up``, ``time-varying: cumulative``,
        ``time-varying: cumulative + current``.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> e = adherence_effect(simulate_cohort(1500, seed=3), outcome="latent", covariates="severity + cause")
    >>> e.summary["model"].tolist()[:2]
    ['naive: mean adherence over follow-up', 'time-varying: cumulative']
    """
    from footdrop_outcomes.survival import counting_process, fit_cox, fit_cox_time_varying, survival_frame

    check_choice("outcome", outcome, get_args(Outcome))
    population = population or ("recovering" if outcome == "latent" else "all_but_als")
    check_choice("population", population, get_args(Population))
    truth = np.nan
    tp = None
    if cohort.truth is not None:
        truth = cohort.truth.value("recovery_latency", "cumulative_adherence_per_10pct", "log_hazard_ratio")
        tp = cohort.truth.patients.assign(patient_id=cohort.truth.patients["patient_id"].astype(str)).set_index("patient_id")
    if tp is None and (outcome == "latent" or population == "recovering"):
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
    if population == "recovering":
        assert tp is not None
        keep = tp["will_recover"].reindex(ids).to_numpy(dtype=bool)
    else:
        keep = (frame["cause"] != "als").to_numpy()
    frame = frame[keep & (frame["time"].to_numpy() > 0)].copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].cat.remove_unused_categories()
    frame["mean_adherence"] = frame["mean_adherence"].fillna(0.0)  # no program week: nothing completed
    naive = fit_cox(frame, f"{covariates} + mean_adherence")
    cp = counting_process(cohort, outcome=latent)
    cp = cp[cp["patient_id"].astype(str).isin(set(frame["patient_id"].astype(str)))].copy()
    for col in cp.columns:
        if isinstance(cp[col].dtype, pd.CategoricalDtype):
            cp[col] = cp[col].cat.remove_unused_categories()
    cp["id"] = cp["patient_id"].astype(str)
    tv = fit_cox_time_varying(cp, f"{covariates} + cumulative_adherence")
    tv2 = fit_cox_time_varying(cp, f"{covariates} + cumulative_adherence + current_adherence")
    z = norm.ppf(1 - alpha / 2)
    rows = []
    fits = {"naive: mean adherence over follow-up": naive, "time-varying: cumulative": tv, "time-varying: cumulative + current": tv2}
    for name, res in fits.items():
        s = res.summary.set_index("term")
        for term in ("mean_adherence", "cumulative_adherence", "current_adherence"):
            if term not in s.index:
                continue
            b, se = s.loc[term, "log_hr"] / 10, s.loc[term, "se"] / 10
            rows.append({"model": name, "term": term, "log_hr_per_10pct": b, "se": se, "hr_per_10pct": np.exp(b),
                         "lower": np.exp(b - z * se), "upper": np.exp(b + z * se),
                         "truth": truth if term != "current_adherence" else (0.0 if np.isfinite(truth) else np.nan),
                         "n": res.info["n"], "events": res.info["events"]})
    out = pd.DataFrame(rows)
    out["bias_in_se"] = (out["log_hr_per_10pct"] - out["truth"]) / out["se"]
    info = {"method": "naive vs time-varying Cox for adherence", "n": len(frame), "events": int(frame["event"].sum()),
            "outcome": outcome, "population": population, "covariates": covariates, "episodes": len(cp),
            "truth_note": "log HR per 10 points of lagged cumulative adherence among recovering patients (current: no direct effect)"}
    return AdherenceEffect(summary=out, info=info, fits=fits)
