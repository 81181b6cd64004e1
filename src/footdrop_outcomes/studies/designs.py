"""Data-generating designs of simulation studies (a registry of named generators).

Each design turns its parameters and one replicate's :class:`numpy.random.SeedSequence` into a
:class:`ReplicateData`: the per-patient survival frame (``time``, ``event``, ``lower``,
``upper``, covariates, as :func:`footdrop_outcomes.survival.survival_frame`), the per-visit long
frame (as :func:`footdrop_outcomes.trajectories.trajectory_frame`) and, for the cohort design,
the simulated :class:`~footdrop_outcomes.Cohort` itself.

``cohort``
    The calibrated generator, :func:`footdrop_outcomes.simulate_cohort`, with
    :class:`~footdrop_outcomes.SimulationConfig` overrides. Parameters: ``n`` (patients),
    ``config`` (overrides, as ``footdrop-outcomes simulate --config``), ``exclude_causes``
    (default ``["als"]``: ALS never recovers, so its hazard ratios are not estimable). True values
    are paths into the full configuration, e.g. ``config.latency_log_hr.severity[severe]``.
``trial``
    A two-arm randomised trial with exact allocation (arm sizes ``n_per_arm x allocation``).
    The calibrated generator assigns interventions by severity and cause (confounded by design),
    so it cannot randomise; this design is written for power calculations and keeps the
    generator's outcome structure: a Weibull proportional-hazards recovery time with an optional
    never-recovering fraction, the generator's visit schedule (recovery seen at the first attended
    visit on or after it: interval-censored), exponential dropout, a gait-speed mixed model in
    ``lw = log(1 + weeks)`` with random intercept and slope, and weekly home-exercise sessions
    with a beta-binomial share completed. ``visit_weeks = []`` observes recovery exactly
    (continuous follow-up), so with ``weibull_shape = 1`` it is the plain exponential two-arm
    design of Schoenfeld's formula.

>>> data = generate({"kind": "trial", "n_per_arm": 30}, replicate_seed_sequence(1, 0))
>>> data.frame.groupby("arm", observed=True).size().tolist()
[30, 30]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes.errors import ConfigError
from footdrop_outcomes.studies._seeds import replicate_seed_sequence

__all__ = ["ReplicateData", "TRIAL_DEFAULTS", "available_designs", "check_design", "generate", "register_design", "resolved_parameter"]


@dataclass
class ReplicateData:
    """One simulated data set. ``frame``: one row per patient; ``long``: one row per visit."""

    frame: pd.DataFrame
    long_factory: Callable[[], pd.DataFrame] | None = None
    cohort: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def long(self) -> pd.DataFrame:
        if self.long_factory is None:
            raise ConfigError("this design has no per-visit (long) data")
        return self.long_factory()


_Generator = Callable[[Mapping[str, Any], np.random.SeedSequence], ReplicateData]
_DESIGNS: dict[str, tuple[_Generator, Callable[[Mapping[str, Any]], dict[str, Any]]]] = {}


def register_design(name: str, *, resolve: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Callable[[_Generator], _Generator]:
    """Register a design: ``resolve`` fills defaults and validates; the generator simulates."""

    def deco(fn: _Generator) -> _Generator:
        _DESIGNS[name] = (fn, resolve)
        return fn

    return deco


def available_designs() -> list[str]:
    """Names of the registered designs."""
    return sorted(_DESIGNS)


def check_design(design: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults and validate a design's parameters (raises :class:`ConfigError`)."""
    kind = design.get("kind")
    if kind not in _DESIGNS:
        raise ConfigError(f"design.kind must be one of {available_designs()}; got {kind!r}")
    return _DESIGNS[kind][1](design)


def resolved_parameter(design: Mapping[str, Any], path: str) -> Any:
    """A design parameter, defaults filled, by dotted path (``"log_hr"``, ``"config.adherence_log_hr"``)."""
    cur: Any = check_design(design)
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            raise ConfigError(f"design parameter {path!r} does not exist ({part!r} not found)")
        cur = cur[part]
    return cur


def generate(design: Mapping[str, Any], seq: np.random.SeedSequence) -> ReplicateData:
    """Simulate one data set of a design from a replicate's seed sequence."""
    resolved = check_design(design)
    return _DESIGNS[resolved["kind"]][0](resolved, seq)


# ------------------------------------------------------------------------------------------------
# trial

#: Parameters of the ``trial`` design and their defaults (weeks since randomisation).
TRIAL_DEFAULTS: dict[str, Any] = {
    "kind": "trial",
    "arms": ["control", "treatment"],
    "allocation": [1, 1],
    "n_per_arm": 100,
    # recovery
    "control_median_weeks": 20.0,
    "weibull_shape": 1.0,
    "log_hr": 0.0,
    "cure_fraction": 0.0,
    # follow-up, visits, dropout
    "followup_weeks": 52.0,
    "visit_weeks": [2, 6, 12, 26, 52],
    "visit_miss_probability": 0.0,
    "dropout_by_end": 0.0,
    # gait speed (m/s): intercept + (slope + slope_diff * treatment) * log(1 + weeks)
    "gait_intercept": 0.6,
    "gait_slope": 0.08,
    "gait_slope_diff": 0.0,
    "gait_sd_intercept": 0.12,
    "gait_sd_slope": 0.04,
    "gait_sd_residual": 0.06,
    # adherence: share of prescribed sessions completed, beta-binomial
    "adherence_control": 0.6,
    "adherence_diff": 0.0,
    "adherence_precision": 5.0,
    "sessions_per_week": 21,
}


def _resolve_trial(design: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(design) - set(TRIAL_DEFAULTS)
    if unknown:
        raise ConfigError(f"trial design: unknown parameter(s) {sorted(unknown)}; allowed {sorted(TRIAL_DEFAULTS)}")
    d = {**TRIAL_DEFAULTS, **design}

    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ConfigError(f"trial design: {msg}")

    need(isinstance(d["arms"], list) and len(d["arms"]) == 2 and len(set(map(str, d["arms"]))) == 2,
         "arms must be two distinct names (control first)")
    need(isinstance(d["allocation"], list) and len(d["allocation"]) == 2 and all(isinstance(a, int) and a >= 1 for a in d["allocation"]),
         "allocation must be two whole numbers >= 1 (arm sizes are n_per_arm x allocation)")
    need(isinstance(d["n_per_arm"], int) and not isinstance(d["n_per_arm"], bool) and d["n_per_arm"] >= 2, "n_per_arm must be a whole number >= 2")
    for k in ("control_median_weeks", "weibull_shape", "followup_weeks", "adherence_precision"):
        need(isinstance(d[k], (int, float)) and d[k] > 0, f"{k} must be > 0")
    for k in ("cure_fraction", "visit_miss_probability", "dropout_by_end"):
        need(isinstance(d[k], (int, float)) and 0 <= d[k] < 1, f"{k} must be in [0, 1)")
    for k in ("gait_sd_intercept", "gait_sd_slope", "gait_sd_residual"):
        need(isinstance(d[k], (int, float)) and d[k] >= 0, f"{k} must be >= 0")
    v = d["visit_weeks"]
    need(isinstance(v, list) and list(v) == sorted(set(v)) and all(0 < w <= d["followup_weeks"] for w in v),
         "visit_weeks must be increasing, distinct, > 0 and <= followup_weeks ([] = recovery observed exactly)")
    p0, p1 = d["adherence_control"], d["adherence_control"] + d["adherence_diff"]
    need(0 < p0 < 1 and 0 < p1 < 1, f"adherence_control and adherence_control + adherence_diff must be in (0, 1); got {p0}, {p1}")
    need(isinstance(d["sessions_per_week"], int) and d["sessions_per_week"] >= 1, "sessions_per_week must be a whole number >= 1")
    return d


@register_design("trial", resolve=_resolve_trial)
def _trial(d: Mapping[str, Any], seq: np.random.SeedSequence) -> ReplicateData:
    rec_seq, gait_seq, adh_seq = seq.spawn(3)
    rng = np.random.default_rng(rec_seq)
    arms = [str(a) for a in d["arms"]]
    sizes = [d["n_per_arm"] * a for a in d["allocation"]]
    n = sum(sizes)
    treat = np.repeat([0, 1], sizes)
    fu = float(d["followup_weeks"])
    k = float(d["weibull_shape"])
    lam = d["control_median_weeks"] / math.log(2) ** (1 / k)
    # recovery: Weibull PH, S(t) = exp(-(t/lam)^k exp(log_hr x)); a cured fraction never recovers
    e = rng.exponential(size=n)
    t_rec = lam * (e * np.exp(-d["log_hr"] * treat)) ** (1 / k)
    cured = rng.random(n) < d["cure_fraction"]
    t_rec = np.where(cured, np.inf, t_rec)
    # dropout: exponential, P(dropout before the end of follow-up) = dropout_by_end
    rate = -math.log(1 - d["dropout_by_end"]) / fu
    drop = rng.exponential(1 / rate, size=n) if rate > 0 else np.full(n, np.inf)
    censor = np.minimum(drop, fu)
    visits = np.asarray(d["visit_weeks"], dtype=float)
    attended = (rng.random((n, visits.size)) >= d["visit_miss_probability"]) & (visits[None, :] <= censor[:, None])
    if visits.size == 0:  # continuous observation: exact times
        event = t_rec <= censor
        time = np.where(event, t_rec, censor)
        lower = np.where(event, time * (1 - 1e-9), time)
        upper = np.where(event, time, np.inf)
    else:
        seen = attended & (visits[None, :] >= t_rec[:, None])
        event = seen.any(axis=1)
        first = np.where(event, seen.argmax(axis=1), 0)
        upper = np.where(event, visits[first], np.inf)
        before = attended & (visits[None, :] < np.minimum(t_rec, censor + 1e-12)[:, None]) & ~seen
        last_before = np.where(before, visits[None, :], 0.0).max(axis=1)
        lower = last_before
        time = np.where(event, upper, last_before)
    cat = pd.CategoricalDtype(arms)
    ids = np.array([f"T{i + 1:06d}" for i in range(n)])
    # adherence: weekly sessions while in follow-up, share completed ~ Beta(mean p_arm, precision)
    arng = np.random.default_rng(adh_seq)
    p = d["adherence_control"] + d["adherence_diff"] * treat
    phi = float(d["adherence_precision"])
    share = arng.beta(p * phi, (1 - p) * phi)
    weeks_on = np.maximum(np.floor(censor), 1).astype(np.int64)
    prescribed = weeks_on * d["sessions_per_week"]
    completed = arng.binomial(prescribed, share)
    frame = pd.DataFrame({
        "patient_id": ids, "arm": pd.Categorical.from_codes(treat, dtype=cat), "treatment": treat.astype(float),
        "lower": lower, "upper": upper, "time": time, "event": event,
        "sessions_prescribed": prescribed, "sessions_completed": completed, "adherence": completed / prescribed,
    })

    def long() -> pd.DataFrame:
        g = np.random.default_rng(gait_seq)
        u0 = g.normal(0, d["gait_sd_intercept"], n)
        u1 = g.normal(0, d["gait_sd_slope"], n)
        wk = np.concatenate([[0.0], visits])
        att = np.column_stack([np.ones(n, bool), attended])
        pid, col = np.nonzero(att)
        weeks = wk[col]
        lw = np.log1p(weeks)
        slope = d["gait_slope"] + d["gait_slope_diff"] * treat[pid] + u1[pid]
        y = d["gait_intercept"] + u0[pid] + slope * lw + g.normal(0, d["gait_sd_residual"], pid.size)
        return pd.DataFrame({"patient_id": ids[pid], "weeks": weeks, "lw": lw, "gait_speed": y,
                             "arm": pd.Categorical.from_codes(treat[pid], dtype=cat), "treatment": treat[pid].astype(float)})

    return ReplicateData(frame=frame, long_factory=long, info={"n": n, "events": int(event.sum())})


# ------------------------------------------------------------------------------------------------
# cohort (the calibrated generator)


def _resolve_cohort(design: Mapping[str, Any]) -> dict[str, Any]:
    from footdrop_outcomes.cohort.simulate import SimulationConfig

    allowed = {"kind", "n", "config", "exclude_causes"}
    unknown = set(design) - allowed
    if unknown:
        raise ConfigError(f"cohort design: unknown parameter(s) {sorted(unknown)}; allowed {sorted(allowed)}")
    n = design.get("n", 1000)
    if isinstance(n, bool) or not isinstance(n, int) or n < 10:
        raise ConfigError(f"cohort design: n must be a whole number >= 10; got {n!r}")
    overrides = dict(design.get("config") or {})
    base = SimulationConfig().to_dict()
    merged = {**base}
    for key, value in overrides.items():  # nested tables (e.g. latency_log_hr) are merged key by key
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged[key] = {**base[key], **value}
        else:
            merged[key] = value
    cfg = SimulationConfig.from_dict(merged)
    exclude = list(design.get("exclude_causes", ["als"]))
    return {"kind": "cohort", "n": n, "config": cfg.to_dict(), "exclude_causes": exclude}


@register_design("cohort", resolve=_resolve_cohort)
def _cohort(d: Mapping[str, Any], seq: np.random.SeedSequence) -> ReplicateData:
    from footdrop_outcomes.cohort.simulate import SimulationConfig, simulate_cohort
    from footdrop_outcomes.survival import survival_frame
    from footdrop_outcomes.trajectories import trajectory_frame

    seed = int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1))
    cohort = simulate_cohort(d["n"], seed, SimulationConfig.from_dict(d["config"]))
    exclude = set(d["exclude_causes"])

    def keep(df: pd.DataFrame) -> pd.DataFrame:
        df = df[~df["cause"].astype(str).isin(exclude)].copy()
        df["cause"] = df["cause"].cat.remove_unused_categories()
        return df.reset_index(drop=True)

    frame = keep(survival_frame(cohort))
    return ReplicateData(frame=frame, long_factory=lambda: keep(trajectory_frame(cohort)), cohort=cohort,
                         info={"n": len(frame), "events": int(frame["event"].sum())})


