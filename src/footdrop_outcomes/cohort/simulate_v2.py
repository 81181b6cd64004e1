"""Generator version 2: a treatment clock, stroke walking, attrition by arm, rater error, missing data.

Select it with ``simulate_cohort(n, seed, version=2)`` or by passing a :class:`SimulationConfigV2`.
Version 1 (``simulate.py``) is untouched and stays the default. The model is written up in
``docs/simulation.md`` (section 11) with the published figures it was calibrated to and the ones
kept aside to validate it (``cohort/calibration/targets.toml``).

What changes against version 1, in short:

1. **Treatment clock.** For decompression and nerve repair, ``days_to_treatment`` is the day of
   surgery (the deficit duration before it), drawn from an early/late mixture; recovery is timed
   from surgery, and whether and how fast a patient recovers depends on the pre-operative strength
   and on the deficit duration. Follow-up visits are scheduled from the treatment day.
2. **Stroke walking** is its own process: a low subacute speed, a steep early recovery to a
   plateau (Weibull-shaped in time), a slow chronic change, an orthotic effect (device on minus
   device off at the same visit) and a training effect that builds up over weeks of device use.
   The visit records the speed walked with the device in use (device on) and, when a device is in
   use, the device-off speed at the same visit (``visits.gait_speed_device_off``, schema 1.1).
3. **Attrition** depends on the device arm and the patient, with a recorded reason
   (``patients.dropout_reason``: withdrawal, protocol deviation, lost to follow-up; death for
   stroke and ALS); informative dropout is an option. Device use follows Weibull times over years.
4. **Measurement.** The MRC grade at every visit (baseline included) is rated with rater error;
   severity is the band of the recorded baseline grade (mild may be MRC 3 or 4).
5. **Missing data and late referral.** Covariates are missing at configurable rates under MCAR,
   MAR or MNAR. HbA1c and BMI may be empty in the tables; smoking, diabetes and the time to
   treatment are kept complete, and the truth records which values would be missing. Patients
   enter late: ``patients.first_contact_day`` (delayed entry; no visit before it) and
   ``patients.surgery_day`` (schema 1.1).

The drawing steps both versions share (covariates, assignment, prescriptions, the conservative
recovery model, visit jitter, ROM, the v1 gait model, falls, the strength curve, chunking) live in
``simulate.py``. The weekly adherence, the conservative recovery time that depends on it and the
device hours are drawn by the samplers of ``_sim_adherence.py`` (generator 2.1, issue 14: only the
patient-weeks a table shows or a recovery time needs; same distributions as 2.0's dense sampler).
Chunks are copied into the final tables as they arrive (``_TableSink``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy.special import expit, logit, ndtri

from footdrop_outcomes.cohort._sim_adherence import adherence_and_recovery, device_hours
from footdrop_outcomes.cohort.cohort import Cohort, CohortTruth
from footdrop_outcomes.cohort.schema import DROPOUT_REASONS as SCHEMA_DROPOUT_REASONS
from footdrop_outcomes.cohort.schema import normalise_dtypes
from footdrop_outcomes.cohort.simulate import (
    SimulationConfig,
    SiteDraws,
    _adherence_propensity,
    _assign_interventions,
    _by_cause,
    _check_size_and_seed,
    _choice_rows,
    _draw_cause_and_band,
    _draw_contact_delay,
    _draw_demographics,
    _draw_prescriptions,
    _draw_red_flags,
    _draw_rom,
    _draw_site,
    _draw_smoking,
    _falls_and_afo_needed,
    _gait_mixed_model,
    _incidence_probability,
    _latency_linear_predictor,
    _metadata,
    _run_chunks,
    _site_gait,
    _site_propensity,
    _strength_at,
    _truth_frame_v1_columns,
    _core_parameter_rows,
    _shared_model_rows,
    _visit_jitter,
)
from footdrop_outcomes.cohort.vocabulary import (
    AFO_TYPES,
    CAUSES,
    EXERCISES,
    FOLLOWUP_ENDS,
    PROGRESSIVE_CAUSES,
    SEVERITIES,
    SEXES,
    SIDES,
    SMOKING,
    SURGERIES,
)
from footdrop_outcomes.errors import ConfigError

__all__ = [
    "DROPOUT_REASONS",
    "GENERATOR_VERSION_2",
    "MISSING_COVARIATES",
    "SimulatedTruth",
    "SimulationConfigV2",
    "latent_strength",
    "latent_stroke_gait",
    "simulate_cohort_v2",
]

#: Version of the v2 generative model; any change that alters the output for a seed bumps it.
#: 2.1: the faster adherence, session and device-hour samplers of ``_sim_adherence.py`` (issue 14):
#: the same distributions as 2.0 (tests/cohort/test_simulate_v2_sampler.py), another random stream.
GENERATOR_VERSION_2 = "2.1"

MissingMechanism = Literal["MCAR", "MAR", "MNAR"]
#: Why a patient left before the study end (``truth.patients["end_reason"]``); the patients table
#: stores all of them but death as ``followup_end = "dropout"`` (schema 1.0 vocabulary).
DROPOUT_REASONS: tuple[str, ...] = ("withdrawal", "protocol_deviation", "lost_to_follow_up")
#: Covariates that can be missing, with where the missingness is stored.
MISSING_COVARIATES: dict[str, str] = {
    "smoking": "truth; also the table with covariates_missing_in_tables=True (schema 1.1)",
    "diabetes": "truth; also the table with covariates_missing_in_tables=True (schema 1.1)",
    "hba1c": "table (empty value) and truth",
    "bmi": "table (empty value) and truth",
    "days_to_treatment": "truth; also the table with covariates_missing_in_tables=True (schema 1.1)",
}
_SURGICAL_CLOCK = ("peroneal_compression", "lumbar_radiculopathy", "post_surgical_spine", "post_surgical_hip_knee")
_MAX_FOLLOWUP_WEEKS = 260


@dataclass(frozen=True)
class SimulationConfigV2(SimulationConfig):
    """Configuration of generator version 2: every version-1 option plus the v2 model.

    Version-1 options keep their meaning where v2 uses them (case mix, covariates, adherence,
    the conservative recovery model, non-stroke gait). Options marked *calibrated* were set to
    reproduce the calibration targets in ``cohort/calibration/targets.toml``; the others are
    stated assumptions (``docs/simulation.md``, section 11).
    """

    GENERATOR: ClassVar[int] = 2

    # -- v1 defaults that v2 changes ------------------------------------------------------------
    #: Stroke dorsiflexion strength recovers within months, as motor recovery does (assumption).
    median_recovery_weeks: Mapping[str, float] = field(default_factory=lambda: _by_cause(
        peroneal_compression=7.5, lumbar_radiculopathy=11.0, stroke=12.0, multiple_sclerosis=10.0,
        als=30.0, peripheral_neuropathy=30.0, post_surgical_hip_knee=24.0, post_surgical_spine=12.0))

    # -- treatment clock -------------------------------------------------------------------------
    #: Peroneal decompression (logit): intercept and effects of recorded moderate / severe grade
    #: and of rapid worsening (calibrated: baseline grades of operated patients).
    peroneal_decompression_logit: tuple[float, float, float, float] = (-2.6, -0.3, 2.9, 2.0)
    #: Peroneal decompression timing: P(early), median days early, median days late, SD of log.
    peroneal_surgery_delay: tuple[float, float, float, float] = (0.45, 30.0, 200.0, 0.7)
    #: Lumbar decompression timing: median days, SD of log.
    lumbar_surgery_delay: tuple[float, float] = (21.0, 1.0)
    #: Longest deficit before surgery or first contact (days).
    max_days_to_treatment: int = 1095
    #: P(ever reaching MRC 4 after surgery), reference: pre-op strength 1.0, 30 days of deficit,
    #: age 60, no diabetes (calibrated).
    surgical_recovery_probability: Mapping[str, float] = field(default_factory=lambda: {
        "peroneal_compression": 0.90, "lumbar_radiculopathy": 0.25, "post_surgical_spine": 0.75,
        "post_surgical_hip_knee": 0.45})
    #: Log ORs of recovering after surgery: per grade of pre-op latent strength, per doubling of
    #: the deficit duration (days / 30), per 10 years of age, diabetes (calibrated).
    surgical_incidence_log_or: Mapping[str, float] = field(default_factory=lambda: {
        "preop_strength_per_grade": 1.3, "duration_per_doubling": -0.35, "age_per_10y": -0.15, "diabetes": -1.0})
    #: Median weeks from surgery to MRC 4 (reference profile) and Weibull shape (calibrated).
    surgical_median_recovery_weeks: Mapping[str, float] = field(default_factory=lambda: {
        "peroneal_compression": 8.0, "lumbar_radiculopathy": 10.0, "post_surgical_spine": 8.0,
        "post_surgical_hip_knee": 30.0})
    surgical_weibull_shape: float = 1.3
    #: Log HRs of recovering sooner after surgery (calibrated).
    surgical_latency_log_hr: Mapping[str, float] = field(default_factory=lambda: {
        "preop_strength_per_grade": 0.35, "duration_per_doubling": -0.25, "age_per_10y": -0.10, "diabetes": -0.30,
        "supervised_physio": 0.15})
    #: Logit of reaching full strength (MRC 5) among recovering patients: intercept, per grade of
    #: onset strength above 1, per doubling of the deficit before surgery (calibrated).
    full_strength_logit: tuple[float, float, float] = (0.9, 0.3, -0.25)

    # -- stroke walking ---------------------------------------------------------------------------
    #: Device-off plateau of natural walking recovery (m/s) by latent severity (mild, moderate,
    #: severe), for a stroke patient aged 60 whose dorsiflexion does not recover (calibrated).
    stroke_gait_plateau: tuple[float, float, float] = (0.46, 0.36, 0.24)
    #: Plateau: + m/s when dorsiflexion recovers, per 10 years of age, between-patient SD.
    stroke_gait_plateau_effects: tuple[float, float, float] = (0.10, -0.04, 0.14)
    #: Speed at onset: uniform (low, high) m/s.
    stroke_gait_onset: tuple[float, float] = (0.0, 0.08)
    #: Time course: median weeks, SD of log, Weibull-type shape (calibrated: 95% of the plateau
    #: reached by week 11 in 95% of patients; mean speeds at days 20 and 60).
    stroke_gait_time: tuple[float, float, float] = (4.2, 0.25, 2.0)
    #: Chronic change after week 26 (m/s per year; assumption).
    stroke_gait_chronic_per_year: float = -0.01
    #: Orthotic effect (relative, device on vs off) and training effect (relative, maximum) by device.
    device_orthotic_relative: Mapping[str, float] = field(default_factory=lambda: {"afo": 0.17, "fes": 0.17})
    device_training_relative: Mapping[str, float] = field(default_factory=lambda: {"afo": 0.26, "fes": 0.26})
    #: Weeks of use for the training effect to build up to 63% of its maximum.
    device_training_weeks: float = 8.0
    #: Gait speed measurement error (coefficient of variation) and the speed below which a
    #: patient cannot do the walk test (recorded empty).
    gait_measurement_cv: float = 0.07
    gait_unable_below: float = 0.05

    # -- devices over years -----------------------------------------------------------------------
    #: Weibull (shape, scale in weeks) of time to stopping the AFO and FES (calibrated).
    afo_use_weibull: tuple[float, float] = (0.40, 380.0)
    fes_use_weibull: tuple[float, float] = (0.80, 300.0)

    # -- attrition ---------------------------------------------------------------------------------
    #: Log HRs of dropout: FES, AFO without FES, per 10 years of age, informative (per SD of slow
    #: recovery, -recovery_score_z; 0 = not informative) (FES and AFO calibrated).
    dropout_log_hr: Mapping[str, float] = field(default_factory=lambda: {
        "fes": 1.2, "afo": 0.55, "age_per_10y": 0.0, "informative_per_sd": 0.0})
    #: P(withdrawal, protocol deviation, lost to follow-up) given dropout, for FES users and others.
    dropout_reason_probabilities: Mapping[str, tuple[float, float, float]] = field(default_factory=lambda: {
        "fes": (0.50, 0.25, 0.25), "other": (0.35, 0.10, 0.55)})
    #: Yearly mortality after stroke (exponential, from presentation; assumption).
    stroke_death_per_year: float = 0.06

    # -- measurement -------------------------------------------------------------------------------
    #: Log OR of missing a scheduled visit once the latent strength is >= 4 (MNAR option; 0 = the
    #: v1 rule, missed at random with ``visit_miss_probability``).
    visit_miss_log_or_recovered: float = 0.0
    #: SD of the rater error on the latent strength before flooring to a grade (calibrated).
    mrc_rater_sd: float = 0.27

    # -- missing data and referral ------------------------------------------------------------------
    missing_rates: Mapping[str, float] = field(default_factory=lambda: {
        "smoking": 0.10, "diabetes": 0.03, "hba1c": 0.20, "bmi": 0.15, "days_to_treatment": 0.05})
    missing_mechanism: MissingMechanism = "MAR"
    #: Log OR of missingness for MAR (per 10 years of age above 60) and MNAR (per SD of the value).
    missing_strength: float = 0.5
    #: Share of conservatively treated patients first seen late, and their extra delay (days, uniform).
    late_referral_probability: float = 0.10
    late_referral_days: tuple[float, float] = (28.0, 120.0)
    #: Leave smoking, diabetes and days_to_treatment empty in the patients table where they are
    #: missing (schema 1.1 allows it); by default they stay complete and only the truth says which
    #: values would be missing, so that analyses without a missing-data strategy still run.
    covariates_missing_in_tables: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()

        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(f"SimulationConfigV2: {msg}")

        need(self.followup_weeks <= _MAX_FOLLOWUP_WEEKS, f"followup_weeks must be <= {_MAX_FOLLOWUP_WEEKS} (5 years)")
        need(self.missing_mechanism in ("MCAR", "MAR", "MNAR"), "missing_mechanism must be one of ['MCAR', 'MAR', 'MNAR']")
        need(set(self.missing_rates) == set(MISSING_COVARIATES), f"missing_rates must have exactly the keys {sorted(MISSING_COVARIATES)}")
        need(all(0 <= v < 1 for v in self.missing_rates.values()), "missing_rates values must be in [0, 1)")
        need(set(self.surgical_recovery_probability) == set(_SURGICAL_CLOCK), f"surgical_recovery_probability must have the causes {list(_SURGICAL_CLOCK)}")
        need(all(0 <= v < 1 for v in self.surgical_recovery_probability.values()), "surgical_recovery_probability values must be in [0, 1)")
        need(set(self.surgical_median_recovery_weeks) == set(_SURGICAL_CLOCK), f"surgical_median_recovery_weeks must have the causes {list(_SURGICAL_CLOCK)}")
        need(all(v > 0 for v in self.surgical_median_recovery_weeks.values()), "surgical_median_recovery_weeks must be > 0")
        need(set(self.device_orthotic_relative) == {"afo", "fes"} and set(self.device_training_relative) == {"afo", "fes"},
             "device_orthotic_relative and device_training_relative must have the keys ['afo', 'fes']")
        need(set(self.dropout_reason_probabilities) == {"fes", "other"}, "dropout_reason_probabilities must have the keys ['fes', 'other']")
        for key, probs in self.dropout_reason_probabilities.items():
            need(len(probs) == 3 and min(probs) >= 0 and abs(sum(probs) - 1) < 1e-9,
                 f"dropout_reason_probabilities[{key!r}] must be three probabilities summing to 1")
        need(set(self.dropout_log_hr) == {"fes", "afo", "age_per_10y", "informative_per_sd"},
             "dropout_log_hr must have exactly the keys ['afo', 'age_per_10y', 'fes', 'informative_per_sd']")
        for name in ("afo_use_weibull", "fes_use_weibull"):
            need(min(getattr(self, name)) > 0, f"{name} must be two positive numbers (shape, scale in weeks)")
        for name in ("surgical_weibull_shape", "device_training_weeks"):
            need(getattr(self, name) > 0, f"{name} must be > 0")
        for name in ("mrc_rater_sd", "gait_measurement_cv", "gait_unable_below", "stroke_death_per_year"):
            need(getattr(self, name) >= 0, f"{name} must be >= 0")
        need(0 <= self.late_referral_probability < 1, "late_referral_probability must be in [0, 1)")
        need(0 <= self.late_referral_days[0] <= self.late_referral_days[1], "late_referral_days must be (low, high) with 0 <= low <= high")
        need(0 <= self.peroneal_surgery_delay[0] <= 1, "peroneal_surgery_delay[0] (P(early)) must be in [0, 1]")
        need(1 <= self.max_days_to_treatment <= 3650, "max_days_to_treatment must be 1 to 3650")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimulationConfigV2:
        """Rebuild a configuration from :meth:`to_dict` output (unknown keys are refused)."""
        clean = dict(data)
        for name in ("peroneal_decompression_logit", "peroneal_surgery_delay", "lumbar_surgery_delay", "full_strength_logit",
                     "stroke_gait_plateau", "stroke_gait_plateau_effects", "stroke_gait_onset", "stroke_gait_time",
                     "afo_use_weibull", "fes_use_weibull", "late_referral_days"):
            if name in clean:
                clean[name] = tuple(clean[name])
        if "dropout_reason_probabilities" in clean:
            clean["dropout_reason_probabilities"] = {k: tuple(v) for k, v in clean["dropout_reason_probabilities"].items()}
        return super().from_dict(clean)  # type: ignore[return-value]


@dataclass(frozen=True)
class SimulatedTruth(CohortTruth):
    """The truth of a v2 cohort: :class:`CohortTruth` plus one row per visit.

    Attributes
    ----------
    visits : pandas.DataFrame or None
        Aligned with the rows of ``cohort.visits``: ``patient_id`` (the same categorical as
        ``cohort.visits["patient_id"]``), ``day``, ``strength`` (latent),
        ``mrc_true`` (floor of the latent strength), ``mrc_second_rater`` (an independent second
        rating of the same visit), ``device_in_use`` (``none``, ``afo``, ``fes``),
        ``gait_off`` and ``gait_on`` (latent speeds without and with the device; ``gait_on`` is
        empty when no device is in use; stroke only, else empty), ``training_gain`` (m/s).
        Not saved by :meth:`Cohort.save` nor kept by :meth:`Cohort.subset` (schema 1.0 stores
        per-patient truth only).
    """

    visits: pd.DataFrame | None = None


def simulate_cohort_v2(
    n_patients: int,
    seed: int,
    config: SimulationConfigV2 | None = None,
    *,
    progress: bool = False,
    n_jobs: int = 1,
) -> Cohort:
    """Simulate a cohort with generator version 2 (see the module docstring).

    Parameters
    ----------
    n_patients : int
        Number of patients (>= 1).
    seed : int
        Master seed (>= 0); same seed and configuration, same tables and truth. Cohorts of
        different sizes with the same seed share every complete chunk of 10,000 patients.
    config : SimulationConfigV2, optional
        Defaults are the calibrated v2 model.
    progress : bool
        Show a progress bar over chunks.
    n_jobs : int
        Chunks simulated at once in threads (same tables for every value; see ``simulate_cohort``).

    Returns
    -------
    Cohort
        Tables valid under schema 1.0; ``truth`` is a :class:`SimulatedTruth`.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> c = simulate_cohort(300, seed=1, version=2)
    >>> c.metadata["generator"]["version"]
    '2.1'
    """
    _check_size_and_seed(n_patients, seed, n_jobs)
    cfg = config if config is not None else SimulationConfigV2()
    if not isinstance(cfg, SimulationConfigV2):
        raise ConfigError(f"generator version 2 needs a SimulationConfigV2 (or none), got {type(cfg).__name__}")

    tables, sites = _simulate_and_join(np.random.SeedSequence([int(seed), 2]),  # a different stream from version 1
                                int(n_patients), cfg, progress, n_jobs)
    truth_visits = tables.pop("truth_visits")
    truth_patients = tables.pop("truth")
    normalise_dtypes(tables)
    # the same categorical patient_id as the visits table (codes copied, categories shared)
    truth_visits.insert(0, "patient_id", tables["visits"]["patient_id"].array.copy())
    truth_visits.insert(1, "day", tables["visits"]["day"].to_numpy())
    parameters = _truth_parameters_v2(cfg)
    if sites.any_effect:  # site effects are added to the truth; a cohort without them keeps its truth as before
        parameters = pd.concat([parameters, sites.parameter_rows(cfg)], ignore_index=True)
    truth = SimulatedTruth(parameters=parameters, patients=truth_patients, visits=truth_visits)
    metadata = _metadata(seed, n_patients, cfg, GENERATOR_VERSION_2, float((tables["visits"]["gait_speed"] <= cfg.gait_unable_below).mean()))
    return Cohort(patients=tables["patients"], visits=tables["visits"], adherence=tables["adherence"],
                  metadata=metadata, truth=truth, source=f"simulate_cohort(seed={seed}, version=2)", _validated=True)


# ------------------------------------------------------------------------------------------------
# joining the chunks

#: Categories of the patients table's closed vocabularies, in the schema's (declared) order.
_DTYPES: dict[str, pd.CategoricalDtype] = {
    "sex": pd.CategoricalDtype(SEXES), "side": pd.CategoricalDtype(SIDES), "cause": pd.CategoricalDtype(CAUSES),
    "severity": pd.CategoricalDtype(SEVERITIES, ordered=True), "smoking": pd.CategoricalDtype(SMOKING),
    "afo": pd.CategoricalDtype(AFO_TYPES), "surgery": pd.CategoricalDtype(SURGERIES), "followup_end": pd.CategoricalDtype(FOLLOWUP_ENDS),
    "dropout_reason": pd.CategoricalDtype(SCHEMA_DROPOUT_REASONS),
}
_SCHEMA_DEATH = SCHEMA_DROPOUT_REASONS.index("death")
_REASON_TO_SCHEMA = np.array([SCHEMA_DROPOUT_REASONS.index(r) for r in DROPOUT_REASONS])
_REASON_OBJ = np.array(DROPOUT_REASONS, dtype=object)
_FOLLOWUP_END_OBJ = np.array(FOLLOWUP_ENDS, dtype=object)
_SEVERITY_OBJ = np.array(SEVERITIES, dtype=object)
_SMOKING_OBJ = np.array([*SMOKING, None], dtype=object)  # code -1: missing
_CLOCK_OBJ = np.array(["onset", "surgery"], dtype=object)
_DEVICE_OBJ = np.array(["none", "afo", "fes"], dtype=object)


def _codes(values: np.ndarray, categories: tuple[str, ...]) -> np.ndarray:
    """Codes of ``values`` in ``categories`` (int8; -1 for anything else, e.g. None)."""
    codes = np.full(values.shape, -1, dtype=np.int8)
    for i, cat in enumerate(categories):
        codes[values == cat] = i
    return codes


def _from_codes(codes: np.ndarray, column: str) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(np.int8), dtype=_DTYPES[column])


def _categorical(values: np.ndarray, column: str) -> pd.Categorical:
    return _from_codes(_codes(values, tuple(_DTYPES[column].categories)), column)


class _TableSink:
    """The chunks' columns copied into arrays of the final tables as each chunk arrives.

    Each column is one array allocated at the largest size it can reach (``np.empty``: memory
    pages are only used once written), filled chunk by chunk and cut to its length at the end:
    no chunk is kept after it is copied and no column is concatenated (half the peak memory of
    joining at the end, and less time). Categorical columns are stored as their codes.
    """

    def __init__(self, max_rows: Mapping[str, int]) -> None:
        self._max_rows = dict(max_rows)
        self._rows = dict.fromkeys(max_rows, 0)
        self._columns: dict[str, dict[str, np.ndarray]] = {name: {} for name in max_rows}
        self._dtypes: dict[tuple[str, str], pd.CategoricalDtype] = {}

    def add(self, part: dict[str, dict[str, Any]]) -> None:
        for name, columns in part.items():
            start, size = self._rows[name], None
            for col, values in columns.items():
                if isinstance(values, pd.Categorical):
                    self._dtypes[(name, col)] = values.dtype
                    values = values.codes
                values = np.asarray(values)
                size = values.shape[0]
                target = self._columns[name].get(col)
                if target is None:
                    target = self._columns[name][col] = np.empty(self._max_rows[name], dtype=values.dtype)
                elif target.dtype != values.dtype:  # pragma: no cover - a chunk bug, not a user error
                    raise TypeError(f"simulate v2: column {name}.{col} changed dtype between chunks ({target.dtype} -> {values.dtype})")
                target[start:start + size] = values
            self._rows[name] = start + (size or 0)

    def table(self, name: str) -> dict[str, Any]:
        """The joined columns of ``name`` (views of the first rows; categoricals rebuilt), in chunk order."""
        out: dict[str, Any] = {}
        for col, values in self._columns.pop(name).items():
            values = values[:self._rows[name]]
            dtype = self._dtypes.get((name, col))
            out[col] = values if dtype is None else pd.Categorical.from_codes(values, dtype=dtype)
        return out


def _simulate_and_join(root: np.random.SeedSequence, n_patients: int, cfg: SimulationConfigV2, progress: bool,
                       n_jobs: int) -> tuple[dict[str, pd.DataFrame], SiteDraws]:
    """Every chunk simulated and copied into the final tables, ``patient_id`` first (a categorical of P000001, ...); and the site draws."""
    per_patient = {"patients": 1, "truth": 1, "visits": len(cfg.visit_weeks) + 1, "truth_visits": len(cfg.visit_weeks) + 1,
                   "adherence": cfg.followup_weeks + 4}
    sink = _TableSink({name: n_patients * k for name, k in per_patient.items()})
    _, sites = _run_chunks(root, n_patients, cfg, _simulate_chunk_v2, "simulating (v2)", progress, n_jobs, consume=sink.add)
    width = max(6, len(str(n_patients)))
    ids = pd.Index([f"P{i:0{width}d}" for i in range(1, n_patients + 1)], dtype=object)
    id_dtype = pd.CategoricalDtype(ids)
    tables: dict[str, pd.DataFrame] = {}
    for name in ("patients", "visits", "adherence", "truth", "truth_visits"):
        columns = sink.table(name)
        if name == "patients":
            columns = {"patient_id": pd.Categorical.from_codes(np.arange(n_patients, dtype=np.int32), dtype=id_dtype), **columns}
            columns["site"] = columns["site"].remove_unused_categories()  # as astype("category"): the sites seen, sorted
        elif name in ("visits", "adherence"):
            columns = {"patient_id": pd.Categorical.from_codes(columns.pop("_row"), dtype=id_dtype), **columns}
        elif name == "truth":
            columns = {"patient_id": ids.to_numpy(), **columns}
        tables[name] = pd.DataFrame(columns, copy=False)  # no copy into consolidated blocks
    return tables, sites


# ------------------------------------------------------------------------------------------------
# one chunk


def _weibull_draw(rng: np.random.Generator, shape: float, scale: np.ndarray | float, n: int) -> np.ndarray:
    return np.asarray(scale) * rng.weibull(shape, n)


def _missing_flags(rng: np.random.Generator, cfg: SimulationConfigV2, n: int, values: dict[str, np.ndarray], age: np.ndarray) -> dict[str, np.ndarray]:
    """Which covariate values are missing, under the configured mechanism."""
    out = {}
    for name, rate in cfg.missing_rates.items():
        if rate <= 0:
            out[name] = np.zeros(n, dtype=bool)
            continue
        base = logit(rate)
        if cfg.missing_mechanism == "MCAR":
            shift = np.zeros(n)
        elif cfg.missing_mechanism == "MAR":
            shift = cfg.missing_strength * (age - 60) / 10  # on an always-observed covariate
        else:  # MNAR: on the value itself, standardised
            v = values[name].astype(float)
            sd = np.nanstd(v)
            shift = cfg.missing_strength * np.nan_to_num((v - np.nanmean(v)) / (sd if sd > 0 else 1.0))
        # recentre so that the marginal rate stays close to the configured one
        p = expit(base + shift - np.mean(shift))
        out[name] = rng.random(n) < p
    return out


def _simulate_chunk_v2(rng: np.random.Generator, start: int, n: int, width: int, cfg: SimulationConfigV2,
                       site_weights: np.ndarray, sites: SiteDraws) -> dict[str, dict[str, Any]]:
    idx = np.arange(n)
    # ---------------------------------------------------------------- baseline covariates
    cause_i, cause, is_c, sev_lat, s0 = _draw_cause_and_band(rng, cfg, n)  # latent severity band: 0 mild, 1 moderate, 2 severe
    # recorded baseline grade: rated with error; 5 is not a foot drop, so at most 4
    baseline_mrc = np.clip(np.floor(s0 + rng.normal(0, cfg.mrc_rater_sd, n)), 0, 4).astype(np.int64)
    sev_i = np.where(baseline_mrc <= 1, 2, np.where(baseline_mrc == 2, 1, 0))  # recorded severity
    moderate, severe = sev_i == 1, sev_i == 2
    lat_moderate, lat_severe = sev_lat == 1, sev_lat == 2
    age, sex, side, diabetes, hba1c = _draw_demographics(rng, cfg, cause_i, is_c, n)
    smoking = _draw_smoking(rng, is_c)
    bmi = np.round(np.clip(rng.normal(27.5, 5.0, n), 16, 55), 1)
    red_cauda, red_rapid, urgent = _draw_red_flags(rng, is_c, n)
    first_contact = _draw_contact_delay(rng, cfg, cause_i, urgent, n)
    late_referral = ~urgent & (rng.random(n) < cfg.late_referral_probability)
    first_contact = first_contact + np.where(late_referral, rng.uniform(*cfg.late_referral_days, n), 0.0)
    site_i, site = _draw_site(rng, cfg, cause_i, site_weights)

    # ---------------------------------------------------------------- interventions (confounded by recorded grade)
    arms = _assign_interventions(rng, n, cause, is_c, moderate, severe, red_cauda, red_rapid, cfg.peroneal_decompression_logit)
    supervised, has_afo, fes, surgery_i = arms["supervised"], arms["has_afo"], arms["fes"], arms["surgery_i"]
    operated = np.isin(surgery_i, (1, 2))  # the treatment clock: nerve decompression or repair
    home_exercise = np.ones(n, dtype=bool)

    # surgery timing = deficit duration before surgery; for the others, the first contact
    p_early, med_early, med_late, sd_log = cfg.peroneal_surgery_delay
    early = rng.random(n) < p_early
    per_delay = np.exp(np.where(early, math.log(med_early), math.log(med_late)) + rng.normal(0, sd_log, n))
    lum_delay = np.exp(math.log(cfg.lumbar_surgery_delay[0]) + rng.normal(0, cfg.lumbar_surgery_delay[1], n))
    surg_delay = np.select([is_c["peroneal_compression"], is_c["lumbar_radiculopathy"]], [per_delay, lum_delay], first_contact)
    surg_delay = np.where(urgent, rng.uniform(0, 2, n), surg_delay)
    delay = np.where(operated, surg_delay, first_contact)
    days_to_treatment = np.clip(np.round(delay), 0, cfg.max_days_to_treatment).astype(np.int64)
    dur_doublings = np.log2(np.maximum(days_to_treatment, 3) / 30.0)

    # ---------------------------------------------------------------- adherence model (program weeks)
    n_prog = cfg.followup_weeks + 4
    w_start = -(-days_to_treatment // 7)
    propensity = _site_propensity(_adherence_propensity(rng, cfg, supervised, smoking, severe, n), sites, site_i)
    prescribed_per_week = _draw_prescriptions(rng, n, baseline_mrc)
    prescribed_week = {stem: np.where(home_exercise, prescribed_per_week[stem], 0).astype(np.int8) for stem in EXERCISES}

    # ---------------------------------------------------------------- conservative recovery (v1 model, from onset)
    p_cons = _incidence_probability(cfg, cause_i, lat_moderate, lat_severe, age, diabetes, days_to_treatment)
    k = cfg.weibull_shape
    lam = np.array([cfg.median_recovery_weeks[c] for c in CAUSES])[cause_i] / math.log(2) ** (1 / k)
    # no surgery term: operated patients follow the surgical clock below
    lp = _latency_linear_predictor(cfg, lat_moderate, lat_severe, age, diabetes, hba1c, smoking, days_to_treatment, supervised,
                                   0.0, fes, has_afo, sites.frailty[site_i])
    gamma = cfg.adherence_log_hr
    # exact inversion of the cumulative hazard: before the program (weeks < w0) the cumulative
    # adherence is 0, so the hazard there has a closed form; in the program weeks it depends on
    # the adherence of the weeks before (found week by week in adherence_and_recovery below)
    m0 = np.exp(lp - gamma * cfg.adherence_reference)
    w0f = w_start.astype(float)
    h0 = m0 * (w0f / lam) ** k
    e = rng.exponential(1.0, n)
    t_before = lam * (e / m0) ** (1 / k)  # recovery before the program starts (e <= h0)

    # ---------------------------------------------------------------- surgical recovery (treatment clock, from surgery)
    clock_i = np.array([_SURGICAL_CLOCK.index(c) if c in _SURGICAL_CLOCK else 0 for c in CAUSES])[cause_i]
    p_s_ref = np.array([cfg.surgical_recovery_probability[c] for c in _SURGICAL_CLOCK])[clock_i]
    si = cfg.surgical_incidence_log_or
    lin_s = (si["preop_strength_per_grade"] * (s0 - 1.0) + si["duration_per_doubling"] * dur_doublings
             + si["age_per_10y"] * (age - 60) / 10 + si["diabetes"] * diabetes)
    p_surg = expit(logit(np.clip(p_s_ref, 1e-12, 1 - 1e-12)) + lin_s)
    sl = cfg.surgical_latency_log_hr
    lp_s = (sl["preop_strength_per_grade"] * (s0 - 1.0) + sl["duration_per_doubling"] * dur_doublings
            + sl["age_per_10y"] * (age - 60) / 10 + sl["diabetes"] * diabetes + sl["supervised_physio"] * supervised)
    ks = cfg.surgical_weibull_shape
    lam_s = np.array([cfg.surgical_median_recovery_weeks[c] for c in _SURGICAL_CLOCK])[clock_i] / math.log(2) ** (1 / ks)
    t_post = lam_s * (e / np.exp(lp_s)) ** (1 / ks)  # same E: the recovery-speed score keeps its meaning

    p_recover = np.where(operated, p_surg, p_cons)
    will_recover = rng.random(n) < p_recover
    z = -ndtri(np.clip(1.0 - np.exp(-e), 1e-12, 1 - 1e-12))

    # full strength (MRC 5) reached by a share of recovering patients
    f0, f_grade, f_dur = cfg.full_strength_logit
    p_full = expit(f0 + f_grade * (s0 - 1.0) + f_dur * np.where(operated, dur_doublings, 0.0))
    full = rng.random(n) < p_full
    smax = np.where(full, rng.uniform(5.0, 5.5, n), rng.uniform(4.1, 4.95, n))

    # ---------------------------------------------------------------- devices over years (weeks since program start)
    afo_k, afo_scale = cfg.afo_use_weibull
    afo_stop = _weibull_draw(rng, afo_k, afo_scale * np.exp(0.4 * (propensity - cfg.adherence_logit_mean) / afo_k), n)
    fes_k, fes_scale = cfg.fes_use_weibull
    fes_stop = _weibull_draw(rng, fes_k, fes_scale, n)

    # ---------------------------------------------------------------- follow-up: dropout with reasons, death
    study_end = days_to_treatment + cfg.followup_weeks * 7 + 21
    dl = cfg.dropout_log_hr
    base_rate = -math.log(1 - cfg.dropout_by_end) / (cfg.followup_weeks * 7) if cfg.dropout_by_end > 0 else 0.0
    drop_lp = dl["fes"] * fes + dl["afo"] * (has_afo & ~fes) + dl["age_per_10y"] * (age - 60) / 10 + dl["informative_per_sd"] * (-z)
    drop_rate = base_rate * np.exp(drop_lp)
    dropout = days_to_treatment + np.where(drop_rate > 0, rng.exponential(1.0, n) / np.maximum(drop_rate, 1e-300), np.inf)
    reason_p = np.where(fes[:, None], cfg.dropout_reason_probabilities["fes"], cfg.dropout_reason_probabilities["other"])
    reason_i = _choice_rows(rng, reason_p)
    death_rate_year = np.where(is_c["als"], math.log(2) / cfg.als_median_survival_years, np.where(is_c["stroke"], cfg.stroke_death_per_year, 0.0))
    death = np.where(death_rate_year > 0, days_to_treatment + rng.exponential(1.0, n) * 365.25 / np.maximum(death_rate_year, 1e-300), np.inf)
    end = np.minimum(np.minimum(dropout, death), study_end)
    followup_days = np.maximum(np.floor(end), days_to_treatment).astype(np.int64)
    end_i = np.where(np.minimum(dropout, death) >= study_end, 0, np.where(death < dropout, 2, 1))  # FOLLOWUP_ENDS: study_end, dropout, death
    # protocol deviation: the device stopped before the study end while still followed
    device_stop_day = np.where(fes, days_to_treatment + 7 * fes_stop, np.where(has_afo, days_to_treatment + 7 * afo_stop, np.inf))
    deviation_day = np.where(device_stop_day < np.minimum(followup_days, study_end), device_stop_day, np.inf)

    # ---------------------------------------------------------------- weekly adherence and the conservative recovery time
    # the adherence table shows program weeks p < table_weeks: the week ends within follow-up,
    # at most 6 weeks after the latent recovery (discharge) and at most 520 weeks after onset
    fu_weeks = np.minimum((followup_days - 6) // 7, 520) - w_start + 1

    def table_weeks_of(rows: np.ndarray, latent_day_rows: np.ndarray) -> np.ndarray:
        discharge = np.floor((latent_day_rows + 42) / 7) - w_start[rows] + 1  # inf when never recovering
        return np.clip(np.minimum(np.minimum(fu_weeks[rows], n_prog), discharge), 0, n_prog).astype(np.int64)

    seek = will_recover & ~operated & (e > h0)
    latent_known = np.where(will_recover, np.where(operated, days_to_treatment + 7.0 * t_post, 7.0 * t_before), np.inf)
    completed, t_seek, table_weeks = adherence_and_recovery(
        rng, n_prog=n_prog, propensity=propensity, decline_per_week=cfg.adherence_decline_per_week, weekly_sd=cfg.adherence_weekly_sd,
        exercise_offsets=cfg.exercise_logit_offsets, per_week=prescribed_week, table_weeks=table_weeks_of(idx, latent_known), seek=seek,
        e=e, lp=lp, lam=lam, shape=k, gamma=gamma, reference=cfg.adherence_reference, w0=w0f, h0=h0,
        table_weeks_after_recovery=lambda rows, t: table_weeks_of(rows, 7.0 * t))
    latent_day = np.where(seek, 7.0 * t_seek, latent_known)

    # ---------------------------------------------------------------- visits, scheduled from the treatment day
    sched, jit = _visit_jitter(rng, cfg, n)
    vday = np.concatenate([days_to_treatment[:, None], days_to_treatment[:, None] + sched[None, :] + jit], axis=1)
    u_miss = rng.random((n, sched.size))

    # latent strength on every scheduled day (the visits kept are a subset)
    plateau = s0 + (3.97 - s0) * rng.beta(2, 3, n)
    tau = np.where(operated, np.array([cfg.surgical_median_recovery_weeks.get(c, 8.0) for c in CAUSES])[cause_i],
                   np.array([cfg.median_recovery_weeks[c] for c in CAUSES])[cause_i]) * rng.uniform(0.5, 1.5, n)
    decline_rate = np.where(is_c["als"], np.exp(rng.normal(math.log(1.2), 0.35, n)), np.exp(rng.normal(math.log(0.25), 0.5, n)))
    progressive = np.isin(cause, PROGRESSIVE_CAUSES)
    clock_start = np.where(operated, days_to_treatment.astype(float), 0.0)
    col = (slice(None), None)
    s_sched = _strength_at(vday.astype(float), s0[col], smax[col], latent_day[col], clock_start[col], operated[col],
                           will_recover[col], plateau[col], tau[col], progressive[col], decline_rate[col])
    # missed scheduled visits: at random, or (option) more often once recovered (MNAR)
    with np.errstate(divide="ignore"):
        base_logit = logit(cfg.visit_miss_probability)
    p_miss = expit(base_logit + cfg.visit_miss_log_or_recovered * (s_sched[:, 1:] >= 4.0))
    missed = u_miss < p_miss
    keep = np.ones_like(vday, dtype=bool)
    keep[:, 1:] = (vday[:, 1:] >= days_to_treatment[:, None] + 7) & ~missed
    keep &= vday <= followup_days[:, None]
    visits_missed = (missed & (vday[:, 1:] <= followup_days[:, None])).sum(axis=1)
    v_row, v_col = np.nonzero(keep)
    v_day = vday[v_row, v_col].astype(np.int64)
    t_w = v_day / 7.0
    strength = s_sched[v_row, v_col]
    mrc_true = np.clip(np.floor(strength), 0, 5).astype(np.int64)
    rated = np.clip(np.floor(strength + rng.normal(0, cfg.mrc_rater_sd, v_row.size)), 0, 5).astype(np.int64)
    second = np.clip(np.floor(strength + rng.normal(0, cfg.mrc_rater_sd, v_row.size)), 0, 5).astype(np.int64)
    is_base = v_col == 0
    # for operated patients the baseline visit is the pre-operative assessment that recorded the
    # baseline grade (strength is flat until surgery); elsewhere the visit has its own rating
    mrc = np.where(is_base & operated[v_row], baseline_mrc[v_row], rated)
    # a visit on the day of onset grades the foot drop itself: below MRC 4 by the toolkit's
    # definition (recovery_intervals refuses MRC >= 4 on day 0), whatever the rater error
    mrc = np.where(v_day == 0, np.minimum(mrc, 3), mrc)

    rom = _draw_rom(rng, n, strength, v_row)

    # devices in use at each visit (weeks since program start)
    since_v = t_w - w_start[v_row]
    fes_on = fes[v_row] & (since_v >= 0) & (since_v < fes_stop[v_row])
    afo_on = has_afo[v_row] & (since_v >= 0) & (since_v < afo_stop[v_row]) & ~fes_on
    device = np.where(fes_on, "fes", np.where(afo_on, "afo", "none"))

    # gait speed: v1 mixed model for every cause but stroke
    u0, u1, gait_v1_mean, gait_v1 = _gait_mixed_model(rng, cfg, n, z, cause_i, sev_lat, age, diabetes, smoking, fes, v_row, t_w,
                                                      _site_gait(sites, site_i))

    # stroke walking: natural recovery to a plateau, chronic change, training and orthotic effects
    pl_rec, pl_age, pl_sd = cfg.stroke_gait_plateau_effects
    g_plateau = np.maximum(np.array(cfg.stroke_gait_plateau)[sev_lat] + pl_rec * will_recover + pl_age * (age - 60) / 10
                           + pl_sd * rng.normal(size=n), 0.1)
    g_onset = rng.uniform(*cfg.stroke_gait_onset, n)
    g_med, g_sdlog, g_shape = cfg.stroke_gait_time
    g_tau = np.exp(math.log(g_med) - g_sdlog * (0.6 * z + 0.8 * rng.normal(size=n)))  # faster walkers recover strength faster
    natural = g_onset[v_row] + (g_plateau[v_row] - g_onset[v_row]) * (1 - np.exp(-(t_w / g_tau[v_row]) ** g_shape))
    natural = np.maximum(natural + cfg.stroke_gait_chronic_per_year * np.maximum(t_w - 26, 0) / 52.18, 0.0)
    weeks_used = np.where(fes[v_row], np.clip(since_v, 0, fes_stop[v_row]), np.where(has_afo[v_row], np.clip(since_v, 0, afo_stop[v_row]), 0.0))
    train_max = np.where(fes[v_row], cfg.device_training_relative["fes"], np.where(has_afo[v_row], cfg.device_training_relative["afo"], 0.0))
    training_rel = train_max * (1 - np.exp(-weeks_used / cfg.device_training_weeks))
    gait_off = natural * (1 + training_rel)
    orthotic = np.where(fes_on, cfg.device_orthotic_relative["fes"], np.where(afo_on, cfg.device_orthotic_relative["afo"], 0.0))
    gait_on = np.where(device != "none", gait_off * (1 + orthotic), np.nan)
    walked = np.where(device != "none", gait_on, gait_off)
    gait_stroke = walked * (1 + cfg.gait_measurement_cv * rng.normal(size=v_row.size))
    stroke_v = is_c["stroke"][v_row]
    gait = np.where(stroke_v, np.where(gait_off < cfg.gait_unable_below, np.nan, gait_stroke), gait_v1)
    gait = np.round(np.clip(gait, 0.05, 2.5), 2)
    not_tested = rng.random(v_row.size) < cfg.gait_missing_probability
    gait = np.where(not_tested, np.nan, gait)

    # falls and AFO needed (v1 rules, with the AFO worn as simulated here)
    falls, afo_needed = _falls_and_afo_needed(rng, v_row, v_day, strength, afo_on, mrc)

    # ---------------------------------------------------------------- missing covariates
    miss = _missing_flags(rng, cfg, n, {"smoking": (smoking == "current").astype(float), "diabetes": diabetes.astype(float),
                                        "hba1c": hba1c, "bmi": bmi, "days_to_treatment": np.log1p(days_to_treatment)}, age)
    hba1c_obs = np.where(miss["hba1c"], np.nan, hba1c)
    if cfg.covariates_missing_in_tables:  # no draws: the other columns are the same either way
        smoking_obs = np.where(miss["smoking"], None, smoking)
        diabetes_obs = np.where(miss["diabetes"], None, diabetes)
        dtt_obs = np.where(miss["days_to_treatment"], np.nan, days_to_treatment)
    else:
        smoking_obs, diabetes_obs, dtt_obs = smoking, diabetes, days_to_treatment
    bmi_obs = np.where(miss["bmi"], np.nan, bmi)

    # ---------------------------------------------------------------- adherence table rows (calendar weeks since onset)
    a_row = np.repeat(idx, table_weeks)  # program weeks 0 .. table_weeks - 1 of each patient, in order
    a_prog = np.arange(a_row.size) - np.repeat(np.cumsum(table_weeks) - table_weeks, table_weeks)
    a_week = w_start[a_row] + a_prog
    hours = device_hours(rng, n, has_afo, fes, propensity, a_row, a_prog, afo_stop, fes_stop)

    # ---------------------------------------------------------------- schema 1.1 columns (drawn last: the other columns stay as they were)
    # device-off gait speed at visits with a device in use: stroke from the walking model (its own
    # measurement error), other causes the v1 speed without the orthotic effect (same relative effect)
    in_use = device != "none"
    latent_off = np.where(stroke_v, gait_off, np.where(in_use, gait_v1_mean / (1 + orthotic), np.nan))
    latent_on = np.where(stroke_v, gait_on, np.where(in_use, gait_v1_mean, np.nan))
    noise_off = rng.normal(size=v_row.size)
    measured_off = np.where(stroke_v, latent_off * (1 + cfg.gait_measurement_cv * noise_off), latent_off + cfg.gait_sd_residual * noise_off)
    unable = stroke_v & (gait_off < cfg.gait_unable_below)
    gait_off_obs = np.where(in_use & ~unable & ~not_tested, np.round(np.clip(measured_off, 0.05, 2.5), 2), np.nan)
    # first contact: the treatment day for conservative care; operated patients may be seen before surgery
    first_contact_day = np.minimum(np.clip(np.round(first_contact), 0, cfg.max_days_to_treatment).astype(np.int64), days_to_treatment)
    surgery_day = np.where(surgery_i > 0, days_to_treatment, np.nan)  # tendon transfer: on the treatment day; Int64 when joined
    # strings of the truth tables: object arrays of shared str objects (no string per row)
    end_reason = np.where(end_i == 1, _REASON_OBJ[reason_i], _FOLLOWUP_END_OBJ[end_i])
    # dropout_reason codes in the schema's vocabulary (death is a reason there); empty at the study end
    reason_code = np.where(end_i == 0, -1, np.where(end_i == 2, _SCHEMA_DEATH, _REASON_TO_SCHEMA[reason_i]))

    adherence: dict[str, Any] = {"_row": (a_row + start).astype(np.int32), "week": a_week.astype(np.int16)}
    completed_rows = completed.take(a_row, a_prog)
    for stem in EXERCISES:
        adherence[f"{stem}_prescribed"] = prescribed_week[stem][a_row]
        adherence[f"{stem}_completed"] = completed_rows[stem]
    adherence.update(hours)

    # the patients table in schema order; patient_id is added when the chunks are joined
    patients = {
        "age": age, "sex": _categorical(sex, "sex"), "side": _categorical(side, "side"), "cause": _from_codes(cause_i, "cause"),
        "severity": _from_codes(sev_i, "severity"), "baseline_mrc": baseline_mrc, "diabetes": diabetes_obs, "hba1c": hba1c_obs,
        "smoking": _categorical(smoking_obs, "smoking"), "bmi": bmi_obs, "days_to_treatment": dtt_obs, "home_exercise": home_exercise,
        "supervised_physio": supervised, "afo": _categorical(arms["afo_type"], "afo"), "fes": fes, "surgery": _from_codes(surgery_i, "surgery"),
        "site": pd.Categorical.from_codes(site_i, categories=[f"S{j + 1:02d}" for j in range(cfg.n_sites)]),
        "red_flag_cauda_equina": red_cauda, "red_flag_rapid_worsening": red_rapid, "followup_days": followup_days,
        "followup_end": _from_codes(end_i, "followup_end"), "first_contact_day": first_contact_day, "surgery_day": surgery_day,
        "dropout_reason": _from_codes(reason_code, "dropout_reason"),
    }
    visits = {
        "_row": (v_row + start).astype(np.int32), "day": v_day, "mrc": mrc, "rom_deg": rom.astype(float), "gait_speed": gait,
        "falls": falls, "afo_needed": afo_needed, "gait_speed_device_off": gait_off_obs,
    }
    truth = {
        **_truth_frame_v1_columns(
            np.empty(0), will_recover=will_recover, recovery_probability=p_recover, latent_recovery_day=latent_day,
            latency_linear_predictor=np.where(operated, lp_s, lp), recovery_score_z=z, strength_onset=s0, strength_max_if_recovering=smax,
            strength_plateau_if_not=plateau, decline_per_year_if_progressive=np.where(progressive, decline_rate, np.nan), gait_u0=u0,
            gait_u1=u1, adherence_propensity=propensity, afo_abandon_week=np.where(has_afo, afo_stop, np.nan),
            fes_abandon_week=np.where(fes, fes_stop, np.nan), dropout_day=dropout, death_day=death),
        # version 2
        "severity_latent": _SEVERITY_OBJ[sev_lat], "treatment_clock": np.where(operated, _CLOCK_OBJ[1], _CLOCK_OBJ[0]),
        "surgery_day": np.where(operated, days_to_treatment.astype(float), np.nan),
        "first_contact_day": first_contact_day, "referral_delay_days": first_contact, "late_referral": late_referral,
        "reaches_full_strength": will_recover & full, "strength_tau_weeks": tau,
        "stroke_gait_onset": np.where(is_c["stroke"], g_onset, np.nan), "stroke_gait_plateau": np.where(is_c["stroke"], g_plateau, np.nan),
        "stroke_gait_tau_weeks": np.where(is_c["stroke"], g_tau, np.nan), "program_start_week": w_start,
        "end_reason": end_reason, "protocol_deviation_day": deviation_day, "visits_missed": visits_missed,
        "smoking_true": _SMOKING_OBJ[_codes(smoking, SMOKING)], "diabetes_true": diabetes, "hba1c_true": hba1c, "bmi_true": bmi,
        **{f"missing_{name}": miss[name] for name in MISSING_COVARIATES},
    }
    del truth["patient_id"]  # added when the chunks are joined
    truth_visits = {
        "strength": strength, "mrc_true": mrc_true, "mrc_second_rater": second,
        "device_in_use": _DEVICE_OBJ[np.where(fes_on, 2, np.where(afo_on, 1, 0))],
        "gait_off": latent_off, "gait_on": latent_on,
        "training_gain": np.where(stroke_v, natural * training_rel, np.nan),
    }
    return {"patients": patients, "visits": visits, "adherence": adherence, "truth": truth, "truth_visits": truth_visits}


def latent_strength(cohort: Cohort, day: np.ndarray | float) -> np.ndarray:
    """Latent strength of every patient of a v2 cohort on ``day`` (days since onset).

    Parameters
    ----------
    cohort : Cohort
        Simulated with version 2 (its truth holds the strength curve of every patient).
    day : float or array
        One day for everyone, or one day per patient (aligned with ``cohort.patients``).

    Returns
    -------
    numpy.ndarray
        One value per patient, on the continuous MRC scale (grade = floor).
    """
    tp = _v2_truth(cohort).patients
    cause = cohort.patients["cause"].astype(str).to_numpy()
    operated = (tp["treatment_clock"] == "surgery").to_numpy()
    day_arr = np.broadcast_to(np.asarray(day, dtype=float), (len(tp),))
    return _strength_at(day_arr, tp["strength_onset"].to_numpy(), tp["strength_max_if_recovering"].to_numpy(),
                        tp["latent_recovery_day"].to_numpy(), np.where(operated, tp["surgery_day"].to_numpy(), 0.0), operated,
                        tp["will_recover"].to_numpy(bool), tp["strength_plateau_if_not"].to_numpy(), tp["strength_tau_weeks"].to_numpy(),
                        np.isin(cause, PROGRESSIVE_CAUSES), np.nan_to_num(tp["decline_per_year_if_progressive"].to_numpy()))


def latent_stroke_gait(cohort: Cohort, day: np.ndarray | float, *, with_training: bool = True) -> np.ndarray:
    """Latent device-off gait speed (m/s) of every stroke patient on ``day``; empty for other causes.

    ``with_training=False`` gives the natural recovery alone (no training effect of device use).
    """
    tp = _v2_truth(cohort).patients
    cfg = SimulationConfigV2.from_dict(cohort.metadata["config"])
    p = cohort.patients
    t_w = np.broadcast_to(np.asarray(day, dtype=float), (len(tp),)) / 7.0
    g0, gp, tau = (tp[c].to_numpy() for c in ("stroke_gait_onset", "stroke_gait_plateau", "stroke_gait_tau_weeks"))
    natural = g0 + (gp - g0) * (1 - np.exp(-(t_w / tau) ** cfg.stroke_gait_time[2]))
    natural = np.maximum(natural + cfg.stroke_gait_chronic_per_year * np.maximum(t_w - 26, 0) / 52.18, 0.0)
    if not with_training:
        return natural
    fes = p["fes"].to_numpy(bool)
    afo = (p["afo"].astype(str) != "none").to_numpy()
    since = t_w - tp["program_start_week"].to_numpy()
    used = np.where(fes, np.clip(since, 0, np.nan_to_num(tp["fes_abandon_week"].to_numpy())),
                    np.where(afo, np.clip(since, 0, np.nan_to_num(tp["afo_abandon_week"].to_numpy())), 0.0))
    th = np.where(fes, cfg.device_training_relative["fes"], np.where(afo, cfg.device_training_relative["afo"], 0.0))
    return natural * (1 + th * (1 - np.exp(-used / cfg.device_training_weeks)))


def _v2_truth(cohort: Cohort) -> SimulatedTruth:
    truth = cohort.truth
    if truth is None or "treatment_clock" not in truth.patients.columns:
        raise ConfigError("this needs a cohort simulated with generator version 2 (simulate_cohort(..., version=2))")
    return truth  # type: ignore[return-value]


def _truth_parameters_v2(cfg: SimulationConfigV2) -> pd.DataFrame:
    base = _core_parameter_rows(cfg)
    base = base[~((base["component"] == "recovery_latency") & (base["term"] == "surgery"))]  # operated patients follow the surgical clock
    rows = _shared_model_rows(cfg, cfg.peroneal_decompression_logit,
                              severity_basis="recorded severity: band of the baseline grade rated with error; outcomes use the latent band")
    rows += _v2_model_rows(cfg)
    desc_i = "logistic model of ever reaching MRC 4 after surgery (decompression or nerve repair); reference: pre-op strength 1, 30 days of deficit, age 60"
    for c, p in cfg.surgical_recovery_probability.items():
        rows.append(("surgical_incidence", f"p_recover[{c}]", "probability", p, desc_i))
    for term, b in cfg.surgical_incidence_log_or.items():
        rows.append(("surgical_incidence", term, "log_odds_ratio", b, desc_i))
        rows.append(("surgical_incidence", term, "odds_ratio", math.exp(b), desc_i))
    ks = cfg.surgical_weibull_shape
    desc_l = "Weibull proportional hazards in weeks since surgery among recovering operated patients"
    rows.append(("surgical_latency", "weibull_shape", "shape", ks, desc_l))
    for c, m in cfg.surgical_median_recovery_weeks.items():
        rows.append(("surgical_latency", f"median_weeks[{c}]", "weeks", m, desc_l + "; reference profile"))
    for term, b in cfg.surgical_latency_log_hr.items():
        rows.append(("surgical_latency", term, "log_hazard_ratio", b, desc_l))
        rows.append(("surgical_latency", term, "hazard_ratio", math.exp(b), desc_l))
        rows.append(("surgical_latency", term, "time_ratio", math.exp(-b / ks), desc_l))
    for i, sev in enumerate(SEVERITIES):
        rows.append(("stroke_walking", f"plateau[{sev}]", "m/s", cfg.stroke_gait_plateau[i], "device-off plateau, dorsiflexion not recovering, age 60"))
    for term, v in zip(("plateau_if_recovering", "plateau_age_per_10y", "plateau_sd"), cfg.stroke_gait_plateau_effects):
        rows.append(("stroke_walking", term, "m/s", v, "natural walking recovery after stroke"))
    for term, v in zip(("median_weeks", "sd_log_weeks", "shape"), cfg.stroke_gait_time):
        rows.append(("stroke_walking", f"time_{term}", "weeks" if term == "median_weeks" else "shape", v, "time course 1 - exp(-(t/tau)^shape)"))
    rows.append(("stroke_walking", "chronic_change_per_year", "m/s", cfg.stroke_gait_chronic_per_year, "after week 26"))
    for dev in ("afo", "fes"):
        rows.append(("devices", f"orthotic_relative[{dev}]", "proportion", cfg.device_orthotic_relative[dev], "device on vs off at the same visit"))
        rows.append(("devices", f"training_relative_max[{dev}]", "proportion", cfg.device_training_relative[dev], "device-off speed gain after long use"))
    rows.append(("devices", "training_weeks", "weeks", cfg.device_training_weeks, "time constant of the training effect"))
    for dev, (shape, scale) in (("afo", cfg.afo_use_weibull), ("fes", cfg.fes_use_weibull)):
        rows.append(("devices", f"use_shape[{dev}]", "shape", shape, "Weibull time to stopping the device"))
        rows.append(("devices", f"use_scale_weeks[{dev}]", "weeks", scale, "Weibull time to stopping the device"))
    for term, b in cfg.dropout_log_hr.items():
        rows.append(("dropout", term, "log_hazard_ratio", b, "exponential dropout from the treatment day"))
    rows.append(("dropout", "stroke_death_per_year", "rate", cfg.stroke_death_per_year, "exponential from presentation"))
    rows.append(("measurement", "mrc_rater_sd", "MRC grades", cfg.mrc_rater_sd, "normal error added to latent strength before flooring"))
    rows.append(("measurement", "gait_measurement_cv", "proportion", cfg.gait_measurement_cv, "stroke gait speed"))
    for name, rate in cfg.missing_rates.items():
        rows.append(("missing_data", f"rate[{name}]", "probability", rate, f"mechanism {cfg.missing_mechanism}; stored: {MISSING_COVARIATES[name]}"))
    rows.append(("missing_data", "late_referral_probability", "probability", cfg.late_referral_probability, "conservatively treated patients"))
    extra = pd.DataFrame(rows, columns=["component", "term", "scale", "value", "description"])
    return pd.concat([base, extra], ignore_index=True)


def _v2_model_rows(cfg: SimulationConfigV2) -> list[tuple[str, str, str, float, str]]:
    """Generating models of version 2 not written by the component rows: device stopping,
    dropout rate and reasons, surgery timing, full strength, referral and missingness options."""
    rows: list[tuple[str, str, str, float, str]] = []
    afo_k, afo_scale = cfg.afo_use_weibull
    d = "Weibull time to stopping the AFO, weeks since program start; scale x exp(0.4 (propensity - logit_mean) / shape)"
    rows += [("afo_abandonment", "weibull_shape", "shape", afo_k, d), ("afo_abandonment", "weibull_scale_weeks", "weeks", afo_scale, d),
             ("afo_abandonment", "adherence_propensity", "log_hazard_ratio", -0.4, d),
             ("afo_abandonment", "abandoned_by_week_52", "probability", 1 - math.exp(-((52 / afo_scale) ** afo_k)), d + "; at the mean propensity"),
             ("afo_abandonment", "abandoned_by_week_208", "probability", 1 - math.exp(-((208 / afo_scale) ** afo_k)), d + "; at the mean propensity")]
    fes_k, fes_scale = cfg.fes_use_weibull
    d = "Weibull time to stopping FES, weeks since program start"
    rows += [("fes_discontinuation", "weibull_shape", "shape", fes_k, d), ("fes_discontinuation", "weibull_scale_weeks", "weeks", fes_scale, d),
             ("fes_discontinuation", "median_weeks", "weeks", fes_scale * math.log(2) ** (1 / fes_k), d)]
    base_rate = -math.log(1 - cfg.dropout_by_end) / (cfg.followup_weeks * 7) if cfg.dropout_by_end > 0 else 0.0
    rows.append(("dropout", "base_rate_per_day", "rate", base_rate, "exponential from the treatment day, no device, age 60"))
    for arm, probs in cfg.dropout_reason_probabilities.items():
        for reason, prob in zip(DROPOUT_REASONS, probs):
            rows.append(("dropout_reason", f"{reason}[{arm}]", "probability", prob, "reason given dropout; FES users and others"))
    p_early, med_early, med_late, sd_log = cfg.peroneal_surgery_delay
    d = "days from onset to peroneal decompression: early/late log-normal mixture"
    rows += [("surgery_timing", "peroneal_p_early", "probability", p_early, d), ("surgery_timing", "peroneal_median_days_early", "days", med_early, d),
             ("surgery_timing", "peroneal_median_days_late", "days", med_late, d), ("surgery_timing", "peroneal_sd_log", "log days", sd_log, d),
             ("surgery_timing", "lumbar_median_days", "days", cfg.lumbar_surgery_delay[0], "log-normal"),
             ("surgery_timing", "lumbar_sd_log", "log days", cfg.lumbar_surgery_delay[1], "log-normal"),
             ("surgery_timing", "max_days", "days", cfg.max_days_to_treatment, "cap on deficit duration and first contact")]
    f0, f_grade, f_dur = cfg.full_strength_logit
    d = "logistic: reaching MRC 5 among recovering patients; smax ~ U(5.0, 5.5) if so, else U(4.1, 4.95)"
    rows += [("full_strength", "Intercept", "log_odds", f0, d), ("full_strength", "onset_strength_per_grade", "log_odds_ratio", f_grade, d),
             ("full_strength", "duration_per_doubling", "log_odds_ratio", f_dur, d + "; operated patients only")]
    rows += [("strength_curve", "recovery_curve_power[surgery]", "shape", 1.0, "after surgery strength comes back early"),
             ("strength_curve", "recovery_curve_power[onset]", "shape", 2.5, "conservative recovery (v1 curve)")]
    rows += [("referral", "late_referral_days_low", "days", cfg.late_referral_days[0], "extra delay ~ U(low, high)"),
             ("referral", "late_referral_days_high", "days", cfg.late_referral_days[1], "extra delay ~ U(low, high)")]
    rows.append(("missing_data", "mechanism_strength", "log_odds_ratio", cfg.missing_strength,
                 f"mechanism {cfg.missing_mechanism}: per 10 years of age (MAR) or per SD of the value (MNAR)"))
    rows.append(("visits", "miss_log_or_recovered", "log_odds_ratio", cfg.visit_miss_log_or_recovered, "missing a visit once latent strength >= 4"))
    rows.append(("stroke_walking", "onset_uniform_low", "m/s", cfg.stroke_gait_onset[0], "speed at onset"))
    rows.append(("stroke_walking", "onset_uniform_high", "m/s", cfg.stroke_gait_onset[1], "speed at onset"))
    rows.append(("measurement", "gait_unable_below", "m/s", cfg.gait_unable_below, "device-off speed below which the walk test is not done"))
    return rows
