"""Survival layer: time to recovery (Kaplan-Meier and Turnbull curves, log-rank tests, Cox, time-varying adherence, interval-censored AFT, cure
model, competing events). Imports the cohort layer, never the report layer.

>>> from footdrop_outcomes.survival import fit_cox, survival_frame
"""

from footdrop_outcomes.survival._input import survival_frame
from footdrop_outcomes.survival.competing import CompetingResult, competing_frame, cumulative_incidence
from footdrop_outcomes.survival.curves import CurveResult, LogRankResult, kaplan_meier, logrank_test, number_at_risk
from footdrop_outcomes.survival.turnbull import turnbull
from footdrop_outcomes.survival.cox import CoxFitWarning, CoxResult, fit_cox, fit_cox_time_varying
from footdrop_outcomes.survival._missing import MissingDataWarning
from footdrop_outcomes.survival.parametric import AFTResult, CureResult, compare_distributions, fit_cure_model, fit_interval_aft
from footdrop_outcomes.survival.timevarying import adherence_exposure, counting_process
from footdrop_outcomes.survival.tv_cure import TimeVaryingCureResult, exposure_matrix, fit_time_varying_cure

__all__ = [
    "survival_frame",
    "kaplan_meier",
    "turnbull",
    "logrank_test",
    "number_at_risk",
    "CurveResult",
    "LogRankResult",
    "fit_cox",
    "fit_cox_time_varying",
    "CoxResult",
    "CoxFitWarning",
    "MissingDataWarning",
    "counting_process",
    "adherence_exposure",
    "fit_interval_aft",
    "compare_distributions",
    "AFTResult",
    "fit_cure_model",
    "fit_time_varying_cure",
    "TimeVaryingCureResult",
    "exposure_matrix",
    "CureResult",
    "cumulative_incidence",
    "competing_frame",
    "CompetingResult",
]
