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
   baseline covariates and time only). This is the estimate to report as "per protocol". The
   models' rows are the weeks in which a stopping run could start: from the first program week
   to the deviation week, or without a deviation to the ``consecutive``-th last week with a
   recorded wear ratio (where :func:`~footdrop_outcomes.adherence.discontinuation_times`
   censors); the weights of later weeks stay at their last value.

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
from footdrop_outcomes.adherence._sandwich import (
    logistic_influence,
    weighted_cox_binary,
    weighted_influence,
)
from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.survival._missing import Missing

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["ITTPerProtocol", "itt_per_protocol"]

Device = Literal["afo", "fes"]
SEMethod = Literal["sandwich", "bootstrap"]
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
    """Weighted Cox log HR of the binary ``treated`` column with a ``cluster``-robust SE (weights taken as known).

    Counting-process rows ``(entry, stop]`` (entry 0 when ``entry`` is None), Breslow ties; the
    sandwich sums the weighted score residuals within ``cluster`` (Lin & Wei; lifelines'
    ``robust=True`` with ``cluster_col`` gives the same, but its residual loop takes minutes on
    10^5 episodes).
    """
    w = df[weights].to_numpy(float)
    b, info, r = weighted_cox_binary(df["stop"].to_numpy(float), df["event"].to_numpy(bool), df["treated"].to_numpy(float), w,
                                     df[entry].to_numpy(float) if entry else None)
    score = np.bincount(pd.factorize(df["cluster"])[0], weights=w * r)
    return b, float(np.sqrt((score ** 2).sum()) / info)


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


def _carry(ep: pd.DataFrame, at_index: pd.Index, values: np.ndarray, pending: np.ndarray, fill: float) -> np.ndarray:
    """Values known on the censoring-model rows, carried forward within patient to the rows after them.

    ``pending`` marks episode rows that take the last value of their patient (treated, in the
    program); other rows get ``fill``.
    """
    v = values.reshape(len(values), -1)
    out = np.where(pending[:, None], np.nan, fill) * np.ones((1, v.shape[1]))
    out[ep.index.get_indexer(at_index)] = v
    f = pd.DataFrame(out).groupby(ep["cluster"].to_numpy()).ffill().fillna(fill).to_numpy()
    return f if values.ndim > 1 else f[:, 0]


def _estimate(frame: pd.DataFrame, ep: pd.DataFrame, *, confounders: str, censoring_covariates: str, trim: float | None,
              sandwich: bool) -> tuple[dict[str, tuple[float, float, float]], dict[str, Any]]:
    """All four log HRs from prepared data; SEs from the stacked estimating equations when ``sandwich``.

    ``frame``: one row per patient (position = cluster code) with ``time``, ``event``,
    ``treated``, ``ever_deviated`` and the confounders. ``ep``: weekly episodes with ``cluster``,
    ``start``, ``stop``, ``event``, ``treated``, ``on_protocol``, ``deviates_now``, ``at_risk``
    (rows of the deviation model), ``pending`` and ``program_week``.
    """
    from footdrop_outcomes._checks import formula_design
    from footdrop_outcomes.adherence.weighting import fit_propensity

    n = len(frame)
    ps = fit_propensity(frame, "treated", confounders, trim=trim)
    iptw = ps.weights.to_numpy(float)
    dw_ps, psi_ps = ps.weight_gradient, ps.influence
    ps_block = (psi_ps, np.arange(n))
    cl = ep["cluster"].to_numpy()
    at = ep.loc[ep["at_risk"].to_numpy(bool)]
    try:
        _, xd = formula_design(at, f"{confounders} + bs(program_week, df=4) + {censoring_covariates}", what="censoring model",
                               table="episodes")
        _, xn = formula_design(at, f"{confounders} + bs(program_week, df=4)", what="censoring model", table="episodes")
    except FootdropError as exc:
        raise AdherenceInputError(f"censoring model cannot be built: {exc}") from exc
    y = at["deviates_now"].to_numpy(bool)
    if y.sum() < 10:
        raise AdherenceInputError(f"only {int(y.sum())} protocol deviations; too few for a censoring model")
    p_den, cens_tab = _pooled_logit(y, xd)
    p_num, _ = _pooled_logit(y, xn)
    at_cl = at["cluster"].to_numpy()
    # weight for staying on protocol: product over the weeks so far of P(stay | numerator) / P(stay | denominator)
    log_r = np.where(y, 0.0, np.log1p(-p_num) - np.log1p(-p_den))
    ipcw_at = np.exp(pd.Series(log_r).groupby(at_cl).cumsum().to_numpy())
    pending = ep["pending"].to_numpy(bool)
    ipcw = _carry(ep, at.index, ipcw_at, pending, 1.0)
    onp = ep["on_protocol"].to_numpy(bool)
    pp = ep.loc[onp]
    pcl = cl[onp]
    w_pp = iptw[pcl] * ipcw[onp]
    clipped = np.zeros(len(pp), dtype=bool)
    if trim:
        lo, hi = np.quantile(w_pp, [trim, 1 - trim])
        clipped = (w_pp < lo) | (w_pp > hi)
        w_pp = np.clip(w_pp, lo, hi)

    def fit(stop: np.ndarray, event: np.ndarray, x: np.ndarray, w: np.ndarray, cluster: np.ndarray, start: np.ndarray | None,
            nuisance: Any) -> tuple[float, float, float]:
        b, info, r = weighted_cox_binary(stop, event, x, w, start)
        total, fixed = weighted_influence(r, w, info, cluster, n, nuisance() if sandwich else [])
        return b, float(np.sqrt(np.sum(total ** 2))), float(np.sqrt(np.sum(fixed ** 2)))

    t, e, z = frame["time"].to_numpy(float), frame["event"].to_numpy(bool), frame["treated"].to_numpy(float)
    comp = np.flatnonzero(~frame["ever_deviated"].to_numpy(bool))
    pp_args = (pp["stop"].to_numpy(float), pp["event"].to_numpy(bool), pp["treated"].to_numpy(float))

    def ipcw_blocks() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        # d log(ipcw) / d gamma: + sum of p_den x_den (denominator), - sum of p_num x_num (numerator), weeks so far
        xdm, xnm = xd.to_numpy(float), xn.to_numpy(float)
        d_den = pd.DataFrame(np.where(y, 0.0, p_den)[:, None] * xdm).groupby(at_cl).cumsum().to_numpy()
        d_num = pd.DataFrame(-np.where(y, 0.0, p_num)[:, None] * xnm).groupby(at_cl).cumsum().to_numpy()
        keep = (w_pp * ~clipped)[:, None]
        blocks = [((ipcw[onp] * ~clipped)[:, None] * dw_ps[pcl], *ps_block)]
        for dlog, xm, p in ((d_den, xdm, p_den), (d_num, xnm, p_num)):
            psi = logistic_influence(xm, y, p, cluster=at_cl)
            blocks.append((keep * _carry(ep, at.index, dlog, pending, 0.0)[onp], psi, np.unique(at_cl)))
        return blocks

    est = {
        "ITT": fit(t, e, z, iptw, np.arange(n), None, lambda: [(dw_ps, *ps_block)]),
        "naive PP: completers only": fit(t[comp], e[comp], z[comp], iptw[comp], comp, None, lambda: [(dw_ps[comp], *ps_block)]),
        "PP: censored at deviation": fit(*pp_args, iptw[pcl], pcl, pp["start"].to_numpy(float), lambda: [(dw_ps[pcl], *ps_block)]),
        "PP: censored at deviation + IPCW": fit(*pp_args, w_pp, pcl, pp["start"].to_numpy(float), ipcw_blocks),
    }
    extra = {"iptw": iptw, "ipcw": ipcw, "censoring_model": cens_tab, "max_abs_smd_weighted": ps.info["max_abs_smd_weighted"],
             "ipcw_range": (float(ipcw[onp & ep["treated"].to_numpy(bool)].min()), float(ipcw[onp & ep["treated"].to_numpy(bool)].max()))}
    return est, extra


def itt_per_protocol(
    cohort: Cohort,
    *,
    device: Device = "afo",
    confounders: str = "cause + severity",
    outcome: Literal["observed", "latent"] | None = None,
    censoring_covariates: str = "cumulative_adherence + current_adherence + wear_cumulative + wear_last",
    consecutive: int = 2,
    threshold: float | None = None,
    trim: float | None = None,
    se: SEMethod = "sandwich",
    n_boot: int = 200,
    seed: int | None = None,
    alpha: float = 0.05,
    missing: Missing = "drop",
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
        (the mean of hours worn / prescribed over the earlier weeks with a device prescription;
        weeks without one count in neither the sum nor the number of weeks) and ``wear_last``
        (that of the most recent earlier week with a prescription).
    consecutive, threshold
        Definition of stopping the device.
    trim : float or None
        Truncation quantile of the IPT and of the combined weights (default None: no
        truncation; across seeds truncation at 1%/99% left a bias of about -0.02, see
        docs/adherence.md section 8).
    se : {"sandwich", "bootstrap"}
        ``"sandwich"`` (default): stacked estimating equations of the propensity model, the two
        censoring models and the weighted Cox model, patients as clusters (module notes);
        ``"bootstrap"``: the SD of the estimates over ``n_boot`` resamples of patients, every
        model refitted (seeded by ``seed``). ``se_fixed_weights`` is always the robust SE that
        treats the weights as known.
    n_boot : int
        Bootstrap resamples (``se="bootstrap"``).
    seed : int, optional
        Seed of the bootstrap resampling.
    alpha : float
    missing : {"drop", "raise"}
        Patients with a missing confounder: left out of every model with a
        :class:`~footdrop_outcomes.survival.MissingDataWarning` and counted in ``info``
        (``n_input``, ``n_dropped_missing``, ``dropped_by_variable``, ``missing_data``), or
        refused with an error naming column and rows.

    Returns
    -------
    ITTPerProtocol

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> r = itt_per_protocol(simulate_cohort(3000, seed=2026))  # doctest: +SKIP
    >>> r.summary[["analysis", "hr", "bias_in_se"]]  # doctest: +SKIP
    """
    from footdrop_outcomes.adherence.discontinuation import discontinuation_times
    from footdrop_outcomes.adherence.metrics import weekly_adherence
    from footdrop_outcomes.adherence.outcome import _prepare, default_outcome
    from footdrop_outcomes.errors import ConfigError

    check_choice("device", device, get_args(Device))
    check_choice("se", se, get_args(SEMethod))
    if se == "bootstrap" and (not isinstance(n_boot, (int, np.integer)) or n_boot < 20):
        raise ConfigError(f"n_boot must be a whole number >= 20, got {n_boot!r}")
    outcome = default_outcome(cohort, outcome)
    frame, cp, _, _ = _prepare(cohort, outcome, "all_but_als", formulas=(confounders,), missing=missing, model="itt_per_protocol")
    dropped = frame.attrs["missing_info"]
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

    # deviation week on the onset scale: first program week + the week the stopping run starts
    dt = discontinuation_times(cohort, kind=device, consecutive=consecutive, threshold=threshold)
    dt = dt.assign(patient_id=dt["patient_id"].astype(str)).set_index("patient_id")
    wk = weekly_adherence(cohort)
    wk = wk.assign(patient_id=wk["patient_id"].astype(str))
    first = wk.groupby("patient_id")["week"].min()
    dev_week = pd.Series(np.inf, index=ids.to_numpy())
    on = dt.index[dt["event"].to_numpy(bool)]
    on = on[on.isin(dev_week.index)]
    dev_week.loc[on] = first.reindex(on).to_numpy() + dt.loc[on, "time"].to_numpy()
    dev_week[~treated] = np.inf  # no device, no protocol to deviate from
    ever_deviated = np.isfinite(dev_week.to_numpy())
    frame["ever_deviated"] = ever_deviated

    # weekly episodes with lagged device wear
    ratio = f"{device}_ratio"
    wk = wk.sort_values(["patient_id", "week"], kind="stable")
    r = wk[ratio].where(wk[f"{device}_hours_prescribed"] > 0)  # NaN: no prescription (or no record) that week
    g = r.groupby(wk["patient_id"])
    wk["wear_last"] = g.shift(1)
    # mean worn / prescribed over the earlier weeks with a prescription (weeks without one count in neither sum)
    known = r.notna().astype(float)
    n_before = known.groupby(wk["patient_id"]).cumsum() - known
    worn_before = r.fillna(0.0).groupby(wk["patient_id"]).cumsum() - r.fillna(0.0)
    wk["wear_cumulative"] = worn_before / n_before.where(n_before > 0)
    ep = cp.assign(patient_id=cp["patient_id"].astype(str)).reset_index(drop=True)
    ep = ep.merge(wk[["patient_id", "week", "wear_last", "wear_cumulative"]], on=["patient_id", "week"], how="left")
    ep[["wear_last", "wear_cumulative"]] = ep.groupby("patient_id")[["wear_last", "wear_cumulative"]].ffill().fillna(0.0)
    pid = ep["patient_id"].to_numpy()
    position = pd.Series(np.arange(len(frame)), index=ids.to_numpy())
    ep["cluster"] = position.reindex(pid).to_numpy()
    ep["treated"] = treated[ep["cluster"].to_numpy()]
    dw = dev_week.reindex(pid).to_numpy()
    ep["on_protocol"] = ep["week"].to_numpy() < dw
    ep["deviates_now"] = ep["week"].to_numpy() == dw
    # deviation model rows: device patients in program weeks, up to and including the deviation week, and no later
    # than the last week a stopping run could start: the consecutive-th last week with a recorded ratio, which is
    # where discontinuation_times censors (a run starting later would need weeks after the record; none if fewer)
    prog = ep["week"].to_numpy() >= first.reindex(pid).fillna(np.inf).to_numpy()
    seen = wk.loc[r.notna(), ["patient_id", "week"]]
    last_start = seen.groupby("patient_id")["week"].nth(-consecutive)
    last_start = pd.Series(last_start.to_numpy(), index=seen.loc[last_start.index, "patient_id"].to_numpy())
    startable = ep["week"].to_numpy() <= last_start.reindex(pid).fillna(-1).to_numpy()
    ep["at_risk"] = ep["treated"].to_numpy(bool) & prog & startable & (ep["week"].to_numpy() <= dw)
    ep["pending"] = ep["treated"].to_numpy(bool) & prog  # after the last week a run could start: the last censoring weight
    ep["program_week"] = ep["week"] - first.reindex(pid).fillna(0).to_numpy()

    options = {"confounders": confounders, "censoring_covariates": censoring_covariates, "trim": trim}
    est, extra = _estimate(frame, ep, sandwich=se == "sandwich", **options)
    if se == "bootstrap":
        boot = _bootstrap(frame, ep, n_boot=n_boot, seed=seed, options=options)
        sd = boot.std(ddof=1)
        est = {k: (b, float(sd[k]), fixed) for k, (b, _, fixed) in est.items()}
    ep["iptw"] = extra["iptw"][ep["cluster"].to_numpy()]
    ep["ipcw"] = extra["ipcw"]
    ep = ep.drop(columns=["at_risk", "pending"])

    pp = ep[ep["on_protocol"]]
    counts = {
        "ITT": (len(frame), int(treated.sum()), int(frame["event"].sum())),
        "naive PP: completers only": (int((~ever_deviated).sum()), int((treated & ~ever_deviated).sum()),
                                      int(frame.loc[~ever_deviated, "event"].sum())),
        "PP: censored at deviation": (int(pp["cluster"].nunique()), int(pp.loc[pp["treated"], "cluster"].nunique()), int(pp["event"].sum())),
    }
    counts["PP: censored at deviation + IPCW"] = counts["PP: censored at deviation"]
    why = {"ITT": "none (randomisation emulated by IPTW)",
           "naive PP: completers only": "immortal time: completers had to stay unrecovered-and-wearing for their whole record",
           "PP: censored at deviation": "informative censoring: those who stop are less adherent, slower to recover",
           "PP: censored at deviation + IPCW": "residual: censoring given the measured adherence history"}
    truth = np.nan
    if cohort.truth is not None:
        truth = float(cohort.truth.value("recovery_latency", device, "log_hazard_ratio"))
    z = norm.ppf(1 - alpha / 2)
    rows = []
    for name, (b, se_, fixed) in est.items():
        n_, nt, ev = counts[name]
        rows.append({"analysis": name, "log_hr": b, "se": se_, "hr": np.exp(b), "lower": np.exp(b - z * se_),
                     "upper": np.exp(b + z * se_), "truth": truth, "bias_in_se": (b - truth) / se_, "n_patients": n_,
                     "n_treated": nt, "events": ev, "bias_source": why[name], "se_fixed_weights": fixed})
    summary = pd.DataFrame(rows)
    info = {**dropped, "method": "ITT vs per-protocol (IPTW; censoring at deviation with IPCW)", "device": device, "outcome": outcome,
            "n": len(frame), "n_treated": int(treated.sum()), "n_deviated": int(ever_deviated.sum()),
            "events": int(frame["event"].sum()), "confounders": confounders, "censoring_covariates": censoring_covariates,
            "deviation": f"{consecutive} consecutive recorded weeks with {device} hours / prescribed below "
                         f"{threshold if threshold is not None else 0.05}",
            "trim": trim, "ipcw_range": extra["ipcw_range"], "max_abs_smd_weighted": extra["max_abs_smd_weighted"],
            "se": ("stacked estimating equations (propensity model, arm shares, both censoring models, weighted Cox), "
                   "patients as clusters" if se == "sandwich" else f"bootstrap SD over {n_boot} resamples of patients (seed {seed})"),
            "truth_note": f"cohort.truth recovery_latency/{device}: the device has no effect on recovery, so ITT and PP truths are 0"}
    return ITTPerProtocol(summary=summary, info=info, episodes=ep, censoring_model=extra["censoring_model"])


def _bootstrap(frame: pd.DataFrame, ep: pd.DataFrame, *, n_boot: int, seed: int | None, options: dict[str, Any]) -> pd.DataFrame:
    """Estimates over ``n_boot`` resamples of patients (with their episodes), every model refitted."""
    rng = np.random.default_rng(seed)
    n = len(frame)
    ep = ep.sort_values(["cluster", "start"], kind="stable").reset_index(drop=True)
    starts = np.searchsorted(ep["cluster"].to_numpy(), np.arange(n + 1))
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # balance and positivity were reported on the data themselves
        for _ in range(n_boot):
            pick = rng.integers(0, n, n)
            fb = frame.iloc[pick].reset_index(drop=True)
            lengths = starts[pick + 1] - starts[pick]
            idx = np.repeat(starts[pick] - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(lengths.sum())
            eb = ep.iloc[idx].reset_index(drop=True)
            eb["cluster"] = np.repeat(np.arange(n), lengths)
            try:
                est, _ = _estimate(fb, eb, sandwich=False, **options)
            except FootdropError:
                continue  # a resample the models cannot be fitted on (counted out of n_boot)
            rows.append({k: v[0] for k, v in est.items()})
    if len(rows) < 0.9 * n_boot:
        raise AdherenceInputError(f"only {len(rows)} of {n_boot} bootstrap resamples could be fitted; use se='sandwich'")
    return pd.DataFrame(rows)
