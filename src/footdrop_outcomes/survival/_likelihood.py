"""Shared machinery of the parametric interval-censored models (AFT and mixture cure):
error distributions, interval likelihood terms and their derivatives, the damped Newton
maximiser and the profile tables. See :mod:`footdrop_outcomes.survival.parametric`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.special import log_ndtr, ndtri

from footdrop_outcomes._checks import zq as _zq
from footdrop_outcomes.errors import ConfigError, FootdropError

if TYPE_CHECKING:
    pass

Distribution = Literal["weibull", "lognormal", "loglogistic"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SCALE_TERM = "log(scale)"


# ------------------------------------------------------------------------------------------------
# error distributions of W (standardised log time)


class _Dist:
    """log f, log S, log F, f'/f and quantiles of the standard error distribution W."""

    def __init__(self, name: str):
        self.name = name

    def logf(self, z: np.ndarray) -> np.ndarray:
        if self.name == "weibull":
            return z - np.exp(z)
        if self.name == "lognormal":
            return -0.5 * z * z - _LOG_SQRT_2PI
        return -np.logaddexp(0.0, z) - np.logaddexp(0.0, -z)

    def logS(self, z: np.ndarray) -> np.ndarray:  # noqa: N802 - S for survival
        if self.name == "weibull":
            return -np.exp(z)
        if self.name == "lognormal":
            return log_ndtr(-z)
        return -np.logaddexp(0.0, z)

    def logF(self, z: np.ndarray) -> np.ndarray:  # noqa: N802 - F for distribution function
        if self.name == "weibull":
            return np.log(-np.expm1(-np.exp(z)))
        if self.name == "lognormal":
            return log_ndtr(z)
        return -np.logaddexp(0.0, -z)

    def psi(self, z: np.ndarray) -> np.ndarray:
        """f'(z) / f(z)."""
        if self.name == "weibull":
            return 1.0 - np.exp(z)
        if self.name == "lognormal":
            return -z
        return -np.tanh(0.5 * z)

    def quantile(self, p: float) -> float:
        if self.name == "weibull":
            return math.log(-math.log1p(-p))
        if self.name == "lognormal":
            return float(ndtri(p))
        return math.log(p / (1 - p))

    @property
    def sd(self) -> float:
        return {"weibull": math.pi / math.sqrt(6), "lognormal": 1.0, "loglogistic": math.pi / math.sqrt(3)}[self.name]

    @property
    def mean(self) -> float:
        return -0.5772156649015329 if self.name == "weibull" else 0.0


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(x)) for x <= 0, accurate at both ends."""
    return np.where(x > -0.6931471805599453, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


@dataclass
class _Outcome:
    """Log bounds of the informative rows, sorted by kind: interval, then left, then right.

    ``perm`` maps the sorted rows to the caller's rows (apply it to design matrices).
    """

    yl_int: np.ndarray
    yr_int: np.ndarray
    yr_left: np.ndarray
    yl_right: np.ndarray
    perm: np.ndarray

    @property
    def n_int(self) -> int:
        return self.yl_int.size

    @property
    def n_ev(self) -> int:
        """Rows recovered during follow-up (interval and left)."""
        return self.yl_int.size + self.yr_left.size

    @property
    def n(self) -> int:
        return self.n_ev + self.yl_right.size

    def events_only(self) -> _Outcome:
        return _Outcome(self.yl_int, self.yr_int, self.yr_left, self.yl_right[:0], self.perm[: self.n_ev])


def _parts(d: _Dist, z: np.ndarray, need_s: bool, need_f: bool) -> tuple[Any, Any, Any, Any]:
    """log f, log S, log F and f'/f at z, sharing the work (exp(z) once for the Weibull)."""
    if d.name == "weibull":
        ez = np.exp(z)
        return z - ez, (-ez if need_s else None), (np.log(-np.expm1(-ez)) if need_f else None), 1.0 - ez
    return d.logf(z), (d.logS(z) if need_s else None), (d.logF(z) if need_f else None), d.psi(z)


def _derivs(z_l: Any, g_l: Any, p_l: Any, z_r: Any, g_r: Any, p_r: Any, sigma: float) -> tuple[np.ndarray, ...]:
    """Derivatives of log[F(z_R) - F(z_L)] in (eta, log sigma); g = f / A, p = f'/f (0 for an absent bound)."""
    l_e = (g_l - g_r) / sigma
    l_s = z_l * g_l - z_r * g_r
    l_ee = (p_r * g_r - p_l * g_l) / sigma**2 - l_e * l_e
    l_es = (z_r * p_r * g_r + g_r - z_l * p_l * g_l - g_l) / sigma - l_e * l_s
    l_ss = p_r * z_r**2 * g_r + z_r * g_r - p_l * z_l**2 * g_l - z_l * g_l - l_s * l_s
    return l_e, l_s, l_ee, l_es, l_ss


def _interval_terms(d: _Dist, o: _Outcome, eta: np.ndarray, sigma: float, order: int) -> tuple[np.ndarray, ...]:
    """Per-row log P(L < T <= R) and (order 2) its derivatives in (eta, log sigma).

    Rows as in ``o`` (interval, left, right). Returns ``logA`` (order 0) or
    ``logA, l_e, l_s, l_ee, l_es, l_ss`` (order 2).
    """
    ni, ne = o.n_int, o.n_ev
    # interval rows: the difference of distribution functions on the side where it does not cancel
    zl = (o.yl_int - eta[:ni]) / sigma
    zr = (o.yr_int - eta[:ni]) / sigma
    fl, sl, Fl, pl = _parts(d, zl, True, True)
    fr, sr, Fr, pr = _parts(d, zr, True, True)
    log_a_i = np.where(zr <= 0, Fr + _log1mexp(Fl - Fr), sl + _log1mexp(sr - sl))
    # left rows: F(z_R); right rows: S(z_L)
    zr2 = (o.yr_left - eta[ni:ne]) / sigma
    fr2, _, Fr2, pr2 = _parts(d, zr2, False, True)
    zl3 = (o.yl_right - eta[ne:]) / sigma
    fl3, sl3, _, pl3 = _parts(d, zl3, True, False)
    log_a = np.concatenate([log_a_i, Fr2, sl3])
    if order == 0:
        return (log_a,)
    gl, gr = np.exp(fl - log_a_i), np.exp(fr - log_a_i)
    a = _derivs(zl, gl, pl, zr, gr, pr, sigma)
    b = _derivs(0.0, 0.0, 0.0, zr2, np.exp(fr2 - Fr2), pr2, sigma)
    c = _derivs(zl3, np.exp(fl3 - sl3), pl3, 0.0, 0.0, 0.0, sigma)
    return (log_a, *(np.concatenate([u, v, w]) for u, v, w in zip(a, b, c)))


# ------------------------------------------------------------------------------------------------
# maximisation


class _NotConverged(Exception):
    pass


def _ascent_step(g: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Newton step -H^-1 g; Marquardt-damped when -H is not positive definite."""
    neg = -h
    try:
        c = linalg.cho_factor(neg, check_finite=False)
        return linalg.cho_solve(c, g, check_finite=False)
    except linalg.LinAlgError:
        pass
    d = np.abs(np.diag(neg)) + 1e-12
    lam = 1e-4
    while lam < 1e12:
        try:
            c = linalg.cho_factor(neg + lam * np.diag(d), check_finite=False)
            return linalg.cho_solve(c, g, check_finite=False)
        except linalg.LinAlgError:
            lam *= 10
    return g / np.maximum(d, 1.0)


def _maximise(fun: Callable[[np.ndarray, int], Any], theta0: np.ndarray, *, max_iter: int = 100,
              tol: float = 1e-11) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, int]:
    """Damped Newton-Raphson with step halving. ``fun(theta, 0)`` gives the log-likelihood,
    ``fun(theta, 2)`` the log-likelihood, gradient and Hessian."""
    theta = np.asarray(theta0, dtype=float).copy()
    ll, g, h = fun(theta, 2)
    if not np.isfinite(ll) or not np.all(np.isfinite(g)):
        raise _NotConverged("the log-likelihood is not finite at the starting values")
    for it in range(1, max_iter + 1):
        step = _ascent_step(g, h)
        dec = float(g @ step)
        flat = dec < 1e-9  # at the optimum up to round-off: accept a step that does not lose more than that

        def ok(ll_new: float, t: float) -> bool:
            return bool(np.isfinite(ll_new)) and (ll_new >= ll + 1e-4 * t * dec or (flat and ll_new >= ll - 1e-9 * (1 + abs(ll))))

        new = theta + step
        full = fun(new, 2)
        t = 1.0
        if ok(full[0], 1.0):
            ll, g, h = full
        else:
            for _ in range(60):
                t *= 0.5
                new = theta + t * step
                if ok(fun(new, 0), t):
                    break
            else:
                raise _NotConverged(f"no step increased the log-likelihood at iteration {it}")
            ll, g, h = fun(new, 2)
        theta = new
        if not np.all(np.isfinite(g)) or not np.all(np.isfinite(h)):
            raise _NotConverged(f"non-finite derivatives at iteration {it}")
        if dec < tol and t == 1.0:
            return theta, float(ll), g, h, it
    raise _NotConverged(f"no convergence in {max_iter} iterations")


# ------------------------------------------------------------------------------------------------
# input: outcome and design


def _log_bounds(lo: np.ndarray, up: np.ndarray) -> _Outcome:
    """Sorted log bounds of the informative rows (rows with lower = 0 and no upper are left out)."""
    has_l, has_r = lo > 0, np.isfinite(up)
    i_int = np.flatnonzero(has_l & has_r)
    i_left = np.flatnonzero(~has_l & has_r)
    i_right = np.flatnonzero(has_l & ~has_r)
    return _Outcome(np.log(lo[i_int]), np.log(up[i_int]), np.log(up[i_left]), np.log(lo[i_right]),
                    np.concatenate([i_int, i_left, i_right]))


def _repr(name: str, info: dict[str, Any], what: str) -> str:
    return (f"{name}({what}, n={info['n']}, recovered={info['events']} [interval={info['n_interval']}, left={info['n_left']}], "
            f"right-censored={info['n_right']}, log-likelihood={info['log_likelihood']:.3f})")


def _check_times(times: Any) -> np.ndarray:
    t = np.atleast_1d(np.asarray(times, dtype=float))
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ConfigError(f"times must be one or more finite numbers >= 0, got {times!r}")
    return t


def _profile_frame(profile: pd.DataFrame) -> pd.DataFrame:
    if isinstance(profile, pd.Series):
        profile = profile.to_frame().T.infer_objects()
    if not isinstance(profile, pd.DataFrame) or len(profile) == 0:
        raise FootdropError(f"profile must be a non-empty pandas DataFrame (one row per covariate profile), got {type(profile).__name__}")
    return profile


# ------------------------------------------------------------------------------------------------
# shared prediction helpers (AFT latency)


def _median_table(profile: pd.DataFrame, x: np.ndarray, b: np.ndarray, log_sigma: float, cov_bs: np.ndarray,
                  d: _Dist, alpha: float) -> pd.DataFrame:
    """Median of T = exp(x'b + sigma * w_0.5), delta-method CI on log T."""
    sigma = math.exp(log_sigma)
    w = d.quantile(0.5)
    log_m = x @ b + sigma * w
    jac = np.column_stack([x, np.full(x.shape[0], sigma * w)])
    se = np.sqrt(np.einsum("ij,jk,ik->i", jac, cov_bs, jac))
    zq = _zq(alpha)
    out = profile.reset_index(drop=True).copy()
    out["median"] = np.exp(log_m)
    out["median_lower"] = np.exp(log_m - zq * se)
    out["median_upper"] = np.exp(log_m + zq * se)
    return out


def _survival_table(profile: pd.DataFrame, x: np.ndarray, b: np.ndarray, log_sigma: float, cov_bs: np.ndarray,
                    d: _Dist, times: np.ndarray, alpha: float) -> pd.DataFrame:
    """S(t | x) = S_W((log t - x'b) / sigma); CI by the delta method on that z scale."""
    sigma = math.exp(log_sigma)
    eta = x @ b
    zq = _zq(alpha)
    rows = []
    for t in times:
        if t == 0:
            s = lo = hi = np.ones(x.shape[0])
        else:
            z = (math.log(t) - eta) / sigma
            jac = np.column_stack([-x / sigma, -z])
            se = np.sqrt(np.einsum("ij,jk,ik->i", jac, cov_bs, jac))
            with np.errstate(over="ignore"):  # far tails: S underflows to 0, never NaN
                s = np.exp(d.logS(z))
                lo = np.exp(d.logS(z + zq * se))
                hi = np.exp(d.logS(z - zq * se))
        part = profile.reset_index(drop=True).copy()
        part.insert(0, "profile", np.arange(x.shape[0]))
        part["time"] = t
        part["survival"], part["survival_lower"], part["survival_upper"] = s, lo, hi
        rows.append(part)
    return pd.concat(rows, ignore_index=True).sort_values(["profile", "time"], kind="stable").reset_index(drop=True)
