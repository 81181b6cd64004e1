"""The adherence section computed by a worker process beside the kernel (report.prefetch).

The worker's result is used only when it was computed from the same inputs, and then it is the
same result the kernel would have computed; anything else (other arguments, another cohort, a
failed or killed worker) leaves the kernel to compute it. The end-to-end check (the same PDF
with and without the worker) is in test_report_with_and_without_the_worker_is_the_same_pdf.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.report import prefetch, render

ARGS = {"threshold": 4, "alpha": 0.05, "propensity_formula": "C(cause) + C(severity) + age + diabetes"}

# Run in a child process standing in for the kernel (the kernel's environment plus what the worker
# shares with it): take the worker's result, compute the same analysis here, compare what the
# report shows from each, and check that unpickled formula terms hash as fresh ones do.
KERNEL = r"""
import json, sys
from footdrop_outcomes.report import adherence_section as ads, notebook as nbh, prefetch

args = json.loads(sys.argv[2])
nbh.setup(10)
cohort = nbh.load_report_cohort(sys.argv[1], [])
found, got = prefetch.take("adherence", cohort, args)
mine = ads._analyse_adherence(cohort, **args)

def shown(aa):
    out = {}
    for name in ("adherence_table", "trend_table", "discontinuation_table", "comparison_table", "itt_table",
                 "recovery_effect_table"):
        try:
            out[name] = getattr(ads, name)(aa).frame.to_csv()
        except Exception as e:  # a section the cohort cannot support: the same failure both ways
            out[name] = type(e).__name__
    for name in ("methods_text", "effect_text"):
        out[name] = str(getattr(ads, name)(aa))
    out["key_findings"] = [str(x) for x in ads.key_findings(aa)]
    out["limitations"] = [str(x) for x in ads.limitations(aa)]
    out["failed"] = aa.failed
    out["cox"] = aa.discontinuation.cox.summary.to_csv() if aa.discontinuation is not None else None
    return out

hashes = None
if found and got.discontinuation is not None:
    from formulaic.parser.types import Term
    terms = list(got.discontinuation.cox.design.spec.formula.rhs) if hasattr(got.discontinuation.cox.design.spec.formula, "rhs") \
        else list(got.discontinuation.cox.design.spec.formula)
    hashes = all(hash(t) == hash(Term(factors=t.factors)) for t in terms)
print(json.dumps({"found": found, "same": shown(got) == shown(mine) if found else None, "hashes": hashes}))
"""


@pytest.fixture(autouse=True)
def _worker_on(monkeypatch):
    """Workers start whatever the machine's load (the default starts them only when a core is free)."""
    monkeypatch.setenv(prefetch.SWITCH_VARIABLE, "1")


@pytest.fixture(scope="module")
def saved_cohort(tmp_path_factory) -> Path:
    return simulate_cohort(400, 11, progress=False, version=2).save(tmp_path_factory.mktemp("prefetch") / "cohort")


def _start(cohort: Path, arguments=ARGS, path: str | None = None):
    w = prefetch.start("adherence", cohort_path=str(path or cohort), causes=[], small_cell_threshold=10, internal_use=False,
                       arguments=arguments, env=render.kernel_environment())
    assert w is not None
    return w


def _kernel(cohort: Path, worker, arguments=ARGS) -> dict:
    env = {**render.kernel_environment(), **worker.kernel_env, prefetch.FOLDER_VARIABLE: str(worker.folder)}
    done = subprocess.run([sys.executable, "-c", KERNEL, str(cohort), json.dumps(arguments)], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_kernel_takes_the_workers_result_and_it_is_the_same(saved_cohort):
    worker = _start(saved_cohort)
    try:
        got = _kernel(saved_cohort, worker)
    finally:
        worker.close()
    assert got["found"] is True
    assert got["same"] is True  # every table, sentence and fit summary the report shows
    assert got["hashes"] is True  # formula terms unpickled in the kernel hash as the kernel's own (shared hash seed)
    assert not worker.folder.exists()


CHECKS = r"""
import json, sys
from footdrop_outcomes.report import notebook as nbh, prefetch

args = json.loads(sys.argv[2])
out = []
nbh.setup(10)
cohort = nbh.load_report_cohort(sys.argv[1], [])
out.append(prefetch.take("adherence", cohort, {**args, "alpha": 0.1})[0])
out.append(prefetch.take("adherence", cohort, {**args, "threshold": 3})[0])
changed = nbh.load_report_cohort(sys.argv[1], [])
changed.patients.loc[changed.patients.index[0], "age"] += 1  # one value of one patient
out.append(prefetch.take("adherence", changed, args)[0])
nbh.setup(11)  # another release policy
out.append(prefetch.take("adherence", cohort, args)[0])
nbh.setup(10)
out.append(prefetch.take("adherence", cohort, args)[0])  # the control: the same inputs
print(json.dumps(out))
"""


def test_other_arguments_or_another_cohort_are_computed_in_the_kernel(saved_cohort):
    """Run in a fresh child process standing in for the kernel, as in a report: the key covers
    interpreter-wide state (e.g. pandas options), which other tests in this process may have changed."""
    worker = _start(saved_cohort)
    try:
        env = {**render.kernel_environment(), **worker.kernel_env, prefetch.FOLDER_VARIABLE: str(worker.folder)}
        done = subprocess.run([sys.executable, "-c", CHECKS, str(saved_cohort), json.dumps(ARGS)], env=env,
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        other_alpha, other_threshold, other_cohort, other_policy, same = json.loads(done.stdout.strip().splitlines()[-1])
        assert not (other_alpha or other_threshold or other_cohort or other_policy)
        assert same  # the control: the same inputs are taken
    finally:
        worker.close()


def test_a_failed_or_killed_worker_is_not_waited_for(saved_cohort, tmp_path, monkeypatch):
    from footdrop_outcomes.report import notebook as nbh

    nbh.setup(10)
    cohort = nbh.load_report_cohort(str(saved_cohort), [])
    broken = tmp_path / "broken"  # a patients table and nothing else: the worker's load fails
    broken.mkdir()
    (broken / "patients.parquet").write_bytes((saved_cohort / "patients.parquet").read_bytes())
    failing = _start(saved_cohort, path=str(broken))
    killed = _start(saved_cohort)
    try:
        killed.process.kill()
        for worker in (failing, killed):
            monkeypatch.setenv(prefetch.FOLDER_VARIABLE, str(worker.folder))
            t0 = time.perf_counter()
            assert prefetch.take("adherence", cohort, ARGS) == (False, None)
            assert time.perf_counter() - t0 < 60
        assert failing.process.wait(timeout=60) == 1
    finally:
        failing.close()
        killed.close()


def test_no_worker_when_turned_off_or_not_a_saved_cohort(saved_cohort, tmp_path, monkeypatch):
    monkeypatch.setenv(prefetch.SWITCH_VARIABLE, "0")
    assert prefetch.start("adherence", cohort_path=str(saved_cohort), causes=[], small_cell_threshold=10, internal_use=False,
                          arguments=ARGS, env=dict(os.environ)) is None
    monkeypatch.setenv(prefetch.SWITCH_VARIABLE, "auto")
    monkeypatch.setattr(os, "getloadavg", lambda: (float(os.cpu_count() or 1), 0.0, 0.0))  # every core busy
    assert prefetch._enabled() is False
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert prefetch._enabled() is ((os.cpu_count() or 1) > 1)
    monkeypatch.setenv(prefetch.SWITCH_VARIABLE, "1")
    assert prefetch.start("adherence", cohort_path=str(tmp_path), causes=[], small_cell_threshold=10, internal_use=False,
                          arguments=ARGS, env=dict(os.environ)) is None
    monkeypatch.delenv(prefetch.FOLDER_VARIABLE, raising=False)
    assert prefetch.take("adherence", None, ARGS) == (False, None)  # no worker in this run: nothing to wait for


def test_report_with_and_without_the_worker_is_the_same_pdf(report_dir, cohort_dir, monkeypatch):
    used: list[bool] = []
    close = prefetch.Prefetch.close

    def spy(self):
        used.append((self.folder / prefetch._RESULT).exists())
        close(self)

    monkeypatch.setattr(prefetch.Prefetch, "close", spy)
    pdfs = {}
    for setting in ("1", "0"):
        monkeypatch.setenv(prefetch.SWITCH_VARIABLE, setting)
        pdfs[setting] = render.render_report("outcome_report", report_dir / f"worker-{setting}" / "outcome_report.pdf",
                                             cohort=cohort_dir, parameters={"title": "Test outcome report"}).pdf.read_bytes()
    assert used == [True]  # the worker ran and left its result in the first run only
    assert pdfs["1"] == pdfs["0"]
