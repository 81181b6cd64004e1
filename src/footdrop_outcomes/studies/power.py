"""Power curves, the smallest sample size reaching a target power, and Schoenfeld's formula.

A power study is a study with a grid over a sample size (``n_per_arm`` of the trial design,
``n`` of the cohort design) and usually an effect size (``log_hr``, ``gait_slope_diff``,
``adherence_diff``, ``config.adherence_log_hr``). :func:`power_curve` gives the rejection rate at
every grid point with its Monte Carlo SE and a Wilson 95% interval; :func:`sample_size` reads
the smallest sample size reaching a target power in two ways:

* ``n_grid``: the smallest grid value whose simulated power is at least the target, with
  ``n_grid_sure`` (Wilson lower bound at least the target) and ``n_grid_possible`` (upper bound
  at least the target) as its Monte Carlo range;
* ``n_interp``: a probit regression of rejection on sqrt(n) (power is about
  ``Phi(c sqrt(n) - z)`` for a Wald test), fitted to all grid points of that effect size and
  solved for the target, with a delta-method 95% interval (``n_interp_lower``, ``n_interp_upper``).

>>> round(schoenfeld_power(-0.5, 126), 2)
0.8
>>> math.ceil(schoenfeld_events(-0.5, 0.8))
126
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from footdrop_outcomes.errors import ConfigError

__all__ = ["power_curve", "sample_size", "schoenfeld_power", "schoenfeld_events", "trial_expected_events", "plot_power_curves"]


def schoenfeld_power(log_hr: float, events: float, *, alpha: float = 0.05, allocation: float = 0.5) -> float:
    """Power of the two-sided log-rank test from Schoenfeld's formula (1981).

    ``Phi(sqrt(D p (1 - p)) |log HR| - z_{1-alpha/2})`` with ``D`` expected events and ``p`` the
    share allocated to one arm.
    """
    z = stats.norm.ppf(1 - alpha / 2)
    return float(stats.norm.cdf(math.sqrt(events * allocation * (1 - allocation)) * abs(log_hr) - z))


def schoenfeld_events(log_hr: float, power: float, *, alpha: float = 0.05, allocation: float = 0.5) -> float:
    """Events needed for the log-rank test: ``(z_{1-alpha/2} + z_power)^2 / (p (1-p) log(HR)^2)``."""
    if log_hr == 0:
        raise ConfigError("schoenfeld_events: log_hr must not be 0")
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z**2 / (allocation * (1 - allocation) * log_hr**2))


def trial_expected_events(design: Mapping[str, Any]) -> float:
    """Expected recoveries observed in an exponential ``trial`` design with exact follow-up.

    With control hazard ``lambda = log 2 / median``, treatment hazard ``lambda exp(log_hr)``,
    dropout hazard ``r`` and follow-up ``tau``: ``(1 - cure) lambda_a / (lambda_a + r)
    (1 - exp(-(lambda_a + r) tau))`` per patient of arm ``a``. (With a cured fraction, dropout
    also censors cured patients; the formula counts recoveries only.)

    >>> round(trial_expected_events({"kind": "trial", "n_per_arm": 100, "visit_weeks": [],
    ...                              "control_median_weeks": 20, "followup_weeks": 20}), 1)
    100.0
    """
    from footdrop_outcomes.studies.designs import check_design

    d = check_design(design)
    if d["kind"] != "trial" or d["weibull_shape"] != 1 or d["visit_weeks"]:
        raise ConfigError("trial_expected_events needs the trial design with weibull_shape = 1 and visit_weeks = [] (exact times)")
    lam0 = math.log(2) / d["control_median_weeks"]
    tau = float(d["followup_weeks"])
    r = -math.log(1 - d["dropout_by_end"]) / tau
    total = 0.0
    for size, lam in zip([d["n_per_arm"] * a for a in d["allocation"]], (lam0, lam0 * math.exp(d["log_hr"])), strict=True):
        total += size * (1 - d["cure_fraction"]) * lam / (lam + r) * (1 - math.exp(-(lam + r) * tau))
    return total


def _wilson(k: np.ndarray, m: np.ndarray, z: float = 1.959964) -> tuple[np.ndarray, np.ndarray]:
    p = k / m
    centre = (p + z**2 / (2 * m)) / (1 + z**2 / m)
    half = z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / (1 + z**2 / m)
    return centre - half, centre + half


def power_curve(results: Any, *, analysis: str, size: str, effect: str | None = None, alpha: float | None = None) -> pd.DataFrame:
    """Rejection rate at each grid point of one analysis.

    Parameters
    ----------
    results : pandas.DataFrame or StudyRun
    analysis : str
        Label of the analysis.
    size : str
        The grid column holding the sample size (``"n_per_arm"``, ``"n"``).
    effect : str, optional
        The grid column holding the effect size (one curve per value).
    alpha : float, optional
        Default: the study's alpha, else 0.05.

    Returns
    -------
    pandas.DataFrame
        ``effect`` (if given), ``size``, ``n_rep``, ``n_ok``, ``n_failed``, ``rejections``,
        ``power``, ``power_mcse``, ``power_lower``, ``power_upper`` (Wilson 95%). Failed fits
        count as replicates that did not reject (conservative); ``n_failed`` says how many.
    """
    if hasattr(results, "results") and hasattr(results, "spec"):
        alpha = results.spec.alpha if alpha is None else alpha
        results = results.results
    alpha = 0.05 if alpha is None else float(alpha)
    df = results[results["analysis"] == analysis]
    if df.empty:
        raise ConfigError(f"no results for analysis {analysis!r}; analyses are {sorted(results['analysis'].unique())}")
    for col in (size, effect):
        if col is not None and col not in df:
            raise ConfigError(f"no grid column {col!r} in the results; columns are {list(df.columns)}")
    keys = [effect, size] if effect else [size]
    rows = []
    for key, g in df.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        ok = g["status"] == "ok"
        k = int((ok & (g["p"] < alpha)).sum())
        m = len(g)
        rows.append({**dict(zip(keys, key, strict=True)), "n_rep": m, "n_ok": int(ok.sum()), "n_failed": int((~ok).sum()),
                     "rejections": k, "power": k / m, "power_mcse": math.sqrt(k / m * (1 - k / m) / m)})
    out = pd.DataFrame(rows)
    lo, hi = _wilson(out["rejections"].to_numpy(float), out["n_rep"].to_numpy(float))
    out["power_lower"], out["power_upper"] = lo, hi
    return out


def _probit_fit(x: np.ndarray, k: np.ndarray, m: np.ndarray, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray] | None:
    """Binomial probit regression of k/m on [1, x] by Fisher scoring; None if it does not converge."""
    X = np.column_stack([np.ones_like(x), x])
    y = k / m
    # start from least squares on the probits of the (shrunk) observed proportions
    beta = np.linalg.lstsq(X, stats.norm.ppf((k + 0.5) / (m + 1)), rcond=None)[0]
    for _ in range(max_iter):
        eta = X @ beta
        p = np.clip(stats.norm.cdf(eta), 1e-10, 1 - 1e-10)
        dens = np.maximum(stats.norm.pdf(eta), 1e-300)
        w = m * dens**2 / (p * (1 - p))
        z = eta + (y - p) / dens
        info = X.T @ (w[:, None] * X)
        try:
            new = np.linalg.solve(info, X.T @ (w * z))
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(new)) or np.abs(new).max() > 1e3:
            return None
        if np.abs(new - beta).max() < 1e-10:
            beta = new
            break
        beta = new
    else:
        return None
    eta = X @ beta
    p = np.clip(stats.norm.cdf(eta), 1e-10, 1 - 1e-10)
    w = m * stats.norm.pdf(eta) ** 2 / (p * (1 - p))
    return beta, np.linalg.inv(X.T @ (w[:, None] * X))


def sample_size(curve: pd.DataFrame, *, size: str, effect: str | None = None, target: float = 0.8) -> pd.DataFrame:
    """The smallest sample size reaching ``target`` power, from a :func:`power_curve` table.

    Returns one row per effect size: ``n_grid``, ``n_grid_sure``, ``n_grid_possible`` (NaN when
    no grid value qualifies), ``n_interp`` with ``n_interp_lower`` / ``n_interp_upper`` (NaN when
    the probit fit is not possible, e.g. all grid points at power 0 or 1, or the target lies
    outside the grid).

    >>> curve = pd.DataFrame({"n_per_arm": [50, 100, 200], "n_rep": 400, "rejections": [120, 220, 360]})
    >>> curve["power"] = curve["rejections"] / curve["n_rep"]
    >>> lo, hi = _wilson(curve["rejections"].to_numpy(float), curve["n_rep"].to_numpy(float))
    >>> curve["power_lower"], curve["power_upper"] = lo, hi
    >>> row = sample_size(curve, size="n_per_arm", target=0.8).iloc[0]
    >>> int(row["n_grid"]), bool(100 < row["n_interp"] < 200)
    (200, True)
    """
    if not 0 < target < 1:
        raise ConfigError(f"target power must be in (0, 1); got {target}")
    groups = curve.groupby(effect, sort=True) if effect else [(None, curve)]
    rows = []
    q = stats.norm.ppf(target)
    for key, g in groups:
        g = g.sort_values(size)
        n = g[size].to_numpy(float)

        def first(mask: np.ndarray) -> float:
            return float(n[np.argmax(mask)]) if mask.any() else math.nan

        row: dict[str, Any] = {effect: key} if effect else {}
        row.update({"target": target, "n_grid": first(g["power"].to_numpy() >= target),
                    "n_grid_sure": first(g["power_lower"].to_numpy() >= target),
                    "n_grid_possible": first(g["power_upper"].to_numpy() >= target),
                    "n_interp": math.nan, "n_interp_lower": math.nan, "n_interp_upper": math.nan})
        k, m = g["rejections"].to_numpy(float), g["n_rep"].to_numpy(float)
        informative = (k > 0) & (k < m)
        fit = _probit_fit(np.sqrt(n), k, m) if informative.sum() >= 2 and len(n) >= 2 else None
        if fit is not None:
            (b0, b1), cov = fit
            root = (q - b0) / b1 if b1 > 0 else math.nan
            if np.isfinite(root) and np.sqrt(n.min()) <= root <= np.sqrt(n.max()):
                grad = np.array([-1 / b1, -(q - b0) / b1**2])
                se = math.sqrt(float(grad @ cov @ grad))
                row["n_interp"] = root**2
                row["n_interp_lower"] = max(root - 1.959964 * se, 0.0) ** 2
                row["n_interp_upper"] = (root + 1.959964 * se) ** 2
        rows.append(row)
    return pd.DataFrame(rows)


def plot_power_curves(curve: pd.DataFrame, *, size: str, effect: str | None = None, target: float | None = 0.8,
                      ax: Any = None, title: str | None = None) -> Any:
    """Power against sample size, one line per effect size, with Wilson 95% bands."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 4.0))
    groups = curve.groupby(effect, sort=True) if effect else [(None, curve)]
    for key, g in groups:
        g = g.sort_values(size)
        label = f"{effect} = {key:g}" if effect and isinstance(key, (int, float)) else (f"{effect} = {key}" if effect else None)
        line = ax.plot(g[size], g["power"], marker="o", label=label)[0]
        ax.fill_between(g[size], g["power_lower"], g["power_upper"], color=line.get_color(), alpha=0.15, linewidth=0)
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel(size)
    ax.set_ylabel("power (share of p < alpha)")
    ax.set_ylim(0, 1.02)
    if title:
        ax.set_title(title)
    if effect:
        ax.legend(frameon=False, fontsize=8)
    return ax
