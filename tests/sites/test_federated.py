"""Federated two-stage analysis: agreement with the pooled fit, and what a site file may contain."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.simulate import SimulationConfig
from footdrop_outcomes.errors import CohortIOError, ConfigError
from footdrop_outcomes.release import ReleasePolicy, TooFewToRelease
from footdrop_outcomes.sites import combine_sites, read_site_summary, site_summary
from footdrop_outcomes.survival import fit_cox, survival_frame

FORMULA = "supervised_physio + severity + age"


@pytest.fixture(scope="module")
def frames() -> list[pd.DataFrame]:
    return [survival_frame(simulate_cohort(2000, seed, SimulationConfig(n_sites=10))) for seed in (101, 102, 103)]


def test_federated_estimate_agrees_with_pooled_fit(frames: list[pd.DataFrame], tmp_path) -> None:
    for k, frame in enumerate(frames):
        files = []
        for s in sorted(frame["site"].astype(str).unique()):
            path = tmp_path / f"r{k}" / f"{s}.json"
            site_summary(frame[frame["site"] == s], site=s, formula=FORMULA, strata="cause", path=path)
            files.append(path)
        fed = combine_sites(files, term="supervised_physio").summary.iloc[0]
        pooled = fit_cox(frame, FORMULA, strata=["cause", "site"])
        assert fed["k"] == 10
        assert abs(fed["estimate"] - pooled.params["supervised_physio"]) < fed["se"]
        # same information: the SEs agree closely too (two-sided)
        assert 0.8 < fed["se"] / pooled.summary.set_index("term").loc["supervised_physio", "se"] < 1.25


def test_site_file_has_no_patient_rows_and_no_small_counts(frames: list[pd.DataFrame], tmp_path) -> None:
    frame = frames[0]
    site = frame[frame["site"] == "S01"].copy()
    site["rare"] = 0
    site.iloc[:4, site.columns.get_loc("rare")] = 1  # 4 exposed patients: a term on a small group
    path = tmp_path / "S01.json"
    res = site_summary(site, site="S01", formula=FORMULA + " + rare", strata="cause", path=path)
    text = path.read_text()
    content = json.loads(text)
    assert "rare" in res.info["withheld_terms"] and "rare" not in content["terms"]
    # try to find any patient in the file: ids, ages, times
    assert not any(str(p) in text for p in site["patient_id"])
    numbers = {float(x) for x in re.findall(r"-?\d+\.?\d*(?:[eE]-?\d+)?", text)}
    for col in ("age", "time"):
        assert not (numbers & {float(x) for x in site[col] if float(x) not in (0.0, 1.0, 2.0, 10.0)})
    # the amount of numbers depends on the model, not on the number of patients
    p = len(content["terms"])
    assert len(content["log_hr"]) == p and np.asarray(content["cov"]).shape == (p, p)
    man = content["manifest"]
    assert man["n_patients"] == str(len(site)) and man["threshold"] == 10
    back = read_site_summary(path)
    assert np.allclose(back.cov.to_numpy(), res.cov.to_numpy())


def test_small_site_writes_nothing(frames: list[pd.DataFrame], tmp_path) -> None:
    tiny = frames[0].iloc[:10]
    with pytest.raises(TooFewToRelease):
        site_summary(tiny, site="S99", formula="age", path=tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_counts_at_or_below_threshold_are_not_written(frames: list[pd.DataFrame]) -> None:
    site = frames[0][frames[0]["site"] == "S02"]
    res = site_summary(site, site="S02", formula="age", policy=ReleasePolicy(threshold=len(site) - 1))
    assert res.info["n_patients"] == str(len(site))
    few = site.copy()
    few["event"] = False
    few.iloc[:6, few.columns.get_loc("event")] = True
    assert site_summary(few, site="S02", formula="age").info["events"] == "≤10"


def test_combine_refuses_mixed_models_and_bad_files(frames: list[pd.DataFrame], tmp_path) -> None:
    f = frames[0]
    a = site_summary(f[f["site"] == "S01"], site="S01", formula="age")
    b = site_summary(f[f["site"] == "S02"], site="S02", formula="age + severity")
    with pytest.raises(ConfigError, match="different formulas"):
        combine_sites([a, b], term="age")
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "something else"}')
    with pytest.raises(CohortIOError, match="not a site summary"):
        read_site_summary(bad)
