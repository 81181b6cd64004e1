"""footdrop-outcomes: outcomes research for foot drop.

The names a notebook needs; everything else lives in the subpackages.
"""

from footdrop_outcomes._threads import set_threads
from footdrop_outcomes._version import __version__
from footdrop_outcomes.cohort.cohort import Cohort, CohortTruth, load_cohort
from footdrop_outcomes.cohort.recovery import Recovery, recovery_intervals
from footdrop_outcomes.cohort.simulate import SimulationConfig, simulate_cohort
from footdrop_outcomes.errors import CohortIOError, CohortValidationError, ConfigError, FootdropError

__all__ = [
    "__version__",
    "Cohort",
    "CohortTruth",
    "load_cohort",
    "Recovery",
    "recovery_intervals",
    "SimulationConfig",
    "simulate_cohort",
    "FootdropError",
    "CohortValidationError",
    "CohortIOError",
    "ConfigError",
    "set_threads",
]
