"""Profiled (RE)ML for three-level linear mixed models: visits within patients within sites.

Model (lme4's ``(1 + lw | id) + (1 | site)`` and its site-slope variant): for the rows of site
``s``, ``y_s = X_s b + blockdiag_i(Z_i) u + W_s v_s + e_s`` with patient effects
``u_i ~ N(0, sigma^2 D)``, site effects ``v_s ~ N(0, sigma^2 D_s)``, ``e ~ N(0, sigma^2 I)``;
``D = L L'``, ``D_s = L_s L_s'``; ``theta`` is lme4's: the lower-triangular entries of ``L`` by
column, then those of ``L_s`` (patients are nested in sites, so the two blocks are independent).

Nested Woodbury. With ``P_i = V_i^{-1}``, ``V_i = I + Z_i D Z_i'`` (the two-level algebra of
:mod:`._fast`: ``H_i = (I + D S_i)^{-1} D``, ``K_i = (I + S_i D)^{-1}``), and the per-patient
sums ``S_i = Z_i'Z_i``, ``C_i = Z_i'W_i``, ``G_i = Z_i'X_i``, ``z_i = Z_i'y_i`` and their ``W``
counterparts (computed once), the site-level pieces are sums over a site's patients:

* ``T_s = W'PW = sum_i (W_i'W_i - C_i' H_i C_i)``, ``F_s = W'PX = sum_i (W_i'X_i - C_i' H_i G_i)``,
  ``f_s = W'Py = sum_i (W_i'y_i - C_i' H_i z_i)``;
* ``V_s^{-1} = P - P W H_s W' P`` with ``H_s = (I + D_s T_s)^{-1} D_s``, ``|V_s| = prod_i |I + D S_i|
  * |I + D_s T_s|``;
* ``X'V^{-1}X = X'PX - sum_s F_s' H_s F_s`` and likewise for ``X'V^{-1}y``, ``y'V^{-1}y``.

The profiled deviance is then the two-level one (``b`` and ``sigma^2`` profiled out; REML adds
``log|X'V^{-1}X|``). The gradient uses the general identity
``dDev/dD_k = sum_g Z_g'V^{-1}Z_g - (nu/r^2) sum_g a_g a_g' [- sum_g B_g A^{-1} B_g' for REML]``
over the groups ``g`` of level ``k``, ``a_g = Z_g'V^{-1}(y - Xb)``, ``B_g = Z_g'V^{-1}X``,
``A = X'V^{-1}X``, which the nested inverse gives in closed form:

* sites: ``W_s'V^{-1}W_s = (I + T_s D_s)^{-1} T_s``, ``a_s = (I + T_s D_s)^{-1} (f_s - F_s b)``,
  ``B_s = (I + T_s D_s)^{-1} F_s``;
* patients: ``Z_i'V^{-1}Z_i = K_i S_i - K_i C_i H_s C_i' K_i'``,
  ``a_i = K_i w_i - K_i C_i H_s (f_s - F_s b)``, ``B_i = K_i G_i - K_i C_i H_s F_s``
  (``w_i = z_i - G_i b``);

and ``dDev/dL = 2 (dDev/dD) L`` per level (checked against finite differences and against a
dense brute-force deviance in ``tests/trajectories/test_three_level.py``). One evaluation costs
a few products over ``(patients q) x p`` arrays plus ``sites`` tiny solves; the optimiser, the
Newton polish and the convergence criterion are those of :mod:`._fast` (:func:`._fast.minimise`,
:func:`._fast.convergence`: projected gradient <= 1e-4 and relative Newton change <= 1e-6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg

from footdrop_outcomes._checks import cross as _cross
from footdrop_outcomes.trajectories import _fast

__all__ = ["Blocks3", "Evaluation3", "blocks3", "evaluate3", "fit3", "full_deviance3"]

_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class Blocks3:
    """Sufficient statistics of a two-level nesting (patients sorted by site)."""

    n_obs: int
    n_groups: int
    n_sites: int
    p: int
    q: int
    qs: int
    xtx: np.ndarray
    xty: np.ndarray
    yty: float
    s: np.ndarray  # (g, q, q)  Z'Z
    c: np.ndarray  # (g, q, qs) Z'W
    ww: np.ndarray  # (g, qs, qs) W'W
    g: np.ndarray  # (g, q, p)  Z'X
    gw: np.ndarray  # (g, qs, p) W'X
    z: np.ndarray  # (g, q)  Z'y
    zw: np.ndarray  # (g, qs) W'y
    site_starts: np.ndarray  # first patient (in site order) of each site
    site_of: np.ndarray  # (g,) site number of each patient (site order)
    order: np.ndarray  # patient codes in site order
    counts: np.ndarray  # visits per patient (site order)


def blocks3(y: np.ndarray, x: np.ndarray, zmat: np.ndarray, wmat: np.ndarray, codes: np.ndarray,
            site_codes: np.ndarray) -> Blocks3:
    """Per-patient sums; ``codes`` non-decreasing along the rows, ``site_codes`` one per patient (0..sites-1)."""
    q, qs = zmat.shape[1], wmat.shape[1]
    bl = _fast.blocks(y, x, np.column_stack([zmat, wmat]), codes)
    order = np.argsort(site_codes, kind="stable")
    sc = np.asarray(site_codes)[order]
    site_starts = np.flatnonzero(np.r_[True, sc[1:] != sc[:-1]])
    site_of = np.cumsum(np.r_[False, sc[1:] != sc[:-1]])
    s_all, g_all, z_all = bl.s[order], bl.g[order], bl.z[order]
    return Blocks3(bl.n_obs, bl.n_groups, int(site_starts.size), bl.p, q, qs, bl.xtx, bl.xty, bl.yty,
                   np.ascontiguousarray(s_all[:, :q, :q]), np.ascontiguousarray(s_all[:, :q, q:]),
                   np.ascontiguousarray(s_all[:, q:, q:]), np.ascontiguousarray(g_all[:, :q]),
                   np.ascontiguousarray(g_all[:, q:]), np.ascontiguousarray(z_all[:, :q]),
                   np.ascontiguousarray(z_all[:, q:]), site_starts, site_of, order, bl.counts[order])


def split_theta(theta: np.ndarray, q: int, qs: int) -> tuple[np.ndarray, np.ndarray]:
    k = _fast.n_theta(q)
    theta = np.asarray(theta, dtype=float)
    return theta[:k], theta[k:k + _fast.n_theta(qs)]


@dataclass
class Evaluation3:
    """Everything computed at one ``theta`` (field names as :class:`._fast.Evaluation`)."""

    deviance: float
    gradient: np.ndarray | None
    beta: np.ndarray
    r2: float
    nu: int
    a: np.ndarray
    chol_a: np.ndarray
    logdet_v: float
    logdet_a: float
    k: np.ndarray  # (g, q, q) (I + S_i D)^-1
    h: np.ndarray  # (g, q, q) (I + D S_i)^-1 D
    hs: np.ndarray  # (sites, qs, qs) (I + D_s T_s)^-1 D_s
    ks: np.ndarray  # (sites, qs, qs) (I + T_s D_s)^-1
    t: np.ndarray  # (sites, qs, qs) W'PW
    f_site: np.ndarray  # (sites, qs, p) W'PX
    f_y: np.ndarray  # (sites, qs) W'Py

    @property
    def sigma2(self) -> float:
        return self.r2 / self.nu


def _inv_det(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _fast._small_inv_det(m)


def _bmm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Stacked ``a @ b`` for a tiny inner dimension (1 or 2): a sum of broadcast products, much
    faster than ``matmul`` over many tiny matrices. A 2-D ``a`` or ``b`` is shared by the stack."""
    a3 = a if a.ndim == 3 else a[None]
    b3 = b if b.ndim == 3 else b[None]
    out = a3[:, :, 0, None] * b3[:, None, 0, :]
    for k in range(1, a3.shape[2]):
        out = out + a3[:, :, k, None] * b3[:, None, k, :]
    return out


def _bmv(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Stacked ``a @ v`` (``a`` (n, r, k), ``v`` (n, k)) for a tiny ``k``."""
    out = a[:, :, 0] * v[:, None, 0]
    for k in range(1, a.shape[2]):
        out = out + a[:, :, k] * v[:, None, k]
    return out


def _sum_outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_g a_g b_g'`` for stacks ``(g, r, m)`` and ``(g, c, m)``: one (r x g m)(g m x c) product."""
    r, c = a.shape[1], b.shape[1]
    return np.swapaxes(a, 0, 1).reshape(r, -1) @ np.swapaxes(b, 0, 1).reshape(c, -1).T


def _sym(m: np.ndarray) -> np.ndarray:
    return 0.5 * (m + np.swapaxes(m, -1, -2))


def evaluate3(theta: np.ndarray, b3: Blocks3, reml: bool, *, gradient: bool = True) -> Evaluation3:
    """Profiled deviance (and its gradient in ``theta``) at ``theta``; raises ``LinAlgError`` if singular."""
    q, qs, p = b3.q, b3.qs, b3.p
    th_p, th_s = split_theta(theta, q, qs)
    lam, lam_s = _fast._tri(th_p, q), _fast._tri(th_s, qs)
    d, d_s = lam @ lam.T, lam_s @ lam_s.T
    eye_q, eye_s = np.eye(q), np.eye(qs)
    minv, det = _inv_det(eye_q + _bmm(d, b3.s))  # (I + D S)^-1
    if np.any(det <= 0) or not np.all(np.isfinite(det)):
        raise np.linalg.LinAlgError("I + D S_i is not positive definite")
    h = _sym(_bmm(minv, d))
    k = np.swapaxes(minv, 1, 2)
    hg = _bmm(h, b3.g)  # (g, q, p)
    hz = _bmv(h, b3.z)
    hc = _bmm(h, b3.c)  # (g, q, qs)
    ct = np.swapaxes(b3.c, 1, 2)  # (g, qs, q)
    a_mat = b3.xtx - _cross(b3.g.reshape(-1, p), hg.reshape(-1, p))
    cvec = b3.xty - _cross(b3.g.reshape(-1, p), hz.reshape(-1, 1))[:, 0]
    ypy = b3.yty - float(np.sum(b3.z * hz))
    st = b3.site_starts
    t = np.add.reduceat(b3.ww - _bmm(ct, hc), st, axis=0)
    f_site = np.add.reduceat(b3.gw - _bmm(ct, hg), st, axis=0)  # (sites, qs, p)
    f_y = np.add.reduceat(b3.zw - _bmv(ct, hz), st, axis=0)
    msinv, dets = _inv_det(eye_s + _bmm(d_s, t))
    if np.any(dets <= 0) or not np.all(np.isfinite(dets)):
        raise np.linalg.LinAlgError("I + D_s T_s is not positive definite")
    hs = _sym(_bmm(msinv, d_s))
    ks = np.swapaxes(msinv, 1, 2)
    hsf = _bmm(hs, f_site)
    hsfy = _bmv(hs, f_y)
    a_mat = a_mat - np.einsum("sap,saq->pq", f_site, hsf)
    cvec = cvec - np.einsum("sap,sa->p", f_site, hsfy)
    yvy = ypy - float(np.sum(f_y * hsfy))
    a_mat = 0.5 * (a_mat + a_mat.T)
    chol_a = linalg.cholesky(a_mat, lower=False)
    beta = linalg.cho_solve((chol_a, False), cvec)
    r2 = float(yvy - beta @ cvec)
    if not r2 > 0:
        raise np.linalg.LinAlgError("non-positive residual sum of squares")
    nu = b3.n_obs - p if reml else b3.n_obs
    logdet_v = float(np.sum(np.log(det)) + np.sum(np.log(dets)))
    logdet_a = float(2 * np.sum(np.log(np.diag(chol_a))))
    dev = logdet_v + nu * (1 + _LOG_2PI + math.log(r2 / nu))
    if reml:
        dev += logdet_a
    grad = None
    if gradient:
        a_inv = linalg.cho_solve((chol_a, False), np.eye(p))
        e_s = f_y - f_site @ beta  # W'P(y - Xb) per site
        # site level
        a_site = _bmv(ks, e_s)
        b_site = _bmm(ks, f_site)
        gd_s = np.sum(_bmm(ks, t), axis=0) - (nu / r2) * (a_site.T @ a_site)
        if reml:
            gd_s -= np.einsum("sap,pr,sbr->ab", b_site, a_inv, b_site)
        # patient level
        kc = _bmm(k, b3.c)  # (g, q, qs)
        hs_e = _bmv(hs, e_s)[b3.site_of]  # (g, qs)
        w = b3.z - _fast._rows_times(b3.g.reshape(-1, p), beta[:, None]).reshape(-1, q)
        a_pat = _bmv(k, w) - _bmv(kc, hs_e)
        b_pat = _bmm(k, b3.g) - _bmm(kc, hsf[b3.site_of])  # (g, q, p)
        zvz = np.sum(_bmm(k, b3.s), axis=0) - _sum_outer(_bmm(kc, hs[b3.site_of]), kc)
        gd = zvz - (nu / r2) * (a_pat.T @ a_pat)
        if reml:
            ba = _fast._rows_times(b_pat.reshape(-1, p), a_inv).reshape(b_pat.shape)
            gd -= _sum_outer(ba, b_pat)
        gd, gd_s = 0.5 * (gd + gd.T), 0.5 * (gd_s + gd_s.T)
        grad = np.r_[_fast._tri_entries(2 * gd @ lam), _fast._tri_entries(2 * gd_s @ lam_s)]
    return Evaluation3(dev, grad, beta, r2, nu, a_mat, chol_a, logdet_v, logdet_a, k, h, hs, ks, t, f_site, f_y)


def full_deviance3(theta: np.ndarray, sigma2: float, b3: Blocks3, reml: bool) -> float:
    """-2 log-likelihood (REML: restricted) at ``theta`` and a free ``sigma^2`` (``b`` profiled)."""
    ev = evaluate3(theta, b3, reml, gradient=False)
    dev = ev.logdet_v + b3.n_obs * math.log(sigma2) + ev.r2 / sigma2 + ev.nu * _LOG_2PI
    if reml:
        dev += ev.logdet_a - b3.p * math.log(sigma2)
    return dev


def fit3(b3: Blocks3, reml: bool, theta0: np.ndarray | None = None, *, callback: Any = None) -> _fast.FitOutcome:
    """Minimise the profiled deviance over ``theta`` (patient block, then site block) with the
    optimiser sequence and convergence criterion of :func:`._fast.minimise`."""
    qspec = (b3.q, b3.qs)

    def fun(th: np.ndarray) -> tuple[float, np.ndarray]:
        if callback is not None:
            callback(1)
        try:
            ev = evaluate3(th, b3, reml)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return 1e300, np.zeros_like(th)
        return ev.deviance, ev.gradient  # type: ignore[return-value]

    start = np.r_[_fast._tri_entries(np.eye(b3.q)), _fast._tri_entries(np.eye(b3.qs))]
    th, method, attempts, conv = _fast.minimise(fun, qspec, theta0, start)
    ev = evaluate3(th, b3, reml)
    return _fast.FitOutcome(th, ev, method, attempts, bool(conv["converged"]),  # type: ignore[arg-type]
                            float(conv["projected_gradient"]), conv)
