"""Piecewise hazard for those who recover, plus a fraction who never do (mixture cure).

``S(t) = pi + (1 - pi) exp(-H(t))`` for ``t`` before the last time anyone was seen recovered
(``t_last``, the largest finite upper end) and ``S(t) = pi`` from then on: the zero-tail
constraint of mixture cure models (Taylor 1995, *Biometrics* 51:899-907; it assumes follow-up long
enough that whoever recovers has done so by ``t_last``). The hazard of ``H`` is constant within, or
linear between, the knots, which end at ``t_last`` (:func:`hazard_basis`). The likelihood of a patient first seen at ``e`` and recovered in
``(l, u]`` is ``[S(l) - S(u)] / S(e)`` (``S(l) / S(e)`` when not seen recovered), maximised over
``log lambda`` and ``logit pi`` by L-BFGS-B with the analytic gradient (from two starts; the
likelihood is not concave), then Newton steps with the analytic Hessian; the covariance is the
inverse of that Hessian, with hazards at their lower bound counted as known.

Where recovery stops within weeks and a share never recovers, the plain piecewise hazard has to
smooth the population hazard's collapse over one piece; the cure fraction carries the plateau
instead (docs/survival.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import minimize

from footdrop_outcomes.errors import FootdropError

#: Range of log(lambda / constant-hazard estimate) and of logit(pi) searched.
LOG_HAZARD_RANGE, LOGIT_RANGE = (-30.0, 10.0), (-30.0, 30.0)
#: Convergence: largest gradient of the per-patient log-likelihood in the free parameters.
GRADIENT_TOL = 1e-8


def _ascent_step(neg_hess: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Newton step ``(-H)^+ g`` through the eigenvalues of ``-H``: their absolute values (an ascent
    direction also where ``-H`` is not positive definite, away from the maximum) and none of the
    directions the data leave flat (eigenvalues below 1e-10 of the largest; two pieces that every
    patient's time covers together have only their combined hazard identified)."""
    if g.size == 0:
        return g
    vals, vecs = np.linalg.eigh((neg_hess + neg_hess.T) / 2)
    size = np.abs(vals)
    keep = size > 1e-10 * max(float(size.max()), 1e-300)
    coef = vecs.T @ g
    step = vecs[:, keep] @ (coef[keep] / size[keep])
    if not np.isfinite(step).all() or g @ step <= 0:
        return g / max(float(size.max()), 1e-300)  # a gradient step: always an ascent direction
    return step


def hazard_basis(cuts: np.ndarray, t: np.ndarray, *, linear: bool = False, run_on: bool = False) -> np.ndarray:
    """The cumulative hazard's basis at ``t``: ``H(t) = hazard_basis(...) @ lambda``.

    Constant hazard between knots (``linear=False``): the time spent in each piece, one column per
    piece. Linear (``linear=True``): the hazard is continuous and linear between knots, ``lambda``
    its values at the knots, and column ``j`` is the integral of the hat function of knot ``j`` up to
    ``t`` (one column per knot; within a piece the two hats sum to 1, so a row sums to the same time
    spent). After the last knot the hazard is 0 (``run_on=False``: the cure model, whose recovering
    patients have all recovered by then) or stays at its last value (``run_on=True``).
    """
    t = np.asarray(t, dtype=float)[:, None]
    spent = np.clip(np.minimum(t, cuts[None, 1:]) - cuts[None, :-1], 0.0, None)
    if linear:
        rise = spent**2 / (2 * np.diff(cuts)[None, :])  # to the piece's right knot
        out = np.zeros((spent.shape[0], cuts.size))
        out[:, :-1] += spent - rise
        out[:, 1:] += rise
    else:
        out = spent
    if run_on:
        out[:, -1] += np.clip(t[:, 0] - cuts[-1], 0.0, None)
    return out


def fit_cure(lower: np.ndarray, upper: np.ndarray, entry: np.ndarray, cuts: np.ndarray, *, max_iter: int,
             label: str, linear: bool = False) -> dict[str, Any]:
    """Fit the model; the knots are cut at ``t_last`` (which becomes the last knot). ``linear``: the
    hazard is linear between knots (values at the knots) instead of constant within pieces."""
    fin = np.isfinite(upper)
    t_last = float(upper[fin].max())
    cuts = np.unique(np.r_[cuts[cuts < t_last], t_last])
    k, n = cuts.size - (0 if linear else 1), lower.size
    xl, xe, xu = (hazard_basis(cuts, t, linear=linear) for t in (lower, entry, np.where(fin, upper, lower)))
    # at or after t_last the recovering have all recovered: u = 0 there
    past_l, past_e, past_u = lower >= t_last, entry >= t_last, fin & (upper >= t_last)
    exposure = max(float((xl - xe).sum() + (xu - xl)[fin].sum() / 2), 1e-300)
    unit = max(int(fin.sum()), 1) / exposure

    def parts(par: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray]:
        lam = unit * np.exp(par[:k])
        pi = 1.0 / (1.0 + math.exp(-par[k]))
        u_l = np.where(past_l, 0.0, np.exp(-(xl @ lam)))
        u_e = np.where(past_e, 0.0, np.exp(-(xe @ lam)))
        u_u = np.where(past_u, 0.0, np.exp(-(xu @ lam)))
        return lam, pi, u_l, u_e, u_u

    def negloglik(par: np.ndarray) -> tuple[float, np.ndarray]:
        lam, pi, u_l, u_e, u_u = parts(par)
        gap = u_l - u_u
        s_l, s_e = pi + (1 - pi) * u_l, pi + (1 - pi) * u_e
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = (np.where(fin, math.log1p(-pi) + np.log(np.where(fin, gap, 1.0)), np.log(s_l)) - np.log(s_e)).sum()
            if not np.isfinite(ll):
                return 1e300, np.zeros_like(par)
            # d/d lambda_k, then times lambda_k (log scale)
            g_fin = (-(u_l[:, None] * xl) + u_u[:, None] * xu) / gap[:, None]
            g_cen = -(1 - pi) * u_l[:, None] * xl / s_l[:, None]
            g_lam = np.where(fin[:, None], g_fin, g_cen).sum(axis=0) + ((1 - pi) * u_e[:, None] * xe / s_e[:, None]).sum(axis=0)
            g_pi = (np.where(fin, -1.0 / (1 - pi), (1 - u_l) / s_l) - (1 - u_e) / s_e).sum()
        grad = np.r_[g_lam * lam, g_pi * pi * (1 - pi)]
        return -ll / n, -grad / n

    bounds = [LOG_HAZARD_RANGE] * k + [LOGIT_RANGE]
    never = 1.0 - fin.mean()
    best = None
    for pi0 in (0.5 * never + 0.01, 0.05):
        start = np.r_[np.zeros(k), math.log(pi0 / (1 - pi0))]
        res = minimize(negloglik, start, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": max_iter * 20, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 30})
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    par = np.asarray(best.x, dtype=float)
    lo_b = np.array([b[0] for b in bounds])
    hi_b = np.array([b[1] for b in bounds])

    def hessian(par: np.ndarray) -> np.ndarray:
        """Analytic Hessian of the per-patient negative log-likelihood in (log lambda, logit pi)."""
        lam, pi, u_l, u_e, u_u = parts(par)
        q = 1 - pi
        with np.errstate(divide="ignore", invalid="ignore"):
            # recovered: log(u_l - u_u); its gradient rows a / A and Hessian sum(A_kj / A) - (a/A)(a/A)'
            xf_l, xf_u, gap = xl[fin], xu[fin], (u_l - u_u)[fin]
            w_l, w_u = u_l[fin] / gap, u_u[fin] / gap
            ga = -xf_l * w_l[:, None] + xf_u * w_u[:, None]
            h_ll = (xf_l * w_l[:, None]).T @ xf_l - (xf_u * w_u[:, None]).T @ xf_u - ga.T @ ga
            g_ll = ga.sum(axis=0)
            g_pp, h_pp, h_lp = -fin.sum() / q, -fin.sum() / q**2, np.zeros(k)

            def add_log_s(x: np.ndarray, u: np.ndarray, sign: float) -> None:
                # sign * log(pi + (1 - pi) u): gradient and Hessian in (lambda, pi)
                nonlocal h_ll, g_ll, g_pp, h_pp, h_lp
                s_ = pi + q * u
                d_lam = -q * u / s_  # times x
                g_ll = g_ll + sign * (x * d_lam[:, None]).sum(axis=0)
                h_ll = h_ll + sign * (x * (q * u / s_ - (q * u / s_) ** 2)[:, None]).T @ x
                g_pp = g_pp + sign * ((1 - u) / s_).sum()
                h_pp = h_pp - sign * (((1 - u) / s_) ** 2).sum()
                h_lp = h_lp + sign * (x * (u / s_ + q * u * (1 - u) / s_**2)[:, None]).sum(axis=0)

            cen = ~fin
            add_log_s(xl[cen], u_l[cen], 1.0)
            add_log_s(xe, u_e, -1.0)
        dpi = pi * q
        out = np.empty((k + 1, k + 1))
        out[:k, :k] = lam[:, None] * h_ll * lam[None, :] + np.diag(lam * g_ll)
        out[:k, k] = out[k, :k] = lam * h_lp * dpi
        out[k, k] = dpi**2 * h_pp + dpi * (1 - 2 * pi) * g_pp
        return -out / n

    # L-BFGS-B stops early on this non-concave surface; Newton steps on the free parameters finish
    converged = False
    for _ in range(max_iter):
        value, grad = negloglik(par)
        at_lo, at_hi = (par <= lo_b + 1e-6) & (grad > 0), (par >= hi_b - 1e-6) & (grad < 0)
        free = ~(at_lo | at_hi)
        if np.max(np.abs(grad[free]), initial=0.0) <= GRADIENT_TOL:
            converged = True
            break
        step = np.zeros(par.size)
        step[free] = _ascent_step(hessian(par)[np.ix_(free, free)], -grad[free])
        t = 1.0
        while t >= 1e-10:
            cand = np.clip(par + t * step, lo_b, hi_b)
            if negloglik(cand)[0] < value:
                break
            t /= 2
        if t < 1e-10:  # no descent left: the minimum up to rounding
            converged = bool(np.max(np.abs(grad[free]), initial=0.0) <= math.sqrt(GRADIENT_TOL))
            break
        par = cand
    if not converged:
        raise FootdropError(f"group {label!r}: the piecewise-hazard cure fit did not converge in {max_iter} Newton steps")
    _, grad = negloglik(par)
    at_lo, at_hi = par <= lo_b + 1e-6, par >= hi_b - 1e-6
    # covariance: inverse Hessian of the free parameters (those at a bound count as known)
    free = ~(at_lo | at_hi)
    hess = hessian(par) * n
    hf = hess[np.ix_(free, free)]
    hf = (hf + hf.T) / 2
    vals, vecs = np.linalg.eigh(hf)
    keep = vals > 1e-10 * max(float(vals.max(initial=0.0)), 1e-300)
    cov = np.zeros((par.size, par.size))
    cov[np.ix_(free, free)] = (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T
    lam, pi, *_ = parts(par)
    lam = np.where(at_lo[:k], 0.0, lam)
    se_par = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    ll = -negloglik(par)[0] * n
    # the zero tail puts whoever is still to recover at t_last there: its share of all patients
    u_last = math.exp(-float(hazard_basis(cuts, np.array([t_last]), linear=linear)[0] @ lam))
    tail_mass = (1 - pi) * u_last
    return {"knots": cuts, "hazard": lam, "se": se_par[:k] * lam, "cure_fraction": pi,
            "cure_fraction_se": float(se_par[k] * pi * (1 - pi)), "last_recovery": t_last, "tail_mass": float(tail_mass), "params": par, "cov": cov,
            "log_surv": log_surv_cure, "log_likelihood": float(ll), "iterations": int(best.nit), "converged": converged,
            "model": "mixture cure, zero tail", "hazard_form": "linear" if linear else "constant"}


def log_surv_cure(fit: dict[str, Any], grid: np.ndarray, s0: float) -> tuple[np.ndarray, np.ndarray]:
    """log S(t | T > s0) on ``grid`` and its gradient in (log lambda, logit pi)."""
    cuts, lam, pi = fit["knots"], fit["hazard"], fit["cure_fraction"]
    t_last = fit["last_recovery"]
    times = np.r_[s0, np.asarray(grid, dtype=float)]
    x = hazard_basis(cuts, times, linear=fit["hazard_form"] == "linear")
    u = np.where(times >= t_last, 0.0, np.exp(-(x @ lam)))
    s = pi + (1 - pi) * u
    d_lam = -(1 - pi) * u[:, None] * x * lam[None, :]  # dS / d log lambda
    d_pi = (1 - u) * pi * (1 - pi)  # dS / d logit pi
    dlog = np.c_[d_lam, d_pi] / s[:, None]
    return np.log(s[1:]) - math.log(s[0]), dlog[1:] - dlog[0]
