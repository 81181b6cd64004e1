"""Stacked estimating equations: standard errors that account for estimated weights.

A weighted estimator ``b`` solves ``U(b; w(theta)) = sum_i w_i u_i(b) = 0`` with weights that
depend on estimated nuisance parameters ``theta`` (the propensity model's coefficients and the
arm shares that stabilise the weights; the censoring models of a per-protocol analysis). Stacking
``U`` with the nuisance estimating equations and taking the M-estimation sandwich gives the
influence function of ``b`` (Lunceford & Davidian 2004 for the IPTW mean difference; Shu, Young,
Toh & Wang 2021 for the IPT-weighted Cox model)::

    IF_i(b) = I^{-1} [ sum_{rows j of patient i} w_j u_j(b)  +  G IF_i(theta) ],
    I = -dU/db,   G = dU/dtheta = sum_j u_j(b) (dw_j/dtheta)^T.

``G`` has this simple form because ``dU/dw_j = u_j``: for a weighted mean difference ``u_j`` is
the unit-weight WLS score, and for a weighted Cox model it is the (unweighted) Lin-Wei score
residual, because the derivative of the weighted risk-set mean through ``w_j`` is exactly the
risk-set part of that residual. Var(b) = sum_i IF_i(b)^2 with patients as clusters. With
``G = 0`` this is the usual robust (fixed-weight) sandwich. Weights truncated at quantiles are not
differentiable where they are clipped: clipped rows get a zero derivative (an approximation; the
package's default is no truncation).
"""

from __future__ import annotations

import numpy as np

__all__ = ["logistic_influence", "weighted_influence", "weighted_cox_binary"]


def logistic_influence(x: np.ndarray, y: np.ndarray, p: np.ndarray, cluster: np.ndarray | None = None) -> np.ndarray:
    """Influence functions of logistic-regression coefficients, one row per cluster (patient).

    ``(X' V X)^{-1} sum_{j in cluster} x_j (y_j - p_j)``; rows in cluster order of
    ``np.unique(cluster)`` (each row its own cluster when ``cluster`` is None).
    """
    x = np.asarray(x, dtype=float)
    resid = np.asarray(y, dtype=float) - p
    info = x.T @ (x * (p * (1 - p))[:, None])
    score = x * resid[:, None]
    if cluster is not None:
        codes = np.unique(cluster, return_inverse=True)[1]
        score = np.stack([np.bincount(codes, weights=score[:, k]) for k in range(score.shape[1])], axis=1)
    return np.linalg.solve(info, score.T).T


def weighted_influence(
    u: np.ndarray,
    w: np.ndarray,
    information: float,
    cluster: np.ndarray,
    n_clusters: int,
    nuisance: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Influence functions of a scalar weighted estimator per cluster, with and without the weights' estimation.

    Parameters
    ----------
    u : numpy.ndarray
        Unit-weight estimating-function contributions (score residuals) of each row at ``b``.
    w : numpy.ndarray
        The weights of each row.
    information : float
        ``-dU/db`` (weighted).
    cluster : numpy.ndarray
        Integer cluster codes 0..n_clusters-1 of each row (patients).
    n_clusters : int
        Number of clusters (patients), including those without rows here.
    nuisance : list of (dw, psi, psi_cluster)
        For each block of nuisance parameters: ``dw`` (rows x q) derivative of each row's weight,
        ``psi`` (m x q) the clusters' influence functions of the parameters and ``psi_cluster``
        (length m) the cluster code of each ``psi`` row.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Influence functions per cluster (length ``n_clusters``) accounting for the nuisance
        estimation, and the fixed-weight ones.
    """
    fixed = np.bincount(cluster, weights=w * u, minlength=n_clusters)
    total = fixed.copy()
    for dw, psi, psi_cluster in nuisance or []:
        g = u @ dw  # dU/dtheta
        total += np.bincount(psi_cluster, weights=psi @ g, minlength=n_clusters)
    return total / information, fixed / information


def weighted_cox_binary(
    stop: np.ndarray, event: np.ndarray, x: np.ndarray, w: np.ndarray, start: np.ndarray | None = None,
) -> tuple[float, float, np.ndarray]:
    """Weighted Cox model of one binary covariate: log HR, information and unit-weight score residuals.

    Counting-process rows ``(start, stop]`` (start 0 when None), Breslow ties, Newton-Raphson.
    The residual of row ``j`` is the Lin-Wei score residual without its weight, so the weighted
    score is ``sum_j w_j r_j`` and ``dU/dw_j = r_j`` (module notes).
    """
    from footdrop_outcomes.errors import ConvergenceError

    t = np.asarray(stop, dtype=float)
    s = np.zeros(len(t)) if start is None else np.asarray(start, dtype=float)
    d = np.asarray(event, dtype=bool)
    x = np.asarray(x, dtype=float)
    w = np.asarray(w, dtype=float)
    tau, inv = np.unique(t[d], return_inverse=True)  # event times
    dn = np.bincount(inv, weights=w[d], minlength=tau.size)  # weighted events
    dn1 = np.bincount(inv, weights=(w * x)[d], minlength=tau.size)
    order_t, order_s = np.argsort(t), np.argsort(s)

    def at_risk(v: np.ndarray) -> np.ndarray:  # stop >= tau minus start >= tau
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
        if not info > 0:
            raise ConvergenceError("weighted Cox model of a binary covariate: no information (an arm without events?)")
        step = u / info
        b += step
        if abs(step) < 1e-10:
            break
    else:
        raise ConvergenceError("weighted Cox model of a binary covariate did not converge")
    eb = np.exp(b)
    s0 = r0 + r1 * eb
    xbar = r1 * eb / s0
    info = float((dn * xbar * (1 - xbar)).sum())
    cum_a = np.r_[0.0, np.cumsum(dn / s0)]
    cum_b = np.r_[0.0, np.cumsum(dn * xbar / s0)]
    it = np.searchsorted(tau, t, side="right")  # event times <= stop
    is_ = np.searchsorted(tau, s, side="right")  # event times <= start
    own = np.zeros(len(t), dtype=np.int64)
    own[d] = inv
    resid = np.where(d, x - xbar[own], 0.0) - np.exp(b * x) * (x * (cum_a[it] - cum_a[is_]) - (cum_b[it] - cum_b[is_]))
    return float(b), info, resid
