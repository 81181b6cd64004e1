"""Multiple imputation by chained equations (MICE) on an analysis frame.

:func:`impute` fills the missing covariates of a one-row-per-patient frame (such as
:func:`~footdrop_outcomes.survival.survival_frame` of a cohort) m times and returns the m
completed frames; :func:`fit_imputed` fits a model on each and pools the fits by Rubin's rules
(:func:`~footdrop_outcomes.imputation.pool`).

Method (van Buuren & Groothuis-Oudshoorn 2011, the defaults of R's ``mice``)
---------------------------------------------------------------------------
Each incomplete variable is imputed in turn from all the others (fully conditional
specification), starting from random draws of its observed values, for ``iterations`` sweeps:

* continuous: predictive mean matching (``"pmm"``): a Bayesian linear regression draw
  (``sigma*^2 = SSE / chi^2(n_obs - p)``, ``beta* ~ N(beta_hat, sigma*^2 (X'X)^-1)``), then each
  missing value takes the observed value of one of the ``donors`` (5) rows whose predicted mean
  under ``beta_hat`` is nearest to its own under ``beta*`` (type-1 matching, as
  ``mice.impute.pmm``). Imputed values are always values seen in the data (integers stay
  integers, no impossible BMIs);
* binary: logistic regression (``"logistic"``) fitted on a bootstrap sample of the observed
  rows -- the bootstrap fit is the parameter draw, as in ``mice.impute.logreg.boot`` -- then a
  Bernoulli draw;
* categorical with more than two levels: multinomial logistic regression (``"multinomial"``),
  same drawing.

Why the bootstrap and not mice's default ``logreg`` draw ``beta* ~ N(beta_hat, (X'WX)^-1)``:
averaging ``expit(x'beta*)`` over that normal approximation pulls every imputed probability
towards 0.5 by about ``p (1 - p) (1 - 2p) x'Vx / 2``. With the ~35 design columns of a survival
frame and a few hundred observed rows that is a bias, not a rounding: +1.0 percentage point
among the imputed rows of the simulation study (diabetes, 1,000 patients), +0.4 points in the
pooled Table 1 (3-4 MC SE over 400 replicates). The exact posterior (checked by importance
sampling) and the bootstrap both remove it (+0.05 and +0.10 points among the imputed rows);
fitting on case weights costs no more than the old fit. With fewer than about 3 events per
design column the bootstrap draw is biased too (+2 points at 1 event per column, against +6
for the normal draw): keep imputation models smaller than that (``predictors``).

mice's remedy for perfect prediction, augmenting the data with ``p + 1`` pseudo-observations
split evenly over the outcome levels (White, Daniel & Royston 2010), pulls the fit towards
equal shares (+0.9 points in the same study), so it is not used. Instead the logistic and
multinomial fits carry a weakly informative normal prior (Gelman, Jakulin, Pittau & Su 2008):
SD 2.5 on the log odds ratio of a 0/1 column, 2.5 per two SDs of another column, flat
intercept; a rare level whose observed rows all have one outcome then gets a finite
coefficient instead of wild draws. Fits are by Newton steps halved until the penalised
log-likelihood does not fall (a plain Newton step from the previous sweep's estimate can run off
to the bounds). Linear systems carry mice's ridge of ``1e-5`` times the diagonal. Continuous
predictors are standardised, categorical ones enter as treatment-coded indicators.

Starting values: one monotone pass: variables in
order of increasing missingness, each imputed from the outcome, the complete predictors and the
variables filled before it; then ``iterations`` full sweeps. mice's random draws of observed
values start far from the target under MAR, and two closely related incomplete variables
(diabetes and HbA1c) hold each other there for many sweeps: +3.6 points of diabetes after 5
sweeps in the six-covariate study.

The outcome in the imputation model
-----------------------------------
Leaving the outcome out of the imputation model biases the analysis towards no association.
For time to recovery (``outcome="right"``) the event indicator and the Nelson--Aalen estimate
of the cumulative hazard at each patient's time enter as predictors (White & Royston 2009,
*Stat Med* 28:1982): under proportional hazards with modest effects, ``log p(x | T, D)`` is
approximately linear in ``D`` and ``H0(T)``. For interval-censored recovery
(``outcome="interval"``) the exact recovery time is unknown; we use the event indicator
(``upper`` finite) and the Nelson--Aalen cumulative hazard of a single-point summary of each
interval: its midpoint (``upper / 2`` when recovery was seen at the first visit, ``lower`` when
not recovered). The midpoint is within half a visit gap of the true time, small against the
spread of recovery times (weeks to months), so ``H0`` at the midpoint carries nearly the same
information as ``H0(T)``; imputing ``T`` inside its interval jointly with the covariates would
be exact but needs the outcome model inside the imputation loop, for little gain here.
``outcome="none"`` imputes from the covariates alone (then put the outcome in ``predictors``
yourself).

How flexibly (``outcome_form``): where some never recover (a cure mixture, not proportional
hazards) the log-density of a covariate given the outcome is not linear in ``H``, and entering
``D`` and ``H`` linearly (``"linear"``) shrank the age coefficient by 1-2% on the simulator's
data (docs/missing_data.md). The default (``"spline"``) enters ``D``, a restricted cubic spline
(Harrell 2015) of the rank scale of ``H`` (knots at its 5/35/65/95% quantiles) and their products
with ``D``. On the seeds it was chosen on the age shrinkage went from 1.7% to 1.0% (Cox) and
1.2% to 1.0% (AFT); on fresh seeds from 1.8% to 0.5% and 1.2% to 0.7%. The linear form is used
below 50 rows, with fewer than 20 distinct values of ``H`` (event times), or where the quantile
knots tie (a large share of patients at one time; ``info["outcome"]`` says which).

Seeds: imputation ``l`` uses the ``l``-th child of ``numpy.random.SeedSequence(seed)``, so each
completed frame depends only on ``(seed, l)`` and the options, not on ``m``.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy import linalg, stats
from scipy.special import expit

from footdrop_outcomes._checks import check_choice, cross
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes._threads import limit_threads
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.imputation.pooling import PooledResult, pool

__all__ = ["ImputationResult", "Method", "Outcome", "OutcomeForm", "fit_imputed", "impute", "nelson_aalen_at"]

Method = Literal["pmm", "logistic", "multinomial"]
OutcomeForm = Literal["spline", "linear"]
Outcome = Literal["right", "interval", "none"]

_RIDGE = 1e-5
_PRIOR_SD = 2.5  # weakly informative prior of the logistic and multinomial imputation models (Gelman et al. 2008)
_MAX_LEVELS = 12  # a complete categorical predictor with more levels (ids, free text) is not used by default
_SPLINE_MIN_ROWS = 50  # outcome_form="spline" below this: the linear summary (7 outcome columns are too many)
_SPLINE_MIN_DISTINCT = 20  # distinct cumulative-hazard values (event times) the spline needs
_SPLINE_KNOTS = (0.05, 0.35, 0.65, 0.95)  # Harrell's quantiles for 4 knots


@dataclass(frozen=True, repr=False, kw_only=True)
class ImputationResult(AnalysisResult):
    """m completed copies of an analysis frame.

    Iterating gives the frames; ``len`` is m.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per imputed variable: ``variable``, ``method``, ``n_missing``,
        ``share_missing``, ``n_predictors`` (design columns of its imputation model).
    info : dict
        ``method``, ``m``, ``seed``, ``iterations``, ``donors``, ``outcome`` (how the outcome
        entered the imputation models), ``outcome_form`` (the form used), ``columns``, ``predictors``, ``n``,
        ``n_incomplete_rows``, ``complete_case_n``.
    frames : tuple of pandas.DataFrame
        The completed frames (same index, columns and dtypes as the input).
    """

    frames: tuple[pd.DataFrame, ...]

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return iter(self.frames)

    def __getitem__(self, i: int) -> pd.DataFrame:
        return self.frames[i]

    def __repr__(self) -> str:
        i = self.info
        return (f"ImputationResult(m={i['m']}, n={i['n']}, incomplete rows={i['n_incomplete_rows']}, "
                f"variables={list(self.summary['variable'])}, outcome={i['outcome_kind']})")

    def fit(self, fit_fn: Callable[[pd.DataFrame], Any], **pool_options: Any) -> PooledResult:
        """Fit ``fit_fn`` on every completed frame and pool by Rubin's rules (see :func:`fit_imputed`)."""
        return fit_imputed(self, fit_fn, **pool_options)


# ------------------------------------------------------------------------------------------------
# outcome summaries


def nelson_aalen_at(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Nelson--Aalen cumulative hazard evaluated at each row's own time (ties: all events at t counted).

    Examples
    --------
    >>> nelson_aalen_at(np.array([1.0, 2.0, 2.0, 3.0]), np.array([1, 1, 0, 1])).round(3).tolist()
    [0.25, 0.583, 0.583, 1.583]
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    ut, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=event.astype(float), minlength=ut.size)
    n_at = np.bincount(inv, minlength=ut.size)
    at_risk = n_at[::-1].cumsum()[::-1]
    return np.cumsum(d / at_risk)[inv]


def _outcome_block(frame: pd.DataFrame, outcome: str, duration_col: str, event_col: str, lower_col: str,
                   upper_col: str, form: str = "spline") -> tuple[np.ndarray, list[str], str, str | None]:
    """The outcome columns of every imputation model, the outcome columns used, the sentence for
    ``info["outcome"]`` and the form used (None for ``outcome="none"``)."""
    if outcome == "none":
        return np.zeros((len(frame), 0)), [], "not in the imputation models (outcome='none')", None
    if outcome == "right":
        cols = [duration_col, event_col]
        _need(frame, cols, "outcome='right'")
        t = pd.to_numeric(frame[duration_col], errors="coerce").to_numpy(dtype=float)
        ev = frame[event_col]
        bad = ~np.isfinite(t) | ~ev.isin([0, 1, True, False]).to_numpy() | ev.isna().to_numpy()
        _rows_error(frame, bad, f"{duration_col}/{event_col} must be complete (finite times, 0/1 events) to enter the imputation model")
        e = ev.to_numpy().astype(float)
        how = (f"event indicator ({event_col}) and Nelson-Aalen cumulative hazard at {duration_col} as predictors "
               "(White & Royston 2009)")
    else:
        cols = [lower_col, upper_col]
        _need(frame, cols, "outcome='interval'")
        lo = pd.to_numeric(frame[lower_col], errors="coerce").to_numpy(dtype=float)
        up = pd.to_numeric(frame[upper_col], errors="coerce").to_numpy(dtype=float)
        up = np.where(np.isnan(up), np.inf, up)
        bad = ~np.isfinite(lo) | (lo < 0) | ~(up > lo)
        _rows_error(frame, bad, f"{lower_col}/{upper_col} must be complete intervals to enter the imputation model")
        e = np.isfinite(up).astype(float)
        t = np.where(np.isfinite(up), np.where(lo > 0, 0.5 * (lo + up), 0.5 * up), lo)
        how = (f"recovery indicator ({upper_col} finite) and Nelson-Aalen cumulative hazard at the interval midpoint "
               "as predictors (White & Royston 2009, midpoint for the unknown time within the interval)")
    h = nelson_aalen_at(t, e.astype(bool))
    if form == "spline":
        block, why_not = _rank_spline_block(e, h)
        if block is not None:
            return block, cols, how.replace(" as predictors", "") + (
                ", entered flexibly: event indicator D, restricted cubic spline of the rank of the cumulative hazard "
                "(4 knots at its 5/35/65/95% quantiles) and their products with D"), "spline"
        how += f" (entered linearly, not as the spline asked for: {why_not})"
    return np.column_stack([e, _std(h)]), cols, how, "linear"


def _std(v: np.ndarray) -> np.ndarray:
    return (v - v.mean()) / (v.std() or 1.0)


def _rank_spline_block(e: np.ndarray, h: np.ndarray) -> tuple[np.ndarray | None, str]:
    """``D``, the rank scale ``u`` of ``H`` (mid-ranks: tied ``H``, tied ``u``) and its restricted cubic
    spline columns, each also times ``D``; or None and the reason the linear form is used instead."""
    if h.size < _SPLINE_MIN_ROWS:
        return None, f"fewer than {_SPLINE_MIN_ROWS} rows"
    if np.unique(h).size < _SPLINE_MIN_DISTINCT:
        return None, f"fewer than {_SPLINE_MIN_DISTINCT} distinct values of the cumulative hazard (event times)"
    u = stats.rankdata(h) / (h.size + 1.0)
    knots = np.quantile(u, _SPLINE_KNOTS)
    if np.any(np.diff(knots) <= 0):  # a large share at one time (e.g. censored together): the knots tie
        return None, "its quantile knots tie (a large share of patients at one time)"
    from footdrop_outcomes.adherence.outcome import (
        natural_spline_basis,  # Harrell's restricted cubic spline
    )

    cols = [_std(c) for c in natural_spline_basis(u, knots).T]  # u, then the K - 2 nonlinear columns
    return np.column_stack([e, *cols, *(e * c for c in cols)]), ""


def _need(frame: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise FootdropError(f"data has no column(s) {missing} needed by {what} (columns: {list(frame.columns)[:15]})")


def _rows_error(frame: pd.DataFrame, bad: np.ndarray, what: str) -> None:
    if bad.any():
        raise FootdropError(f"data: {what}; rows {frame.index[np.flatnonzero(bad)[:8]].tolist()} are not")


# ------------------------------------------------------------------------------------------------
# variables: encoding, kinds


@dataclass
class _Var:
    name: str
    kind: str                  # "numeric", "binary", "categorical"
    levels: tuple[Any, ...]    # binary / categorical levels (codes index them)
    values: np.ndarray         # float (numeric) or codes as float (binary 0/1, categorical 0..K-1); NaN = missing
    miss: np.ndarray           # bool
    mean: float = 0.0
    sd: float = 1.0

    def block(self, cur: np.ndarray) -> np.ndarray:
        if self.kind == "numeric":
            return ((cur - self.mean) / self.sd)[:, None]
        if self.kind == "binary":
            return cur[:, None]
        k = len(self.levels)
        codes = cur.astype(np.int64)
        out = np.zeros((cur.size, k - 1))
        on = codes > 0
        out[np.flatnonzero(on), codes[on] - 1] = 1.0
        return out


def _encode(frame: pd.DataFrame, name: str) -> _Var:
    s = frame[name]
    miss = pd.isna(s).to_numpy()
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype) or dt == object or pd.api.types.is_string_dtype(dt) or pd.api.types.is_bool_dtype(dt):
        if isinstance(dt, pd.CategoricalDtype):
            levels = tuple(c for c in dt.categories if (s == c).any())
        else:
            levels = tuple(sorted(s.dropna().unique(), key=lambda v: (str(type(v)), v)))
        codes = np.full(len(s), np.nan)
        obs = ~miss
        lookup = {v: i for i, v in enumerate(levels)}
        codes[obs] = [lookup[v] for v in s[obs]]
        kind = "binary" if len(levels) == 2 else "categorical"
        return _Var(name, kind, levels, codes, miss)
    if not pd.api.types.is_numeric_dtype(dt):
        raise FootdropError(f"data.{name}: columns of type {dt} cannot be imputed or used as predictors; convert or exclude it")
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    obs = v[~miss]
    if not np.all(np.isfinite(obs)):
        raise FootdropError(f"data.{name}: infinite values cannot be imputed or used as predictors; rows "
                            f"{frame.index[np.flatnonzero(~miss & ~np.isfinite(v))[:8]].tolist()}")
    if obs.size and np.all((obs == 0) | (obs == 1)):
        return _Var(name, "binary", (0, 1), v, miss)
    mean = float(obs.mean()) if obs.size else 0.0
    sd = float(obs.std()) if obs.size > 1 and obs.std() > 0 else 1.0
    return _Var(name, "numeric", (), v, miss, mean, sd)


def _default_method(v: _Var) -> str:
    return {"numeric": "pmm", "binary": "logistic", "categorical": "multinomial"}[v.kind]


# ------------------------------------------------------------------------------------------------
# the three imputation models


def _solve_pd(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
    c = linalg.cho_factor(a + _RIDGE * np.diag(np.maximum(np.diag(a), 1e-8)), check_finite=False)
    return linalg.cho_solve(c, b, check_finite=False), c


def _normal_draw(rng: np.random.Generator, x_obs: np.ndarray, y_obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Bayesian linear regression draw (mice's ``.norm.draw``): ``sigma*^2 = SSE / chi^2(n - p)``,
    ``beta* ~ N(beta_hat, sigma*^2 (X'X)^-1)``; returns ``beta_hat, beta*, sigma*``."""
    xtx = cross(x_obs, x_obs)
    beta, _ = _solve_pd(xtx, cross(x_obs, y_obs[:, None])[:, 0])
    resid = y_obs - x_obs @ beta
    df = max(y_obs.size - x_obs.shape[1], 1)
    sigma = math.sqrt(float(resid @ resid) / rng.chisquare(df))
    z = rng.standard_normal(beta.size)
    c = linalg.cholesky(xtx + _RIDGE * np.diag(np.maximum(np.diag(xtx), 1e-8)), lower=False, check_finite=False)
    beta_star = beta + sigma * linalg.solve_triangular(c, z, lower=False, check_finite=False)
    return beta, beta_star, sigma


def _pmm(rng: np.random.Generator, x_obs: np.ndarray, y_obs: np.ndarray, x_mis: np.ndarray, donors: int) -> np.ndarray:
    beta, beta_star, _ = _normal_draw(rng, x_obs, y_obs)
    yhat_obs = x_obs @ beta
    yhat_mis = x_mis @ beta_star
    order = np.argsort(yhat_obs, kind="stable")
    sorted_hat = yhat_obs[order]
    k = min(donors, y_obs.size)
    pos = np.searchsorted(sorted_hat, yhat_mis)
    lo = np.clip(pos - k, 0, max(y_obs.size - 2 * k, 0))
    window = lo[:, None] + np.arange(min(2 * k, y_obs.size))[None, :]
    dist = np.abs(sorted_hat[window] - yhat_mis[:, None])
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
    pick = nearest[np.arange(yhat_mis.size), rng.integers(0, k, yhat_mis.size)]
    return y_obs[order[window[np.arange(yhat_mis.size), pick]]]


def _newton(value: Callable[[np.ndarray], float], derivatives: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
            b: np.ndarray, max_iter: int = 50) -> np.ndarray:
    """Maximise a concave penalised log-likelihood by Newton steps, halved until the value does not fall.

    Plain Newton steps from a warm start can overshoot where fitted probabilities saturate and
    then run off to the bounds; the step halving keeps every step an ascent step.
    """
    b = np.asarray(b, dtype=float).copy()
    f = value(b)
    for _ in range(max_iter):
        g, h = derivatives(b)
        step, _ = _solve_pd(h, g)
        t = 1.0
        while True:
            nb = b + t * step
            nf = value(nb)
            if nf >= f - 1e-10 * (1.0 + abs(f)) or t < 1e-4:
                break
            t *= 0.5
        gain = nf - f
        b, f = nb, nf
        if np.max(np.abs(t * step)) < 1e-6 or gain < 1e-9 * (1.0 + abs(f)):
            break
    return b


def _prior_precision(x: np.ndarray) -> np.ndarray:
    """Precision of the weakly informative normal prior on each design column's coefficient.

    Gelman, Jakulin, Pittau & Su (2008, *Ann Appl Stat* 2:1360): a 0/1 column's coefficient has
    prior SD 2.5 (log odds ratio), another column's 2.5 per two SDs of the column; the intercept
    (column 0) is flat. It keeps the fit finite when a rare level has only one outcome (quasi-
    complete separation), and changes a well-identified coefficient by a fraction of its SE.
    """
    sd = x.std(axis=0)
    binary = np.all((x == 0.0) | (x == 1.0), axis=0)
    prec = np.where(binary, 1.0 / _PRIOR_SD**2, np.where(sd > 0, (2.0 * sd / _PRIOR_SD) ** 2, 0.0))
    prec[0] = 0.0
    return prec


def _bootstrap_weights(rng: np.random.Generator, n: int) -> np.ndarray:
    """Case weights of a bootstrap sample of n rows (how often each row was drawn)."""
    return np.bincount(rng.integers(0, n, n), minlength=n).astype(float)


def _logistic(rng: np.random.Generator, x_obs: np.ndarray, y_obs: np.ndarray, x_mis: np.ndarray,
              start: np.ndarray | None, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logistic imputation: fit on a bootstrap sample of the observed rows, then Bernoulli draws.

    The bootstrap fit is the parameter draw (mice's ``logreg.boot``): a draw from the normal
    approximation ``N(b, (X'WX)^-1)`` (mice's ``logreg``) pulls the imputed probabilities towards
    0.5 by about ``p(1-p)(1-2p) x'Vx / 2``, which with tens of design columns and a few hundred
    observed rows is a bias of a percentage point or more (see the module notes).
    """
    wt = _bootstrap_weights(rng, y_obs.size)

    def value(b: np.ndarray) -> float:
        eta = x_obs @ b
        return float(wt @ (y_obs * eta - np.logaddexp(0.0, eta)) - 0.5 * prior @ (b * b))

    def derivatives(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = expit(x_obs @ b)
        h = cross(x_obs * (wt * np.maximum(p * (1 - p), 1e-10))[:, None], x_obs) + np.diag(prior)
        return cross(x_obs, (wt * (y_obs - p))[:, None])[:, 0] - prior * b, h

    b = _newton(value, derivatives, np.zeros(x_obs.shape[1]) if start is None else start)
    return (rng.random(x_mis.shape[0]) < expit(x_mis @ b)).astype(float), b


def _multinomial(rng: np.random.Generator, x_obs: np.ndarray, y_obs: np.ndarray, x_mis: np.ndarray, k: int,
                 start: np.ndarray | None, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logit (reference level 0) by Newton on a bootstrap sample of the observed rows
    (the parameter draw, as :func:`_logistic`); draws the categories of the missing rows."""
    n, p = x_obs.shape
    wt = _bootstrap_weights(rng, n)
    prior_flat = np.tile(prior, k - 1)
    y = np.zeros((n, k))
    y[np.arange(n), y_obs.astype(np.int64)] = 1.0
    b = np.zeros((p, k - 1)) if start is None else start.copy()

    def probs(x: np.ndarray, coef: np.ndarray) -> np.ndarray:
        eta = np.column_stack([np.zeros(x.shape[0]), x @ coef])
        eta -= eta.max(axis=1, keepdims=True)
        e = np.exp(eta)
        return e / e.sum(axis=1, keepdims=True)

    def hessian(pr: np.ndarray) -> np.ndarray:
        q = pr[:, 1:]
        h = np.empty(((k - 1) * p, (k - 1) * p))
        for a in range(k - 1):
            for c in range(a, k - 1):
                w = wt * q[:, a] * ((a == c) - q[:, c])
                blk = cross(x_obs * w[:, None], x_obs)
                h[a * p:(a + 1) * p, c * p:(c + 1) * p] = blk
                h[c * p:(c + 1) * p, a * p:(a + 1) * p] = blk
        return h + np.diag(prior_flat)

    def value(flat: np.ndarray) -> float:
        eta = np.column_stack([np.zeros(n), x_obs @ flat.reshape(k - 1, p).T])
        top = eta.max(axis=1)
        ll = (eta * y).sum(axis=1) - top - np.log(np.exp(eta - top[:, None]).sum(axis=1))
        return float(wt @ ll - 0.5 * prior_flat @ (flat * flat))

    def derivatives(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pr = probs(x_obs, flat.reshape(k - 1, p).T)
        g = cross(x_obs, wt[:, None] * (y[:, 1:] - pr[:, 1:])).T.ravel() - prior_flat * flat  # level-major: (k-1) blocks of p
        return g, hessian(pr)

    b = _newton(value, derivatives, b.T.ravel()).reshape(k - 1, p).T
    pm = probs(x_mis, b)
    u = rng.random(x_mis.shape[0])[:, None]
    return np.minimum((pm.cumsum(axis=1) < u).sum(axis=1), k - 1).astype(float), b


# ------------------------------------------------------------------------------------------------
# public


@limit_threads
def impute(
    frame: pd.DataFrame,
    *,
    m: int = 5,
    seed: int,
    columns: Sequence[str] | None = None,
    predictors: Sequence[str] | None = None,
    methods: dict[str, Method] | None = None,
    outcome: Outcome = "right",
    outcome_form: OutcomeForm = "spline",
    duration_col: str = "time",
    event_col: str = "event",
    lower_col: str = "lower",
    upper_col: str = "upper",
    iterations: int = 10,
    donors: int = 5,
    substantive: str | None = None,
    n_jobs: int = 1,
) -> ImputationResult:
    """Multiple imputation of missing covariates by chained equations (MICE).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per patient, e.g. ``survival_frame(cohort)``.
    m : int
        Number of completed frames (imputations).
    seed : int
        Seed (>= 0): the same seed and options give the same frames.
    columns : sequence of str, optional
        Variables to impute; default every column with missing values other than the outcome
        and id columns.
    predictors : sequence of str, optional
        Variables used to predict the others (the imputed ones are always included); default
        every complete column that is numeric, boolean, or categorical with at most 12 levels,
        except ``*_id`` columns and the outcome columns (``duration_col``, ``event_col``,
        ``lower_col``, ``upper_col``, ``kind``), which enter only as ``outcome`` says.
    methods : dict, optional
        Per-variable method, ``"pmm"``, ``"logistic"`` or ``"multinomial"``; default by type
        (numeric: pmm; two levels: logistic; more: multinomial).
    outcome : {"right", "interval", "none"}
        How the outcome enters each imputation model (see the module notes): ``"right"``
        (``duration_col`` and ``event_col``), ``"interval"`` (``lower_col`` and ``upper_col``)
        or ``"none"``.
    duration_col, event_col, lower_col, upper_col : str
        Outcome columns.
    iterations : int
        Sweeps over the incomplete variables (mice's ``maxit``), after the monotone pass
        that gives the starting values (see the module notes).
    donors : int
        Donor pool of predictive mean matching.
    outcome_form : {"spline", "linear"}
        How flexibly the outcome summary enters (module notes): ``"spline"`` (default) ``D``, a
        restricted cubic spline of the rank of ``H`` (4 knots) and their products with ``D`` (7
        columns; the linear form is used below 50 rows, 20 distinct values of ``H``, or where the
        knots tie, and ``info["outcome"]`` says why); ``"linear"`` the event indicator ``D`` and
        ``H`` (White & Royston 2009; the earlier default). Ignored for ``outcome="none"``.
        ``info["outcome_form"]`` is the form used (None for ``outcome="none"``).
    substantive : str, optional
        Right-hand side of the Cox model that will be fitted to the completed frames, e.g.
        ``"severity + age + diabetes"`` (needs ``outcome="right"``; every imputed column must be
        in it, and it must be linear in each continuous one). The sweeps then impute
        substantive-model-compatibly (SMC-FCS, Bartlett et al. 2015; :mod:`.smc`): from the
        distribution each missing value has under that Cox model and a covariate model without
        the outcome, continuous variables by rejection sampling from a normal linear model
        (not predictive mean matching); each covariate model conditions on the formula's other
        variables, as R's ``smcfcs`` (auxiliary predictors enter only the monotone starting pass,
        which is the plain one). Where the Cox model holds it removes the attenuation of the
        default outcome summary; on data with a share who never recover (not proportional
        hazards) it was worse than the default (age shrunk 9% against 2%; docs/missing_data.md):
        check the model's fit first.
    n_jobs : int
        Worker processes for the m chains (they are independent); the frames are the same
        whatever ``n_jobs``. Processes are forked (Linux, macOS); elsewhere the chains run
        one after another. It pays only with idle cores: on a busy 2-core machine (load 4-5),
        m = 6 on 20,000 patients took 4.9 s serial and 5.2 s with 2 workers.

    Notes
    -----
    BLAS threads are held to the toolkit's fit limit (one by default; see
    ``footdrop_outcomes._threads``): the chains do many tall-and-skinny products, and on a
    busy 2-core machine OpenBLAS's own threads made m = 4 on 19,000 patients take 31.9 s
    (10.0 s CPU) instead of 4.5 s (1.5 s CPU).

    Returns
    -------
    ImputationResult
        The m completed frames with the input's index, columns and dtypes.

    Raises
    ------
    FootdropError
        Missing columns, incomplete outcome rows (named by row), a variable with no observed
        value, a type that cannot be imputed.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> from footdrop_outcomes.survival import survival_frame
    >>> frame = survival_frame(simulate_cohort(300, seed=1))
    >>> imp = impute(frame, m=3, seed=7, columns=["hba1c", "bmi"], iterations=3)
    >>> len(imp), int(imp[0]["bmi"].isna().sum())
    (3, 0)
    """
    if not isinstance(frame, pd.DataFrame):
        raise FootdropError(f"impute needs a pandas DataFrame (e.g. survival_frame(cohort)), got {type(frame).__name__}")
    for name, val, least in (("m", m, 1), ("seed", seed, 0), ("iterations", iterations, 1), ("donors", donors, 1),
                             ("n_jobs", n_jobs, 1)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < least:
            raise ConfigError(f"{name} must be a whole number >= {least}, got {val!r}")
    check_choice("outcome", outcome, get_args(Outcome))
    check_choice("outcome_form", outcome_form, get_args(OutcomeForm))
    if substantive is not None and (not isinstance(substantive, str) or outcome != "right"):
        raise ConfigError("substantive must be the right-hand side of a Cox formula (a string) and needs outcome='right'")
    out_block, _, how, form_used = _outcome_block(frame, outcome, duration_col, event_col, lower_col, upper_col, outcome_form)
    # outcome columns never predict by default (outcome='none': name them in predictors to use them)
    reserved = {c for c in (duration_col, event_col, lower_col, upper_col, "kind") if c in frame.columns}
    is_id = {c for c in frame.columns if str(c) == "id" or str(c).endswith("_id")}
    if columns is None:
        targets = [c for c in frame.columns if c not in reserved and c not in is_id and frame[c].isna().any()]
    else:
        _need(frame, list(columns), "columns")
        targets = [c for c in columns if frame[c].isna().any()]
    if predictors is None:
        preds = []
        for c in frame.columns:
            if c in reserved or c in is_id or c in targets or frame[c].isna().any():
                continue
            s = frame[c]
            if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype) or s.nunique() <= _MAX_LEVELS:
                preds.append(c)
    else:
        _need(frame, list(predictors), "predictors")
        incomplete = [c for c in predictors if c not in targets and frame[c].isna().any()]
        if incomplete:
            raise FootdropError(f"predictor(s) {incomplete} have missing values: impute them too (add them to columns)")
        preds = [c for c in predictors if c not in targets]
    vars_ = {c: _encode(frame, c) for c in [*targets, *preds]}
    for c in targets:
        if vars_[c].miss.all():
            raise FootdropError(f"data.{c}: no observed value, so it cannot be imputed; drop the column")
        if vars_[c].kind != "numeric" and len(vars_[c].levels) < 2:
            raise FootdropError(f"data.{c}: a single observed level, so there is nothing to impute from; drop or fill it")
    meth = {c: _default_method(vars_[c]) for c in targets}
    for c, mth in (methods or {}).items():
        if c not in meth:
            raise ConfigError(f"methods names {c!r}, which is not imputed (imputed: {targets})")
        check_choice(f"methods[{c!r}]", mth, get_args(Method))
        fits = {"pmm": ("numeric", "binary"), "logistic": ("binary",), "multinomial": ("binary", "categorical")}[mth]
        if vars_[c].kind not in fits:
            raise ConfigError(f"methods[{c!r}] = {mth!r} does not fit a {vars_[c].kind} variable")
        meth[c] = mth
    smc = None
    if substantive is not None:
        from footdrop_outcomes.imputation.smc import CoxSubstantive
        from footdrop_outcomes.survival._missing import formula_variables

        in_model = set(formula_variables(substantive, "the outcome columns"))
        outside = [c for c in targets if c not in in_model]
        if outside:
            raise ConfigError(f"substantive: imputed column(s) {outside} are not in the formula; SMC-FCS imputes the "
                              "covariates of the analysis model (impute the others without substantive, or add them)")
        absent = sorted(v for v in in_model if v not in vars_)
        if absent:
            raise ConfigError(f"substantive: formula variable(s) {absent} are neither imputed nor predictors")
        smc = CoxSubstantive(substantive, sorted(in_model), duration_col, event_col,
                             pd.to_numeric(frame[duration_col]).to_numpy(dtype=float), frame[event_col].to_numpy().astype(bool))
        how = f"SMC-FCS: compatible with the Cox model ~ {substantive} (Bartlett et al. 2015); starting pass: {how}"
    children = np.random.SeedSequence(int(seed)).spawn(int(m))
    args = (frame, vars_, targets, preds, meth, out_block, smc)
    workers = min(int(n_jobs), int(m))
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool_:
            chains = list(pool_.map(_run_chain, [(*args, ch, iterations, donors) for ch in children]))
    else:
        chains = [_run_chain((*args, ch, iterations, donors)) for ch in children]
    frames = tuple(c[0] for c in chains)
    n_pred = 1 + out_block.shape[1] + sum(vars_[c].block(np.nan_to_num(vars_[c].values)).shape[1] for c in [*targets, *preds])
    summary = pd.DataFrame({
        "variable": targets, "method": [meth[c] for c in targets],
        "n_missing": [int(vars_[c].miss.sum()) for c in targets],
        "share_missing": [float(vars_[c].miss.mean()) for c in targets],
        "n_predictors": [n_pred - vars_[c].block(np.nan_to_num(vars_[c].values)).shape[1] for c in targets],
    })
    incomplete_rows = np.zeros(len(frame), dtype=bool)
    for c in targets:
        incomplete_rows |= vars_[c].miss
    info = {
        "method": ("multiple imputation by chained equations (pmm; logistic / multinomial fitted on a bootstrap "
                   "sample with a weak normal prior; monotone starting pass)"), "m": int(m),
        "seed": int(seed), "iterations": int(iterations), "donors": int(donors), "outcome_kind": outcome, "outcome_form": form_used, "outcome": how,
        "columns": targets, "predictors": preds, "n": len(frame), "n_incomplete_rows": int(incomplete_rows.sum()),
        "complete_case_n": int((~incomplete_rows).sum()),
        "substantive": substantive,
    }
    if smc is not None:
        info["method"] = ("substantive-model-compatible chained equations (SMC-FCS) for the Cox model ~ " + substantive
                          + "; covariate models: normal linear (continuous), logistic / multinomial on a bootstrap sample")
        info["smc_rejection_failures"] = int(sum(c[1] for c in chains))
    return ImputationResult(summary=summary, info=info, frames=frames)


def _run_chain(a: tuple[Any, ...]) -> tuple[pd.DataFrame, int]:
    """One chain from its SeedSequence child (a picklable unit of work for the process pool); returns the
    completed frame and the SMC rejection-sampling failures."""
    frame, vars_, targets, preds, meth, out_block, smc, child, iterations, donors = a
    if smc is not None:
        smc = dataclasses.replace(smc)  # its own failure count
    out = _chain(frame, vars_, targets, preds, meth, out_block, np.random.default_rng(child), iterations, donors, smc)
    return out, 0 if smc is None else smc.failures


def _step(rng: np.random.Generator, v: _Var, method: str, x: np.ndarray, start: np.ndarray | None,
          donors: int, priors: dict[tuple[str, int], np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """One imputation of ``v``'s missing rows from the design ``x`` (all rows); returns the values and the coefficients.

    ``priors`` caches each model's prior precision (by variable and design width): the column
    SDs it rests on barely move between sweeps, and computing them is a pass over the design.
    """
    obs = ~v.miss
    x_obs, x_mis, y_obs = x[obs], x[v.miss], v.values[obs]
    if method == "pmm":
        return _pmm(rng, x_obs, y_obs, x_mis, donors), None
    key = (v.name, x.shape[1])
    if key not in priors:
        priors[key] = _prior_precision(x)
    prior = priors[key]
    if method == "logistic":
        y01 = y_obs if v.kind == "binary" else (y_obs > 0).astype(float)
        return _logistic(rng, x_obs, y01, x_mis, start, prior)
    return _multinomial(rng, x_obs, y_obs, x_mis, len(v.levels), start, prior)


def _chain(frame: pd.DataFrame, vars_: dict[str, _Var], targets: list[str], preds: list[str], meth: dict[str, str],
           out_block: np.ndarray, rng: np.random.Generator, iterations: int, donors: int, smc: Any = None) -> pd.DataFrame:
    """One chain of chained equations; returns a completed copy of ``frame``.

    Starting values come from one monotone pass:
    the variables are imputed in order of increasing missingness, each from the outcome, the
    complete predictors and the variables already filled in. Random draws of observed values
    (R mice's start) are far from the target distribution under MAR, and two closely related
    incomplete variables (diabetes and HbA1c) then hold each other there for many sweeps.
    """
    cur = {c: v.values.copy() for c, v in vars_.items()}
    blocks = {c: vars_[c].block(cur[c]) for c in preds}
    n = len(frame)
    ones = np.ones((n, 1))
    done: list[str] = []
    priors: dict[tuple[str, int], np.ndarray] = {}
    for c in sorted(targets, key=lambda t: int(vars_[t].miss.sum())):  # stable: ties keep the column order
        v = vars_[c]
        x = np.hstack([ones, out_block, *(blocks[o] for o in preds), *(blocks[o] for o in done)])
        cur[c][v.miss], _ = _step(rng, v, meth[c], x, None, donors, priors)
        blocks[c] = v.block(cur[c])
        done.append(c)
    starts: dict[str, np.ndarray | None] = {c: None for c in targets}
    # SMC-FCS covariate models: the other variables of the analysis model (as R smcfcs), not the auxiliaries
    smc_vars = [] if smc is None else [o for o in vars_ if o in smc.variables]
    for _ in range(iterations):
        for c in targets:
            v = vars_[c]
            if smc is None:
                x = np.hstack([ones, out_block, *(blocks[o] for o in vars_ if o != c)])
                cur[c][v.miss], starts[c] = _step(rng, v, meth[c], x, starts[c], donors, priors)
            else:  # SMC-FCS: a covariate model without the outcome, then the Cox model's conditional
                from footdrop_outcomes.imputation.smc import covariate_model

                x = np.hstack([ones, *(blocks[o] for o in smc_vars if o != c)])
                key = (v.name, x.shape[1])
                if key not in priors:
                    priors[key] = _prior_precision(x)
                # fitted to every row at its current value (observed or imputed), as smcfcs: where missingness
                # depends on the outcome the observed rows alone give a biased p(x | z)
                model, starts[c] = covariate_model(rng, v.kind, meth[c], x, cur[c], x[v.miss],
                                                   len(v.levels), starts[c], priors[key])
                cur[c][v.miss] = smc.draw(rng, _fill(frame, vars_, cur, targets), c, v.kind, v.levels, v.miss, model)
            blocks[c] = v.block(cur[c])
    return _fill(frame, vars_, cur, targets)


def _fill(frame: pd.DataFrame, vars_: dict[str, _Var], cur: dict[str, np.ndarray], targets: list[str]) -> pd.DataFrame:
    """A copy of ``frame`` with the targets' current values in their missing rows, in the input's dtypes."""
    out = frame.copy()
    for c in targets:
        v = vars_[c]
        idx = np.flatnonzero(v.miss)
        if v.kind == "numeric":
            vals: Any = cur[c][idx]
        else:
            vals = [v.levels[int(k)] for k in cur[c][idx]]
        col = out[c].copy()
        if pd.api.types.is_integer_dtype(col.dtype) or (v.kind == "numeric" and pd.api.types.is_integer_dtype(frame[c].dropna().dtype)):
            vals = np.round(np.asarray(vals, dtype=float)).astype(np.int64)
        col.iloc[idx] = vals
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            col = col.astype(frame[c].dtype)
        elif frame[c].dtype == object and not v.miss.all():
            obs_types = {type(x) for x in frame[c].dropna()}
            if obs_types <= {bool, np.bool_}:
                col = col.astype(bool)
        out[c] = col
    return out


_FIT: dict[str, Any] = {}


def _fit_one(i: int) -> Any:
    """Fit the ``i``-th frame in a forked worker (the function and frames are inherited, not pickled)."""
    return _FIT["fn"](_FIT["frames"][i])


@limit_threads
def fit_imputed(
    imputed: ImputationResult | Sequence[pd.DataFrame],
    fit_fn: Callable[[pd.DataFrame], Any],
    *,
    dfcom: float | None = None,
    alpha: float = 0.05,
    exponentiate: bool = False,
    n_jobs: int = 1,
) -> PooledResult:
    """Fit a model on each completed frame and pool the fits by Rubin's rules.

    Parameters
    ----------
    imputed : ImputationResult or sequence of pandas.DataFrame
        The output of :func:`impute`, or completed frames made elsewhere.
    fit_fn : callable
        ``frame -> fitted result`` (e.g. ``lambda d: fit_cox(d, "age + severity")``).
    dfcom, alpha, exponentiate
        Passed to :func:`~footdrop_outcomes.imputation.pool`.
    n_jobs : int
        Worker processes for the m fits (forked: ``fit_fn`` may be a lambda; elsewhere the
        fits run one after another). The fitted results must be picklable (every model of the
        toolkit is). It pays with idle cores only.

    Returns
    -------
    PooledResult
        ``info`` also carries the imputation's ``info`` (as ``imputation``) when given an
        :class:`ImputationResult`.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> from footdrop_outcomes.survival import fit_cox, survival_frame
    >>> frame = survival_frame(simulate_cohort(300, seed=1))
    >>> imp = impute(frame, m=2, seed=7, columns=["bmi"], iterations=2)
    >>> fit_imputed(imp, lambda d: fit_cox(d, "severity + bmi")).summary["term"].tolist()
    ['severity[moderate]', 'severity[severe]', 'bmi']
    """
    frames = list(imputed.frames if isinstance(imputed, ImputationResult) else imputed)
    if not frames or not all(isinstance(f, pd.DataFrame) for f in frames):
        raise ConfigError("imputed must be an ImputationResult or a non-empty list of completed DataFrames")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ConfigError(f"n_jobs must be a whole number >= 1, got {n_jobs!r}")
    workers = min(int(n_jobs), len(frames))
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        _FIT.update(fn=fit_fn, frames=frames)
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool_:
                fits = list(pool_.map(_fit_one, range(len(frames))))
        finally:
            _FIT.clear()
    else:
        fits = [fit_fn(f) for f in frames]
    res = pool(fits, dfcom=dfcom, alpha=alpha, exponentiate=exponentiate)
    if isinstance(imputed, ImputationResult):
        res.info["imputation"] = dict(imputed.info)
    return res
