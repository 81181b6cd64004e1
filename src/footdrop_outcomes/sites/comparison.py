"""Risk-adjusted comparison of sites: observed vs expected recoveries, funnel plots, ranks with uncertainty.

**Expected recoveries (indirect standardisation).** A Cox case-mix model (patient characteristics
only, never the sites' own practice such as treatments) is fitted on all sites together, without
any site term. Each patient's expected number of recoveries up to a horizon ``h`` is the model's
cumulative hazard up to the end of the patient's follow-up or ``h``, whichever is first:
``E_i = Lambda0_s(min(T_i, h)) exp(x_i' beta)`` (Breslow baseline per stratum ``s``). Summed over
a site's patients this is the number of recoveries the site would have had with the case mix it
has, had it performed as all sites together; ``O`` is the number it had. Under the model ``O - E``
is a counting-process martingale, so ``Var(O) ~ E`` whatever the censoring (the standardised
ratio of survival analysis, as an SMR).

**Funnel plot.** ``O/E`` against ``E`` with control limits around 1 at 95% and 99.8%, on the
square-root scale ``y = sqrt(O/E)`` (variance ``1 / (4E)``, Spiegelhalter 2005, Stat Med 24:1185)
mapped back to the ratio. Because the case-mix model is fitted on all sites, the site's own
patients are part of its reference: with the Breslow baseline, ``E = sum_j d_j p_j`` over the
recovery times ``j`` (up to the horizon) of the site's strata, where ``p_j`` is the site's share
of the risk-weighted risk set, so ``O - E = sum_j (recoveries at the site - d_j p_j)`` has
variance ``V = sum_j d_j p_j (1 - p_j)`` (as in a log-rank test of the site against the others),
smaller than ``E``. The limits use the factor ``c = V / E`` of each site; without it a site with
an eighth of the patients (more of a stratum where the sites' case mix differs) would be flagged
about half as often as the nominal rate. ``z = 2 (sqrt(O) - sqrt(E)) / sqrt(c)``.

**Over-dispersion** (Spiegelhalter 2005, Qual Saf Health Care 14:347): the z-scores are
winsorised at their 10th and 90th percentiles and ``phi = mean(z_w^2)``. ``"multiplicative"``
widens the limits by ``sqrt(phi)`` when ``phi > 1``; ``"additive"`` (the default) adds a
between-site variance ``tau2 = max(0, (I phi - (I - 1)) / (sum w - sum w^2 / sum w))``, ``w =
4E / c``, the DerSimonian-Laird moment estimator on the winsorised z-scores, so limits become ``1 +/-
z sqrt(c/(4E) + tau2)`` on the square-root scale; ``"none"`` keeps the Poisson limits.

**Ranks with uncertainty.** Ratios are drawn from each site's Jeffreys posterior
``Gamma(O + 1/2, 1) / E`` (plus the between-site variance when ``"additive"``), ranked in every
draw (1 = most recoveries for the case mix), and the 2.5% and 97.5% quantiles of each site's
ranks are reported instead of a league table.

**Release control.** Sites of ``threshold`` or fewer patients are in the case-mix model but not in
any table or plot (their number is in ``info``); :meth:`SiteComparison.released` gives the table a
report may show (an observed count of 1 to ``threshold``, and the ratios that would reveal it,
masked), and the funnel plot leaves such points out.

**Adherence by site** (:func:`adherence_by_site`): each patient's share of prescribed home-exercise
sessions completed over the weeks recorded; the expected share of a site is the mean of a
case-mix linear model (patient characteristics only, fitted on all sites without a site term)
over its patients; ``O - E`` (observed minus expected mean share) with the standard error of a
site mean, ``s / sqrt(n)``, ``s`` the pooled within-site SD of the model's residuals; flags at the
95% and 99.8% limits. The same release rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy import stats

from footdrop_outcomes._checks import check_choice
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.release import (
    ReleasedTable,
    ReleasePolicy,
    format_count,
    release_table,
)
from footdrop_outcomes.survival import fit_cox, survival_frame

__all__ = ["SiteAdherence", "SiteComparison", "adherence_by_site", "compare_sites", "funnel_limits", "overdispersion"]

Overdispersion = Literal["additive", "multiplicative", "none"]

#: Two-sided coverage of the control limits: 95% and 99.8%.
LEVELS = (0.95, 0.998)


def overdispersion(z: np.ndarray, expected: np.ndarray, *, factor: np.ndarray | float = 1.0,
                   winsor: float = 0.10) -> tuple[float, float]:
    """Over-dispersion of z-scores on the square-root scale (Spiegelhalter 2005).

    Parameters
    ----------
    z : array
        ``2 (sqrt(O) - sqrt(E))`` per site.
    expected : array
        ``E`` per site.
    factor : array or float
        ``c = V / E`` per site (1: the site is not part of its reference).
    winsor : float
        Share winsorised in each tail.

    Returns
    -------
    (phi, tau2)
        Multiplicative factor ``mean(z_w^2)`` and additive variance (DerSimonian-Laird, >= 0).

    Examples
    --------
    >>> phi, tau2 = overdispersion(np.array([0.5, -1.0, 2.0, 0.0]), np.array([20.0, 30.0, 25.0, 40.0]))
    >>> round(phi, 4) == round(float(np.mean(np.array([0.5, -0.7, 1.55, 0.0]) ** 2)), 4)  # winsorised at the 10%/90% quantiles
    True
    """
    z = np.asarray(z, dtype=float)
    w = 4.0 * np.asarray(expected, dtype=float) / np.asarray(factor, dtype=float)
    i = z.size
    lo, hi = np.quantile(z, [winsor, 1 - winsor])
    zw = np.clip(z, lo, hi)
    phi = float(np.mean(zw**2))
    tau2 = max(0.0, (i * phi - (i - 1)) / (w.sum() - np.sum(w**2) / w.sum()))
    return phi, float(tau2)


def funnel_limits(expected: np.ndarray, level: float, *, phi: float = 1.0, tau2: float = 0.0,
                  factor: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper control limits of ``O/E`` at ``E`` (square-root scale, mapped back).

    ``factor`` is ``c = V / E`` (the site is part of its own reference, see the module docstring).

    >>> lo, hi = funnel_limits(np.array([100.0]), 0.95)  # sd 1 / (2 sqrt(100)) = 0.05 on the square-root scale
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3), round((1 - 1.96 * 0.05) ** 2, 3), round((1 + 1.96 * 0.05) ** 2, 3)
    (0.814, 1.206, 0.814, 1.206)
    """
    e = np.asarray(expected, dtype=float)
    zc = float(stats.norm.ppf(0.5 + level / 2))
    sd = np.sqrt(max(phi, 1.0) * np.asarray(factor, dtype=float) / (4.0 * e) + tau2)
    lo = np.clip(1.0 - zc * sd, 0.0, None) ** 2
    return lo, (1.0 + zc * sd) ** 2


@dataclass(frozen=True, repr=False, kw_only=True)
class SiteComparison(AnalysisResult):
    """Observed vs expected recoveries per site and horizon.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per shown site and horizon: ``horizon``, ``site``, ``n``, ``observed``,
        ``expected``, ``ratio`` (O/E), ``z`` (on the square-root scale, adjusted for
        over-dispersion), ``factor`` (``c = V / E``, module docstring), ``lower_95``, ``upper_95``, ``lower_998``, ``upper_998`` (limits at the
        site's E), ``flag_95`` and ``flag_998`` (``"above"``, ``"below"`` or ``""``), ``rank``,
        ``rank_lower``, ``rank_upper`` (95% interval of the rank over posterior draws).
    dispersion : pandas.DataFrame
        Per horizon: ``phi``, ``tau2``, ``overdispersion`` (the handling used), ``sites``,
        ``expected_all`` (expected recoveries of all patients, shown sites or not).
    info : dict
        ``formula``, ``strata``, ``horizons``, ``n`` (patients in the case-mix model), ``events``,
        ``sites_not_shown`` (number of sites of ``threshold`` or fewer patients), ``threshold``,
        ``seed``, ``n_draws``.
    """

    dispersion: pd.DataFrame
    policy: ReleasePolicy

    def released(self) -> ReleasedTable:
        """The summary as a released table: counts as text, observed counts of 1 to threshold and
        the ratios, z and ranks that would reveal them masked."""
        s = self.summary
        t = self.policy.threshold
        out = pd.DataFrame({
            "horizon": s["horizon"].astype(str), "site": s["site"].astype(str),
            "patients": [format_count(n, t) for n in s["n"]],
            "observed": [format_count(o, t) for o in s["observed"]],
            "expected": [f"{e:.1f}" for e in s["expected"]],
            "O/E": [f"{r:.2f}" for r in s["ratio"]],
            "95% limits": [f"{a:.2f}-{b:.2f}" for a, b in zip(s["lower_95"], s["upper_95"], strict=True)],
            "99.8% limits": [f"{a:.2f}-{b:.2f}" for a, b in zip(s["lower_998"], s["upper_998"], strict=True)],
            "flag": [f"{f998} 99.8%" if f998 else (f"{f95} 95%" if f95 else "")
                     for f95, f998 in zip(s["flag_95"], s["flag_998"], strict=True)],
            "rank (95% interval)": [f"{r} ({a}-{b})" for r, a, b in zip(s["rank"], s["rank_lower"], s["rank_upper"], strict=True)],
        })
        obs = s["observed"].to_numpy()
        support = pd.DataFrame({c: s["n"].to_numpy() for c in out.columns})
        for c in ("observed", "O/E", "flag", "rank (95% interval)"):
            support[c] = np.where(obs == 0, s["n"].to_numpy(), obs)
        return release_table(out, self.policy, support=support, keep=["horizon", "site"])

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Funnel plots (one panel per horizon): O/E against E with 95% and 99.8% limits.

        Points whose observed count is 1 to ``threshold`` are not drawn.

        Returns
        -------
        numpy array of matplotlib Axes
        """
        import matplotlib.pyplot as plt

        horizons = list(dict.fromkeys(self.summary["horizon"]))
        if ax is None:
            _, ax = plt.subplots(1, len(horizons), figsize=(5.0 * len(horizons), 4.0), squeeze=False)
        axes = np.atleast_1d(ax).ravel()
        for a, h in zip(axes, horizons, strict=False):
            s = self.summary[self.summary["horizon"] == h]
            d = self.dispersion.set_index("horizon").loc[h]
            show = ~s["observed"].map(self.policy.is_small)
            e = np.linspace(max(0.5, 0.8 * s["expected"].min()), 1.1 * s["expected"].max(), 200)
            factor = float(s["factor"].mean())  # the curves use the sites' mean c; the table has each site's limits
            phi = float(d["phi"]) if d["overdispersion"] == "multiplicative" else 1.0
            tau2 = float(d["tau2"]) if d["overdispersion"] == "additive" else 0.0
            for level, style in zip(LEVELS, ("--", ":"), strict=True):
                lo, hi = funnel_limits(e, level, phi=phi, tau2=tau2, factor=factor)
                a.plot(e, lo, style, color="grey", label=f"{100 * level:g}% limits")
                a.plot(e, hi, style, color="grey")
            a.axhline(1.0, color="black", linewidth=0.8)
            ss = s[show]
            a.scatter(ss["expected"], ss["ratio"], color="black", zorder=3)
            for _, r in ss.iterrows():
                a.annotate(str(r["site"]), (r["expected"], r["ratio"]), textcoords="offset points", xytext=(4, 3), fontsize=8)
            a.set_xlabel("expected recoveries (E)")
            a.set_ylabel("observed / expected")
            a.set_title(f"recovery by {h}" + (f" ({int((~show).sum())} site(s) not drawn)" if (~show).any() else ""))
            a.legend(fontsize=8)
        return axes


def _expected(frame: pd.DataFrame, formula: str, strata: str | None, horizons: Sequence[float | None],
              sites: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Per patient and horizon: the case-mix model's cumulative hazard up to min(T, h) (Breslow);
    per site and horizon: the variance ``sum_j d_j p_j (1 - p_j)`` of its O - E."""
    fit = fit_cox(frame, formula, strata=strata, missing="raise")  # every patient needs an expected count
    spec_cols = list(fit.design.spec.column_names)
    x = fit.design.matrix(frame)
    x = x[:, [j for j, c in enumerate(spec_cols) if c != "Intercept"]]
    lp = x @ fit.params.to_numpy()
    risk = np.exp(lp - lp.mean())
    t = frame["time"].to_numpy(dtype=float)
    ev = frame["event"].to_numpy(dtype=bool)
    codes = np.zeros(len(frame), dtype=int) if strata is None else pd.factorize(frame[strata])[0]
    out = np.zeros((len(frame), len(horizons)))
    labels = np.unique(sites)
    variance = {lab: np.zeros(len(horizons)) for lab in labels}
    for s in np.unique(codes):
        idx = np.flatnonzero(codes == s)
        order = idx[np.argsort(t[idx], kind="stable")]
        ts, rs, es = t[order], risk[order], ev[order]
        times = np.unique(ts[es])
        if times.size == 0:
            continue
        at_risk = np.cumsum(rs[::-1])[::-1]  # sum of risk over t >= ts[j]
        first = np.searchsorted(ts, times, side="left")
        deaths = np.bincount(np.searchsorted(times, ts[es]), minlength=times.size)
        dl = deaths / at_risk[first]
        cum = np.concatenate([[0.0], np.cumsum(dl)])
        for k, h in enumerate(horizons):
            stop = t[idx] if h is None else np.minimum(t[idx], h)
            out[idx, k] = cum[np.searchsorted(times, stop, side="right")] * risk[idx]
        site_sorted = sites[order]
        for lab in np.unique(site_sorted):
            share = np.cumsum((rs * (site_sorted == lab))[::-1])[::-1][first] / at_risk[first]
            part = deaths * share * (1.0 - share)
            for k, h in enumerate(horizons):
                variance[lab][k] += part.sum() if h is None else part[times <= h].sum()
    return out, variance, {"events": int(fit.info["events"]), "converged": bool(fit.info["converged"])}


def _ranks(obs: np.ndarray, exp: np.ndarray, tau2: float, rng: np.random.Generator, n_draws: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = obs.size
    draws = rng.gamma(obs + 0.5, 1.0, size=(n_draws, k)) / exp
    if tau2 > 0:  # between-site variance on the square-root scale
        draws = np.clip(np.sqrt(draws) + rng.normal(0.0, np.sqrt(tau2), size=(n_draws, k)), 0.0, None) ** 2
    ranks = (-draws).argsort(axis=1).argsort(axis=1) + 1
    point = (-(obs + 0.5) / exp).argsort().argsort() + 1
    lo, hi = np.quantile(ranks, [0.025, 0.975], axis=0, method="inverted_cdf")
    return point, lo.astype(int), hi.astype(int)


def compare_sites(data: Cohort | pd.DataFrame, *, formula: str = "severity + age + diabetes + smoking",
                  strata: str | None = "cause", site: str = "site", horizons: Sequence[float | None] = (12.0, None),
                  overdispersion: Overdispersion = "additive", policy: ReleasePolicy | None = None,
                  n_draws: int = 2000, seed: int = 0, threshold: int = 4) -> SiteComparison:
    """Risk-adjusted comparison of recovery between sites (indirect standardisation, funnel plots).

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort, or its :func:`~footdrop_outcomes.survival.survival_frame` (``time`` in weeks).
    formula : str
        Case-mix terms of the Cox model fitted on all sites (patient characteristics, not site
        practice).
    strata : str, optional
        Column with separate baseline hazards (default ``"cause"``).
    site : str
        Column naming the site.
    horizons : sequence of float or None
        Weeks since onset; ``None`` is the end of follow-up. Default: 12 weeks and the end.
    overdispersion : {"additive", "multiplicative", "none"}
        Handling of over-dispersion (module docstring).
    policy : ReleasePolicy, optional
        Small-cell rules (default ``ReleasePolicy()``).
    n_draws, seed : int
        Posterior draws for the rank intervals and their seed.
    threshold : int
        MRC grade that defines recovery (when ``data`` is a cohort).

    Returns
    -------
    SiteComparison

    Raises
    ------
    FootdropError
        Fewer than 3 sites with more than ``threshold`` patients, or a missing case-mix covariate
        (every patient needs an expected count: impute first, see ``docs/missing_data.md``).

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> res = compare_sites(simulate_cohort(1200, seed=5), n_draws=200)
    >>> sorted(set(res.summary["horizon"]))
    ['12 weeks', 'end of follow-up']
    """
    check_choice("overdispersion", overdispersion, get_args(Overdispersion))
    policy = ReleasePolicy() if policy is None else policy
    frame = survival_frame(data, threshold=threshold) if isinstance(data, Cohort) else data
    if site not in frame.columns:
        raise ConfigError(f"compare_sites: the data have no column {site!r}")
    if not horizons or any(h is not None and not (np.isfinite(h) and h > 0) for h in horizons):
        raise ConfigError("compare_sites: horizons must be positive numbers of weeks or None (end of follow-up)")
    frame = frame.reset_index(drop=True)
    sites = frame[site].astype(str).to_numpy()
    expected, variance, fit_info = _expected(frame, formula, strata, list(horizons), sites)
    labels = ["end of follow-up" if h is None else f"{h:g} weeks" for h in horizons]
    n_by = pd.Series(sites).value_counts()
    shown = sorted(s for s, n in n_by.items() if n > policy.threshold)
    if len(shown) < 3:
        raise FootdropError(f"compare_sites needs at least 3 sites with more than {policy.threshold} patients")
    rng = np.random.default_rng(seed)
    t = frame["time"].to_numpy(dtype=float)
    ev = frame["event"].to_numpy(dtype=bool)
    rows, disp = [], []
    for k, (h, lab) in enumerate(zip(horizons, labels, strict=True)):
        hit = ev if h is None else ev & (t <= h)
        o = pd.Series(hit.astype(float)).groupby(sites).sum().reindex(shown).to_numpy()
        e = pd.Series(expected[:, k]).groupby(sites).sum().reindex(shown).to_numpy()
        if np.any(e <= 0):
            raise FootdropError(f"compare_sites: a site expects no recovery by {lab}; choose a later horizon")
        e_all = float(expected[:, k].sum())
        c = np.array([variance[s][k] for s in shown]) / e
        z = 2.0 * (np.sqrt(o) - np.sqrt(e)) / np.sqrt(c)
        phi, tau2 = globals()["overdispersion"](z, e, factor=c)
        if overdispersion == "additive":
            zadj = (np.sqrt(o / e) - 1.0) / np.sqrt(c / (4.0 * e) + tau2)
            use_phi, use_tau2 = 1.0, tau2
        elif overdispersion == "multiplicative":
            zadj = z / np.sqrt(max(phi, 1.0))
            use_phi, use_tau2 = phi, 0.0
        else:
            zadj, use_phi, use_tau2 = z, 1.0, 0.0
        lims = {lev: funnel_limits(e, lev, phi=use_phi, tau2=use_tau2, factor=c) for lev in LEVELS}
        rank, rlo, rhi = _ranks(o, e, use_tau2, rng, n_draws)
        flags = {}
        for lev in LEVELS:
            zc = stats.norm.ppf(0.5 + lev / 2)
            flags[lev] = np.where(zadj > zc, "above", np.where(zadj < -zc, "below", ""))
        for j, s in enumerate(shown):
            rows.append({"horizon": lab, "site": s, "n": int(n_by[s]), "observed": int(o[j]), "expected": float(e[j]),
                         "ratio": float(o[j] / e[j]), "z": float(zadj[j]), "factor": float(c[j]),
                         "lower_95": float(lims[0.95][0][j]), "upper_95": float(lims[0.95][1][j]),
                         "lower_998": float(lims[0.998][0][j]), "upper_998": float(lims[0.998][1][j]),
                         "flag_95": str(flags[0.95][j]), "flag_998": str(flags[0.998][j]),
                         "rank": int(rank[j]), "rank_lower": int(rlo[j]), "rank_upper": int(rhi[j])})
        disp.append({"horizon": lab, "phi": phi, "tau2": tau2, "overdispersion": overdispersion, "sites": len(shown),
                     "expected_all": e_all})
    info = {"method": "indirect standardisation (Cox case mix), funnel plots", "formula": formula, "strata": strata,
            "horizons": labels, "n": len(frame), "events": fit_info["events"], "groups": len(shown),
            "sites_not_shown": int((n_by <= policy.threshold).sum()), "threshold": policy.threshold,
            "seed": seed, "n_draws": n_draws}
    return SiteComparison(summary=pd.DataFrame(rows), info=info, dispersion=pd.DataFrame(disp), policy=policy)


@dataclass(frozen=True, repr=False, kw_only=True)
class SiteAdherence(AnalysisResult):
    """Observed vs expected adherence (share of prescribed sessions completed) per site.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per shown site: ``site``, ``n`` (patients with prescribed sessions), ``observed``
        (mean share), ``expected`` (case-mix model), ``difference`` (O - E), ``se``, ``lower``,
        ``upper`` (95% CI of the difference), ``z``, ``flag_95`` and ``flag_998``.
    info : dict
        ``covariates``, ``n``, ``n_missing`` (patients left out for a missing covariate),
        ``sites_not_shown``, ``threshold``, ``residual_sd``.
    """

    policy: ReleasePolicy

    def released(self) -> ReleasedTable:
        """The summary as a released table (a site's numbers rest on its ``n`` patients)."""
        s = self.summary
        t = self.policy.threshold
        out = pd.DataFrame({
            "site": s["site"].astype(str),
            "patients": [format_count(n, t) for n in s["n"]],
            "observed": [f"{100 * v:.1f}%" for v in s["observed"]],
            "expected": [f"{100 * v:.1f}%" for v in s["expected"]],
            "O - E (95% CI)": [f"{100 * d:+.1f} ({100 * a:+.1f} to {100 * b:+.1f})"
                               for d, a, b in zip(s["difference"], s["lower"], s["upper"], strict=True)],
            "flag": [f"{f998} 99.8%" if f998 else (f"{f95} 95%" if f95 else "")
                     for f95, f998 in zip(s["flag_95"], s["flag_998"], strict=True)],
        })
        return release_table(out, self.policy, support=s["n"].to_numpy(), keep=["site"])

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Funnel plot: O - E (percentage points) against the number of patients, with 95% and 99.8% limits.

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5.0, 4.0))
        s = self.summary
        sd = float(self.info["residual_sd"])
        n = np.linspace(max(2.0, 0.8 * s["n"].min()), 1.1 * s["n"].max(), 200)
        for level, style in zip(LEVELS, ("--", ":"), strict=True):
            zc = float(stats.norm.ppf(0.5 + level / 2))
            ax.plot(n, 100 * zc * sd / np.sqrt(n), style, color="grey", label=f"{100 * level:g}% limits")
            ax.plot(n, -100 * zc * sd / np.sqrt(n), style, color="grey")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.scatter(s["n"], 100 * s["difference"], color="black", zorder=3)
        for _, r in s.iterrows():
            ax.annotate(str(r["site"]), (r["n"], 100 * r["difference"]), textcoords="offset points", xytext=(4, 3), fontsize=8)
        ax.set_xlabel("patients")
        ax.set_ylabel("observed - expected adherence (points)")
        ax.set_title("adherence to home exercise")
        ax.legend(fontsize=8)
        return ax


def adherence_by_site(cohort: Cohort, *, covariates: Sequence[str] = ("cause", "severity", "age", "diabetes", "smoking"),
                      site: str = "site", policy: ReleasePolicy | None = None) -> SiteAdherence:
    """Risk-adjusted adherence to the home-exercise program per site (observed vs expected).

    Parameters
    ----------
    cohort : Cohort
        Its ``adherence`` table (sessions prescribed and completed per week) and patients.
    covariates : sequence of str
        Patient columns of the case-mix model (text, category and boolean columns as indicators,
        numbers as they are); not the sites' own practice.
    site : str
        Site column of the patients table.
    policy : ReleasePolicy, optional
        Small-cell rules: a site of ``threshold`` or fewer patients is in the model but not shown.

    Returns
    -------
    SiteAdherence

    Raises
    ------
    FootdropError
        Fewer than 3 sites with more than ``threshold`` patients with prescribed sessions.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> res = adherence_by_site(simulate_cohort(800, seed=3))
    >>> list(res.summary.columns[:4])
    ['site', 'n', 'observed', 'expected']
    """
    policy = ReleasePolicy() if policy is None else policy
    pts = cohort.patients
    if site not in pts.columns:
        raise ConfigError(f"adherence_by_site: the patients table has no column {site!r}")
    missing_cols = [c for c in covariates if c not in pts.columns]
    if missing_cols:
        raise ConfigError(f"adherence_by_site: the patients table has no column(s) {missing_cols}")
    adh = cohort.adherence
    pres = [c for c in adh.columns if c.endswith("_prescribed") and not c.startswith(("afo_", "fes_"))]
    done = [c[: -len("_prescribed")] + "_completed" for c in pres]
    sums = pd.DataFrame({"prescribed": adh[pres].sum(axis=1).to_numpy(dtype=float),
                         "completed": adh[done].sum(axis=1).to_numpy(dtype=float),
                         "patient_id": adh["patient_id"].astype(str).to_numpy()}).groupby("patient_id").sum()
    sums = sums[sums["prescribed"] > 0]
    frame = pts.assign(patient_id=pts["patient_id"].astype(str)).set_index("patient_id").join(sums, how="inner")
    n_before = len(frame)
    frame = frame.dropna(subset=list(covariates))
    share = (frame["completed"] / frame["prescribed"]).to_numpy()
    parts = [np.ones((len(frame), 1))]
    for c in covariates:
        col = frame[c]
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            d = pd.get_dummies(col.astype(str), drop_first=True, dtype=float)
            parts.append(d.to_numpy())
        else:
            parts.append(col.to_numpy(dtype=float)[:, None])
    x = np.hstack(parts)
    beta, *_ = np.linalg.lstsq(x, share, rcond=None)
    fitted = x @ beta
    resid = share - fitted
    sites = frame[site].astype(str).to_numpy()
    # SD of the residuals within sites (pooled): the between-site differences that are being
    # compared are not part of the noise of a site's mean
    within = resid - pd.Series(resid).groupby(sites).transform("mean").to_numpy()
    k_sites = len(np.unique(sites))
    rsd = float(np.sqrt(np.sum(within**2) / max(len(share) - np.linalg.matrix_rank(x) - k_sites + 1, 1)))
    n_by = pd.Series(sites).value_counts()
    shown = sorted(s for s, n in n_by.items() if n > policy.threshold)
    if len(shown) < 3:
        raise FootdropError(f"adherence_by_site needs at least 3 sites with more than {policy.threshold} patients")
    obs = pd.Series(share).groupby(sites).mean().reindex(shown).to_numpy()
    exp = pd.Series(fitted).groupby(sites).mean().reindex(shown).to_numpy()
    n = n_by.reindex(shown).to_numpy()
    se = rsd / np.sqrt(n)
    diff = obs - exp
    z = diff / se
    z95, z998 = (float(stats.norm.ppf(0.5 + lev / 2)) for lev in LEVELS)
    summary = pd.DataFrame({"site": shown, "n": n.astype(int), "observed": obs, "expected": exp, "difference": diff, "se": se,
                            "lower": diff - z95 * se, "upper": diff + z95 * se, "z": z,
                            "flag_95": np.where(z > z95, "above", np.where(z < -z95, "below", "")),
                            "flag_998": np.where(z > z998, "above", np.where(z < -z998, "below", ""))})
    info = {"method": "observed vs expected mean share of prescribed sessions completed (linear case-mix model)",
            "covariates": list(covariates), "n": len(frame), "n_missing": n_before - len(frame), "groups": len(shown),
            "sites_not_shown": int((n_by <= policy.threshold).sum()), "threshold": policy.threshold, "residual_sd": rsd}
    return SiteAdherence(summary=summary, info=info, policy=policy)
