"""Survival layer: time to recovery (Kaplan-Meier and Turnbull curves, log-rank tests, Cox, time-varying adherence, interval-censored AFT, cure
model, competing events). Imports the cohort layer, never the report layer.

>>> from footdrop_outcomes.survival import fit_cox, survival_frame
"""

from footdrop_outcomes.survival._input import survival_frame
from footdrop_outcomes.survival._missing import MissingDataWarning
from footdrop_outcomes.survival.aft_random import (
    AFTRandomResult,
    fit_interval_aft_random,
)
from footdrop_outcomes.survival.competing import (
    CompetingResult,
    competing_frame,
    cumulative_incidence,
)
from footdrop_outcomes.survival.cox import (
    CoxFitWarning,
    CoxResult,
    fit_cox,
    fit_cox_time_varying,
)
from footdrop_outcomes.survival.curves import (
    CurveResult,
    LogRankResult,
    kaplan_meier,
    logrank_test,
    number_at_risk,
)
from footdrop_outcomes.survival.frailty import FrailtyCoxResult, fit_frailty_cox
from footdrop_outcomes.survival.misclass import (
    MisclassifiedCureResult,
    fit_misclassified_cure,
)
from footdrop_outcomes.survival.parametric import (
    AFTResult,
    CureResult,
    compare_distributions,
    fit_cure_model,
    fit_interval_aft,
)
from footdrop_outcomes.survival.piecewise_hazard import piecewise_hazard_curve
from footdrop_outcomes.survival.timevarying import adherence_exposure, counting_process
from footdrop_outcomes.survival.turnbull import turnbull
from footdrop_outcomes.survival.tv_cure import (
    TimeVaryingCureResult,
    exposure_matrix,
    fit_time_varying_cure,
)

__all__ = [
    "AFTRandomResult",
    "AFTResult",
    "CompetingResult",
    "CoxFitWarning",
    "CoxResult",
    "CureResult",
    "CurveResult",
    "FrailtyCoxResult",
    "LogRankResult",
    "MisclassifiedCureResult",
    "MissingDataWarning",
    "TimeVaryingCureResult",
    "adherence_exposure",
    "compare_distributions",
    "competing_frame",
    "counting_process",
    "cumulative_incidence",
    "exposure_matrix",
    "fit_cox",
    "fit_cox_time_varying",
    "fit_cure_model",
    "fit_frailty_cox",
    "fit_interval_aft",
    "fit_interval_aft_random",
    "fit_misclassified_cure",
    "fit_time_varying_cure",
    "kaplan_meier",
    "logrank_test",
    "number_at_risk",
    "piecewise_hazard_curve",
    "survival_frame",
    "turnbull",
]
