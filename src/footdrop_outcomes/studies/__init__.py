"""Simulation studies and power analysis, run on Dask (see ``docs/studies.md``).

A :class:`StudySpec` says what to simulate (a design, optionally a grid of its parameters), what
to estimate (named analyses with true values), how many replicates and the master seed;
:func:`run_study` runs it on a local or remote Dask cluster, streaming results to Parquet chunk
files (resumable); :func:`performance` summarises bias, empirical and model SEs, coverage and
power with Monte Carlo standard errors; :func:`power_curve` and :func:`sample_size` read power
curves and the smallest sample size reaching a target power.

>>> from footdrop_outcomes.studies import StudySpec, run_study, performance, power_curve
"""

from footdrop_outcomes.studies.analyses import available_analyses, register_analysis, run_analysis
from footdrop_outcomes.studies.designs import ReplicateData, available_designs, generate, register_design
from footdrop_outcomes.studies.measures import MEASURES, measures, performance
from footdrop_outcomes.studies.power import plot_power_curves, power_curve, sample_size, schoenfeld_events, schoenfeld_power, trial_expected_events
from footdrop_outcomes.studies.runner import StudyRun, completed_replicates, load_results, load_study_spec, plan_chunks, run_chunk, run_replicate, run_study
from footdrop_outcomes.studies.spec import AnalysisSpec, StudySpec, load_spec, replicate_seed, replicate_seed_sequence

__all__ = [
    "StudySpec",
    "AnalysisSpec",
    "load_spec",
    "replicate_seed",
    "replicate_seed_sequence",
    "available_designs",
    "register_design",
    "generate",
    "ReplicateData",
    "available_analyses",
    "register_analysis",
    "run_analysis",
    "run_study",
    "run_replicate",
    "run_chunk",
    "plan_chunks",
    "load_results",
    "load_study_spec",
    "completed_replicates",
    "StudyRun",
    "performance",
    "measures",
    "MEASURES",
    "power_curve",
    "sample_size",
    "plot_power_curves",
    "schoenfeld_power",
    "schoenfeld_events",
    "trial_expected_events",
]
