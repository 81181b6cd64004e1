"""Small study specifications shared by the study tests."""

from __future__ import annotations

import pytest

from footdrop_outcomes.studies import StudySpec


def small_spec(**overrides: object) -> StudySpec:
    """A tiny two-point trial study with every trial analysis (about 0.05 s per replicate)."""
    base: dict[str, object] = {
        "name": "tiny",
        "replicates": 6,
        "seed": 20261125,
        "grid": {"n_per_arm": [25, 40]},
        "design": {"kind": "trial", "log_hr": 0.4, "gait_slope_diff": 0.02, "adherence_diff": 0.05, "dropout_by_end": 0.1,
                   "visit_miss_probability": 0.1},
        "analyses": [
            {"label": "logrank", "method": "logrank"},
            {"label": "cox", "method": "cox", "options": {"formula": "arm", "term": "arm[treatment]"}, "truth": "log_hr"},
            {"label": "aft", "method": "interval_aft", "options": {"formula": "arm", "term": "arm[treatment]"},
             "truth": "log_hr", "truth_multiplier": -1.0},
            {"label": "slope", "method": "mixed_slope", "options": {"formula": "time * arm", "term": "lw:arm[treatment]"},
             "truth": "gait_slope_diff"},
            {"label": "adherence", "method": "adherence_difference", "truth": "adherence_diff"},
        ],
    }
    base.update(overrides)
    return StudySpec.from_dict(base)


#: Analyses that take a few milliseconds (for tests about bookkeeping rather than estimators).
CHEAP = [
    {"label": "logrank", "method": "logrank"},
    {"label": "aft", "method": "interval_aft", "options": {"formula": "arm", "term": "arm[treatment]"}, "truth": "log_hr",
     "truth_multiplier": -1.0},
    {"label": "adherence", "method": "adherence_difference", "truth": "adherence_diff"},
]


@pytest.fixture
def spec() -> StudySpec:
    return small_spec()


@pytest.fixture
def cheap_spec() -> StudySpec:
    return small_spec(replicates=12, analyses=CHEAP)
