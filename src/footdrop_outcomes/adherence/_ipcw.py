"""Inverse probability of censoring weights from a discrete-time model of records that end.

Shared by the discontinuation curves (:func:`~footdrop_outcomes.adherence.discontinuation` with
``censoring="ipcw"``) and the weighted GEE (:func:`~footdrop_outcomes.adherence.adherence_trend`
with ``weights="ipw"``). Rows are patient-weeks in time order within patient. On the rows where a
patient's record could end (``at_risk``), ``ends`` marks the week after which it ends; a pooled
logistic model of ``ends`` gives ``p_den`` (history model: baseline covariates, a B-spline of the
week, adherence known before the week) and ``p_num`` (time only, for stabilisation). The weight of
a row is the inverse probability of the record having run that far,

    w_k = prod_{j < k, j at risk} (1 - p_num_j) / (1 - p_den_j),

(Robins & Finkelstein 2000 for survival curves; Robins, Rotnitzky & Zhao 1995 for estimating
equations). Its derivative with respect to the model coefficients is ``w_k`` times a running sum
of ``p_den x_den`` (minus ``p_num x_num``) over the earlier rows, which is what the stacked
sandwich of :mod:`footdrop_outcomes.adherence._sandwich` needs, with the models' influence
functions per patient.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from footdrop_outcomes.adherence._input import AdherenceInputError
from footdrop_outcomes.adherence._sandwich import logistic_influence
from footdrop_outcomes.errors import ConvergenceError, FootdropError

__all__ = ["RecordEndWeights", "record_end_weights"]


@dataclass(frozen=True)
class RecordEndWeights:
    """Weights of every row and what the sandwich needs (module notes)."""

    weights: np.ndarray
    nuisance: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (dw/dgamma per row, psi per patient, psi's patient codes)
    model: pd.DataFrame  # coefficients of the history (denominator) model
    n_ends: int


def _logit(y: np.ndarray, x: pd.DataFrame, what: str) -> tuple[np.ndarray, pd.DataFrame]:
    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.Logit(y.astype(float), x).fit(disp=0, maxiter=100, method="newton")
    if not fit.mle_retvals.get("converged", True):
        raise ConvergenceError(f"the {what} did not converge; simplify its covariates")
    tab = pd.DataFrame({"term": fit.params.index, "log_or": fit.params.to_numpy(), "se": fit.bse.to_numpy()})
    return np.asarray(fit.predict(x), dtype=float), tab


def record_end_weights(rows: pd.DataFrame, *, cluster: np.ndarray, at_risk: np.ndarray, ends: np.ndarray, history: str,
                       time_col: str, what: str = "record-end (censoring) model", spline_df: int = 4) -> RecordEndWeights:
    """Stabilised inverse probability of censoring weights for every row.

    Parameters
    ----------
    rows : pandas.DataFrame
        Patient-weeks sorted by patient and time, with the columns the formulas name.
    cluster : numpy.ndarray
        Integer patient code of each row (0..n-1).
    at_risk : numpy.ndarray
        Rows on which the record could end (the model's rows).
    ends : numpy.ndarray
        On the ``at_risk`` rows: the record ends after this row.
    history : str
        Right-hand side of the denominator model besides the B-spline of ``time_col``
        (baseline covariates and time-varying history columns).
    time_col : str
        The time column (program week).

    Returns
    -------
    RecordEndWeights
    """
    from footdrop_outcomes._checks import formula_design

    at = rows.loc[at_risk]
    y = np.asarray(ends, dtype=bool)[at_risk]
    if y.sum() < 10:
        raise AdherenceInputError(f"only {int(y.sum())} records end in the analysed weeks; too few for a {what}")
    spline = f"bs({time_col}, df={spline_df})"
    try:
        _, xd = formula_design(at, f"{spline} + {history}" if history.strip() else spline, what=what, table="patient-weeks")
        _, xn = formula_design(at, spline, what=what, table="patient-weeks")
    except FootdropError as exc:
        raise AdherenceInputError(f"the {what} cannot be built: {exc}") from exc
    p_den, tab = _logit(y, xd, what)
    p_num, _ = _logit(y, xn, what)
    cl_at = np.asarray(cluster)[at_risk]
    idx = np.flatnonzero(at_risk)
    n_rows = len(rows)
    cl = np.asarray(cluster)

    def exclusive_cumsum(values: np.ndarray) -> np.ndarray:
        """Per row, the sum of ``values`` (given on at-risk rows) over the patient's earlier at-risk rows."""
        full = np.zeros((n_rows,) + values.shape[1:])
        full[idx] = values
        inclusive = pd.DataFrame(full.reshape(n_rows, -1)).groupby(cl, sort=False).cumsum().to_numpy()
        return (inclusive - full.reshape(n_rows, -1)).reshape(full.shape)

    log_r = np.log1p(-p_num) - np.log1p(-p_den)
    weights = np.exp(exclusive_cumsum(log_r))
    xdm, xnm = xd.to_numpy(float), xn.to_numpy(float)
    d_den = exclusive_cumsum(p_den[:, None] * xdm) * weights[:, None]
    d_num = -exclusive_cumsum(p_num[:, None] * xnm) * weights[:, None]
    psi_cl = np.unique(cl_at)
    nuisance = [(d_den, logistic_influence(xdm, y, p_den, cluster=cl_at), psi_cl),
                (d_num, logistic_influence(xnm, y, p_num, cluster=cl_at), psi_cl)]
    return RecordEndWeights(weights=weights, nuisance=nuisance, model=tab, n_ends=int(y.sum()))
