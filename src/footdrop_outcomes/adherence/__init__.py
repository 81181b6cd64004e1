"""Adherence layer: metrics, discontinuation, propensity weighting, Table 1, adherence and outcome.

Imports the cohort and survival layers, never the report layer.

>>> from footdrop_outcomes.adherence import adherence_metrics, fit_propensity
"""

from footdrop_outcomes.adherence._input import AdherenceInputError
from footdrop_outcomes.adherence.discontinuation import DiscontinuationResult, discontinuation, discontinuation_times
from footdrop_outcomes.adherence.metrics import (AdherenceMetrics, adherence_metrics, intervention_membership, patient_adherence,
                                                 weekly_adherence)
from footdrop_outcomes.adherence.outcome import (AdherenceEffect, AdherenceWarning, DoseResponse, adherence_effect, dose_response,
                                                natural_spline_basis)
from footdrop_outcomes.adherence.perprotocol import ITTPerProtocol, itt_per_protocol
from footdrop_outcomes.adherence.trend import AdherenceTrend, adherence_trend, marginal_truth
from footdrop_outcomes.adherence.table1 import TableOne, table_one
from footdrop_outcomes.adherence.weighting import (PropensityResult, WeightedComparison, WeightingWarning, balance_table,
                                                   fit_propensity, weighted_comparison, weighted_kaplan_meier)

__all__ = [
    "AdherenceInputError",
    "weekly_adherence",
    "patient_adherence",
    "adherence_metrics",
    "intervention_membership",
    "AdherenceMetrics",
    "fit_propensity",
    "PropensityResult",
    "balance_table",
    "weighted_comparison",
    "weighted_kaplan_meier",
    "WeightedComparison",
    "WeightingWarning",
    "AdherenceWarning",
    "table_one",
    "TableOne",
    "discontinuation_times",
    "discontinuation",
    "DiscontinuationResult",
    "adherence_effect",
    "AdherenceEffect",
    "dose_response",
    "DoseResponse",
    "natural_spline_basis",
    "adherence_trend",
    "AdherenceTrend",
    "marginal_truth",
    "itt_per_protocol",
    "ITTPerProtocol",
]
