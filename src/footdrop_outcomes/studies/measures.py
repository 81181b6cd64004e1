r"""Performance measures of a simulation study with Monte Carlo standard errors.

Formulas of Morris, White and Crowther (Statistics in Medicine 2019;38:2074-2102, Table 6), with
``n`` successful replicates, estimates :math:`\hat\theta_i`, model SEs :math:`s_i`, truth
:math:`\theta` and :math:`\bar\theta = \frac1n\sum\hat\theta_i`:

================== ====================================================== ==========================================================================
measure            estimate                                               Monte Carlo SE
================== ====================================================== ==========================================================================
bias               :math:`\bar\theta - \theta`                            :math:`\sqrt{\sum(\hat\theta_i-\bar\theta)^2 / (n(n-1))}`
empirical SE       :math:`\sqrt{\sum(\hat\theta_i-\bar\theta)^2/(n-1)}`   :math:`\mathrm{EmpSE}/\sqrt{2(n-1)}`
MSE                :math:`\sum(\hat\theta_i-\theta)^2/n`                  :math:`\sqrt{\sum((\hat\theta_i-\theta)^2-\mathrm{MSE})^2/(n(n-1))}`
model SE           :math:`\sqrt{\sum s_i^2/n}`                            :math:`\sqrt{\widehat{\mathrm{Var}}(s^2)/(4n\,\mathrm{ModSE}^2)}`
rel. error ModSE   :math:`100(\mathrm{ModSE}/\mathrm{EmpSE}-1)`           :math:`100\frac{\mathrm{ModSE}}{\mathrm{EmpSE}}\sqrt{\frac{\widehat{\mathrm{Var}}(s^2)}{4n\,\mathrm{ModSE}^4}+\frac{1}{2(n-1)}}`
coverage           share of CIs containing :math:`\theta`                 :math:`\sqrt{C(1-C)/n}`
power              share of :math:`p < \alpha` (type I error if θ = 0)    :math:`\sqrt{P(1-P)/n}`
================== ====================================================== ==========================================================================

Failed replicates (``status != "ok"``) are counted (``n_failed``) and left out of every measure;
``n_ok`` is the ``n`` above.

>>> import pandas as pd
>>> res = pd.DataFrame({"point": 0, "analysis": "a", "method": "cox", "truth": 0.0, "status": "ok",
...                     "estimate": [0.1, -0.1, 0.3], "se": [0.2, 0.2, 0.2], "lower": [-0.3, -0.5, -0.1],
...                     "upper": [0.5, 0.3, 0.7], "p": [0.6, 0.6, 0.13]})
>>> round(float(performance(res)["bias"].iloc[0]), 4)
0.1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["performance", "measures", "MEASURES"]

#: Measure names, in table order (each has a ``_mcse`` column beside it).
MEASURES = ("bias", "empse", "mse", "modse", "relerr_modse", "coverage", "power")


def measures(estimate: Sequence[float], se: Sequence[float] | None, truth: float, *, lower: Sequence[float] | None = None,
             upper: Sequence[float] | None = None, p: Sequence[float] | None = None, alpha: float = 0.05) -> dict[str, float]:
    """Performance measures and their Monte Carlo SEs for one estimand (successful replicates only).

    >>> m = measures([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0], 2.0)
    >>> round(m["bias"], 6), round(m["bias_mcse"], 6), round(m["empse"], 6)
    (0.5, 0.645497, 1.290994)
    """
    th = np.asarray(estimate, dtype=float)
    n = th.size
    out: dict[str, float] = {k: math.nan for m in MEASURES for k in (m, f"{m}_mcse")}
    if n >= 1 and np.isfinite(truth) and np.all(np.isfinite(th)):
        mean = th.mean()
        out["bias"] = float(mean - truth)
        sq = (th - truth) ** 2
        out["mse"] = float(sq.mean())
        if n >= 2:
            ss = ((th - mean) ** 2).sum()
            out["bias_mcse"] = math.sqrt(ss / (n * (n - 1)))
            out["mse_mcse"] = math.sqrt(((sq - out["mse"]) ** 2).sum() / (n * (n - 1)))
    if n >= 2 and np.all(np.isfinite(th)):
        emp = math.sqrt(((th - th.mean()) ** 2).sum() / (n - 1))
        out["empse"] = emp
        out["empse_mcse"] = emp / math.sqrt(2 * (n - 1))
    if se is not None and n >= 1:
        s2 = np.asarray(se, dtype=float) ** 2
        if np.all(np.isfinite(s2)):
            mod = math.sqrt(s2.mean())
            out["modse"] = mod
            if n >= 2 and mod > 0:
                var_s2 = s2.var(ddof=1)
                out["modse_mcse"] = math.sqrt(var_s2 / (4 * n * mod**2))
                emp = out["empse"]
                if np.isfinite(emp) and emp > 0:
                    out["relerr_modse"] = 100 * (mod / emp - 1)
                    out["relerr_modse_mcse"] = 100 * (mod / emp) * math.sqrt(var_s2 / (4 * n * mod**4) + 1 / (2 * (n - 1)))
    if lower is not None and upper is not None and n >= 1 and np.isfinite(truth):
        cov = ((np.asarray(lower, float) <= truth) & (truth <= np.asarray(upper, float))).mean()
        out["coverage"] = float(cov)
        out["coverage_mcse"] = math.sqrt(cov * (1 - cov) / n)
    if p is not None and len(p) >= 1:  # tests without an estimate (log-rank) still have power
        pv = np.asarray(p, float)
        pw = float((pv < alpha).mean())
        out["power"] = pw
        out["power_mcse"] = math.sqrt(pw * (1 - pw) / pv.size)
    return out


def performance(results: Any, *, alpha: float | None = None) -> pd.DataFrame:
    """Performance table: one row per grid point and analysis.

    Parameters
    ----------
    results : pandas.DataFrame or StudyRun
        Results of :func:`~footdrop_outcomes.studies.run_study` (or :func:`load_results`).
    alpha : float, optional
        Level of the tests (power = share of ``p < alpha``); default the study's alpha (a
        ``StudyRun``) or 0.05.

    Returns
    -------
    pandas.DataFrame
        ``point``, the grid parameters, ``analysis``, ``method``, ``truth``, ``n_rep``, ``n_ok``,
        ``n_failed``, then each of :data:`MEASURES` with its ``_mcse``.
    """
    grid_keys: list[str] = []
    if hasattr(results, "results") and hasattr(results, "spec"):
        alpha = results.spec.alpha if alpha is None else alpha
        grid_keys = results.spec.grid_keys
        results = results.results
    alpha = 0.05 if alpha is None else float(alpha)
    df = results
    if not grid_keys:
        fixed = {"point", "replicate", "analysis", "method", "truth", "estimate", "se", "lower", "upper", "statistic", "p",
                 "status", "error", "warnings", "n", "events", "seconds"}
        grid_keys = [c for c in df.columns if c not in fixed]
    order = list(dict.fromkeys(df["analysis"]))
    rows = []
    for (point, analysis), g in df.groupby(["point", "analysis"], sort=False):
        ok = g[g["status"] == "ok"]
        truth = float(g["truth"].iloc[0]) if "truth" in g and pd.notna(g["truth"].iloc[0]) else math.nan
        has_est = ok["estimate"].notna().all() and len(ok) > 0
        m = measures(ok["estimate"].to_numpy(float) if has_est else np.array([]), ok["se"].to_numpy(float) if has_est else None, truth,
                     lower=ok["lower"].to_numpy(float) if has_est else None, upper=ok["upper"].to_numpy(float) if has_est else None,
                     p=ok["p"].to_numpy(float), alpha=alpha)
        rows.append({"point": point, **{k: g[k].iloc[0] for k in grid_keys if k in g}, "analysis": analysis,
                     "method": g["method"].iloc[0], "truth": truth, "n_rep": len(g), "n_ok": len(ok), "n_failed": len(g) - len(ok), **m})
    out = pd.DataFrame(rows)
    out["_a"] = out["analysis"].map({a: i for i, a in enumerate(order)})
    return out.sort_values(["_a", "point"], kind="stable").drop(columns="_a").reset_index(drop=True)
