from __future__ import annotations

import json

import numpy as np
import pytest

from footdrop_outcomes.errors import ConfigError
from footdrop_outcomes.studies import StudySpec, generate, load_spec, replicate_seed, replicate_seed_sequence

from .conftest import small_spec

TOML = """
name = "logrank power"
replicates = 10
seed = 7
alpha = 0.05

[design]
kind = "trial"
visit_weeks = []

[grid]
n_per_arm = [50, 100]
log_hr = [-0.3, -0.5]

[[analyses]]
label = "logrank"
method = "logrank"

[[analyses]]
label = "cox"
method = "cox"
truth = "log_hr"
options = { formula = "arm", term = "arm[treatment]" }
"""


def test_json_and_toml_round_trip(tmp_path):
    spec = StudySpec.from_toml(TOML)
    assert len(spec.points()) == 4
    assert spec.point_values(3) == {"n_per_arm": 100, "log_hr": -0.5}
    assert [spec.truth_value(spec.analyses[1], p) for p in spec.points()] == [-0.3, -0.5, -0.3, -0.5]
    assert StudySpec.from_json(spec.to_json()) == spec
    (tmp_path / "s.toml").write_text(TOML)
    (tmp_path / "s.json").write_text(spec.to_json())
    assert load_spec(tmp_path / "s.toml") == load_spec(tmp_path / "s.json") == spec
    assert spec.sha256() == StudySpec.from_dict(json.loads(spec.to_json())).sha256()


def test_spec_is_frozen(spec):
    with pytest.raises(AttributeError):
        spec.seed = 3  # type: ignore[misc]


def test_replicate_seeds_are_spawned_children():
    kids = np.random.SeedSequence(99).spawn(5)
    for r in range(5):
        assert (replicate_seed_sequence(99, r).generate_state(4) == kids[r].generate_state(4)).all()
    assert len({replicate_seed(99, r) for r in range(100)}) == 100


def test_a_replicate_is_reproducible_alone(spec):
    a = generate(spec.points()[1], replicate_seed_sequence(spec.seed, 5))
    b = generate(spec.points()[1], replicate_seed_sequence(spec.seed, 5))
    assert a.frame.equals(b.frame) and a.long.equals(b.long)


def test_cohort_design_truth_paths():
    spec = StudySpec.from_dict({"name": "c", "replicates": 1, "seed": 1,
                                "design": {"kind": "cohort", "n": 300, "config": {"latency_log_hr": {"supervised_physio": 0.3}}},
                                "grid": {"config.adherence_log_hr": [0.0, 1.0]},
                                "analyses": [{"label": "physio", "method": "cox", "truth": "config.latency_log_hr.supervised_physio",
                                              "options": {"formula": "supervised_physio", "term": "supervised_physio"}},
                                             {"label": "adh", "method": "cox", "truth": "config.adherence_log_hr",
                                              "options": {"formula": "mean_adherence", "term": "mean_adherence"}}]})
    pts = spec.points()
    assert [spec.truth_value(spec.analyses[0], p) for p in pts] == [0.3, 0.3]
    assert [spec.truth_value(spec.analyses[1], p) for p in pts] == [0.0, 1.0]
    data = generate(pts[0], replicate_seed_sequence(1, 0))
    assert "als" not in set(data.frame["cause"].astype(str))


@pytest.mark.parametrize(("change", "message"), [
    ({"replicates": 0}, "replicates"),
    ({"seed": -1}, "seed"),
    ({"alpha": 1.5}, "alpha"),
    ({"design": {"kind": "nope"}}, "design.kind"),
    ({"grid": {"n_per_arm": [1]}}, "n_per_arm"),
    ({"design": {"kind": "trial", "typo": 1}}, "unknown parameter"),
    ({"analyses": [{"label": "a", "method": "nope"}]}, "method must be one of"),
    ({"analyses": [{"label": "a", "method": "cox", "truth": "no.such"}]}, "does not exist"),
    ({"analyses": [{"label": "a", "method": "logrank"}, {"label": "a", "method": "logrank"}]}, "unique"),
    ({"grid": {"n_per_arm": []}}, "non-empty list"),
])
def test_bad_specifications_are_refused(change, message):
    with pytest.raises(ConfigError, match=message):
        small_spec(**change)


def test_unknown_top_level_key_refused():
    with pytest.raises(ConfigError, match="unknown key"):
        StudySpec.from_dict({**small_spec().to_dict(), "replicate": 3})


def test_bad_files(tmp_path):
    (tmp_path / "bad.toml").write_text("name = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_spec(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_spec(tmp_path / "missing.json")
