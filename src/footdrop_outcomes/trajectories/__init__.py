"""Trajectory layer: how strength, range of motion and gait speed evolve after onset (linear
mixed models with a fast profiled-likelihood engine and statsmodels as the general engine; GEE
for population-averaged comparisons). Imports the cohort layer, never the report layer.

>>> from footdrop_outcomes.trajectories import fit_trajectory, trajectory_frame
"""

from footdrop_outcomes.trajectories._design import trajectory_frame
from footdrop_outcomes.trajectories.gee import GEEResult, fit_trajectory_gee
from footdrop_outcomes.trajectories.mixed import (
    SiteLevel,
    TrajectoryFitWarning,
    TrajectoryResult,
    compare_models,
    fit_trajectory,
)

__all__ = [
    "GEEResult",
    "SiteLevel",
    "TrajectoryFitWarning",
    "TrajectoryResult",
    "compare_models",
    "fit_trajectory",
    "fit_trajectory_gee",
    "trajectory_frame",
]
