"""Intention-to-treat vs per-protocol effects of a device (AFO or FES) on recovery, side by side.

*Intention to treat* (ITT) compares patients by the device prescribed, whatever they did with it.
*Per protocol* (PP) asks what would have happened had everyone prescribed the device kept wearing
it. Device wear is not randomised, and patients who keep wearing a device differ from those who
abandon it (in the simulator, less adherent patients abandon sooner, and adherence speeds
recovery), so PP estimates need care. Four estimates are reported, all as log hazard ratios of
recovery (device vs none), all with the same inverse probability of treatment weights for the
baseline confounding of the prescription (:func:`~footdrop_outcomes.adherence.fit_propensity`),
and robust (patient-clustered) SEs:

1. ``ITT``: every patient by prescription.
2. ``naive PP: completers only``: device patients who ever stopped wearing it during their
   record are dropped. **Immortal-time bias**: a patient counts as a completer only by *not*
   stopping for as long as they were followed, and the adherence record of a patient who
   recovers ends about six weeks after recovery, so early recoverers have little time to stop and
   are over-represented among completers. Shown, not hidden: on simulated cohorts the device
   has no effect at all, yet this estimate shows a large benefit.
3. ``PP: censored at deviation`` (unweighted for censoring): device patients are followed in
   weekly episodes until the first week of the stopping run (protocol deviation) and censored
   there. No immortal time, but the censoring is informative: patients who stop are less
   adherent to their exercises, hence slower to recover.
4. ``PP: censored at deviation + IPCW``: as 3, with stabilised inverse probability of censoring
   weights from pooled logistic models of deviation in each week on the baseline covariates and
   the time-varying exercise adherence and device wear known before that week (numerator: the
   baseline covariates and time only). This is the estimate to report as "per protocol".

The truth on simulated cohorts is ``cohort.truth`` ``recovery_latency`` / ``afo`` (or ``fes``):
log HR 0 with no incidence effect, so the ITT and the PP estimands are both exactly 0 (marginal
and conditional alike).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy.stats import norm

from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.adherence._input import AdherenceInputError, check_choice
from footdrop_outcomes.errors import FootdropError

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["itt_per_protocol", "ITTPerProtocol"]

Device = Literal["afo", "fes"]
ANALYSES = ("ITT", "naive PP: completers only", "PP: censored at deviation", "PP: censored at deviation + IPCW")


@dataclass(frozen=True, repr=False, kw_only=True)
class ITTPerProtocol(AnalysisResult):
    """ITT and per-protocol log hazard ratios of recovery for a device, side by side.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per analysis (see the module notes): ``analysis``, ``log_hr``, ``se`` (robust),
        ``hr``, ``lower``, ``upper``, ``truth`` (synthetic cohorts), ``bias_in_se``,
        ``n_patients``, ``n_treated``, ``events``, ``bias_source``.
    episodes : pandas.DataFrame
        Weekly episodes with ``treated``, ``iptw``, ``ipcw`` and ``on_protocol``.
    censoring_model : pandas.DataFrame
        Coefficients of the deviation (censoring) model, denominator.
    """

    episodes: pd.DataFrame
    censoring_model: pd.DataFrame

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Hazard ratios with 95% CIs per analysis, the truth as a dashed line."""
        import matplotlib.pyplot as plt

        s = self.summary
        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 0.55 * len(s) + 1.5))
        y = np.arange(len(s))[::-1]
        ax.errorbar(s["hr"], y, xerr=[s["hr"] - s["lower"], s["upper"] - s["hr"]], fmt="o", **kwargs)
        if s["truth"].notna().any():
            ax.axvline(float(np.exp(s["truth"].iloc[0])), color="C3", linestyle="--", label="truth")
            ax.legend(fontsize="small")
        ax.axvline(1.0, color="grey", linewidth=0.8)
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter

        for which in ("major", "minor"):
            getattr(ax.xaxis, f"set_{which}_formatter")(FuncFormatter(lambda v, _: f"{v:.3g}"))
        ax.set_yticks(y, s["analysis"], fontsize="small")
        ax.set_xlabel(f"hazard ratio of recovery, {self.info['device']} vs none (IPT-weighted)")
        return ax


def _cox(df: pd.DataFrame, *, weights: str, entry: str | None = None) -> tuple[float, float]:
    """Weighted Cox log HR of the binary ``treated`` column with a patient-clustered robust SE.

    Counting-process rows ``(entry, stop]`` (entry 0 when ``entry`` is None), Breslow ties,
    Newton-Raphson; sandwich from the weighted score residuals summed within ``cluster``
    (Lin & Wei; lifelines' ``robust=True`` with ``cluster_col`` gives the same up to ties, but its
    residual loop takes minutes on 10^5 episodes).
    """
    from footdrop_outcomes.errors import ConvergenceError

    t = df["stop"].to_numpy(float)
    s = df[entry].to_numpy(float) if entry else np.zeros(len(df))
    d = df["event"].to_numpy(bool)
    x = df["treated"].to_numpy(bool).astype(float)
    w = df[weights].to_numpy(float)
    tau, inv = np.unique(t[d], return_inverse=True)  # event times
    dn = np.bincount(inv, weights=w[d], minlength=tau.size)  # weighted events
    dn1 = np.bincount(inv, weights=(w * x)[d], minlength=tau.size)
    # weighted numbers at risk by arm at each event time: stop >= tau minus entry >= tau
    order_t, order_s = np.argsort(t), np.argsort(s)

    def at_risk(v: np.ndarray) -> np.ndarray:
        ct = np.r_[np.cumsum(v[order_t][::-1])[::-1], 0.0]
        cs = np.r_[np.cumsum(v[order_s][::-1])[::-1], 0.0]
        return ct[np.searchsorted(t[order_t], tau, side="left")] - cs[np.searchsorted(s[order_s], tau, side="left")]

    r1 = at_risk(w * x)
    r0 = at_risk(w * (1 - x))
    b = 0.0
    for _ in range(50):
        xbar = r1 * np.exp(b) / (r0 + r1 * np.exp(b))
        u = float(dn1.sum() - (dn * xbar).sum())
        info = float((dn * xbar * (1 - xbar)).sum())
        step = u / info
        b += step
        if abs(step) < 1e-10:
            break
    else:
        raise ConvergenceError("weighted Cox model of the device did not converge")
    eb = np.exp(b)
    s0 = r0 + r1 * eb
    xbar = r1 * eb / s0
    cum_a = np.r_[0.0, np.cumsum(dn / s0)]
    cum_b = np.r_[0.0, np.cumsum(dn * xbar / s0)]
    it = np.searchsorted(tau, t, side="right")  # event times <= stop
    is_ = np.searchsorted(tau, s, side="right")  # event times <= entry
    risk = np.exp(b * x)
    resid = np.where(d, x - xbar[np.minimum(_event_index(d, inv, len(t)), tau.size - 1)], 0.0) - risk * (
        x * (cum_a[it] - cum_a[is_]) - (cum_b[it] - cum_b[is_]))
    score = np.bincount(pd.factorize(df["cluster"])[0], weights=w * resid)
    return float(b), float(np.sqrt((score ** 2).sum()) / info)


def _event_index(d: np.ndarray, inv: np.ndarray, n: int) -> np.ndarray:
    """Index of each row's event time (0 for rows without an event)."""
    out = np.zeros(n, dtype=np.int64)
    out[d] = inv
    return out


def _pooled_logit(y: np.ndarray, x: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    import statsmodels.api as sm

    from footdrop_outcomes.errors import ConvergenceError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.Logit(y.astype(float), x).fit(disp=0, maxiter=100, method="newton")
    if not fit.mle_retvals.get("converged", True):
        raise ConvergenceError("the deviation (censoring) model did not converge; simplify censoring_covariates")
    tab = pd.DataFrame({"term": fit.params.index, "log_or": fit.params.to_numpy(), "se": fit.bse.to_numpy()})
    return np.asarray(fit.predict(x), dtype=float), tab


def itt_per_protocol(
    cohort: Cohort,
    *,
    device: Device = "afo",
    confounders: str = "cause + severity",
    outcome: Literal["observed", "latent"] | None = None,
    censoring_covariates: str = "cumulative_adherence + current_adherence + wear_cumulative + wear_last",
    consecutive: int = 2,
    threshold: float | None = None,
    trim: float | None = 0.01,
    alpha: float = 0.05,
) -> ITTPerProtocol:
    """Intention-to-treat and per-protocol effects of a device on recovery, with the biases shown.

    Parameters
    ----------
    cohort : Cohort
        Patients, visits (observed outcome), adherence table (device hours); ``cohort.truth``
        for ``outcome="latent"`` and for the truth column.
    device : {"afo", "fes"}
        The device compared with no device; "deviation" = the start of the first run of
        ``consecutive`` recorded weeks with hours worn / prescribed below ``threshold``
        (:func:`~footdrop_outcomes.adherence.discontinuation_times`). FES is analysed among
        stroke and MS patients only (the only ones offered it).
    confounders : str
        Propensity model of the prescription (formula dialect of
        :func:`~footdrop_outcomes.adherence.fit_propensity`; ``C(x)`` still accepted), also the
        baseline part of the censoring models.
    outcome : {"latent", "observed"}, optional
        True latent recovery time (synthetic cohorts: the check against the truth) or recovery
        dated at the first visit with MRC >= 4. ALS patients are left out. Default: latent
        when the cohort has truth (synthetic), observed otherwise (real cohorts);
        ``info["outcome"]`` says which was used.
    censoring_covariates : str
        Time-varying predictors of deviation, known at the start of each week (lagged):
        ``cumulative_adherence``, ``current_adherence`` (exercise sessions), ``wear_cumulative``
        (hours worn / prescribed over the weeks before) and ``wear_last`` (last week's).
    consecutive, threshold
        Definition of stopping the device.
    trim : float or None
        Truncation quantile of the IPT and of the combined weights (None: no truncation).
        Truncation trades variance for a little residual confounding (see docs/adherence.md).
    alpha : float

    Returns
    -------
    ITTPerProtocol

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> r = itt_per_protocol(simulate_cohort(3000, seed=2026))  # doctest: +SKIP
    >>> r.summary[["analysis", "hr", "bias_in_se"]]  # doctest: +SKIP
    """
    from footdrop_outcomes._checks import formula_design
    from footdrop_outcomes.adherence.discontinuation import discontinuation_times
    from footdrop_outcomes.adherence.metrics import weekly_adherence
    from footdrop_outcomes.adherence.outcome import _prepare, default_outcome
    from footdrop_outcomes.adherence.weighting import fit_propensity

    check_choice("device", device, get_args(Device))
    outcome = default_outcome(cohort, outcome)
    frame, cp, _, _ = _prepare(cohort, outcome, "all_but_als")
    if device == "fes":
        keep = frame["cause"].astype(str).isin(["stroke", "multiple_sclerosis"]).to_numpy()
        frame = frame[keep].copy()
        cp = cp[cp["patient_id"].astype(str).isin(set(frame["patient_id"].astype(str)))].copy()
        for df in (frame, cp):
            for col in df.columns:
                if isinstance(df[col].dtype, pd.CategoricalDtype):
                    df[col] = df[col].cat.remove_unused_categories()
    frame = frame.reset_index(drop=True)
    ids = frame["patient_id"].astype(str)
    treated = (frame[device].astype(str) != "none").to_numpy() if device == "afo" else frame[device].astype(bool).to_numpy()
    frame["treated"] = treated
    ps = fit_propensity(frame, "treated", confounders, trim=trim)
    iptw = pd.Series(ps.data["weight"].to_numpy(), index=ids.to_numpy())

    # deviation week on the onset scale: first program week + start of the stopping run
    dt = discontinuation_times(cohort, kind=device, consecutive=consecutive, threshold=threshold)
    dt = dt.assign(patient_id=dt["patient_id"].astype(str)).set_index("patient_id")
    wk = weekly_adherence(cohort)
    wk = wk.assign(patient_id=wk["patient_id"].astype(str))
    first = wk.groupby("patient_id")["week"].min()
    last = wk.groupby("patient_id")["week"].max()
    dev_week = pd.Series(np.inf, index=ids.to_numpy())
    on = dt.index[dt["event"].to_numpy(bool)]
    on = on[on.isin(dev_week.index)]
    dev_week.loc[on] = first.reindex(on).to_numpy() + dt.loc[on, "time"].to_numpy() - 1
    dev_week[~treated] = np.inf  # no device, no protocol to deviate from
    ever_deviated = np.isfinite(dev_week.to_numpy())

    # weekly episodes with lagged device wear
    ratio = f"{device}_ratio"
    wk = wk.sort_values(["patient_id", "week"], kind="stable")
    r = wk[ratio].where(wk[f"{device}_hours_prescribed"] > 0)
    g = r.groupby(wk["patient_id"])
    n_before = g.cumcount()
    wk["wear_last"] = g.shift(1)
    wk["wear_cumulative"] = (g.cumsum() - r) / n_before.where(n_before > 0)
    ep = cp.assign(patient_id=cp["patient_id"].astype(str)).reset_index(drop=True)
    ep = ep.merge(wk[["patient_id", "week", "wear_last", "wear_cumulative"]], on=["patient_id", "week"], how="left")
    ep[["wear_last", "wear_cumulative"]] = ep.groupby("patient_id")[["wear_last", "wear_cumulative"]].ffill().fillna(0.0)
    pid = ep["patient_id"].to_numpy()
    ep["treated"] = pd.Series(treated, index=ids.to_numpy()).reindex(pid).to_numpy()
    ep["iptw"] = iptw.reindex(pid).to_numpy()
    ep["cluster"] = pd.Categorical(pid).codes
    dw = dev_week.reindex(pid).to_numpy()
    ep["on_protocol"] = ep["week"].to_numpy() < dw
    ep["deviates_now"] = ep["week"].to_numpy() == dw

    # censoring (deviation) model among device patients in program weeks, up to and including the deviation week
    prog = ep["week"].to_numpy() >= first.reindex(pid).fillna(np.inf).to_numpy()
    recorded = ep["week"].to_numpy() <= last.reindex(pid).fillna(-1).to_numpy()  # deviation is only seen in recorded weeks
    risk = ep["treated"].to_numpy(bool) & prog & recorded & (ep["week"].to_numpy() <= dw)
    at = ep.loc[risk].copy()
    at["program_week"] = at["week"] - first.reindex(at["patient_id"]).to_numpy()
    time_terms = "bs(program_week, df=4)"
    try:
        _, xd = formula_design(at, f"{confounders} + {time_terms} + {censoring_covariates}", what="censoring model",
                               table="episodes")
        _, xn = formula_design(at, f"{confounders} + {time_terms}", what="censoring model", table="episodes")
    except FootdropError as exc:
        raise AdherenceInputError(f"censoring model cannot be built: {exc}") from exc
    y = at["deviates_now"].to_numpy()
    if y.sum() < 10:
        raise AdherenceInputError(f"only {int(y.sum())} protocol deviations; too few for a censoring model")
    p_den, cens_tab = _pooled_logit(y, xd)
    p_num, _ = _pooled_logit(y, xn)
    ratio_w = np.where(y, 1.0, (1 - p_num) / (1 - p_den))  # weight for staying on protocol this week
    at["_r"] = ratio_w
    at["ipcw"] = at.groupby("patient_id")["_r"].cumprod()
    ep["ipcw"] = np.where(ep["treated"].to_numpy(bool) & prog, np.nan, 1.0)
    ep.loc[at.index, "ipcw"] = at["ipcw"]
    ep["ipcw"] = ep.groupby("patient_id")["ipcw"].ffill().fillna(1.0)  # after the record ends: the last weight
    pp = ep[ep["on_protocol"]].copy()
    w = pp["iptw"] * pp["ipcw"]
    pp["w_ipcw"] = np.clip(w, *np.quantile(w, [trim, 1 - trim])) if trim else w

    # patient-level data for ITT and completers
    pat = pd.DataFrame({"stop": frame["time"].to_numpy(float), "event": frame["event"].to_numpy(bool), "treated": treated,
                        "iptw": iptw.to_numpy(), "cluster": np.arange(len(frame))})
    comp = pat[~ever_deviated]
    est = {
        "ITT": (_cox(pat, weights="iptw"), len(pat), int(treated.sum()), int(pat["event"].sum()),
                "none (randomisation emulated by IPTW)"),
        "naive PP: completers only": (_cox(comp, weights="iptw"), len(comp), int(comp["treated"].sum()), int(comp["event"].sum()),
                                      "immortal time: completers had to stay unrecovered-and-wearing for their whole record"),
        "PP: censored at deviation": (_cox(pp, weights="iptw", entry="start"), int(pp["patient_id"].nunique()),
                                      int(pp.loc[pp["treated"], "patient_id"].nunique()), int(pp["event"].sum()),
                                      "informative censoring: those who stop are less adherent, slower to recover"),
        "PP: censored at deviation + IPCW": (_cox(pp, weights="w_ipcw", entry="start"), int(pp["patient_id"].nunique()),
                                             int(pp.loc[pp["treated"], "patient_id"].nunique()), int(pp["event"].sum()),
                                             "residual: censoring given the measured adherence history"),
    }
    truth = np.nan
    if cohort.truth is not None:
        truth = float(cohort.truth.value("recovery_latency", device, "log_hazard_ratio"))
    z = norm.ppf(1 - alpha / 2)
    rows = []
    for name, ((b, se), n, nt, ev, why) in est.items():
        rows.append({"analysis": name, "log_hr": b, "se": se, "hr": np.exp(b), "lower": np.exp(b - z * se),
                     "upper": np.exp(b + z * se), "truth": truth, "bias_in_se": (b - truth) / se, "n_patients": n,
                     "n_treated": nt, "events": ev, "bias_source": why})
    summary = pd.DataFrame(rows)
    info = {"method": "ITT vs per-protocol (IPTW; censoring at deviation with IPCW)", "device": device, "outcome": outcome,
            "n": len(frame), "n_treated": int(treated.sum()), "n_deviated": int(ever_deviated.sum()),
            "events": int(pat["event"].sum()), "confounders": confounders, "censoring_covariates": censoring_covariates,
            "deviation": f"{consecutive} consecutive recorded weeks with {device} hours / prescribed below "
                         f"{threshold if threshold is not None else 0.05}",
            "ipcw_range": (float(pp.loc[pp["treated"], "ipcw"].min()), float(pp.loc[pp["treated"], "ipcw"].max())),
            "max_abs_smd_weighted": ps.info["max_abs_smd_weighted"],
            "truth_note": f"cohort.truth recovery_latency/{device}: the device has no effect on recovery, so ITT and PP truths are 0"}
    return ITTPerProtocol(summary=summary, info=info, episodes=ep, censoring_model=cens_tab)
