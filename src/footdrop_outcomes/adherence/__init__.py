"""Adherence layer: metrics, discontinuation, propensity weighting, Table 1, adherence and outcome.

Imports the cohort and survival layers, never the report layer.

>>> from footdrop_outcomes.adherence import adherence_metrics
"""

from footdrop_outcomes.adherence._input import AdherenceInputError
from footdrop_outcomes.adherence.metrics import (AdherenceMetrics, adherence_metrics, intervention_membership, patient_adherence,
                                                 weekly_adherence)

__all__ = [
    "AdherenceInputError",
    "weekly_adherence",
    "patient_adherence",
    "adherence_metrics",
    "intervention_membership",
    "AdherenceMetrics",
]
