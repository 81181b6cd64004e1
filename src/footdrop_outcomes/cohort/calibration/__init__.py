"""Calibration check of generator version 2 against published figures.

``targets.toml`` beside this module lists every published figure with its source, population,
outcome definition, value and interval, and whether it is a *calibration* target (parameters were
set to reproduce it) or a *validation* target (never used to set anything). The split was
committed before any v2 parameter was chosen.

:func:`calibration_check` simulates replicate cohorts and computes each target's quantity twice:
on the latent truth and, where the visits allow it, as an analyst sees it from the tables. It
returns a tidy table with Monte Carlo standard errors and pass/fail; :func:`pass_counts` sums it
up by set.

Examples
--------
>>> from footdrop_outcomes.cohort.calibration import load_targets
>>> t = load_targets()
>>> sorted(t["set"].unique())
['calibration', 'validation']
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.errors import ConfigError

__all__ = ["METRICS", "calibration_check", "load_targets", "pass_counts", "weighted_kappa"]

_TARGET_COLUMNS = ["id", "feature", "set", "source", "citation", "url", "population", "outcome", "metric",
                   "value", "ci_low", "ci_high", "n", "tolerance", "low", "high"]


def _wilson(p: float, n: float) -> tuple[float, float]:
    z = 1.959963984540054
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return centre - half, centre + half


def load_targets() -> pd.DataFrame:
    """The calibration and validation targets, one row per published figure.

    Returns
    -------
    pandas.DataFrame
        Columns ``id, feature, set, source, citation, url, population, outcome, metric, value,
        ci_low, ci_high, n, tolerance`` and the pass interval ``low, high``: the published 95% CI
        (or a Wilson interval from ``n`` for a proportion) widened to ``value +- tolerance`` when
        that is wider.
    """
    raw = tomllib.loads(resources.files(__package__).joinpath("targets.toml").read_text(encoding="utf-8"))
    rows = []
    for t in raw["target"]:
        row: dict[str, Any] = {k: t.get(k) for k in _TARGET_COLUMNS[:14]}
        value = float(t["value"])
        lo, hi = t.get("ci_low"), t.get("ci_high")
        if lo is None and t.get("n") is not None and 0 < value < 1:
            lo, hi = _wilson(value, float(t["n"]))
        tol = t.get("tolerance")
        lo = value if lo is None else float(lo)
        hi = value if hi is None else float(hi)
        if tol is not None:
            lo, hi = min(lo, value - float(tol)), max(hi, value + float(tol))
        row.update(value=value, low=lo, high=hi)
        rows.append(row)
    df = pd.DataFrame(rows, columns=_TARGET_COLUMNS)
    if df["id"].duplicated().any():
        raise ConfigError("targets.toml: target ids must be unique")
    unknown = sorted(set(df["metric"]) - set(METRICS))
    if unknown:
        raise ConfigError(f"targets.toml: {len(unknown)} metric name(s) have no function in footdrop_outcomes.cohort.calibration")
    return df


# ------------------------------------------------------------------------------------------------
# the quantities, computed from one cohort: (latent truth, as seen from the tables)


class _View:
    """Per-patient and per-visit frames of one v2 cohort, built once for every metric."""

    def __init__(self, cohort: Cohort):
        from footdrop_outcomes.cohort.simulate_v2 import (
            SimulationConfigV2,
            latent_strength,
            latent_stroke_gait,
        )

        truth = cohort.truth
        if truth is None or getattr(truth, "visits", None) is None or "treatment_clock" not in truth.patients.columns:
            raise ConfigError("calibration_check needs cohorts simulated with generator version 2")
        self.cohort = cohort
        self.cfg = SimulationConfigV2.from_dict(cohort.metadata["config"])
        p = cohort.patients
        tp = truth.patients
        self.p = p
        self.tp = tp
        self.cause = p["cause"].astype(str).to_numpy()
        self.surgery = p["surgery"].astype(str).to_numpy()
        self.base = p["baseline_mrc"].to_numpy()
        self.dtt = p["days_to_treatment"].to_numpy().astype(float)
        self.fes = p["fes"].to_numpy(bool)
        self.afo = (p["afo"].astype(str) != "none").to_numpy()
        self.horizon = self.dtt + self.cfg.followup_weeks * 7
        self.strength_end = latent_strength(cohort, self.horizon)
        self.latent_strength = latent_strength
        self.latent_stroke_gait = latent_stroke_gait
        v = cohort.visits
        self.v_row = v["patient_id"].cat.codes.to_numpy()
        self.v_day = v["day"].to_numpy().astype(float)
        self.v_mrc = v["mrc"].to_numpy()
        self.v_gait = v["gait_speed"].to_numpy()
        self.v_gait_off = v["gait_speed_device_off"].to_numpy() if "gait_speed_device_off" in v.columns else None
        self.tv = truth.visits
        order = np.arange(len(v))
        last = np.full(len(p), -1)
        np.maximum.at(last, self.v_row, order)  # rows are in day order within a patient
        self.last_visit = last
        self.n_visits = np.bincount(self.v_row, minlength=len(p))

    def dec(self, cause: str) -> np.ndarray:
        return (self.cause == cause) & (self.surgery == "decompression")

    def last_mrc(self) -> np.ndarray:
        """MRC at the last visit after baseline (NaN when only the baseline visit exists)."""
        out = np.where(self.n_visits >= 2, self.v_mrc[np.maximum(self.last_visit, 0)].astype(float), np.nan)
        return out


def _share(x: np.ndarray, mask: np.ndarray) -> float:
    x = np.asarray(x, dtype=float)[mask]
    x = x[~np.isnan(x)]
    return float(np.mean(x)) if x.size else math.nan


def _odds_ratio(outcome: np.ndarray, exposed: np.ndarray, mask: np.ndarray) -> float:
    y = np.asarray(outcome, dtype=float)
    ok = mask & ~np.isnan(y)
    a = np.sum(y[ok & exposed]) + 0.5
    b = np.sum(1 - y[ok & exposed]) + 0.5
    c = np.sum(y[ok & ~exposed]) + 0.5
    d = np.sum(1 - y[ok & ~exposed]) + 0.5
    return float((a / b) / (c / d))


def weighted_kappa(a: np.ndarray, b: np.ndarray, n_categories: int = 6) -> float:
    """Linearly weighted Cohen's kappa of two ratings on the categories ``0 .. n_categories - 1``."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.size == 0:
        return math.nan
    k = n_categories
    obs = np.zeros((k, k))
    np.add.at(obs, (a, b), 1.0)
    obs /= obs.sum()
    exp = np.outer(obs.sum(axis=1), obs.sum(axis=0))
    i, j = np.indices((k, k))
    w = np.abs(i - j) / (k - 1)
    den = float((w * exp).sum())
    return math.nan if den == 0 else 1.0 - float((w * obs).sum()) / den


Metric = Callable[[_View], tuple[float, float]]


def _final(cause: str, lo: int, hi: int, grade: int, *, max_dtt: float = math.inf) -> Metric:
    def f(v: _View) -> tuple[float, float]:
        m = v.dec(cause) & (v.base >= lo) & (v.base <= hi) & (v.dtt <= max_dtt)
        return _share(v.strength_end >= grade, m), _share(v.last_mrc() >= grade, m)
    return f


def _improved(cause: str) -> Metric:
    def f(v: _View) -> tuple[float, float]:
        m = v.dec(cause) & (v.base <= 3)
        return _share(np.floor(v.strength_end) >= v.base + 1, m), _share(v.last_mrc() >= v.base + 1, m)
    return f


def _or_final(cause: str, max_base: int, exposed: Callable[[_View], np.ndarray]) -> Metric:
    def f(v: _View) -> tuple[float, float]:
        m = v.dec(cause) & (v.base <= max_base)
        ex = exposed(v)
        return _odds_ratio(v.strength_end >= 4, ex, m), _odds_ratio(v.last_mrc() >= 4, ex, m)
    return f


def _peroneal_early_mrc5_12mo(v: _View) -> tuple[float, float]:
    m = v.dec("peroneal_compression") & (v.dtt <= 60) & (v.base <= 1)
    s = v.latent_strength(v.cohort, v.dtt + 365.25)
    # observed: the week-52 visit (scheduled from the treatment day, +- 21 days)
    near = np.abs(v.v_day - v.dtt[v.v_row] - 364) <= 21
    obs = np.full(len(v.p), np.nan)
    obs[v.v_row[near]] = (v.v_mrc[near] >= 5).astype(float)
    return _share(s >= 5, m), _share(obs, m)


def _peroneal_median_days(v: _View) -> tuple[float, float]:
    m = v.dec("peroneal_compression") & (v.dtt <= 60) & (v.base == 0) & v.tp["will_recover"].to_numpy(bool)
    lat = (v.tp["latent_recovery_day"].to_numpy() - v.dtt)[m]
    first = np.full(len(v.p), np.inf)
    hit = v.v_mrc >= 4
    np.minimum.at(first, v.v_row[hit], v.v_day[hit])
    obs = (first - v.dtt)[m & np.isfinite(first)]
    return (float(np.median(lat)) if lat.size else math.nan), (float(np.median(obs)) if obs.size else math.nan)


def _lumbar_improved_1mo(v: _View) -> tuple[float, float]:
    m = v.dec("lumbar_radiculopathy") & (v.base <= 3)
    s = v.latent_strength(v.cohort, v.dtt + 30)
    return _share(np.floor(s) >= v.base + 1, m), math.nan


def _stroke_gait_at(day: float, window: tuple[float, float]) -> Metric:
    def f(v: _View) -> tuple[float, float]:
        m = v.cause == "stroke"
        g = v.latent_stroke_gait(v.cohort, day)
        vm = (v.cause[v.v_row] == "stroke") & (v.v_day >= window[0]) & (v.v_day <= window[1])
        obs = v.v_gait[vm]
        obs = obs[~np.isnan(obs)]
        return _share(g, m), (float(np.mean(obs)) if obs.size else math.nan)
    return f


def _stroke_plateau_11wk(v: _View) -> tuple[float, float]:
    m = v.cause == "stroke"
    tau = v.tp["stroke_gait_tau_weeks"].to_numpy()
    frac = 1 - np.exp(-(11.0 / tau) ** v.cfg.stroke_gait_time[2])
    return _share(frac >= 0.95, m), math.nan


def _stroke_gait_subacute(v: _View) -> tuple[float, float]:
    vm = (v.cause[v.v_row] == "stroke") & (v.v_day >= 7) & (v.v_day <= 84)
    obs = v.v_gait[vm]
    lat = v.tv["gait_off"].to_numpy()[vm]
    return float(np.nanmean(lat)), float(np.nanmean(obs))


def _on_off_from_tables(v: _View, fes_only: bool, min_day: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Measured device-on and device-off speeds at stroke visits with both recorded (schema 1.1).

    A device-off speed is recorded only when a device is in use; FES takes precedence over an AFO.
    """
    off = v.v_gait_off
    if off is None:
        return np.array([]), np.array([])
    vm = (v.cause[v.v_row] == "stroke") & np.isfinite(off) & np.isfinite(v.v_gait) & (v.v_day >= min_day)
    if fes_only:
        vm &= v.fes[v.v_row]
    return v.v_gait[vm], off[vm]


def _fes_orthotic(v: _View) -> tuple[float, float]:
    tv = v.tv
    vm = (v.cause[v.v_row] == "stroke") & (tv["device_in_use"] == "fes").to_numpy()
    r = tv["gait_on"].to_numpy()[vm] / tv["gait_off"].to_numpy()[vm] - 1
    r = r[np.isfinite(r)]
    on, off = _on_off_from_tables(v, fes_only=True)
    obs = float(on.mean() / off.mean() - 1) if on.size else math.nan  # ratio of means: unbiased by measurement error
    return (float(np.mean(r)) if r.size else math.nan), obs


def _fes_training_20wk(v: _View) -> tuple[float, float]:
    m = (v.cause == "stroke") & v.fes & (v.tp["fes_abandon_week"].to_numpy() >= 20)
    th = v.cfg.device_training_relative["fes"] * (1 - math.exp(-20 / v.cfg.device_training_weeks))
    return (th if m.any() else math.nan), math.nan


def _orthotic_chronic(v: _View) -> tuple[float, float]:
    tv = v.tv
    vm = (v.cause[v.v_row] == "stroke") & (tv["device_in_use"] != "none").to_numpy() & (v.v_day >= 182)
    d = (tv["gait_on"] - tv["gait_off"]).to_numpy()[vm]
    d = d[np.isfinite(d)]
    on, off = _on_off_from_tables(v, fes_only=False, min_day=182)
    return (float(np.mean(d)) if d.size else math.nan), (float(np.mean(on - off)) if on.size else math.nan)


def _training_30wk(device: str) -> Metric:
    def f(v: _View) -> tuple[float, float]:
        m = (v.cause == "stroke") & (v.fes if device == "fes" else (v.afo & ~v.fes))
        day = (v.tp["program_start_week"].to_numpy() + 30) * 7.0
        gain = v.latent_stroke_gait(v.cohort, day) - v.latent_stroke_gait(v.cohort, day, with_training=False)
        return _share(gain, m), math.nan
    return f


def _completion(weeks: float, arm: str) -> Metric:
    def f(v: _View) -> tuple[float, float]:
        stroke = v.cause == "stroke"
        m = stroke & {"fes": v.fes, "afo": v.afo & ~v.fes, "device": v.fes | v.afo}[arm]
        leave = np.minimum(v.tp["dropout_day"].to_numpy(), v.tp["death_day"].to_numpy()) - v.dtt
        end = v.p["followup_end"].astype(str).to_numpy()
        fu = v.p["followup_days"].to_numpy() - v.dtt
        observed = (end == "study_end") | (fu >= weeks * 7)
        return _share(leave > weeks * 7, m), _share(observed, m)
    return f


def _fes_median_years(v: _View) -> tuple[float, float]:
    x = v.tp["fes_abandon_week"].to_numpy()[v.fes]
    return (float(np.median(x)) / 52.18 if x.size else math.nan), math.nan


def _device_in_use_at(v: _View, device: str, prog_week: int) -> np.ndarray:
    """Observed: device hours > 0 in program week ``prog_week`` (NaN when that week has no row)."""
    a = v.cohort.adherence
    row = a["patient_id"].cat.codes.to_numpy()
    week = a["week"].to_numpy().astype(int)
    at = week == v.tp["program_start_week"].to_numpy()[row] + prog_week
    out = np.full(len(v.p), np.nan)
    out[row[at]] = (a[f"{device}_hours"].to_numpy()[at] > 0).astype(float)
    return out


def _fes_retained_20(v: _View) -> tuple[float, float]:
    return _share(v.tp["fes_abandon_week"].to_numpy() >= 20, v.fes), _share(_device_in_use_at(v, "fes", 20), v.fes)


def _afo_stopped(weeks: int) -> Metric:
    def f(v: _View) -> tuple[float, float]:
        lat = _share(v.tp["afo_abandon_week"].to_numpy() < weeks, v.afo & ~v.fes)
        obs = 1 - _share(_device_in_use_at(v, "afo", weeks), v.afo & ~v.fes) if weeks + 4 <= v.cfg.followup_weeks else math.nan
        return lat, obs
    return f


def _kappa(selector: Callable[[_View], np.ndarray]) -> Metric:
    def f(v: _View) -> tuple[float, float]:
        vm = selector(v)
        first = np.r_[True, v.v_row[1:] != v.v_row[:-1]]  # the baseline grade has its own rating
        vm = vm & ~first
        return weighted_kappa(v.v_mrc[vm], v.tv["mrc_second_rater"].to_numpy()[vm]), math.nan
    return f


def _baseline_share(cause: str, max_base: int, grades: tuple[int, ...]) -> Metric:
    def f(v: _View) -> tuple[float, float]:
        m = v.dec(cause) & (v.base <= max_base)
        x = _share(np.isin(v.base, grades), m)
        return x, x
    return f


_PERIPHERAL = ("peroneal_compression", "lumbar_radiculopathy", "post_surgical_hip_knee", "post_surgical_spine")

#: Every metric a target may name: a function of one v2 cohort returning (latent, observed).
METRICS: dict[str, Metric] = {
    "peroneal_dec_mrc5_final": _final("peroneal_compression", 0, 3, 5),
    "peroneal_dec_delay12_or": _or_final("peroneal_compression", 4, lambda v: v.dtt > 365),
    "peroneal_dec_early_mrc5_12mo": _peroneal_early_mrc5_12mo,
    "peroneal_dec_m4_final": _final("peroneal_compression", 0, 3, 4),
    "peroneal_dec_median_days_to_recovery": _peroneal_median_days,
    "peroneal_dec_m4_final_moderate": _final("peroneal_compression", 2, 3, 4),
    "peroneal_dec_improved": _improved("peroneal_compression"),
    "lumbar_dec_m4_final": _final("lumbar_radiculopathy", 0, 3, 4),
    "lumbar_dec_improved_1mo": _lumbar_improved_1mo,
    "lumbar_dec_duration_or": _or_final("lumbar_radiculopathy", 2, lambda v: v.dtt <= 60),
    "lumbar_dec_preop_or": _or_final("lumbar_radiculopathy", 2, lambda v: v.base == 2),
    "lumbar_dec_moderate_vs_severe_or": _or_final("lumbar_radiculopathy", 3, lambda v: v.base >= 2),
    "lumbar_dec_improved": _improved("lumbar_radiculopathy"),
    "lumbar_dec_mrc5_final_early": _final("lumbar_radiculopathy", 0, 2, 5, max_dtt=30),
    "stroke_gait_day20": _stroke_gait_at(20, (14, 26)),
    "stroke_gait_day60": _stroke_gait_at(60, (46, 74)),
    "stroke_walking_plateau_11wk": _stroke_plateau_11wk,
    "stroke_gait_subacute": _stroke_gait_subacute,
    "fes_orthotic_relative": _fes_orthotic,
    "fes_training_relative_20wk": _fes_training_20wk,
    "device_orthotic_absolute_chronic": _orthotic_chronic,
    "fes_training_absolute_30wk": _training_30wk("fes"),
    "afo_training_absolute_30wk": _training_30wk("afo"),
    "completion_fes_42wk": _completion(42, "fes"),
    "completion_afo_30wk": _completion(30, "afo"),
    "completion_device_26wk": _completion(26, "device"),
    "fes_median_use_years": _fes_median_years,
    "fes_retained_20wk": _fes_retained_20,
    "afo_stopped_212wk": _afo_stopped(212),
    "afo_stopped_26wk": _afo_stopped(26),
    "mrc_interrater_kappa_peripheral": _kappa(lambda v: np.isin(v.cause[v.v_row], _PERIPHERAL)),
    "mrc_interrater_kappa_near_normal": _kappa(lambda v: v.tv["strength"].to_numpy() >= 3),
    "peroneal_dec_baseline_mrc01": _baseline_share("peroneal_compression", 2, (0, 1)),
    "peroneal_dec_baseline_mrc0": _baseline_share("peroneal_compression", 3, (0,)),
    "lumbar_dec_baseline_mrc01": _baseline_share("lumbar_radiculopathy", 3, (0, 1)),
    "lumbar_dec_baseline_mrc01_of_02": _baseline_share("lumbar_radiculopathy", 2, (0, 1)),
}


def _mc(values: list[float]) -> tuple[float, float]:
    x = np.array([v for v in values if not math.isnan(v)])
    if x.size == 0:
        return math.nan, math.nan
    se = float(np.std(x, ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    return float(np.mean(x)), se


def calibration_check(
    n_patients: int = 50_000,
    *,
    replicates: int = 4,
    seed: int = 2026,
    config: Any = None,
    cohorts: list[Cohort] | None = None,
) -> pd.DataFrame:
    """Compute every target from simulated v2 cohorts and say which pass.

    Parameters
    ----------
    n_patients : int
        Patients per replicate cohort.
    replicates : int
        Replicate cohorts (seeds ``seed, seed + 1, ...``); the Monte Carlo SE is the SD of the
        replicate values over the square root of their number.
    seed : int
        Seed of the first replicate.
    config : SimulationConfigV2, optional
        Generator configuration (defaults: the calibrated v2 model).
    cohorts : list of Cohort, optional
        Use these v2 cohorts instead of simulating.

    Returns
    -------
    pandas.DataFrame
        One row per target: the target columns of :func:`load_targets`, ``latent`` and
        ``latent_se`` (computed from the truth), ``observed`` and ``observed_se`` (from the tables,
        empty where the visits cannot show it), ``pass_latent``, ``pass_observed`` (empty where
        there is no observed value) and ``passed`` (= ``pass_latent``). Calibration targets come
        first.
    """
    from footdrop_outcomes.cohort.simulate import simulate_cohort

    if cohorts is None:
        if replicates < 1:
            raise ConfigError("replicates must be >= 1")
        cohorts = [simulate_cohort(n_patients, seed + r, config, version=2) for r in range(replicates)]
    targets = load_targets()
    per: dict[str, list[tuple[float, float]]] = {m: [] for m in targets["metric"].unique()}
    for c in cohorts:
        view = _View(c)
        for m, values in per.items():
            values.append(METRICS[m](view))
    out = targets.copy()
    lat = [_mc([x[0] for x in per[m]]) for m in out["metric"]]
    obs = [_mc([x[1] for x in per[m]]) for m in out["metric"]]
    out["latent"] = [a for a, _ in lat]
    out["latent_se"] = [b for _, b in lat]
    out["observed"] = [a for a, _ in obs]
    out["observed_se"] = [b for _, b in obs]
    out["pass_latent"] = (out["latent"] >= out["low"]) & (out["latent"] <= out["high"])
    has_obs = out["observed"].notna()
    out["pass_observed"] = pd.array(np.where(has_obs, (out["observed"] >= out["low"]) & (out["observed"] <= out["high"]), False),
                                    dtype="boolean")
    out.loc[~has_obs, "pass_observed"] = pd.NA
    out["passed"] = out["pass_latent"]
    out["set"] = pd.Categorical(out["set"], categories=["calibration", "validation"], ordered=True)
    return out.sort_values(["set", "feature", "id"], kind="stable").reset_index(drop=True)


def pass_counts(check: pd.DataFrame) -> pd.DataFrame:
    """Targets passed out of targets checked, by set (latent truth and, where shown, the tables).

    Parameters
    ----------
    check : pandas.DataFrame
        Output of :func:`calibration_check`.
    """
    g = check.groupby("set", observed=True)
    return pd.DataFrame({
        "targets": g.size(),
        "passed": g["pass_latent"].sum().astype(int),
        "observed_checked": g["pass_observed"].count(),
        "observed_passed": g["pass_observed"].sum().astype(int),
    }).reset_index()


from footdrop_outcomes.cohort.calibration.report import (
    CalibrationReport,  # the PDF: report.calibration_section
)

__all__ += ["CalibrationReport"]
