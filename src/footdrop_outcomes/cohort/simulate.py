"""Calibrated synthetic foot-drop cohorts with known truth.

The generative model is written up in ``docs/simulation.md`` (with the published figures it is
calibrated to). In short, for each patient:

1. baseline covariates by cause (age, sex, side, severity and onset strength, diabetes and
   HbA1c, smoking, BMI, delay to treatment, red flags, site);
2. interventions assigned with confounding by severity and cause (sicker patients more often
   get supervised physiotherapy, an AFO, FES or surgery);
3. weekly adherence to the six-exercise home program from a patient propensity, an
   intervention-specific level and a decline over time; AFO and FES wear with abandonment;
4. recovery as a mixture cure model: a logistic model decides whether the patient belongs to
   the recovering fraction; for those who do, the latent recovery time follows a Weibull
   proportional-hazards model with cause-specific scale and a time-varying effect of
   cumulative adherence; ALS never recovers, and progressive causes decline;
5. visits (about weeks 2, 6, 12, 26, 52, 78 with jitter, missed visits, dropout) at which the
   MRC grade (floor of a latent strength curve that crosses 4 exactly at the latent recovery
   time), range of motion, gait speed (a linear mixed model whose random slope is linked to
   recovery speed), falls and the need for an AFO are recorded.

Everything is vectorised with numpy, in fixed chunks of patients, each with its own seed
spawned from the master seed: the same seed gives identical tables, and cohorts of different
sizes with the same seed share every complete chunk (the first 10,000 patients of a 25,000-patient
cohort are the 10,000-patient cohort with that seed).
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit, ndtri
from tqdm.auto import tqdm

from footdrop_outcomes._version import __version__
from footdrop_outcomes.cohort.cohort import Cohort, CohortTruth
from footdrop_outcomes.cohort.schema import SCHEMA_VERSION, normalise_dtypes
from footdrop_outcomes.cohort.vocabulary import AFO_TYPES, CAUSES, EXERCISES, PROGRESSIVE_CAUSES, SEVERITIES, SURGERIES
from footdrop_outcomes.errors import ConfigError

__all__ = ["SimulationConfig", "simulate_cohort", "GENERATOR_VERSION"]

#: Version of the generative model; any change that alters the output for a seed bumps it.
GENERATOR_VERSION = "1.0"

#: Patients per chunk. Part of the generator: changing it changes the output for a seed.
_CHUNK = 10_000

_CENTRAL = ("stroke", "multiple_sclerosis", "als")


def _by_cause(**values: Any) -> dict[str, Any]:
    return {c: values[c] for c in CAUSES}


@dataclass(frozen=True)
class SimulationConfig:
    """Frozen, validated configuration of the synthetic cohort generator.

    Every default is documented, with its source, in ``docs/simulation.md``. Change one with
    ``dataclasses.replace(SimulationConfig(), field=value)`` or ``SimulationConfig(field=value)``;
    the whole configuration is written into the cohort's manifest.

    Reference profile of the recovery model: mild severity, age 60, no diabetes, never smoker,
    no delay to treatment, home exercise only, cumulative adherence at ``adherence_reference``.
    """

    # -- case mix -----------------------------------------------------------------------------
    cause_mix: Mapping[str, float] = field(default_factory=lambda: _by_cause(
        peroneal_compression=0.28, lumbar_radiculopathy=0.20, stroke=0.15, multiple_sclerosis=0.05,
        als=0.03, peripheral_neuropathy=0.12, post_surgical_hip_knee=0.08, post_surgical_spine=0.09))
    #: P(mild, moderate, severe) by cause.
    severity_mix: Mapping[str, tuple[float, float, float]] = field(default_factory=lambda: _by_cause(
        peroneal_compression=(0.45, 0.30, 0.25), lumbar_radiculopathy=(0.50, 0.32, 0.18),
        stroke=(0.30, 0.40, 0.30), multiple_sclerosis=(0.45, 0.40, 0.15), als=(0.35, 0.40, 0.25),
        peripheral_neuropathy=(0.45, 0.40, 0.15), post_surgical_hip_knee=(0.30, 0.30, 0.40),
        post_surgical_spine=(0.40, 0.35, 0.25)))
    #: Age at onset (mean, SD) by cause.
    age: Mapping[str, tuple[float, float]] = field(default_factory=lambda: _by_cause(
        peroneal_compression=(45, 15), lumbar_radiculopathy=(48, 12), stroke=(68, 12),
        multiple_sclerosis=(45, 10), als=(61, 11), peripheral_neuropathy=(64, 10),
        post_surgical_hip_knee=(68, 9), post_surgical_spine=(62, 11)))
    #: Median days from onset to treatment by cause (log-normal, SD of log below).
    median_days_to_treatment: Mapping[str, float] = field(default_factory=lambda: _by_cause(
        peroneal_compression=21, lumbar_radiculopathy=10, stroke=2, multiple_sclerosis=14, als=120,
        peripheral_neuropathy=60, post_surgical_hip_knee=3, post_surgical_spine=2))
    sd_log_days_to_treatment: float = 0.9
    diabetes_prevalence: Mapping[str, float] = field(default_factory=lambda: _by_cause(
        peroneal_compression=0.12, lumbar_radiculopathy=0.12, stroke=0.30, multiple_sclerosis=0.08,
        als=0.10, peripheral_neuropathy=0.75, post_surgical_hip_knee=0.15, post_surgical_spine=0.15))
    n_sites: int = 8

    # -- recovery: incidence (who ever recovers), logistic ------------------------------------
    #: P(ever recovering) for the reference profile, by cause (0 = never, e.g. ALS).
    recovery_probability: Mapping[str, float] = field(default_factory=lambda: _by_cause(
        peroneal_compression=0.97, lumbar_radiculopathy=0.90, stroke=0.75, multiple_sclerosis=0.25,
        als=0.0, peripheral_neuropathy=0.45, post_surgical_hip_knee=0.85, post_surgical_spine=0.85))
    #: Log odds ratios of ever recovering.
    incidence_log_or: Mapping[str, float] = field(default_factory=lambda: {
        "severity[moderate]": -0.8, "severity[severe]": -1.8, "age_per_10y": -0.15,
        "diabetes": -1.2, "delay_per_30d": -0.10})

    # -- recovery: latency (when), Weibull proportional hazards --------------------------------
    #: Median latent recovery time (weeks) of recovering patients with the reference profile.
    median_recovery_weeks: Mapping[str, float] = field(default_factory=lambda: _by_cause(
        peroneal_compression=7.5, lumbar_radiculopathy=11.0, stroke=30.0, multiple_sclerosis=10.0,
        als=30.0, peripheral_neuropathy=30.0, post_surgical_hip_knee=24.0, post_surgical_spine=12.0))
    weibull_shape: float = 3.0
    #: Log hazard ratios of recovery (among those who recover).
    latency_log_hr: Mapping[str, float] = field(default_factory=lambda: {
        "severity[moderate]": -0.5, "severity[severe]": -1.0, "age_per_10y": -0.10,
        "diabetes": -0.30, "hba1c_per_1pct_above_7": -0.10, "smoking[current]": -0.15,
        "smoking[former]": -0.05, "delay_per_30d": -0.08, "supervised_physio": 0.15,
        "surgery": 0.25, "fes": 0.0, "afo": 0.0})  # surgery: decompression or nerve repair (not tendon transfer)
    #: Log hazard ratio per unit (0 to 1) of cumulative adherence (lagged one week).
    adherence_log_hr: float = 10 * math.log(1.15)
    adherence_reference: float = 0.7
    #: SD of a log-normal site frailty on the recovery hazard (0 = none).
    site_frailty_sd: float = 0.0
    #: SD of a site random intercept on gait speed, m/s (0 = none; a third level of the gait model).
    site_gait_sd_intercept: float = 0.0
    #: SD of a site random slope on ``lw`` in the gait model, m/s (0 = none; independent of the intercept).
    site_gait_sd_slope: float = 0.0
    #: SD of a site shift of the patients' adherence propensity, logit scale (0 = none).
    site_adherence_logit_sd: float = 0.0

    # -- adherence ------------------------------------------------------------------------------
    adherence_logit_mean: float = 0.6
    adherence_logit_sd: float = 1.2
    adherence_weekly_sd: float = 0.6
    adherence_decline_per_week: float = 0.015
    adherence_logit_effects: Mapping[str, float] = field(default_factory=lambda: {
        "supervised_physio": 0.4, "smoking[current]": -0.3, "severity[severe]": -0.2})
    exercise_logit_offsets: Mapping[str, float] = field(default_factory=lambda: {
        "toe_lifts": 0.2, "ankle_alphabet": 0.3, "towel_slides": 0.0, "band_dorsiflexion": -0.3,
        "heel_walking": -0.4, "calf_stretch": 0.1})
    afo_abandoned_by_week_52: float = 0.50
    fes_retained_at_week_20: float = 0.89

    # -- visits and follow-up -----------------------------------------------------------------
    followup_weeks: int = 78
    visit_weeks: tuple[int, ...] = (2, 6, 12, 26, 52, 78)
    visit_miss_probability: float = 0.10
    dropout_by_end: float = 0.15
    als_median_survival_years: float = 2.5

    # -- gait speed: linear mixed model in lw = log(1 + weeks since onset) ---------------------
    gait_fixed: Mapping[str, float] = field(default_factory=lambda: {
        "Intercept": 0.85,
        "cause[lumbar_radiculopathy]": -0.05, "cause[stroke]": -0.35, "cause[multiple_sclerosis]": -0.10,
        "cause[als]": -0.05, "cause[peripheral_neuropathy]": -0.15, "cause[post_surgical_hip_knee]": -0.25,
        "cause[post_surgical_spine]": -0.15,
        "severity[moderate]": -0.08, "severity[severe]": -0.18,
        "lw": 0.08,
        "lw:cause[lumbar_radiculopathy]": -0.01, "lw:cause[stroke]": 0.04, "lw:cause[multiple_sclerosis]": -0.10,
        "lw:cause[als]": -0.15, "lw:cause[peripheral_neuropathy]": -0.06, "lw:cause[post_surgical_hip_knee]": 0.0,
        "lw:cause[post_surgical_spine]": -0.02,
        "lw:severity[moderate]": -0.005, "lw:severity[severe]": -0.015,
        "age_c": -0.04, "diabetes": -0.05, "current_smoker": -0.03, "fes": 0.06})
    gait_sd_intercept: float = 0.12
    gait_sd_slope: float = 0.04
    gait_corr: float = -0.25
    gait_sd_residual: float = 0.06
    #: Correlation between a patient's gait random slope and their recovery-speed score.
    gait_recovery_link: float = 0.6
    gait_missing_probability: float = 0.03

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(f"SimulationConfig: {msg}")

        for name in ("cause_mix", "severity_mix", "age", "median_days_to_treatment", "diabetes_prevalence",
                     "recovery_probability", "median_recovery_weeks"):
            keys = set(getattr(self, name))
            need(keys == set(CAUSES), f"{name} must have exactly the causes {list(CAUSES)}; got {sorted(keys)}")
        need(abs(sum(self.cause_mix.values()) - 1) < 1e-9, f"cause_mix must sum to 1 (sums to {sum(self.cause_mix.values()):.6f})")
        need(all(v >= 0 for v in self.cause_mix.values()), "cause_mix values must be >= 0")
        for c, probs in self.severity_mix.items():
            need(len(probs) == 3 and min(probs) >= 0 and abs(sum(probs) - 1) < 1e-9,
                 f"severity_mix[{c!r}] must be three probabilities (mild, moderate, severe) summing to 1")
        for name in ("diabetes_prevalence", "recovery_probability"):
            need(all(0 <= v <= 1 for v in getattr(self, name).values()), f"{name} values must be in [0, 1]")
        need(self.recovery_probability["als"] == 0, "recovery_probability['als'] must be 0: ALS does not recover")
        need(all(v > 0 for v in self.median_recovery_weeks.values()), "median_recovery_weeks must be > 0")
        need(set(self.exercise_logit_offsets) == set(EXERCISES), f"exercise_logit_offsets must have the exercises {list(EXERCISES)}")
        for name, allowed in (("incidence_log_or", {"severity[moderate]", "severity[severe]", "age_per_10y", "diabetes", "delay_per_30d"}),
                              ("latency_log_hr", set(SimulationConfig.__dataclass_fields__["latency_log_hr"].default_factory())),  # type: ignore[misc]
                              ("adherence_logit_effects", {"supervised_physio", "smoking[current]", "severity[severe]"})):
            need(set(getattr(self, name)) == allowed, f"{name} must have exactly the keys {sorted(allowed)}")
        gait_keys = set(SimulationConfig.__dataclass_fields__["gait_fixed"].default_factory())  # type: ignore[misc]
        need(set(self.gait_fixed) == gait_keys, f"gait_fixed must have exactly the keys {sorted(gait_keys)}")
        need(self.weibull_shape > 0, "weibull_shape must be > 0")
        need(0 <= self.adherence_reference <= 1, "adherence_reference must be in [0, 1]")
        need(self.followup_weeks >= 4, "followup_weeks must be >= 4")
        need(len(self.visit_weeks) >= 1 and list(self.visit_weeks) == sorted(set(self.visit_weeks)) and self.visit_weeks[0] >= 1,
             "visit_weeks must be increasing, distinct and >= 1")
        need(self.visit_weeks[-1] <= self.followup_weeks, "the last of visit_weeks must be <= followup_weeks")
        for name in ("visit_miss_probability", "dropout_by_end", "gait_missing_probability", "afo_abandoned_by_week_52", "fes_retained_at_week_20"):
            need(0 <= getattr(self, name) < 1, f"{name} must be in [0, 1)")
        for name in ("gait_sd_intercept", "gait_sd_slope", "gait_sd_residual", "adherence_logit_sd", "adherence_weekly_sd", "site_frailty_sd", "sd_log_days_to_treatment",
                     "site_gait_sd_intercept", "site_gait_sd_slope", "site_adherence_logit_sd"):
            need(getattr(self, name) >= 0, f"{name} must be >= 0")
        need(-1 < self.gait_corr < 1 and -1 <= self.gait_recovery_link <= 1, "gait_corr must be in (-1, 1) and gait_recovery_link in [-1, 1]")
        need(1 <= self.n_sites <= 99, "n_sites must be 1 to 99")

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON-able data (as written into the manifest)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimulationConfig:
        """Rebuild a configuration from :meth:`to_dict` output (unknown keys are refused)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"SimulationConfig: unknown option(s) {sorted(unknown)}")
        clean = dict(data)
        if "visit_weeks" in clean:
            clean["visit_weeks"] = tuple(clean["visit_weeks"])
        if "severity_mix" in clean:
            clean["severity_mix"] = {k: tuple(v) for k, v in clean["severity_mix"].items()}
        if "age" in clean:
            clean["age"] = {k: tuple(v) for k, v in clean["age"].items()}
        return cls(**clean)


# ------------------------------------------------------------------------------------------------
# the generator


def simulate_cohort(
    n_patients: int,
    seed: int,
    config: SimulationConfig | None = None,
    *,
    progress: bool = False,
    version: int | None = None,
    n_jobs: int = 1,
) -> Cohort:
    """Simulate a synthetic foot-drop cohort with known truth.

    Parameters
    ----------
    n_patients : int
        Number of patients (>= 1).
    seed : int
        Master seed (>= 0). The same seed and configuration give identical tables; cohorts of
        different sizes with the same seed share every complete chunk of 10,000 patients.
    config : SimulationConfig, optional
        Generator configuration; defaults are calibrated (see ``docs/simulation.md``).
    progress : bool
        Show a progress bar over chunks of 10,000 patients.
    n_jobs : int
        Chunks simulated at once, in threads (numpy releases the GIL in its array work). Each
        chunk has its own seed, so the tables are the same for every ``n_jobs``. Default 1, as on
        a shared server; 2 on an otherwise idle 2-core machine.
    version : {1, 2}, optional
        Generator version. 1 (the default) is the model below; 2 is
        ``cohort/simulate_v2.py`` (treatment clock, stroke walking, attrition by arm, rater
        error, missing data), also chosen by passing a ``SimulationConfigV2``.

    Returns
    -------
    Cohort
        With ``truth`` holding every true parameter and each patient's latent values.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> cohort = simulate_cohort(500, seed=42)
    >>> cohort.truth.value("recovery_latency", "severity[severe]", "hazard_ratio") < 1
    True
    """
    _check_size_and_seed(n_patients, seed, n_jobs)
    if version not in (None, 1, 2):
        raise ConfigError(f"version must be 1 or 2, got {version!r}")
    if version == 2 or getattr(config, "GENERATOR", 1) == 2:
        if version == 1:
            raise ConfigError("version=1 cannot run a SimulationConfigV2; pass a SimulationConfig or version=2")
        from footdrop_outcomes.cohort.simulate_v2 import simulate_cohort_v2  # here: v2 imports this module

        return simulate_cohort_v2(n_patients, seed, config, progress=progress, n_jobs=n_jobs)  # type: ignore[arg-type]
    cfg = config if config is not None else SimulationConfig()
    if not isinstance(cfg, SimulationConfig):
        raise ConfigError(f"config must be a SimulationConfig, got {type(cfg).__name__}")

    tables, sites = _simulate_in_chunks(np.random.SeedSequence(int(seed)), int(n_patients), cfg, _simulate_chunk, "simulating", progress, n_jobs)
    normalise_dtypes(tables)
    parameters = _truth_parameters(cfg)
    if sites.any_effect:  # only then: a cohort without site effects keeps its truth byte for byte
        parameters = pd.concat([parameters, sites.parameter_rows(cfg)], ignore_index=True)
    truth = CohortTruth(parameters=parameters, patients=tables["truth"])
    metadata = _metadata(seed, n_patients, cfg, GENERATOR_VERSION, float((tables["visits"]["gait_speed"] <= 0.05).mean()))
    # The generator builds valid tables by construction; tests validate them explicitly.
    return Cohort(patients=tables["patients"], visits=tables["visits"], adherence=tables["adherence"],
                  metadata=metadata, truth=truth, source=f"simulate_cohort(seed={seed})", _validated=True)


# ------------------------------------------------------------------------------------------------
# pieces shared by generator versions 1 and 2 (each draws from the generator in a fixed order:
# changing the order of calls changes the output for a seed)


@dataclass(frozen=True)
class SiteDraws:
    """The sites' case mix and true site effects, drawn once per cohort before any patient.

    Attributes
    ----------
    weights : numpy.ndarray
        (causes x sites) share of each cause's patients at each site, ~ Dirichlet(2).
    log_frailty : numpy.ndarray
        Log site frailty on the recovery hazard, ~ N(0, ``site_frailty_sd``^2) (zeros when off).
    gait_intercept, gait_slope : numpy.ndarray
        Site random intercept (m/s) and slope on ``lw`` (m/s per unit) of the gait model (zeros when off).
    adherence_logit : numpy.ndarray
        Site shift of the adherence propensity, logit scale (zeros when off).
    """

    weights: np.ndarray
    log_frailty: np.ndarray
    gait_intercept: np.ndarray
    gait_slope: np.ndarray
    adherence_logit: np.ndarray
    #: which effects were drawn (the others are zeros and are not applied, so the tables of a
    #: configuration without them are those of earlier versions byte for byte)
    drawn: tuple[str, ...] = ()

    @property
    def frailty(self) -> np.ndarray:
        """Multiplicative site frailty on the recovery hazard (ones when off)."""
        return np.exp(self.log_frailty) if "recovery" in self.drawn else np.ones(self.log_frailty.size)

    @property
    def any_effect(self) -> bool:
        """Whether any site effect was drawn."""
        return bool(self.drawn)

    def codes(self) -> list[str]:
        """Site codes S01, S02, ... in draw order."""
        return [f"S{j + 1:02d}" for j in range(self.log_frailty.size)]

    def parameter_rows(self, cfg: SimulationConfig) -> pd.DataFrame:
        """``truth.parameters`` rows of component ``site_effects``: the SDs (term ``sd``) and every site's draws (term = site code)."""
        spec = (("recovery_log_hazard_ratio", cfg.site_frailty_sd, self.log_frailty,
                 "log site frailty on the recovery hazard (latency; version 2: the conservative clock), ~ N(0, sd^2)"),
                ("gait_intercept", cfg.site_gait_sd_intercept, self.gait_intercept,
                 "site random intercept of the gait model (m/s); version 2: every cause but stroke"),
                ("gait_slope", cfg.site_gait_sd_slope, self.gait_slope,
                 "site random slope on lw = log(1 + weeks since onset) of the gait model (m/s); version 2: every cause but stroke"),
                ("adherence_logit", cfg.site_adherence_logit_sd, self.adherence_logit,
                 "site shift of the adherence propensity (logit), so of every week's adherence and of device wear"))
        rows: list[tuple[str, str, str, float, str]] = []
        for scale, sd, values, desc in spec:
            rows.append(("site_effects", "sd", scale, float(sd), desc))
            rows += [("site_effects", code, scale, float(v), desc) for code, v in zip(self.codes(), values)]
        return pd.DataFrame(rows, columns=_PARAMETER_COLUMNS)


def draw_sites(rng: np.random.Generator, cfg: SimulationConfig) -> SiteDraws:
    """The sites' case mix, then each configured site effect, in a fixed order (a new effect is drawn after the older ones)."""
    # site case mix: each cause is spread over the sites with its own weights
    weights = rng.dirichlet(np.full(cfg.n_sites, 2.0), size=len(CAUSES))
    drawn: list[str] = []
    out: dict[str, np.ndarray] = {}
    for name, sd in (("recovery", cfg.site_frailty_sd), ("gait_intercept", cfg.site_gait_sd_intercept),
                     ("gait_slope", cfg.site_gait_sd_slope), ("adherence", cfg.site_adherence_logit_sd)):
        if sd > 0:
            out[name] = rng.normal(0.0, sd, size=cfg.n_sites)
            drawn.append(name)
        else:
            out[name] = np.zeros(cfg.n_sites)
    return SiteDraws(weights=weights, log_frailty=out["recovery"], gait_intercept=out["gait_intercept"], gait_slope=out["gait_slope"],
                     adherence_logit=out["adherence"], drawn=tuple(drawn))


def _check_size_and_seed(n_patients: Any, seed: Any, n_jobs: Any = 1) -> None:
    """Refuse a cohort size, seed or number of threads that is not a whole number in range."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ConfigError(f"n_jobs must be a whole number >= 1, got {n_jobs!r}")
    if isinstance(n_patients, bool) or not isinstance(n_patients, (int, np.integer)) or n_patients < 1:
        raise ConfigError(f"n_patients must be a positive whole number, got {n_patients!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a whole number >= 0, got {seed!r}")


def _simulate_in_chunks(root: np.random.SeedSequence, n_patients: int, cfg: SimulationConfig, chunk: Any,
                        desc: str, progress: bool, n_jobs: int = 1) -> tuple[dict[str, pd.DataFrame], SiteDraws]:
    """Site draws, then ``chunk(rng, start, size, width, cfg, site_weights, sites)`` per chunk, concatenated; and the site draws.

    A chunk returns its tables as mappings of column name to array; columns are concatenated over
    chunks (numpy arrays, or pandas extension arrays) and each table becomes one DataFrame at the
    end (cheaper in time and memory than a DataFrame per chunk). The patients, visits and adherence
    tables get ``patient_id`` as a categorical column first (from the ``_row`` codes) and ``site``
    as a category; every other table is returned as it is.
    """
    parts, sites = _run_chunks(root, n_patients, cfg, chunk, desc, progress, n_jobs)
    tables = {}
    for name in list(parts[0]):
        # pop each column from the chunks as it is joined, so their memory is freed on the way
        columns = {col: _concat([p[name].pop(col) for p in parts]) for col in list(parts[0][name])}
        tables[name] = pd.DataFrame(columns, copy=False)  # no copy into consolidated blocks: the arrays are new and its own
        del columns
    del parts
    ids = pd.CategoricalDtype(tables["patients"]["patient_id"].to_numpy())
    for name in ("patients", "visits", "adherence"):
        tables[name]["patient_id"] = pd.Categorical.from_codes(tables[name].pop("_row").to_numpy(), dtype=ids)
        cols = ["patient_id"] + [c for c in tables[name].columns if c != "patient_id"]
        tables[name] = tables[name][cols]
    tables["patients"]["site"] = tables["patients"]["site"].astype("category")
    return tables, sites


def _run_chunks(root: np.random.SeedSequence, n_patients: int, cfg: SimulationConfig, chunk: Any,
                desc: str, progress: bool, n_jobs: int = 1, consume: Any = None) -> tuple[list[dict[str, dict[str, Any]]], SiteDraws]:
    """Site draws, then ``chunk(rng, start, size, width, cfg, site_weights, sites)`` per chunk: the chunks' tables, in order, and the site draws.

    With ``consume``, each chunk's tables are passed to ``consume(tables)`` in chunk order as soon
    as they are ready (and not kept: the returned list is empty).
    """
    site_seq, chunk_root = root.spawn(2)
    sites = draw_sites(np.random.default_rng(site_seq), cfg)
    site_weights = sites.weights

    n_chunks = -(-n_patients // _CHUNK)
    chunk_seqs = chunk_root.spawn(n_chunks)
    width = max(6, len(str(n_patients)))

    def one(k: int) -> dict[str, dict[str, Any]]:
        start = k * _CHUNK
        return chunk(np.random.default_rng(chunk_seqs[k]), start, min(_CHUNK, n_patients - start), width, cfg, site_weights, sites)

    parts: list[dict[str, dict[str, Any]]] = []
    take = parts.append if consume is None else consume
    bar = tqdm(total=n_chunks, desc=desc, unit="chunk", disable=not progress or n_chunks < 2)
    if n_jobs > 1 and n_chunks > 1:
        with ThreadPoolExecutor(max_workers=min(n_jobs, n_chunks)) as pool:
            futures: list[Any] = [pool.submit(one, k) for k in range(n_chunks)]
            for f in futures:
                f.add_done_callback(lambda _: bar.update())
            for k in range(n_chunks):  # in chunk order, whatever order they finish in
                take(futures[k].result())
                futures[k] = None  # the chunk's arrays are freed once taken
    else:
        for k in range(n_chunks):
            take(one(k))
            bar.update()
    bar.close()
    return parts, sites


def _concat(pieces: list[Any]) -> Any:
    """One column from its chunks (numpy arrays or pandas extension arrays of one type), always a new array.

    A new array even for one chunk: a chunk may put the same array in two tables, and the tables
    are built without copying.
    """
    if isinstance(pieces[0], pd.api.extensions.ExtensionArray):
        return type(pieces[0])._concat_same_type(pieces).copy()
    return np.concatenate(pieces)


def _metadata(seed: int, n_patients: int, cfg: SimulationConfig, version: str, floor_fraction: float) -> dict[str, Any]:
    """The manifest entries of a simulated cohort."""
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": "footdrop_outcomes.simulate_cohort", "version": version, "package_version": __version__},
        "seed": int(seed),
        "n_patients": int(n_patients),
        "config": cfg.to_dict(),
        "gait_speed_floor_fraction": floor_fraction,
    }


def _choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (n, k) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def _draw_cause_and_band(rng: np.random.Generator, cfg: SimulationConfig, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Cause, severity band (0 mild, 1 moderate, 2 severe) and onset strength within the band."""
    cause_i = rng.choice(len(CAUSES), size=n, p=np.array([cfg.cause_mix[c] for c in CAUSES]))
    cause = np.array(CAUSES)[cause_i]
    is_c = {c: cause == c for c in CAUSES}
    sev_probs = np.array([cfg.severity_mix[c] for c in CAUSES])[cause_i]
    sev_i = _choice_rows(rng, sev_probs)
    # onset strength (latent, continuous MRC scale) within the severity band
    lo_band = np.array([3.0, 2.0, 0.0])[sev_i]
    hi_band = np.array([4.0, 3.0, 2.0])[sev_i]
    s0 = lo_band + (hi_band - lo_band) * rng.uniform(0.02, 0.98, size=n)
    return cause_i, cause, is_c, sev_i, s0


def _draw_demographics(rng: np.random.Generator, cfg: SimulationConfig, cause_i: np.ndarray, is_c: dict[str, np.ndarray],
                       n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Age, sex, side, diabetes and HbA1c (complete; rounded to 0.1)."""
    age_mean = np.array([cfg.age[c][0] for c in CAUSES])[cause_i]
    age_sd = np.array([cfg.age[c][1] for c in CAUSES])[cause_i]
    age = np.clip(np.round(rng.normal(age_mean, age_sd)), 18, 95).astype(np.int64)
    p_female = np.select([is_c["post_surgical_hip_knee"], is_c["multiple_sclerosis"], is_c["als"]], [0.85, 0.70, 0.40], 0.45)
    sex = np.where(rng.random(n) < p_female, "female", "male")
    p_bilateral = np.select([is_c["peripheral_neuropathy"], is_c["als"], is_c["multiple_sclerosis"]], [0.5, 0.2, 0.15], 0.03)
    u = rng.random(n)
    side = np.where(u < p_bilateral, "bilateral", np.where(rng.random(n) < 0.5, "left", "right"))
    diabetes = rng.random(n) < np.array([cfg.diabetes_prevalence[c] for c in CAUSES])[cause_i]
    hba1c = np.where(diabetes, np.clip(rng.normal(7.6, 1.3, n), 5.5, 14.0), np.clip(rng.normal(5.4, 0.3, n), 4.0, 6.4))
    return age, sex, side, diabetes, np.round(hba1c, 1)


def _draw_smoking(rng: np.random.Generator, is_c: dict[str, np.ndarray]) -> np.ndarray:
    """Smoking status (never, former, current); stroke patients smoke more."""
    smoking_i = _choice_rows(rng, np.where(is_c["stroke"][:, None], [0.50, 0.28, 0.22], [0.55, 0.27, 0.18]))
    return np.array(["never", "former", "current"])[smoking_i]


def _draw_red_flags(rng: np.random.Generator, is_c: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Red flags (cauda equina, rapid worsening) by cause, and whether either is present (urgent)."""
    red_cauda = rng.random(n) < np.select([is_c["lumbar_radiculopathy"], is_c["post_surgical_spine"]], [0.03, 0.02], 0.0)
    red_rapid = rng.random(n) < np.select([is_c["post_surgical_hip_knee"], is_c["post_surgical_spine"], is_c["peroneal_compression"]], [0.05, 0.05, 0.02], 0.0)
    return red_cauda, red_rapid, red_cauda | red_rapid


def _draw_contact_delay(rng: np.random.Generator, cfg: SimulationConfig, cause_i: np.ndarray, urgent: np.ndarray, n: int) -> np.ndarray:
    """Days from onset to the first contact (log-normal by cause; 0-2 days with a red flag), unrounded."""
    med_delay = np.array([cfg.median_days_to_treatment[c] for c in CAUSES])[cause_i]
    delay = np.exp(np.log(med_delay) + rng.normal(0, cfg.sd_log_days_to_treatment, n))
    return np.where(urgent, rng.uniform(0, 2, n), delay)


def _draw_site(rng: np.random.Generator, cfg: SimulationConfig, cause_i: np.ndarray, site_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Site index and code (S01, S02, ...) from each cause's site weights."""
    site_i = _choice_rows(rng, site_weights[cause_i])
    return site_i, np.array([f"S{j + 1:02d}" for j in range(cfg.n_sites)])[site_i]


#: The treatment-assignment models: logistic, on the recorded severity, cause and red flags (log
#: odds ratios; applied term by term in this order). Written into ``truth.parameters`` by both
#: generator versions. Peroneal decompression is configured separately
#: (``_V1_PERONEAL_DECOMPRESSION``; ``SimulationConfigV2.peroneal_decompression_logit``).
_ASSIGNMENT: dict[str, dict[str, float]] = {
    "supervised_physio": {"Intercept": -0.4, "severity[moderate]": 0.6, "severity[severe]": 1.0,
                          "cause[stroke|post_surgical_hip_knee|post_surgical_spine]": 0.8},
    "afo": {"Intercept": -1.0, "severity[moderate]": 1.5, "severity[severe]": 2.8, "cause[stroke|multiple_sclerosis|als]": 0.5},
    "fes": {"Intercept": -1.5, "severity[moderate]": 0.8, "severity[severe]": 1.5},  # stroke and multiple sclerosis only
    "decompression[lumbar_radiculopathy]": {"Intercept": -0.5, "severity[moderate]": 1.0, "severity[severe]": 2.0, "red_flag_cauda_equina": 5.0},
    "decompression[post_surgical_spine]": {"Intercept": -1.5, "severity[severe]": 1.0, "red_flag_rapid_worsening": 3.0},
    "nerve_repair[post_surgical_hip_knee]": {"Intercept": -3.0, "severity[severe]": 1.5, "red_flag_rapid_worsening": 2.0},
}
#: P(rigid, hinged, carbon) AFO for central (stroke, MS, ALS) and peripheral causes.
_AFO_TYPE_PROBABILITIES = {"central": (0.3, 0.5, 0.2), "peripheral": (0.25, 0.30, 0.45)}
_V1_PERONEAL_DECOMPRESSION = (-2.0, 1.2, 2.5, 2.0)
#: Tendon transfer: P among severe, peripheral, not otherwise operated patients.
_TENDON_TRANSFER_PROBABILITY = 0.03


def _linear(coefs: Mapping[str, float], x: Mapping[str, Any]) -> Any:
    """``Intercept + sum(b * x[term])``, term by term in the order of ``coefs``."""
    lin: Any = coefs["Intercept"]
    for term, b in coefs.items():
        if term != "Intercept":
            lin = lin + b * x[term]
    return lin


def _peroneal_model(logit4: tuple[float, float, float, float]) -> dict[str, float]:
    """The peroneal decompression model as named terms: (intercept, moderate, severe, rapid worsening)."""
    a0, a_mod, a_sev, a_rapid = logit4
    return {"Intercept": a0, "severity[moderate]": a_mod, "severity[severe]": a_sev, "red_flag_rapid_worsening": a_rapid}


def _assign_interventions(rng: np.random.Generator, n: int, cause: np.ndarray, is_c: dict[str, np.ndarray], moderate: np.ndarray,
                          severe: np.ndarray, red_cauda: np.ndarray, red_rapid: np.ndarray,
                          peroneal_logit: tuple[float, float, float, float]) -> dict[str, np.ndarray]:
    """Interventions assigned with confounding by (recorded) severity and cause.

    Returns ``central``, ``supervised``, ``has_afo``, ``afo_type``, ``fes``, ``surgery_i`` (index
    into ``SURGERIES``) and ``surgery``.
    """
    central = np.isin(cause, _CENTRAL)
    x = {"severity[moderate]": moderate, "severity[severe]": severe, "red_flag_cauda_equina": red_cauda, "red_flag_rapid_worsening": red_rapid,
         "cause[stroke|post_surgical_hip_knee|post_surgical_spine]": is_c["stroke"] | is_c["post_surgical_hip_knee"] | is_c["post_surgical_spine"],
         "cause[stroke|multiple_sclerosis|als]": central}
    supervised = rng.random(n) < expit(_linear(_ASSIGNMENT["supervised_physio"], x))
    has_afo = rng.random(n) < expit(_linear(_ASSIGNMENT["afo"], x))
    afo_type_probs = np.where(central[:, None], _AFO_TYPE_PROBABILITIES["central"], _AFO_TYPE_PROBABILITIES["peripheral"])
    afo_type = np.where(has_afo, np.array(AFO_TYPES[1:])[_choice_rows(rng, afo_type_probs)], "none")
    fes = (is_c["stroke"] | is_c["multiple_sclerosis"]) & (rng.random(n) < expit(_linear(_ASSIGNMENT["fes"], x)))
    p_decompress = np.select(
        [is_c["peroneal_compression"], is_c["lumbar_radiculopathy"], is_c["post_surgical_spine"]],
        [expit(_linear(_peroneal_model(peroneal_logit), x)), expit(_linear(_ASSIGNMENT["decompression[lumbar_radiculopathy]"], x)),
         expit(_linear(_ASSIGNMENT["decompression[post_surgical_spine]"], x))], 0.0)
    p_repair = np.where(is_c["post_surgical_hip_knee"], expit(_linear(_ASSIGNMENT["nerve_repair[post_surgical_hip_knee]"], x)), 0.0)
    u = rng.random(n)
    surgery_i = np.where(u < p_decompress, 1, np.where(u < p_decompress + p_repair, 2, 0))
    tendon = (surgery_i == 0) & severe & ~central & (rng.random(n) < _TENDON_TRANSFER_PROBABILITY)
    surgery_i = np.where(tendon, 3, surgery_i)
    return {"central": central, "supervised": supervised, "has_afo": has_afo, "afo_type": afo_type, "fes": fes,
            "surgery_i": surgery_i, "surgery": np.array(SURGERIES)[surgery_i]}


def _adherence_propensity(rng: np.random.Generator, cfg: SimulationConfig, supervised: np.ndarray, smoking: np.ndarray,
                          severe: np.ndarray, n: int) -> np.ndarray:
    """Patient adherence propensity (logit scale)."""
    eff = cfg.adherence_logit_effects
    return (cfg.adherence_logit_mean + eff["supervised_physio"] * supervised + eff["smoking[current]"] * (smoking == "current")
            + eff["severity[severe]"] * severe + rng.normal(0, cfg.adherence_logit_sd, n))


def _draw_prescriptions(rng: np.random.Generator, n: int, baseline_mrc: np.ndarray) -> dict[str, np.ndarray]:
    """Sessions per week prescribed of every exercise, per patient."""
    twice = {s: rng.random(n) < 0.5 for s in ("toe_lifts", "ankle_alphabet", "calf_stretch")}
    return {
        "toe_lifts": np.where(twice["toe_lifts"], 14, 7),
        "ankle_alphabet": np.where(twice["ankle_alphabet"], 14, 7),
        "towel_slides": np.full(n, 7),
        "band_dorsiflexion": np.where(rng.random(n) < 0.5, 4, 3),
        "heel_walking": np.where(baseline_mrc >= 3, 7, 0),  # only when safe
        "calf_stretch": np.where(twice["calf_stretch"], 14, 7),
    }


def _incidence_probability(cfg: SimulationConfig, cause_i: np.ndarray, moderate: np.ndarray, severe: np.ndarray, age: np.ndarray,
                           diabetes: np.ndarray, days_to_treatment: np.ndarray) -> np.ndarray:
    """P(ever recovering) of the conservative mixture cure model (v1 incidence)."""
    inc = cfg.incidence_log_or
    p_ref = np.array([cfg.recovery_probability[c] for c in CAUSES])[cause_i]
    lin_inc = (inc["severity[moderate]"] * moderate + inc["severity[severe]"] * severe + inc["age_per_10y"] * (age - 60) / 10
               + inc["diabetes"] * diabetes + inc["delay_per_30d"] * days_to_treatment / 30)
    with np.errstate(divide="ignore"):
        return np.where(p_ref <= 0, 0.0, np.where(p_ref >= 1, 1.0, expit(logit(np.clip(p_ref, 1e-12, 1 - 1e-12)) + lin_inc)))


def _latency_linear_predictor(cfg: SimulationConfig, moderate: np.ndarray, severe: np.ndarray, age: np.ndarray, diabetes: np.ndarray,
                              hba1c: np.ndarray, smoking: np.ndarray, days_to_treatment: np.ndarray, supervised: np.ndarray,
                              surgery: np.ndarray | float, fes: np.ndarray, has_afo: np.ndarray, frailty: np.ndarray) -> np.ndarray:
    """Log relative hazard of the conservative latency model (v1), without the adherence term."""
    lat = cfg.latency_log_hr
    return (lat["severity[moderate]"] * moderate + lat["severity[severe]"] * severe + lat["age_per_10y"] * (age - 60) / 10
            + lat["diabetes"] * diabetes + lat["hba1c_per_1pct_above_7"] * diabetes * np.maximum(hba1c - 7.0, 0)
            + lat["smoking[current]"] * (smoking == "current") + lat["smoking[former]"] * (smoking == "former")
            + lat["delay_per_30d"] * days_to_treatment / 30 + lat["supervised_physio"] * supervised
            + lat["surgery"] * surgery + lat["fes"] * fes + lat["afo"] * has_afo + np.log(frailty))


def _cumulative_exposure(total_p: np.ndarray, total_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative share of prescribed sessions completed in the weeks *before* each week, and after the last."""
    cum_p = np.cumsum(total_p, axis=1) - total_p
    cum_c = np.cumsum(total_c, axis=1) - total_c
    exposure = np.divide(cum_c, cum_p, out=np.zeros_like(cum_c), where=cum_p > 0)
    end_p, end_c = cum_p[:, -1] + total_p[:, -1], cum_c[:, -1] + total_c[:, -1]
    return exposure, np.divide(end_c, end_p, out=np.zeros(total_p.shape[0]), where=end_p > 0)


def _visit_jitter(rng: np.random.Generator, cfg: SimulationConfig, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Scheduled visit days (from the clock start) and each patient's jitter around them."""
    sched = np.array(cfg.visit_weeks) * 7
    jitter_max = np.minimum(np.maximum(3, np.round(0.1 * sched)), 21).astype(np.int64)
    return sched, rng.integers(-jitter_max, jitter_max + 1, size=(n, sched.size))


def _draw_rom(rng: np.random.Generator, n: int, strength: np.ndarray, v_row: np.ndarray) -> np.ndarray:
    """Active dorsiflexion range of motion (degrees) at each visit from the latent strength."""
    rom_offset = rng.normal(0, 4.0, n)
    return np.clip(np.round(-12 + 6.5 * strength + rom_offset[v_row] + rng.normal(0, 3.0, v_row.size)), -30, 30)


def _gait_mixed_model(rng: np.random.Generator, cfg: SimulationConfig, n: int, z: np.ndarray, cause_i: np.ndarray, sev_i: np.ndarray,
                      age: np.ndarray, diabetes: np.ndarray, smoking: np.ndarray, fes: np.ndarray, v_row: np.ndarray,
                      t_w: np.ndarray, site: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random effects (u0, u1), the patient's mean gait speed at each visit and that speed with the
    visit's residual (unrounded; v1 linear mixed model in log(1 + weeks)).

    ``site``: each patient's site intercept and slope (a third level), added to the patient's
    intercept and slope; ``None`` adds nothing (not even zeros: the sums stay bit for bit).
    """
    g = cfg.gait_fixed
    lw = np.log1p(t_w)
    eps1 = rng.normal(size=n)
    eps0 = rng.normal(size=n)
    rho = cfg.gait_recovery_link
    u1 = cfg.gait_sd_slope * (rho * z + math.sqrt(1 - rho**2) * eps1)
    u0 = cfg.gait_sd_intercept * (cfg.gait_corr * (u1 / cfg.gait_sd_slope if cfg.gait_sd_slope > 0 else 0) + math.sqrt(1 - cfg.gait_corr**2) * eps0)
    cause_int = np.array([g.get(f"cause[{c}]", 0.0) for c in CAUSES])[cause_i]
    cause_slope = np.array([g.get(f"lw:cause[{c}]", 0.0) for c in CAUSES])[cause_i]
    sev_int = np.array([0.0, g["severity[moderate]"], g["severity[severe]"]])[sev_i]
    sev_slope = np.array([0.0, g["lw:severity[moderate]"], g["lw:severity[severe]"]])[sev_i]
    intercept_i = (g["Intercept"] + cause_int + sev_int + g["age_c"] * (age - 60) / 10 + g["diabetes"] * diabetes
                   + g["current_smoker"] * (smoking == "current") + g["fes"] * fes + u0)
    slope_i = g["lw"] + cause_slope + sev_slope + u1
    if site is not None:
        intercept_i = intercept_i + site[0]
        slope_i = slope_i + site[1]
    mean = intercept_i[v_row] + slope_i[v_row] * lw
    return u0, u1, mean, mean + rng.normal(0, cfg.gait_sd_residual, v_row.size)


def _falls_and_afo_needed(rng: np.random.Generator, v_row: np.ndarray, v_day: np.ndarray, strength: np.ndarray, afo_worn: np.ndarray,
                          mrc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Falls since the previous visit (more with weaker dorsiflexion, fewer with an AFO worn) and the need for an AFO."""
    first = np.r_[True, v_row[1:] != v_row[:-1]]
    prev_day = np.where(first, 0, np.r_[0, v_day[:-1]])
    weeks_between = np.maximum((v_day - prev_day) / 7.0, 1.0)
    fall_rate = 0.03 * np.exp(-0.45 * (strength - 2.0)) * np.where(afo_worn, 0.6, 1.0)
    falls = rng.poisson(fall_rate * weeks_between).astype(np.int64)
    afo_needed = rng.random(v_row.size) < np.array([1.0, 1.0, 0.97, 0.75, 0.15, 0.02])[mrc]
    return falls, afo_needed


def _device_hours(rng: np.random.Generator, n: int, has_afo: np.ndarray, fes: np.ndarray, propensity: np.ndarray, a_row: np.ndarray,
                  since: np.ndarray, afo_stop: np.ndarray, fes_stop: np.ndarray) -> dict[str, np.ndarray]:
    """Prescribed and worn AFO / FES hours of each adherence row (0 after the device is stopped)."""
    afo_p = np.where(has_afo, rng.choice([8.0, 10.0, 12.0], n) * 7, np.nan)
    afo_frac = np.clip(expit(0.8 * propensity[a_row] + 0.3 + rng.normal(0, 0.5, a_row.size)) * 1.1, 0, 1.15)
    afo_hours = np.where(has_afo[a_row], np.where(since < afo_stop[a_row], np.round(afo_p[a_row] * afo_frac * 2) / 2, 0.0), np.nan)
    fes_p = np.where(fes, rng.choice([4.0, 6.0, 8.0], n) * 7, np.nan)
    fes_frac = np.clip(expit(0.8 * propensity[a_row] + 0.5 + rng.normal(0, 0.5, a_row.size)) * 1.05, 0, 1.1)
    fes_hours = np.where(fes[a_row], np.where(since < fes_stop[a_row], np.round(fes_p[a_row] * fes_frac * 2) / 2, 0.0), np.nan)
    return {"afo_hours_prescribed": afo_p[a_row].astype(np.float32), "afo_hours": afo_hours.astype(np.float32),
            "fes_hours_prescribed": fes_p[a_row].astype(np.float32), "fes_hours": fes_hours.astype(np.float32)}


def _patient_ids(start: int, n: int, width: int) -> np.ndarray:
    """Patient ids P000001, P000002, ... (zero-padded to ``width`` digits) of a chunk."""
    return np.char.add("P", np.char.zfill(np.arange(start + 1, start + n + 1).astype(str), width))


def _patients_frame(start: int, ids: np.ndarray, **columns: np.ndarray) -> dict[str, Any]:
    """The patients table of a chunk, columns in schema order (``_row`` codes are global positions)."""
    return {"_row": np.arange(ids.size) + start, "patient_id": ids, **{c: columns[c] for c in _PATIENT_COLUMNS}}


_PATIENT_COLUMNS = ("age", "sex", "side", "cause", "severity", "baseline_mrc", "diabetes", "hba1c", "smoking", "bmi", "days_to_treatment",
                    "home_exercise", "supervised_physio", "afo", "fes", "surgery", "site", "red_flag_cauda_equina",
                    "red_flag_rapid_worsening", "followup_days", "followup_end")


def _truth_frame_v1_columns(ids: np.ndarray, **columns: np.ndarray) -> dict[str, np.ndarray]:
    """The per-patient truth columns both versions share, in their order."""
    return {"patient_id": ids, **{c: columns[c] for c in _TRUTH_COLUMNS}}


_TRUTH_COLUMNS = ("will_recover", "recovery_probability", "latent_recovery_day", "latency_linear_predictor", "recovery_score_z",
                  "strength_onset", "strength_max_if_recovering", "strength_plateau_if_not", "decline_per_year_if_progressive",
                  "gait_u0", "gait_u1", "adherence_propensity", "afo_abandon_week", "fes_abandon_week", "dropout_day", "death_day")


def _strength_at(day: np.ndarray, s0: np.ndarray, smax: np.ndarray, latent_day: np.ndarray, clock_start: np.ndarray | float,
                 operated: np.ndarray, will_recover: np.ndarray, plateau: np.ndarray, tau: np.ndarray,
                 progressive: np.ndarray, decline_rate: np.ndarray) -> np.ndarray:
    """Latent dorsiflexion strength (continuous MRC scale) on ``day`` (days since onset), elementwise.

    Recovering patients follow a curve from the onset strength ``s0`` towards ``smax`` that crosses
    4 exactly at ``latent_day`` (timed from ``clock_start``: the surgery day for operated patients,
    else 0); after surgery strength comes back early (power 1), otherwise along a sigmoid (power
    2.5, version 1's curve). Others reach a residual plateau below 4 (time constant ``tau`` weeks)
    or, for progressive causes, decline linearly.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip((4.0 - s0) / (smax - s0), 1e-9, 1 - 1e-9)
        c_shape = -np.log1p(-q)
        span = latent_day - clock_start
        ratio = np.where(will_recover, np.maximum(day - clock_start, 0.0) / np.where(will_recover, span, 1.0), 0.0)
    power = np.where(operated, 1.0, 2.5)
    s_rec = s0 + (smax - s0) * (1 - np.exp(-c_shape * ratio ** power))
    s_rec = np.where(will_recover & (day >= latent_day), np.maximum(s_rec, 4.0), np.minimum(s_rec, np.nextafter(4.0, 0)))
    t_res = np.maximum(day - clock_start, 0.0) / 7.0
    s_res = s0 + (plateau - s0) * (1 - np.exp(-(t_res / tau) ** 1.5))
    s_prog = np.maximum(s0 - decline_rate * day / 365.25, 0.0)
    return np.where(will_recover, s_rec, np.where(progressive, s_prog, s_res))


def _site_gait(sites: SiteDraws, site_i: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each patient's site intercept and slope of the gait model, or ``None`` when neither was drawn."""
    if "gait_intercept" not in sites.drawn and "gait_slope" not in sites.drawn:
        return None
    return sites.gait_intercept[site_i], sites.gait_slope[site_i]


def _site_propensity(propensity: np.ndarray, sites: SiteDraws, site_i: np.ndarray) -> np.ndarray:
    """The adherence propensity shifted by the patient's site effect (unchanged when none was drawn)."""
    return propensity + sites.adherence_logit[site_i] if "adherence" in sites.drawn else propensity


def _simulate_chunk(rng: np.random.Generator, start: int, n: int, width: int, cfg: SimulationConfig,
                    site_weights: np.ndarray, sites: SiteDraws) -> dict[str, dict[str, Any]]:
    # ---------------------------------------------------------------- baseline covariates
    cause_i, cause, is_c, sev_i, s0 = _draw_cause_and_band(rng, cfg, n)  # sev_i: 0 mild, 1 moderate, 2 severe
    moderate, severe = sev_i == 1, sev_i == 2
    baseline_mrc = np.floor(s0).astype(np.int64)
    age, sex, side, diabetes, hba1c = _draw_demographics(rng, cfg, cause_i, is_c, n)
    hba1c_obs = np.where(~diabetes & (rng.random(n) < 0.15), np.nan, hba1c)
    smoking = _draw_smoking(rng, is_c)
    bmi = np.round(np.clip(rng.normal(27.5, 5.0, n), 16, 55), 1)
    bmi = np.where(rng.random(n) < 0.05, np.nan, bmi)
    red_cauda, red_rapid, urgent = _draw_red_flags(rng, is_c, n)
    days_to_treatment = np.clip(np.round(_draw_contact_delay(rng, cfg, cause_i, urgent, n)), 0, 365).astype(np.int64)
    site_i, site = _draw_site(rng, cfg, cause_i, site_weights)

    # ---------------------------------------------------------------- interventions (confounded)
    arms = _assign_interventions(rng, n, cause, is_c, moderate, severe, red_cauda, red_rapid, _V1_PERONEAL_DECOMPRESSION)
    supervised, has_afo, fes, surgery_i = arms["supervised"], arms["has_afo"], arms["fes"], arms["surgery_i"]
    home_exercise = np.ones(n, dtype=bool)

    # ---------------------------------------------------------------- adherence, weekly matrix
    n_weeks = cfg.followup_weeks + 4
    weeks = np.arange(n_weeks)
    w_start = -(-days_to_treatment // 7)  # first full week at or after the treatment day
    in_program = weeks[None, :] >= w_start[:, None]
    propensity = _site_propensity(_adherence_propensity(rng, cfg, supervised, smoking, severe, n), sites, site_i)
    weekly = (propensity[:, None] - cfg.adherence_decline_per_week * np.maximum(weeks[None, :] - w_start[:, None], 0)
              + rng.normal(0, cfg.adherence_weekly_sd, (n, n_weeks)))
    prescribed_per_week = _draw_prescriptions(rng, n, baseline_mrc)
    prescribed: dict[str, np.ndarray] = {}
    completed: dict[str, np.ndarray] = {}
    total_p = np.zeros((n, n_weeks))
    total_c = np.zeros((n, n_weeks))
    for stem in EXERCISES:
        p_mat = np.where(in_program & home_exercise[:, None], prescribed_per_week[stem][:, None], 0).astype(np.int8)
        prob = expit(weekly + cfg.exercise_logit_offsets[stem])
        c_mat = rng.binomial(p_mat, prob).astype(np.int8)
        prescribed[stem], completed[stem] = p_mat, c_mat
        total_p += p_mat
        total_c += c_mat
    exposure, exposure_end = _cumulative_exposure(total_p, total_c)

    # ---------------------------------------------------------------- recovery: incidence
    p_recover = _incidence_probability(cfg, cause_i, moderate, severe, age, diabetes, days_to_treatment)
    will_recover = rng.random(n) < p_recover

    # ---------------------------------------------------------------- recovery: latency (weeks)
    k = cfg.weibull_shape
    lam = np.array([cfg.median_recovery_weeks[c] for c in CAUSES])[cause_i] / math.log(2) ** (1 / k)
    lp = _latency_linear_predictor(cfg, moderate, severe, age, diabetes, hba1c, smoking, days_to_treatment, supervised,
                                   np.isin(surgery_i, (1, 2)), fes, has_afo, sites.frailty[site_i])
    gamma = cfg.adherence_log_hr
    mult = np.exp(lp[:, None] + gamma * (exposure - cfg.adherence_reference))
    edges = (np.arange(n_weeks + 1)[None, :] / lam[:, None]) ** k
    cum_h = np.cumsum(mult * np.diff(edges, axis=1), axis=1)
    e = rng.exponential(1.0, n)
    j = (cum_h < e[:, None]).sum(axis=1)  # week in which the cumulative hazard reaches e
    h_before = np.where(j > 0, cum_h[np.arange(n), np.maximum(j - 1, 0)], 0.0)
    mult_j = np.where(j < n_weeks, mult[np.arange(n), np.minimum(j, n_weeks - 1)], np.exp(lp + gamma * (exposure_end - cfg.adherence_reference)))
    t_weeks = lam * ((np.minimum(j, n_weeks) / lam) ** k + (e - h_before) / mult_j) ** (1 / k)
    latent_day = np.where(will_recover, t_weeks * 7.0, np.inf)
    # recovery-speed score: standard normal, independent of covariates, low = slow
    z = -ndtri(np.clip(1.0 - np.exp(-e), 1e-12, 1 - 1e-12))

    # ---------------------------------------------------------------- follow-up
    # the study ends after the widest window of the last scheduled visit; dropout and ALS death
    # run from presentation (patients who die or leave before presenting are never seen)
    study_end = cfg.followup_weeks * 7 + 21
    drop_rate = -math.log(1 - cfg.dropout_by_end) / (cfg.followup_weeks * 7) if cfg.dropout_by_end > 0 else 0.0
    dropout = days_to_treatment + (rng.exponential(1 / drop_rate, n) if drop_rate > 0 else np.full(n, np.inf))
    death = np.where(is_c["als"], days_to_treatment + rng.exponential(cfg.als_median_survival_years * 365.25 / math.log(2), n), np.inf)
    followup_days = np.maximum(np.floor(np.minimum(np.minimum(dropout, death), study_end)), days_to_treatment).astype(np.int64)
    followup_end = np.where(np.minimum(dropout, death) >= study_end, "study_end", np.where(death < dropout, "death", "dropout"))

    # ---------------------------------------------------------------- visits
    sched, jit = _visit_jitter(rng, cfg, n)
    vday = np.concatenate([days_to_treatment[:, None], sched[None, :] + jit], axis=1)
    keep = np.ones_like(vday, dtype=bool)
    keep[:, 1:] = (vday[:, 1:] >= days_to_treatment[:, None] + 7) & (rng.random((n, sched.size)) >= cfg.visit_miss_probability)
    keep &= vday <= followup_days[:, None]
    v_row, v_col = np.nonzero(keep)
    v_day = vday[v_row, v_col].astype(np.int64)
    t_w = v_day / 7.0

    # latent strength at each visit
    smax = rng.uniform(4.2, 5.5, n)
    plateau = s0 + (3.97 - s0) * rng.beta(2, 3, n)
    tau = np.array([cfg.median_recovery_weeks[c] for c in CAUSES])[cause_i] * rng.uniform(0.5, 1.5, n)
    decline_rate = np.where(is_c["als"], np.exp(rng.normal(math.log(1.2), 0.35, n)), np.exp(rng.normal(math.log(0.25), 0.5, n)))
    progressive = np.isin(cause, PROGRESSIVE_CAUSES)
    strength = _strength_at(v_day, s0[v_row], smax[v_row], latent_day[v_row], 0.0, np.zeros(v_row.size, dtype=bool), will_recover[v_row],
                            plateau[v_row], tau[v_row], progressive[v_row], decline_rate[v_row])
    mrc = np.clip(np.floor(strength), 0, 5).astype(np.int64)
    rom = _draw_rom(rng, n, strength, v_row)

    # gait speed: linear mixed model, random slope linked to the recovery-speed score
    u0, u1, _, gait = _gait_mixed_model(rng, cfg, n, z, cause_i, sev_i, age, diabetes, smoking, fes, v_row, t_w, _site_gait(sites, site_i))
    gait = np.round(np.clip(gait, 0.05, 2.5), 2)
    gait = np.where(rng.random(v_row.size) < cfg.gait_missing_probability, np.nan, gait)

    # AFO abandonment and FES retention (weeks since program start)
    afo_rate = -math.log(1 - cfg.afo_abandoned_by_week_52) / 52 * np.exp(-0.4 * (propensity - cfg.adherence_logit_mean))
    afo_stop = rng.exponential(1 / afo_rate)
    fes_rate = -math.log(cfg.fes_retained_at_week_20) / 20
    fes_stop = rng.exponential(1 / fes_rate, n)

    afo_worn_v = has_afo[v_row] & ((t_w - w_start[v_row]) < afo_stop[v_row])
    falls, afo_needed = _falls_and_afo_needed(rng, v_row, v_day, strength, afo_worn_v, mrc)

    # ---------------------------------------------------------------- adherence table rows
    discharge_week = np.where(will_recover, np.floor((latent_day + 42) / 7), np.inf)
    row_mask = in_program & (7 * weeks[None, :] + 6 <= followup_days[:, None]) & (weeks[None, :] <= discharge_week[:, None])
    a_row, a_week = np.nonzero(row_mask)
    since = a_week - w_start[a_row]
    hours = _device_hours(rng, n, has_afo, fes, propensity, a_row, since, afo_stop, fes_stop)
    adherence: dict[str, Any] = {"_row": a_row + start, "week": a_week.astype(np.int16)}
    for stem in EXERCISES:
        adherence[f"{stem}_prescribed"] = prescribed[stem][a_row, a_week]
        adherence[f"{stem}_completed"] = completed[stem][a_row, a_week]
    adherence.update(hours)

    ids = _patient_ids(start, n, width)  # row codes are global positions in the final patients table
    patients = _patients_frame(
        start, ids, age=age, sex=sex, side=side, cause=cause, severity=np.array(SEVERITIES)[sev_i], baseline_mrc=baseline_mrc,
        diabetes=diabetes, hba1c=hba1c_obs, smoking=smoking, bmi=bmi, days_to_treatment=days_to_treatment, home_exercise=home_exercise,
        supervised_physio=supervised, afo=arms["afo_type"], fes=fes, surgery=arms["surgery"], site=site, red_flag_cauda_equina=red_cauda,
        red_flag_rapid_worsening=red_rapid, followup_days=followup_days, followup_end=followup_end)
    visits = {
        "_row": v_row + start, "day": v_day, "mrc": mrc, "rom_deg": rom.astype(float), "gait_speed": gait,
        "falls": falls, "afo_needed": afo_needed,
    }
    truth = _truth_frame_v1_columns(
        ids, will_recover=will_recover, recovery_probability=p_recover, latent_recovery_day=latent_day, latency_linear_predictor=lp,
        recovery_score_z=z, strength_onset=s0, strength_max_if_recovering=smax, strength_plateau_if_not=plateau,
        decline_per_year_if_progressive=np.where(progressive, decline_rate, np.nan), gait_u0=u0, gait_u1=u1,
        adherence_propensity=propensity, afo_abandon_week=np.where(has_afo, afo_stop, np.nan),
        fes_abandon_week=np.where(fes, fes_stop, np.nan), dropout_day=dropout, death_day=death)
    return {"patients": patients, "visits": visits, "adherence": adherence, "truth": truth}


_PARAMETER_COLUMNS = ["component", "term", "scale", "value", "description"]


def _truth_parameters(cfg: SimulationConfig) -> pd.DataFrame:
    """Every generating model of version 1: the core models, the shared ones, v1's device use and follow-up."""
    rows = _shared_model_rows(cfg, _V1_PERONEAL_DECOMPRESSION, severity_basis="latent = recorded severity band")
    afo_rate = -math.log(1 - cfg.afo_abandoned_by_week_52) / 52
    d = "exponential time to stopping the AFO, weeks since program start; rate times exp(log HR x (propensity - adherence logit_mean))"
    rows += [("afo_abandonment", "abandoned_by_week_52", "probability", cfg.afo_abandoned_by_week_52, d + "; at the mean propensity"),
             ("afo_abandonment", "rate_per_week", "rate", afo_rate, d),
             ("afo_abandonment", "adherence_propensity", "log_hazard_ratio", -0.4, d)]
    fes_rate = -math.log(cfg.fes_retained_at_week_20) / 20
    d = "exponential time to stopping FES, weeks since program start"
    rows += [("fes_discontinuation", "retained_at_week_20", "probability", cfg.fes_retained_at_week_20, d),
             ("fes_discontinuation", "rate_per_week", "rate", fes_rate, d)]
    drop = -math.log(1 - cfg.dropout_by_end) / (cfg.followup_weeks * 7) if cfg.dropout_by_end > 0 else 0.0
    rows += [("dropout", "dropout_by_end", "probability", cfg.dropout_by_end, "exponential dropout from presentation, no covariates"),
             ("dropout", "rate_per_day", "rate", drop, "exponential dropout from presentation, no covariates"),
             ("followup", "study_end_day", "days since onset", cfg.followup_weeks * 7 + 21, "last scheduled visit plus its widest window")]
    rows += [("missing_data", "hba1c_missing[no_diabetes]", "probability", 0.15, "HbA1c left empty (MCAR) for patients without diabetes"),
             ("missing_data", "bmi_missing", "probability", 0.05, "BMI left empty (MCAR)")]
    rows += [("strength_curve", "smax_uniform_low", "MRC", 4.2, "maximum strength of recovering patients ~ U(low, high)"),
             ("strength_curve", "smax_uniform_high", "MRC", 5.5, "maximum strength of recovering patients ~ U(low, high)"),
             ("strength_curve", "recovery_curve_power", "shape", 2.5, "S(t) = s0 + (smax - s0)(1 - exp(-c (t / T)^power)), crosses 4 at T")]
    core = _core_parameter_rows(cfg)
    return pd.concat([core, pd.DataFrame(rows, columns=_PARAMETER_COLUMNS)], ignore_index=True)


def _shared_model_rows(cfg: SimulationConfig, peroneal_logit: tuple[float, float, float, float], *,
                       severity_basis: str) -> list[tuple[str, str, str, float, str]]:
    """Generating models common to versions 1 and 2: baseline covariates, treatment assignment,
    visits, measurements (ROM, falls, AFO need, gait missingness) and device hours."""
    rows: list[tuple[str, str, str, float, str]] = []
    for c in CAUSES:
        rows.append(("baseline", f"cause_mix[{c}]", "probability", cfg.cause_mix[c], "case mix"))
        for sev, prob in zip(SEVERITIES, cfg.severity_mix[c]):
            rows.append(("baseline", f"severity_mix[{c}][{sev}]", "probability", prob, "latent severity band by cause"))
        rows.append(("baseline", f"age_mean[{c}]", "years", cfg.age[c][0], "normal, rounded, clipped to 18-95"))
        rows.append(("baseline", f"age_sd[{c}]", "years", cfg.age[c][1], "normal, rounded, clipped to 18-95"))
        rows.append(("baseline", f"diabetes_prevalence[{c}]", "probability", cfg.diabetes_prevalence[c], "Bernoulli"))
        rows.append(("baseline", f"median_days_to_first_contact[{c}]", "days", cfg.median_days_to_treatment[c],
                     "log-normal; 0-2 days with a red flag"))
    rows.append(("baseline", "sd_log_days_to_first_contact", "log days", cfg.sd_log_days_to_treatment, "log-normal"))
    for c, prob in (("post_surgical_hip_knee", 0.85), ("multiple_sclerosis", 0.70), ("als", 0.40), ("other", 0.45)):
        rows.append(("baseline", f"p_female[{c}]", "probability", prob, "Bernoulli"))
    for c, prob in (("peripheral_neuropathy", 0.5), ("als", 0.2), ("multiple_sclerosis", 0.15), ("other", 0.03)):
        rows.append(("baseline", f"p_bilateral[{c}]", "probability", prob, "else left or right with probability 1/2"))
    for kind, probs in (("stroke", (0.50, 0.28, 0.22)), ("other", (0.55, 0.27, 0.18))):
        for status, prob in zip(("never", "former", "current"), probs):
            rows.append(("baseline", f"smoking[{kind}][{status}]", "probability", prob, "smoking status"))
    for term, v, d in (("hba1c_mean[diabetes]", 7.6, "normal, SD 1.3, clipped to 5.5-14, rounded to 0.1"),
                       ("hba1c_mean[no_diabetes]", 5.4, "normal, SD 0.3, clipped to 4.0-6.4, rounded to 0.1"),
                       ("bmi_mean", 27.5, "normal, SD 5, clipped to 16-55, rounded to 0.1")):
        rows.append(("baseline", term, "mean", v, d))
    for term, prob in (("red_flag_cauda_equina[lumbar_radiculopathy]", 0.03), ("red_flag_cauda_equina[post_surgical_spine]", 0.02),
                       ("red_flag_rapid_worsening[post_surgical_hip_knee]", 0.05), ("red_flag_rapid_worsening[post_surgical_spine]", 0.05),
                       ("red_flag_rapid_worsening[peroneal_compression]", 0.02)):
        rows.append(("baseline", term, "probability", prob, "Bernoulli; with a red flag, first contact and surgery within 0-2 days"))
    rows.append(("baseline", "n_sites", "count", cfg.n_sites, "sites; cause mix by site ~ Dirichlet(2)"))
    rows.append(("baseline", "site_frailty_sd", "log hazard", cfg.site_frailty_sd, "log-normal site frailty on recovery"))
    d = f"logistic treatment assignment ({severity_basis}); stroke and multiple sclerosis only for FES"
    models = {**_ASSIGNMENT, "decompression[peroneal_compression]": _peroneal_model(peroneal_logit)}
    for model, coefs in models.items():
        for term, b in coefs.items():
            rows.append((f"assignment_{model}", term, "log_odds" if term == "Intercept" else "log_odds_ratio", b, d))
    for kind, probs in _AFO_TYPE_PROBABILITIES.items():
        for afo_type, prob in zip(AFO_TYPES[1:], probs):
            rows.append(("assignment_afo_type", f"{afo_type}[{kind}]", "probability", prob, "AFO type given an AFO"))
    rows.append(("assignment_tendon_transfer", "probability", "probability", _TENDON_TRANSFER_PROBABILITY,
                 "severe, peripheral, not decompressed or repaired"))
    for w in cfg.visit_weeks:
        rows.append(("visits", f"scheduled_week[{w}]", "weeks", w, "jitter +/- max(3, min(21, 10%)) days"))
    rows.append(("visits", "miss_probability", "probability", cfg.visit_miss_probability, "each scheduled visit after baseline"))
    rows.append(("visits", "gait_missing_probability", "probability", cfg.gait_missing_probability, "gait speed left empty (MCAR)"))
    rows.append(("dropout", "als_median_survival_years", "years", cfg.als_median_survival_years, "exponential death from presentation"))
    rows += [("rom", "Intercept", "degrees", -12.0, "ROM = -12 + 6.5 S + patient N(0, 4^2) + visit N(0, 3^2), clipped to +/-30"),
             ("rom", "per_strength_grade", "degrees", 6.5, "latent strength S"),
             ("rom", "sd_patient", "degrees", 4.0, "random intercept"), ("rom", "sd_visit", "degrees", 3.0, "residual")]
    rows += [("falls", "rate_per_week_at_mrc_2", "rate", 0.03, "Poisson since the previous visit"),
             ("falls", "per_strength_grade", "log_rate_ratio", -0.45, "latent strength S"),
             ("falls", "afo_worn", "rate_ratio", 0.6, "while an AFO is worn")]
    for grade, prob in enumerate((1.0, 1.0, 0.97, 0.75, 0.15, 0.02)):
        rows.append(("afo_needed", f"mrc[{grade}]", "probability", prob, "recorded MRC grade"))
    rows += [("strength_curve", "plateau_beta_a", "shape", 2.0, "non-recovering plateau = s0 + (3.97 - s0) Beta(a, b)"),
             ("strength_curve", "plateau_beta_b", "shape", 3.0, "non-recovering plateau = s0 + (3.97 - s0) Beta(a, b)"),
             ("strength_curve", "plateau_tau_uniform_low", "ratio", 0.5, "plateau time constant = median weeks x U(low, high)"),
             ("strength_curve", "plateau_tau_uniform_high", "ratio", 1.5, "plateau time constant = median weeks x U(low, high)"),
             ("strength_curve", "decline_per_year_median[als]", "MRC/year", 1.2, "log-normal, SD of log 0.35"),
             ("strength_curve", "decline_per_year_median[progressive]", "MRC/year", 0.25, "log-normal, SD of log 0.5")]
    for dev, choices, frac in (("afo", (8.0, 10.0, 12.0), 0.3), ("fes", (4.0, 6.0, 8.0), 0.5)):
        for h in choices:
            rows.append(("device_hours", f"prescribed_hours_per_day[{dev}][{h:g}]", "probability", 1 / len(choices), "prescribed hours a day; times 7 a week"))
        rows.append(("device_hours", f"worn_fraction_intercept[{dev}]", "logit", frac, "worn/prescribed = expit(0.8 propensity + a + N(0, 0.5^2))"))
    return rows


def _core_parameter_rows(cfg: SimulationConfig) -> pd.DataFrame:
    k = cfg.weibull_shape
    rows: list[tuple[str, str, str, float, str]] = []
    for c in CAUSES:
        rows.append(("recovery_incidence", f"p_recover[{c}]", "probability", cfg.recovery_probability[c], "P(ever recovering), reference profile"))
    for term, b in cfg.incidence_log_or.items():
        rows.append(("recovery_incidence", term, "log_odds_ratio", b, "logistic model of ever recovering"))
        rows.append(("recovery_incidence", term, "odds_ratio", math.exp(b), "logistic model of ever recovering"))
    rows.append(("recovery_latency", "weibull_shape", "shape", k, "Weibull shape, common to all causes"))
    for c in CAUSES:
        rows.append(("recovery_latency", f"median_weeks[{c}]", "weeks", cfg.median_recovery_weeks[c],
                     "median latent recovery time among recovering patients, reference profile, if cumulative "
                     "adherence were 0.7 throughout (it is 0 until the first program week ends, so realised times are longer)"))
    terms = dict(cfg.latency_log_hr)
    terms["cumulative_adherence_per_10pct"] = cfg.adherence_log_hr / 10
    for term, b in terms.items():
        desc = "proportional hazards among recovering patients; time ratio = exp(-log HR / shape)"
        if term == "surgery":
            desc += "; decompression or nerve repair/graft only (a tendon transfer does not restore the nerve)"
        if term == "cumulative_adherence_per_10pct":
            desc = "time-varying: cumulative share of prescribed sessions completed in the weeks before, per 10 points"
        rows.append(("recovery_latency", term, "log_hazard_ratio", b, desc))
        rows.append(("recovery_latency", term, "hazard_ratio", math.exp(b), desc))
        rows.append(("recovery_latency", term, "time_ratio", math.exp(-b / k), desc))
    rows.append(("recovery_latency", "adherence_reference", "proportion", cfg.adherence_reference, "adherence at which the medians apply"))
    for term, b in cfg.gait_fixed.items():
        rows.append(("gait_speed", term, "m/s", b, "fixed effect; lw = log(1 + weeks since onset), age_c = (age - 60) / 10"))
    for term, v in (("sd_intercept", cfg.gait_sd_intercept), ("sd_slope", cfg.gait_sd_slope), ("corr_intercept_slope", cfg.gait_corr),
                    ("sd_residual", cfg.gait_sd_residual), ("corr_slope_recovery_score", cfg.gait_recovery_link)):
        rows.append(("gait_speed", term, "variance_component", v, "random intercept and slope on lw per patient"))
    rows.append(("adherence", "logit_mean", "logit", cfg.adherence_logit_mean, "patient propensity, reference patient at program start"))
    rows.append(("adherence", "logit_sd", "logit", cfg.adherence_logit_sd, "between-patient SD"))
    rows.append(("adherence", "weekly_sd", "logit", cfg.adherence_weekly_sd, "week-to-week SD within patient"))
    rows.append(("adherence", "decline_per_week", "logit", -cfg.adherence_decline_per_week, "change per week since program start"))
    for term, b in cfg.adherence_logit_effects.items():
        rows.append(("adherence", term, "logit", b, "effect on the adherence propensity"))
    for term, b in cfg.exercise_logit_offsets.items():
        rows.append(("adherence", f"exercise[{term}]", "logit", b, "exercise-specific offset"))
    return pd.DataFrame(rows, columns=["component", "term", "scale", "value", "description"])
