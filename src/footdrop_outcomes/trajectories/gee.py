"""Population-averaged trajectories by generalised estimating equations (GEE).

:func:`fit_trajectory_gee` fits the same mean model as :func:`~footdrop_outcomes.trajectories.fit_trajectory`
(formula with the ``time`` token or a time variable; log, linear weeks, months or spline basis) with statsmodels ``GEE`` (Gaussian,
identity link), a working correlation within patients (exchangeable by default, or
independence) and cluster-robust (sandwich) standard errors, which stay valid when the working
correlation is wrong. For a linear model the population-averaged and the mixed model's
population-mean curves estimate the same thing, so the two fits are a check on each other; the
GEE makes no normality or random-effects assumptions but is less efficient, and with few
patients its sandwich SEs are too small (no small-sample correction is applied).
"""

from __future__ import annotations

import math
import time as _time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd

from footdrop_outcomes._checks import check_alpha, p_value, zq
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes._threads import limit_threads
from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.survival._missing import Missing
from footdrop_outcomes.trajectories._curves import MeanCurves
from footdrop_outcomes.trajectories._design import (
    Design,
    Prepared,
    TimeBasisKind,
    check_choice,
    prepare,
    reference_column,
    versions,
)
from footdrop_outcomes.trajectories.mixed import DEFAULT_FORMULA, TrajectoryFitWarning

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["Correlation", "GEEResult", "fit_trajectory_gee"]

Correlation = Literal["exchangeable", "independence"]


@dataclass(frozen=True, repr=False, kw_only=True)
class GEEResult(MeanCurves, AnalysisResult):
    """A GEE fit of a trajectory (population-averaged mean, robust SEs).

    Attributes
    ----------
    summary : pandas.DataFrame
        ``term``, ``estimate``, ``se`` (robust), ``lower``, ``upper``, ``z``, ``p``.
    info : dict
        ``method``, ``correlation``, ``working_correlation`` (the estimated within-patient
        correlation; 0 for independence), ``scale``, ``formula``, ``time_basis``, ``outcome``,
        ``n``, ``groups``, ``n_missing_outcome``, ``converged``, ``warnings``, ``versions``.
    params : pandas.Series
    cov : pandas.DataFrame
        Robust (sandwich) covariance.
    cov_naive : pandas.DataFrame
        Model-based covariance under the working correlation.
    alpha : float
    """

    params: pd.Series
    cov: pd.DataFrame
    cov_naive: pd.DataFrame
    alpha: float
    design: Design
    prepared: Prepared

    def __repr__(self) -> str:
        i = self.info
        return (f"GEEResult({i['outcome']} ~ {i['formula']}, {i['correlation']} working correlation "
                f"{i['working_correlation']:.3f}, n={i['n']}, groups={i['groups']})")

    def plot(self, ax: Any = None, *, by: str | None = "default", n_patients: int = 40, seed: int = 0,
             at: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Spaghetti of a sample of patients under the GEE mean curves with CI bands (see
        :meth:`TrajectoryResult.plot`); returns the Axes."""
        title = kwargs.get("title", f"{self.prepared.outcome}: GEE ({self.info['correlation']}), {self.info['time_basis']}")
        return self._spaghetti(ax, by=by, n_patients=n_patients, seed=seed, at=at, title=title)


@limit_threads
def fit_trajectory_gee(
    data: Cohort | pd.DataFrame,
    outcome: str = "gait_speed",
    formula: str = DEFAULT_FORMULA,
    *,
    time: TimeBasisKind | None = None,
    df: int = 3,
    knots: Sequence[float] | None = None,
    correlation: Correlation = "exchangeable",
    id_col: str = "patient_id",
    time_col: str = "weeks",
    alpha: float = 0.05,
    reference: Mapping[str, Any] | None = None,
    missing: Missing = "drop",
) -> GEEResult:
    """Fit a population-averaged trajectory model by GEE with robust standard errors.

    Parameters
    ----------
    data, outcome, formula, time, df, knots, id_col, time_col, alpha, reference
        As :func:`~footdrop_outcomes.trajectories.fit_trajectory`.
    correlation : {"exchangeable", "independence"}
        Working correlation of a patient's visits.

    Returns
    -------
    GEEResult

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> gee = fit_trajectory_gee(simulate_cohort(300, seed=1), "gait_speed", "time * severity")
    >>> gee.summary["term"].tolist()[:2]
    ['Intercept', 'lw']
    """
    from statsmodels.genmod import cov_struct, families
    from statsmodels.genmod.generalized_estimating_equations import GEE

    check_choice("correlation", correlation, get_args(Correlation))
    check_alpha(alpha)
    pr = prepare(data, outcome, formula, time=time, df=df, knots=knots, random=None, id_col=id_col, time_col=time_col,
                 reference=reference, missing=missing, model="fit_trajectory_gee")
    structure = cov_struct.Exchangeable() if correlation == "exchangeable" else cov_struct.Independence()
    t0 = _time.perf_counter()
    model = GEE(pr.y, pr.x, groups=pr.codes, cov_struct=structure, family=families.Gaussian())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = model.fit(maxiter=100)
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise FootdropError(f"statsmodels GEE could not fit the model ({exc}); try correlation='independence' or fewer terms") from exc
    texts = []
    for w in caught:
        text = " ".join(str(w.message).split())
        if text not in texts:
            texts.append(text)
    for text in texts:
        warnings.warn(f"statsmodels GEE: {text}", TrajectoryFitWarning, stacklevel=2)
    seconds = _time.perf_counter() - t0
    terms = list(pr.design.terms)
    beta = np.asarray(res.params, dtype=float)
    cov = np.asarray(res.cov_robust, dtype=float)
    se = np.sqrt(np.diag(cov))
    q = zq(alpha)
    summary = pd.DataFrame({"term": terms, "estimate": beta, "se": se, "lower": beta - q * se, "upper": beta + q * se,
                            "z": beta / se})
    summary["p"] = p_value(summary["z"].to_numpy())
    summary["reference"] = reference_column(terms, pr.design.references)
    dep = float(structure.dep_params) if correlation == "exchangeable" else 0.0
    converged = bool(res.converged) if hasattr(res, "converged") else True
    info: dict[str, Any] = {
        "method": "GEE (Gaussian, identity link, robust SEs)", "correlation": correlation, "working_correlation": dep,
        "scale": float(res.scale), "formula": pr.design.formula, "formula_expanded": pr.design.rhs,
        "time": pr.design.basis.kind, "time_basis": pr.design.basis.describe(), "outcome": pr.outcome, "n": int(pr.y.size),
        "groups": int(pr.ids.size), "n_missing_outcome": pr.n_missing_outcome, "dropped_levels": pr.dropped_levels,
        **pr.missing_info,
        "reference_levels": pr.design.references, "converged": converged, "fit_seconds": seconds, "warnings": texts, "versions": versions(),
    }
    if not math.isfinite(dep):
        raise FootdropError("statsmodels GEE gave a non-finite working correlation; try correlation='independence'")
    return GEEResult(summary=summary, info=info, params=pd.Series(beta, index=terms, name="estimate"),
                     cov=pd.DataFrame(cov, index=terms, columns=terms),
                     cov_naive=pd.DataFrame(np.asarray(res.cov_naive, dtype=float), index=terms, columns=terms),
                     alpha=alpha, design=pr.design, prepared=pr.without_x())
