"""Parametric models of interval-censored recovery: AFT regression and a mixture cure model.

Recovery is seen only at visits, so each patient's recovery time is known to lie in an
interval ``(lower, upper]``: ``lower = 0`` means recovered by the first visit (left-censored),
``upper = inf`` (or missing) means not seen recovered (right-censored at ``lower``).

* :func:`fit_interval_aft` fits an accelerated failure time (AFT) model
  ``log T = x'b + scale * W`` with ``W`` standard extreme-value (Weibull), normal (log-normal)
  or logistic (log-logistic), the parameterisation of R's ``survreg``; the numbers agree with
  ``survreg(Surv(lower, upper, type = "interval2") ~ ..., dist = ...)`` (tested against stored R
  output). :func:`compare_distributions` tabulates AIC over the three distributions.
* :func:`fit_cure_model` fits a parametric mixture cure model: a logistic *incidence* model for
  P(ever recovering) and an AFT *latency* model for the recovery time of those who recover.

Both are fitted by maximum likelihood with a damped Newton-Raphson on the analytic gradient and
Hessian (parameters ``b`` and ``log(scale)``; the AFT starts from least squares on log interval
midpoints), and standard errors come from the inverse observed information, as in ``survreg``.

Likelihood contributions (``S`` the survival function of recoverers, ``pi`` = P(recover)):

============================  ==========================  ===================================
row                           AFT                          cure model
============================  ==========================  ===================================
interval ``(L, R]``           ``S(L) - S(R)``              ``pi * (S(L) - S(R))``
left ``(0, R]``               ``1 - S(R)``                 ``pi * (1 - S(R))``
right ``(L, inf)``            ``S(L)``                     ``1 - pi + pi * S(L)``
============================  ==========================  ===================================

Rows with ``lower = 0`` and no upper bound (no visit) carry no information and are skipped
(counted in ``info["n_uninformative"]``).

Design matrices come from a formula (right-hand side only, e.g. ``"cause + severity + age"``)
via ``formulaic``: treatment coding with the first category as reference (the order of a
pandas categorical, else sorted), unused categories dropped. Terms are named ``Intercept``,
``age``, ``cause[stroke]``.
"""

from footdrop_outcomes.survival._likelihood import Distribution, _Dist, _log_bounds  # noqa: F401  (used by tests)
from footdrop_outcomes.survival.aft import AFTResult, _aft_fun, compare_distributions, fit_interval_aft  # noqa: F401
from footdrop_outcomes.survival.cure import CureResult, _cure_fun, fit_cure_model  # noqa: F401

__all__ = ["Distribution", "AFTResult", "CureResult", "fit_interval_aft", "compare_distributions", "fit_cure_model"]
