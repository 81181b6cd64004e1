"""Random-effects meta-analysis of site estimates (two-stage federated analysis), as R metafor::rma.

The model is ``y_i ~ N(mu, v_i + tau2)`` for ``k`` site estimates ``y_i`` with known within-site
variances ``v_i``. ``tau2`` is estimated by REML (Fisher scoring, as ``metafor::rma(method =
"REML")``, stopped when a step changes tau2 by less than ``tol``, metafor's ``threshold``
of ``1e-5`` by default, so that results equal metafor's; a smaller ``tol`` gives the exact REML
maximum) or by the DerSimonian-Laird moment estimator
(``method = "DL"``); ``mu`` is the inverse-variance weighted mean with weights ``1 / (v_i +
tau2)``. With ``test = "knha"`` the standard error is the Hartung-Knapp(-Sidik-Jonkman) one and
the CI and p value use a t distribution on ``k - 1`` degrees of freedom (metafor's default
``knha`` without truncation of the scale factor). Heterogeneity is reported as metafor does:
Cochran's ``Q`` (fixed-effect weights) with its chi-square p, ``I2 = 100 tau2 / (tau2 + s2)`` and
``H2 = (tau2 + s2) / s2`` with the "typical" within-site variance ``s2 = (k - 1) sum(w) /
(sum(w)^2 - sum(w^2))``, ``w = 1 / v``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy import stats

from footdrop_outcomes._checks import check_alpha, check_choice
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.errors import ConfigError, ConvergenceError

__all__ = ["MetaAnalysis", "meta_analysis"]

Method = Literal["REML", "DL"]
Test = Literal["z", "knha"]

_MAXITER = 200


@dataclass(frozen=True, repr=False, kw_only=True)
class MetaAnalysis(AnalysisResult):
    """A random-effects meta-analysis.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row: ``estimate``, ``se``, ``ci_lower``, ``ci_upper``, ``statistic`` (z or t),
        ``df`` (``inf`` for z), ``p``, ``tau2``, ``se_tau2`` (REML only; NaN for DL), ``tau``,
        ``I2`` (%), ``H2``, ``Q``, ``Q_df``, ``Q_p``, ``k``, ``method``, ``test``.
    sites : pandas.DataFrame
        One row per site: ``site``, ``estimate``, ``variance``, ``ci_lower``, ``ci_upper``,
        ``weight`` (% of the random-effects weight).
    info : dict
        ``method``, ``test``, ``k``, ``alpha``, ``iterations`` (REML), ``label`` (what is pooled).
    """

    sites: pd.DataFrame
    alpha: float = 0.05

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Forest plot: each site's estimate and CI (marker size by weight), the pooled estimate
        as a diamond.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Created when None.
        exponentiate : bool, keyword
            Draw ``exp`` of the estimates on a log axis (hazard ratios from log hazard ratios).
        xlabel, title : str, keyword

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        s, row = self.sites, self.summary.iloc[0]
        k = len(s)
        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 0.35 * k + 1.8))
        tr = np.exp if kwargs.get("exponentiate", False) else (lambda x: x)
        y = np.arange(k, 0, -1) + 1.0
        est, lo, hi = tr(s["estimate"].to_numpy()), tr(s["ci_lower"].to_numpy()), tr(s["ci_upper"].to_numpy())
        ax.hlines(y, lo, hi, color="grey")
        ax.scatter(est, y, s=20 + 3 * s["weight"].to_numpy(), marker="s", color="black", zorder=3)
        m, ml, mh = tr(row["estimate"]), tr(row["ci_lower"]), tr(row["ci_upper"])
        ax.fill([ml, m, mh, m], [0.5, 0.8, 0.5, 0.2], color="black")
        ax.axvline(tr(0.0), color="grey", linestyle="--", linewidth=1)
        if kwargs.get("exponentiate", False):
            ax.set_xscale("log")
        ax.set_yticks([*y, 0.5])
        level = round(100 * (1 - self.alpha))
        ax.set_yticklabels([*map(str, s["site"]), f"{self.info['method']} ({self.info['test']})"])
        ax.set_xlabel(kwargs.get("xlabel", f"{self.info.get('label', 'estimate')} ({level}% CI)"))
        ax.set_title(kwargs.get("title", f"Random-effects meta-analysis, tau2 = {row['tau2']:.3g}, I2 = {row['I2']:.0f}%"))
        return ax


def _check_inputs(estimates: Sequence[float], variances: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(estimates, dtype=float).ravel()
    v = np.asarray(variances, dtype=float).ravel()
    if y.shape != v.shape:
        raise ConfigError(f"meta_analysis: {y.size} estimates but {v.size} variances")
    if y.size < 2:
        raise ConfigError("meta_analysis needs estimates from at least 2 sites")
    bad = np.flatnonzero(~np.isfinite(y) | ~np.isfinite(v) | (v <= 0))
    if bad.size:
        raise ConfigError(f"meta_analysis: site(s) at position(s) {bad.tolist()} have a missing or non-finite estimate, "
                          "or a variance that is not positive")
    return y, v


def _reml_tau2(y: np.ndarray, v: np.ndarray, tol: float) -> tuple[float, int]:
    """metafor's Fisher scoring for the REML tau2 (start: Hedges' estimator, step halving at 0)."""
    k = y.size
    tau2 = max(0.0, float(np.var(y, ddof=1) - v.mean()))
    for it in range(1, _MAXITER + 1):
        w = 1.0 / (v + tau2)
        # P = W - w w' / sum(w) for an intercept-only model
        p = np.diag(w) - np.outer(w, w) / w.sum()
        py = p @ y
        adj = (py @ py - np.trace(p)) / np.sum(p * p)
        while tau2 + adj < 0.0:
            adj /= 2.0
        tau2 += adj
        if abs(adj) <= tol:
            return max(0.0, tau2), it
    raise ConvergenceError(f"meta_analysis: REML for tau2 did not converge in {_MAXITER} iterations ({k} sites)")


def meta_analysis(estimates: Sequence[float], variances: Sequence[float], *, method: Method = "REML", test: Test = "z",
                  sites: Sequence[str] | None = None, alpha: float = 0.05, label: str = "estimate",
                  tol: float = 1e-5) -> MetaAnalysis:
    """Random-effects meta-analysis of one estimate per site (R ``metafor::rma(yi, vi, method, test)``).

    Parameters
    ----------
    estimates, variances : sequence of float
        One estimate per site (e.g. a log hazard ratio) and its variance (SE squared).
    method : {"REML", "DL"}
        Estimator of the between-site variance tau2.
    test : {"z", "knha"}
        Normal CI and test, or Hartung-Knapp with a t distribution on k - 1 df.
    sites : sequence of str, optional
        Site labels (default ``site1``, ``site2``, ...).
    alpha : float
        1 - confidence level.
    label : str
        What the estimates are (axis label of the forest plot).
    tol : float
        REML stops when a Fisher-scoring step changes tau2 by no more than this (metafor's
        ``control = list(threshold = 1e-5)``, the default, so that the results equal R's; use
        e.g. ``1e-12`` for the exact maximum).

    Returns
    -------
    MetaAnalysis

    Raises
    ------
    ConfigError
        Fewer than 2 sites, lengths that differ, a non-finite estimate or a variance <= 0.

    Examples
    --------
    >>> res = meta_analysis([-0.4, -0.2, -0.3], [0.02, 0.01, 0.03])
    >>> round(float(res.summary["estimate"].iloc[0]), 3)
    -0.273
    """
    check_choice("method", method, get_args(Method))
    check_choice("test", test, get_args(Test))
    check_alpha(alpha)
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ConfigError("meta_analysis: tol must be a number between 0 and 1")
    y, v = _check_inputs(estimates, variances)
    k = y.size
    names = [f"site{i + 1}" for i in range(k)] if sites is None else [str(s) for s in sites]
    if len(names) != k:
        raise ConfigError(f"meta_analysis: {len(names)} site labels for {k} estimates")
    w_fe = 1.0 / v
    mu_fe = float(np.sum(w_fe * y) / w_fe.sum())
    q = float(np.sum(w_fe * (y - mu_fe) ** 2))
    iterations = 0
    if method == "DL":
        tau2 = max(0.0, (q - (k - 1)) / (w_fe.sum() - np.sum(w_fe**2) / w_fe.sum()))
    else:
        tau2, iterations = _reml_tau2(y, v, tol)
    w = 1.0 / (v + tau2)
    mu = float(np.sum(w * y) / w.sum())
    if method == "REML":
        p = np.diag(w) - np.outer(w, w) / w.sum()
        se_tau2 = float(np.sqrt(2.0 / np.sum(p * p)))
    else:
        se_tau2 = float("nan")
    if test == "z":
        se = float(np.sqrt(1.0 / w.sum()))
        df = float("inf")
        crit = float(stats.norm.ppf(1 - alpha / 2))
        stat = mu / se
        pval = float(2 * stats.norm.sf(abs(stat)))
    else:
        se = float(np.sqrt(np.sum(w * (y - mu) ** 2) / ((k - 1) * w.sum())))
        df = float(k - 1)
        crit = float(stats.t.ppf(1 - alpha / 2, df))
        stat = mu / se
        pval = float(2 * stats.t.sf(abs(stat), df))
    s2 = (k - 1) * w_fe.sum() / (w_fe.sum() ** 2 - np.sum(w_fe**2))
    summary = pd.DataFrame([{
        "estimate": mu, "se": se, "ci_lower": mu - crit * se, "ci_upper": mu + crit * se, "statistic": stat, "df": df,
        "p": pval, "tau2": tau2, "se_tau2": se_tau2, "tau": float(np.sqrt(tau2)), "I2": 100.0 * tau2 / (tau2 + s2),
        "H2": (tau2 + s2) / s2, "Q": q, "Q_df": k - 1, "Q_p": float(stats.chi2.sf(q, k - 1)), "k": k,
        "method": method, "test": test,
    }])
    zc = float(stats.norm.ppf(1 - alpha / 2))
    table = pd.DataFrame({"site": names, "estimate": y, "variance": v, "ci_lower": y - zc * np.sqrt(v),
                          "ci_upper": y + zc * np.sqrt(v), "weight": 100.0 * w / w.sum()})
    info = {"method": method, "test": test, "k": k, "alpha": alpha, "iterations": iterations, "label": label}
    return MetaAnalysis(summary=summary, info=info, sites=table, alpha=alpha)
