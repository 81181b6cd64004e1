"""Exchangeable GEE without a Python loop over clusters: statsmodels' algorithm, vectorised.

statsmodels' ``GEE`` with an ``Exchangeable`` working correlation loops over clusters in Python in
every step (the mean-parameter update, the correlation update, the robust covariance): on the
demo cohort's weekly adherence (about 2,000 patients, 50,000 patient-weeks) that is ~0.7 s of CPU,
the largest part of the report's trend model. :func:`fit_exchangeable_gee` runs the same algorithm
with each cluster's sums taken at once over sorted rows:

* start: statsmodels' own GLM fit of the same family (independence);
* each iteration: the Fisher-scoring update ``B^-1 U`` with ``B = sum_i D_i' V_i^-1 D_i`` and
  ``U = sum_i D_i' V_i^-1 (y_i - mu_i)``, where for an exchangeable correlation ``a`` and a cluster
  of size ``k`` (``x1 = x / sd``) ``V^-1 x = (x1 / (1 - a) - c sum(x1)) / sd`` with
  ``c = a / (1 - a) / (1 + a (k - 1))``, so ``B = X1'X1 / (1 - a) - sum_i c_i S_i S_i'`` with
  ``S_i`` the cluster sums of ``X1 = D / sd``;
* stop when ``||U|| < ctol`` after the correlation was updated at least once (statsmodels' rule,
  the same ``ctol`` and iteration limit), else update ``a`` by statsmodels' moment estimator
  (scale with ``ddof`` = number of columns);
* robust ("sandwich") covariance ``B^-1 C B^-1`` with ``C = sum_i u_i u_i'``; naive ``B^-1 * scale``
  (scale 1 for the binomial family, the Pearson estimate with ``ddof`` for the Gaussian).

The estimates agree with statsmodels' to rounding (tests: 1e-8 on several data sets, planted
errors caught). No weights, offsets or constraints (the trend model uses none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ExchangeableGEE", "fit_exchangeable_gee"]


@dataclass(frozen=True)
class ExchangeableGEE:
    """An exchangeable GEE fit (:func:`fit_exchangeable_gee`).

    Attributes
    ----------
    params, bse : numpy.ndarray
        Mean parameters and their robust standard errors.
    cov_robust, cov_naive : numpy.ndarray
        Robust (sandwich) and model-based covariance matrices.
    dep_params : float
        The exchangeable working correlation.
    scale : float
        Dispersion (1 for the binomial family).
    n_iter : int
        Mean-parameter updates done.
    converged : bool
        ``||score|| < ctol`` at the end.
    """

    params: np.ndarray
    bse: np.ndarray
    cov_robust: np.ndarray
    cov_naive: np.ndarray
    dep_params: float
    scale: float
    n_iter: int
    converged: bool

    def cov_params(self) -> np.ndarray:
        """The robust covariance matrix (as statsmodels' ``GEEResults.cov_params()`` with ``cov_type="robust"``)."""
        return self.cov_robust

    def working_correlation(self) -> str:
        """statsmodels' ``Exchangeable.summary()`` text."""
        return f"The correlation between two observations in the same cluster is {self.dep_params:.3f}"


def fit_exchangeable_gee(endog: Any, exog: Any, groups: Any, family: Any, *, maxiter: int = 60,
                         ctol: float = 1e-6) -> ExchangeableGEE:
    """Fit a GEE with exchangeable working correlation, as ``statsmodels.GEE(endog, exog, groups,
    family=family, cov_struct=Exchangeable()).fit(maxiter=maxiter, ctol=ctol, cov_type="robust")``.

    Parameters
    ----------
    endog : array_like, shape (n,)
    exog : array_like, shape (n, p)
    groups : array_like, shape (n,)
        Cluster labels (any order of rows).
    family : statsmodels family
        ``Binomial()`` or ``Gaussian()`` (any family with ``link.inverse``, ``link.inverse_deriv``
        and ``variance``; the scale is 1 for Binomial and Poisson, else estimated).
    maxiter, ctol : int, float
        statsmodels' iteration limit and score-norm tolerance.

    Returns
    -------
    ExchangeableGEE

    Raises
    ------
    numpy.linalg.LinAlgError
        Singular update matrix.
    """
    import statsmodels.api as sm

    y = np.asarray(endog, dtype=float)
    x = np.asarray(exog, dtype=float)
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    y, x, codes = y[order], x[order], codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    k = np.diff(np.r_[starts, len(y)]).astype(float)
    nobs, p = x.shape
    ddof = p
    link, varfunc = family.link, family.variance
    fixed_scale = isinstance(family, (sm.families.Binomial, sm.families.Poisson, sm.families.NegativeBinomial))

    def gsum(a: np.ndarray) -> np.ndarray:
        return np.add.reduceat(a, starts, axis=0)

    def pieces(beta: np.ndarray, dep: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        lpr = x @ beta
        mu = link.inverse(lpr)
        sd = np.sqrt(varfunc(mu))
        x1 = x * (link.inverse_deriv(lpr) / sd)[:, None]  # D / sd
        r1 = (y - mu) / sd
        c = dep / (1.0 - dep) / (1.0 + dep * (k - 1))
        s_x, s_r = gsum(x1), gsum(r1)
        bmat = x1.T @ x1 / (1.0 - dep) - (s_x * c[:, None]).T @ s_x
        u = gsum(x1 * r1[:, None]) / (1.0 - dep) - s_x * (c * s_r)[:, None]  # per-cluster D' V^-1 r
        return bmat, u, mu, sd, r1

    beta = np.asarray(sm.GLM(y, x, family=family).fit().params, dtype=float).copy()
    dep, norm, n_iter = 0.0, -1.0, 0
    for _ in range(maxiter):
        bmat, u, _, _, _ = pieces(beta, dep)
        score = u.sum(axis=0)
        beta = beta + np.linalg.solve(bmat, score)
        n_iter += 1
        norm = float(np.sqrt(np.sum(score ** 2)))
        if norm < ctol and n_iter > 1:  # the correlation was updated at least once (after the first update)
            break
        r1 = pieces(beta, dep)[4]  # statsmodels' moment estimator of the correlation
        ssr = r1 * r1
        scale_a = ssr.sum() / (nobs * (nobs - ddof) / float(nobs))
        pairs = 0.5 * k * (k - 1)
        residsq = np.sum((gsum(r1) ** 2 - gsum(ssr)) / 2) / scale_a
        npair = pairs.sum()  # no cluster with two rows: nothing to estimate, statsmodels' 0
        dep = float(residsq / (npair * (npair - ddof) / npair)) if npair > 0 else 0.0
    bmat, u, _, _, r1 = pieces(beta, dep)
    scale = 1.0 if fixed_scale else float(np.sum(r1 ** 2) / (nobs * (nobs - ddof) / float(nobs)))
    bmati = np.linalg.inv(bmat)
    cov_robust = bmati @ (u.T @ u) @ bmati
    return ExchangeableGEE(params=beta, bse=np.sqrt(np.diag(cov_robust)), cov_robust=cov_robust, cov_naive=bmati * scale,
                           dep_params=dep, scale=scale, n_iter=n_iter, converged=norm < ctol)
