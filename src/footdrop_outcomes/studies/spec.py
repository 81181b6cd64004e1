"""Study specification: a frozen, serialisable description of a simulation study.

A study is *what to simulate* (a :mod:`design <footdrop_outcomes.studies.designs>` with its
parameters, optionally a grid of parameter values), *what to estimate* (one or more named
:mod:`analyses <footdrop_outcomes.studies.analyses>`, each with the true value of its effect),
how many replicates and the master seed. It round-trips through JSON and TOML, and its
canonical JSON has a SHA-256 that the runner writes beside the results, so a results folder
can only be resumed with the specification that started it.

Replicate seeds derive from the master seed and the replicate index alone,
``SeedSequence(entropy=seed, spawn_key=(replicate,))`` (the ``replicate``-th child of
``SeedSequence(seed).spawn``): any replicate can be rerun on its own, and results do not
depend on how replicates are spread over workers. Grid points share replicate seeds (common
random numbers), so differences between points are estimated more precisely.

>>> spec = StudySpec.from_dict({"name": "demo", "replicates": 3, "seed": 1,
...     "design": {"kind": "trial", "n_per_arm": 40, "log_hr": -0.5},
...     "analyses": [{"label": "cox", "method": "cox", "options": {"formula": "arm", "term": "arm[treatment]"},
...                   "truth": "log_hr"}]})
>>> spec.points()[0]["log_hr"]
-0.5
>>> StudySpec.from_json(spec.to_json()) == spec
True
>>> replicate_seed(1, 0) == replicate_seed(1, 0) != replicate_seed(1, 1)
True
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from footdrop_outcomes.errors import ConfigError
from footdrop_outcomes.studies._seeds import replicate_seed, replicate_seed_sequence  # re-exported (spec API)

__all__ = ["AnalysisSpec", "StudySpec", "replicate_seed", "replicate_seed_sequence", "load_spec"]


def _plain(mapping: Mapping[str, Any], what: str) -> dict[str, Any]:
    """A deep copy as plain JSON data (refuses values JSON cannot hold)."""
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{what} must be a table (mapping); got {type(mapping).__name__}")
    try:
        return json.loads(json.dumps(dict(mapping), default=_json_default, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{what} must hold only numbers, strings, booleans, lists and tables ({e})") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


@dataclass(frozen=True)
class AnalysisSpec:
    """One effect of interest: a named analysis, its options and the true value.

    Parameters
    ----------
    label : str
        Name of the effect in results and tables (unique within a study).
    method : str
        Key of the analysis registry (:func:`footdrop_outcomes.studies.analyses.available_analyses`).
    options : mapping
        Keyword options of the analysis (e.g. ``formula`` and ``term`` of a Cox model).
    truth : float, str or None
        The true value of the estimand: a number, or the dotted path of a design parameter
        (``"log_hr"``, ``"config.latency_log_hr.severity[severe]"``), evaluated at each grid
        point; ``None`` when there is no estimand (a test only: power, type I error).
    truth_multiplier : float
        Multiplies a truth taken from a design parameter (e.g. ``-1/shape`` for an AFT
        coefficient from a log hazard ratio).
    """

    label: str
    method: str
    options: Mapping[str, Any] = field(default_factory=dict)
    truth: float | str | None = None
    truth_multiplier: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            raise ConfigError("analysis label must be a non-empty string")
        if not isinstance(self.method, str) or not self.method:
            raise ConfigError(f"analysis {self.label!r}: method must be a non-empty string")
        object.__setattr__(self, "options", _plain(self.options, f"analysis {self.label!r} options"))
        if self.truth is not None and not isinstance(self.truth, (int, float, str)) or isinstance(self.truth, bool):
            raise ConfigError(f"analysis {self.label!r}: truth must be a number, a design parameter path or null")
        if isinstance(self.truth, int):
            object.__setattr__(self, "truth", float(self.truth))
        object.__setattr__(self, "truth_multiplier", float(self.truth_multiplier))

    @property
    def option_dict(self) -> dict[str, Any]:
        """The options as a plain dict."""
        return json.loads(json.dumps(self.options))

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "method": self.method, "options": self.option_dict, "truth": self.truth,
                "truth_multiplier": self.truth_multiplier}


@dataclass(frozen=True)
class StudySpec:
    """Frozen, serialisable description of a simulation study.

    Parameters
    ----------
    name : str
        Short name (used in report titles).
    design : mapping
        ``kind`` (a key of the design registry: ``"trial"``, ``"cohort"``) and that design's
        parameters; see :mod:`footdrop_outcomes.studies.designs`.
    analyses : sequence of AnalysisSpec or mappings
        The effects of interest and the analyses that estimate them.
    replicates : int
        Replicates per grid point.
    seed : int
        Master seed (>= 0).
    grid : mapping, optional
        Design parameters to vary (dotted paths as in ``truth``) and their values; the study runs
        every combination (Cartesian product, in the order given), each with ``replicates``
        replicates.
    alpha : float
        Two-sided level of tests and confidence intervals (power = share of p < alpha).
    """

    name: str
    design: Mapping[str, Any]
    analyses: tuple[AnalysisSpec, ...]
    replicates: int
    seed: int
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    alpha: float = 0.05

    def __post_init__(self) -> None:
        from footdrop_outcomes.studies.analyses import available_analyses
        from footdrop_outcomes.studies.designs import available_designs, check_design

        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("study name must be a non-empty string")
        design = _plain(self.design, "design")
        kind = design.get("kind")
        if kind not in available_designs():
            raise ConfigError(f"design.kind must be one of {available_designs()}; got {kind!r}")
        object.__setattr__(self, "design", design)
        analyses = tuple(a if isinstance(a, AnalysisSpec) else AnalysisSpec(**dict(a)) for a in self.analyses)
        if not analyses:
            raise ConfigError("a study needs at least one analysis")
        labels = [a.label for a in analyses]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"analysis labels must be unique; got {labels}")
        for a in analyses:
            if a.method not in available_analyses():
                raise ConfigError(f"analysis {a.label!r}: method must be one of {available_analyses()}; got {a.method!r}")
        object.__setattr__(self, "analyses", analyses)
        if isinstance(self.replicates, bool) or not isinstance(self.replicates, (int, np.integer)) or self.replicates < 1:
            raise ConfigError(f"replicates must be a whole number >= 1; got {self.replicates!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ConfigError(f"seed must be a whole number >= 0; got {self.seed!r}")
        object.__setattr__(self, "replicates", int(self.replicates))
        object.__setattr__(self, "seed", int(self.seed))
        grid = _plain(self.grid, "grid")
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"grid.{key} must be a non-empty list of values")
            if key in ("kind",):
                raise ConfigError("grid cannot vary design.kind")
        object.__setattr__(self, "grid", grid)
        if not 0 < float(self.alpha) < 1:
            raise ConfigError(f"alpha must be in (0, 1); got {self.alpha!r}")
        object.__setattr__(self, "alpha", float(self.alpha))
        # every grid point must give a valid design, and every truth path must resolve
        for point in self.points():
            check_design(point)
            for a in analyses:
                self.truth_value(a, point)

    # -- views ------------------------------------------------------------------------------------
    @property
    def design_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.design))

    @property
    def grid_dict(self) -> dict[str, list[Any]]:
        return json.loads(json.dumps(self.grid))

    @property
    def grid_keys(self) -> list[str]:
        return list(self.grid_dict)

    def points(self) -> list[dict[str, Any]]:
        """The design parameters at each grid point (one point when there is no grid)."""
        grid = self.grid_dict
        base = self.design_dict
        if not grid:
            return [base]
        out = []
        for combo in itertools.product(*grid.values()):
            d = json.loads(json.dumps(base))
            for key, value in zip(grid, combo, strict=True):
                _set_path(d, key, value)
            out.append(d)
        return out

    def point_values(self, point: int) -> dict[str, Any]:
        """The grid values of one point (empty without a grid)."""
        grid = self.grid_dict
        if not grid:
            return {}
        combo = list(itertools.product(*grid.values()))[point]
        return dict(zip(grid, combo, strict=True))

    def truth_value(self, analysis: AnalysisSpec, design: Mapping[str, Any]) -> float:
        """The true value of an analysis' estimand under one design (NaN when it has none)."""
        if analysis.truth is None:
            return math.nan
        if isinstance(analysis.truth, (int, float)):
            return float(analysis.truth)
        from footdrop_outcomes.studies.designs import resolved_parameter

        value = resolved_parameter(design, analysis.truth)
        try:
            return float(value) * analysis.truth_multiplier
        except (TypeError, ValueError):
            raise ConfigError(f"analysis {analysis.label!r}: truth {analysis.truth!r} is not a number ({value!r})") from None

    # -- serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "design": self.design_dict, "grid": self.grid_dict, "analyses": [a.to_dict() for a in self.analyses],
                "replicates": self.replicates, "seed": self.seed, "alpha": self.alpha}

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): the basis of :meth:`sha256`."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudySpec:
        known = {"name", "design", "grid", "analyses", "replicates", "seed", "alpha"}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"study specification: unknown key(s) {sorted(unknown)}; allowed {sorted(known)}")
        missing = {"name", "design", "analyses", "replicates", "seed"} - set(data)
        if missing:
            raise ConfigError(f"study specification: missing key(s) {sorted(missing)}")
        d = dict(data)
        d["analyses"] = tuple(AnalysisSpec(**dict(a)) for a in d["analyses"])
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> StudySpec:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_toml(cls, text: str) -> StudySpec:
        return cls.from_dict(tomllib.loads(text))


def load_spec(path: str | Path) -> StudySpec:
    """Read a study specification from a ``.json`` or ``.toml`` file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read study specification {p}: {e}") from None
    try:
        if p.suffix.lower() == ".toml":
            return StudySpec.from_toml(text)
        return StudySpec.from_json(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{p} is not valid {'TOML' if p.suffix.lower() == '.toml' else 'JSON'}: {e}") from None


def _set_path(d: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    cur = d
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
        if not isinstance(cur, dict):
            raise ConfigError(f"grid key {path!r}: {p!r} is not a table")
    cur[parts[-1]] = value
