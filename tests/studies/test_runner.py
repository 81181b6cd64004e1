"""The runner: identical results whatever the workers; resume after an interruption; failures kept."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from footdrop_outcomes.errors import ConfigError, ConvergenceError
from footdrop_outcomes.studies import completed_replicates, load_results, register_analysis, run_replicate, run_study
from footdrop_outcomes.studies.analyses import _ANALYSES

from .conftest import CHEAP, small_spec


def _science(df: pd.DataFrame) -> pd.DataFrame:
    """Everything but the wall times."""
    return df.drop(columns="seconds").reset_index(drop=True)


def test_same_results_with_one_worker_thread_and_two_worker_processes(spec, tmp_path):
    # two processes show what four would (chunks land on workers in any order); each extra
    # process costs its interpreter start and imports, 10 s or more on a busy 2-core machine
    one = run_study(spec, tmp_path / "one", workers=1, processes=False, chunk_size=5, progress=False)
    two = run_study(spec, tmp_path / "two", workers=2, chunk_size=2, progress=False)
    assert one.info["complete"] and two.info["complete"]
    assert len(one.results) == 2 * 6 * 5
    assert (one.results["status"] == "ok").all()
    pd.testing.assert_frame_equal(_science(one.results), _science(two.results))
    # any replicate rerun alone gives its row of the study
    alone = run_replicate(spec, 1, 4)
    stored = one.results[(one.results["point"] == 1) & (one.results["replicate"] == 4)]
    pd.testing.assert_frame_equal(_science(alone), _science(stored))


def test_resume_after_partial_run_is_identical(cheap_spec, tmp_path):
    spec = cheap_spec
    full = run_study(spec, tmp_path / "full", workers=1, processes=False, chunk_size=4, progress=False)
    part = run_study(spec, tmp_path / "resumed", workers=1, processes=False, chunk_size=4, progress=False, max_chunks=2)
    assert not part.info["complete"] and part.info["replicates_run"] == 8
    assert len(completed_replicates(tmp_path / "resumed")) == 8
    # the rest, with another chunk size: finished replicates are not redone
    rest = run_study(spec, tmp_path / "resumed", workers=1, processes=False, chunk_size=5, progress=False)
    assert rest.info["complete"] and rest.info["replicates_skipped"] == 8 and rest.info["replicates_run"] == 16
    pd.testing.assert_frame_equal(_science(full.results), _science(rest.results))
    again = run_study(spec, tmp_path / "resumed", workers=1, processes=False, progress=False)
    assert again.info["chunks_run"] == 0 and again.info["scheduler"] == "none"


def test_killed_run_resumes_without_loss(tmp_path):
    """Kill the CLI (SIGKILL) after its first chunk file, then run the same command again."""
    spec = small_spec(replicates=30, grid={"n_per_arm": [30]}, analyses=CHEAP)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.to_json())
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "footdrop_outcomes.cli", "study", "run", str(spec_file), "--out", str(out),
           "--workers", "1", "--threads", "--chunk-size", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list((out / "results").glob("*.parquet")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done_before = completed_replicates(out)
    assert 0 < len(done_before) < 30, "the run was not interrupted midway"
    assert all(f.name.endswith(".parquet") for f in (out / "results").iterdir() if not f.name.startswith("."))
    resumed = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr
    reference = run_study(spec, tmp_path / "reference", workers=1, processes=False, chunk_size=30, progress=False)
    pd.testing.assert_frame_equal(_science(load_results(out)), _science(reference.results))


def test_another_spec_in_the_same_folder_is_refused(cheap_spec, tmp_path):
    spec = cheap_spec
    run_study(spec, tmp_path / "s", workers=1, processes=False, chunk_size=2, progress=False, max_chunks=1)
    with pytest.raises(ConfigError, match="different study specification"):
        run_study(small_spec(seed=1), tmp_path / "s", workers=1, processes=False, progress=False)
    manifest = json.loads((tmp_path / "s" / "study.json").read_text())
    assert manifest["spec_sha256"] == spec.sha256()


@pytest.fixture
def flaky_analysis():
    @register_analysis("_flaky")
    def _flaky(data, *, alpha):  # fails on every other data set
        if int(data.frame["sessions_completed"].sum()) % 2:
            raise ConvergenceError("did not converge (test)")
        return {"estimate": 0.0, "se": 1.0, "lower": -1.96, "upper": 1.96, "p": 1.0}

    yield
    del _ANALYSES["_flaky"]


def test_failed_fits_are_recorded_not_dropped(flaky_analysis, tmp_path):
    spec = small_spec(replicates=10, grid={}, analyses=[{"label": "flaky", "method": "_flaky", "truth": 0.0}, CHEAP[0]])
    run = run_study(spec, tmp_path / "f", workers=1, processes=False, progress=False)
    flaky = run.results[run.results["analysis"] == "flaky"]
    assert len(flaky) == 10
    failed = flaky[flaky["status"] == "failed"]
    assert 0 < len(failed) < 10
    assert failed["error"].str.contains("ConvergenceError: did not converge").all()
    assert failed["estimate"].isna().all() and math.isnan(failed["p"].iloc[0])
    assert "failed fits" in repr(run)


def test_a_wrong_term_stops_the_study(tmp_path):
    spec = small_spec(replicates=2, grid={}, analyses=[{"label": "cox", "method": "cox",
                                                        "options": {"formula": "arm", "term": "treatment"}}])
    with pytest.raises(ConfigError, match="no term 'treatment'"):
        run_study(spec, tmp_path / "w", workers=1, processes=False, progress=False)


def test_stale_temporary_files_are_removed(cheap_spec, tmp_path):
    spec = cheap_spec
    (tmp_path / "t" / "results").mkdir(parents=True)
    stale = tmp_path / "t" / "results" / f".p0000_r0000000_0000003.parquet.{os.getpid()}.tmp"
    stale.write_bytes(b"partial")
    run_study(spec, tmp_path / "t", workers=1, processes=False, chunk_size=2, progress=False, max_chunks=1)
    assert not stale.exists()


def test_scheduler_argument_checked(spec, tmp_path):
    with pytest.raises(ConfigError, match="scheduler must be"):
        run_study(spec, tmp_path / "x", scheduler=3, progress=False)
    with pytest.raises(ConfigError, match="workers"):
        run_study(spec, tmp_path / "x", workers=0, progress=False)


def test_results_folder_layout(cheap_spec, tmp_path):
    spec = cheap_spec
    run_study(spec, tmp_path / "l", workers=1, processes=False, chunk_size=6, progress=False)
    names = sorted(p.name for p in Path(tmp_path / "l" / "results").iterdir())
    assert names == ["p0000_r0000000_0000005.parquet", "p0000_r0000006_0000011.parquet",
                     "p0001_r0000000_0000005.parquet", "p0001_r0000006_0000011.parquet"]


def test_existing_scheduler_address(cheap_spec, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        run = run_study(cheap_spec, tmp_path / "a", scheduler=cluster.scheduler_address, chunk_size=6, progress=False)
    assert run.info["complete"] and run.info["scheduler"] == cluster.scheduler_address
    assert len(run.results) == 2 * 12 * 3
