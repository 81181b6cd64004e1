"""Filesystem and signal safety of every output: import, simulate, report and study folders.

For symbolic links, read-only or missing parents, damaged input and SIGINT/SIGTERM at named
points of a run, the command line must end with a one-line error and the documented exit code
(README, "Command line"), leave the previous output as it was, and leave nothing behind: no
hidden staging folder or file, no parent folder created for a run that did not finish.

The signal tests run the real command line in a subprocess and use the test-only hook of
``footdrop_outcomes._files.pause_point``: ``FOOTDROP_TEST_PAUSE=STAGE=MARKER`` makes the process
create MARKER and wait at STAGE, so the signal arrives at a known point.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from footdrop_outcomes import load_cohort, simulate_cohort
from footdrop_outcomes.cli import EXIT_INVALID, EXIT_SIGINT, EXIT_SIGTERM, EXIT_UNREADABLE, app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples"
runner = CliRunner()


# -- helpers -------------------------------------------------------------------------------------

def _snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` (hidden ones too) with the SHA-256 of files and link targets."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "link->" + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def _hidden(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def _extract(tmp_path: Path) -> dict[str, Path]:
    dst = tmp_path / "extract"
    shutil.copytree(EXAMPLE / "site_extract", dst)
    shutil.copy(EXAMPLE / "mapping_example.toml", dst / "mapping.toml")
    return {"mapping": dst / "mapping.toml", "patients": dst / "patients.csv", "visits": dst / "visits.csv",
            "adherence": dst / "adherence.csv"}


def _import_args(ex: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["import", "--mapping", str(ex["mapping"]), "--patients", str(ex["patients"]), "--visits", str(ex["visits"]),
            "--adherence", str(ex["adherence"]), "--out", str(out), *extra]


def _one_line_error(result) -> str:
    text = result.output  # stdout and stderr, interleaved
    assert "Traceback" not in text and "Aborted" not in text, text
    errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, text
    return " ".join(text.split())


@contextlib.contextmanager
def _read_only(folder: Path):
    """Make ``folder`` unwritable, also for root (who ignores permission bits): chattr +i there."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)], check=False, capture_output=True).returncode:
            pytest.skip("running as root without a working 'chattr +i': cannot make a folder read-only here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)


# -- symbolic links ------------------------------------------------------------------------------

def test_simulate_refuses_an_out_that_is_a_link(tmp_path):
    real = tmp_path / "real"
    simulate_cohort(50, seed=1, progress=False).save(real)
    before = _snapshot(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(real)
    before = _snapshot(tmp_path)
    result = runner.invoke(app, ["simulate", "--n", "50", "--out", str(link), "--overwrite", "--no-progress"])
    assert result.exit_code == EXIT_UNREADABLE
    assert "symbolic link" in _one_line_error(result)
    assert _snapshot(tmp_path) == before


def test_a_broken_link_is_refused_and_left_alone(tmp_path):
    link = tmp_path / "gone"
    link.symlink_to(tmp_path / "nowhere")
    before = _snapshot(tmp_path)
    result = runner.invoke(app, ["simulate", "--n", "50", "--out", str(link), "--no-progress"])
    assert result.exit_code == EXIT_UNREADABLE and "symbolic link" in _one_line_error(result)
    ex = _extract(tmp_path / "x")
    before = _snapshot(tmp_path)
    result = runner.invoke(app, _import_args(ex, link))
    assert result.exit_code == EXIT_UNREADABLE and "symbolic link" in _one_line_error(result)
    assert _snapshot(tmp_path) == before and not (tmp_path / "nowhere").exists()


def test_import_refuses_a_link_to_a_cohort(tmp_path):
    ex = _extract(tmp_path)
    real = tmp_path / "real"
    simulate_cohort(50, seed=1, progress=False).save(real)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    before = _snapshot(tmp_path)
    result = runner.invoke(app, _import_args(ex, link, "--overwrite"))
    assert result.exit_code == EXIT_UNREADABLE and "symbolic link" in _one_line_error(result)
    assert _snapshot(tmp_path) == before


def test_report_refuses_a_linked_pdf_or_notebook(tmp_path):
    cohort = tmp_path / "c"
    simulate_cohort(50, seed=1, progress=False).save(cohort)
    (tmp_path / "elsewhere.pdf").write_bytes(b"not mine")
    for name in ("r.pdf", "r.ipynb"):
        for p in (tmp_path / "r.pdf", tmp_path / "r.ipynb"):
            p.unlink(missing_ok=True)
        (tmp_path / name).symlink_to(tmp_path / "elsewhere.pdf")
        before = _snapshot(tmp_path)
        result = runner.invoke(app, ["report", "--cohort", str(cohort), "--notebook", "cohort_overview",
                                     "--out", str(tmp_path / "r.pdf")])
        assert result.exit_code == EXIT_UNREADABLE and "symbolic link" in _one_line_error(result)
        assert _snapshot(tmp_path) == before


def test_study_refuses_a_linked_folder(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    from footdrop_outcomes.errors import FootdropError
    from footdrop_outcomes.studies.runner import _prepare_folder

    before = _snapshot(tmp_path)
    with pytest.raises(FootdropError, match="symbolic link"):
        _prepare_folder(None, tmp_path / "link")  # type: ignore[arg-type]  # refused before the spec is looked at
    assert _snapshot(tmp_path) == before


# -- missing and read-only parents -----------------------------------------------------------------

def test_refused_import_under_a_missing_parent_creates_no_folder(tmp_path):
    ex = _extract(tmp_path)
    ex["patients"].write_text(ex["patients"].read_text().replace("Clinic D", "jo@example.org", 1))
    result = runner.invoke(app, _import_args(ex, tmp_path / "a" / "b" / "cohort"))
    assert result.exit_code == EXIT_INVALID and "REFUSED" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extract"]


def test_missing_parents_are_created_for_a_good_run(tmp_path):
    result = runner.invoke(app, ["simulate", "--n", "50", "--out", str(tmp_path / "a" / "b" / "c"), "--no-progress"])
    assert result.exit_code == 0 and load_cohort(tmp_path / "a" / "b" / "c").n_patients == 50
    assert _hidden(tmp_path) == []


def test_read_only_parent(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "keep.txt").write_text("x")
    before = _snapshot(tmp_path)
    with _read_only(ro):
        for out in (ro / "cohort", ro / "missing" / "cohort"):
            result = runner.invoke(app, ["simulate", "--n", "50", "--out", str(out), "--no-progress"])
            assert result.exit_code == EXIT_UNREADABLE
            message = _one_line_error(result)
            assert str(ro) in message and ("cannot write" in message or "cannot create" in message), message
        ex = _extract(tmp_path / "x")
        result = runner.invoke(app, _import_args(ex, ro / "cohort"))
        assert result.exit_code == EXIT_UNREADABLE and "cannot write" in _one_line_error(result)
        result = runner.invoke(app, ["data-dictionary", "--out", str(ro / "dd.md")])
        assert result.exit_code == EXIT_UNREADABLE and "cannot write" in _one_line_error(result)
    shutil.rmtree(tmp_path / "x")
    assert _snapshot(tmp_path) == before


def test_out_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("x")
    result = runner.invoke(app, ["simulate", "--n", "50", "--out", str(tmp_path / "f" / "c"), "--no-progress"])
    assert result.exit_code == EXIT_UNREADABLE
    _one_line_error(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


# -- damaged input -------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["patients", "visits"])
def test_truncated_gz_is_unreadable_input(tmp_path, which):
    ex = _extract(tmp_path)
    data = gzip.compress(ex[which].read_bytes() * 3)
    gz = ex[which].with_suffix(".csv.gz")
    gz.write_bytes(data[: len(data) // 2])
    ex[which] = gz
    result = runner.invoke(app, _import_args(ex, tmp_path / "a" / "cohort"))
    assert result.exit_code == EXIT_UNREADABLE
    message = _one_line_error(result)
    assert gz.name in message and "truncated or damaged" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extract"]


def test_truncated_gz_in_validate(small_cohort, tmp_path):
    paths = {}
    for name, df in small_cohort.tables().items():
        paths[name] = tmp_path / f"{name}.csv.gz"
        df.to_csv(paths[name], index=False)
    data = paths["visits"].read_bytes()
    paths["visits"].write_bytes(data[: len(data) // 2])
    result = runner.invoke(app, ["validate", "--patients", str(paths["patients"]), "--visits", str(paths["visits"]),
                                 "--adherence", str(paths["adherence"])])
    assert result.exit_code == EXIT_UNREADABLE
    assert "visits.csv.gz" in _one_line_error(result)


# -- signals ---------------------------------------------------------------------------------------

def _run_until(args: list[str], stage: str, tmp_path: Path, sig: int, *, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the CLI, wait until it pauses at ``stage``, send ``sig``, return the finished process."""
    marker = tmp_path / f"paused-{stage}"
    env = {**os.environ, "FOOTDROP_TEST_PAUSE": f"{stage}={marker}", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "footdrop_outcomes.cli", *args], env=env, cwd=cwd or ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"never paused at {stage}: rc={proc.returncode}\n{out}\n{err}")
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    marker.unlink()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _assert_interrupted(res: subprocess.CompletedProcess, sig: int) -> None:
    name = signal.Signals(sig).name
    assert res.returncode == (EXIT_SIGTERM if sig == signal.SIGTERM else EXIT_SIGINT), (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "Aborted" not in res.stderr + res.stdout, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted by " + name), res.stderr


@pytest.mark.parametrize(("stage", "sig"), [("staging", signal.SIGTERM), ("before-move", signal.SIGINT)])
def test_simulate_interrupted_keeps_the_previous_cohort(tmp_path, stage, sig):
    work = tmp_path / "work"
    work.mkdir()
    out = work / "cohort"
    simulate_cohort(50, seed=1, progress=False).save(out)
    before = _snapshot(work)
    res = _run_until(["simulate", "--n", "60", "--seed", "2", "--out", str(out), "--overwrite", "--no-progress", "--csv"],
                     stage, tmp_path, sig)
    _assert_interrupted(res, sig)
    assert _snapshot(work) == before


@pytest.mark.parametrize("sig", [signal.SIGTERM])
def test_simulate_interrupted_between_the_renames_leaves_a_whole_cohort(tmp_path, sig):
    """Signals are held back during the swap: the target is the old or the complete new cohort, never missing."""
    work = tmp_path / "work"
    work.mkdir()
    out = work / "cohort"
    simulate_cohort(50, seed=1, progress=False).save(out)
    res = _run_until(["simulate", "--n", "60", "--seed", "2", "--out", str(out), "--overwrite", "--no-progress"],
                     "move-between-renames", tmp_path, sig)
    _assert_interrupted(res, sig)
    assert load_cohort(out).metadata["seed"] in (1, 2)
    assert sorted(p.name for p in work.iterdir()) == ["cohort"]


@pytest.mark.parametrize(("stage", "sig"), [("before-move", signal.SIGINT)])
def test_import_interrupted_keeps_the_previous_cohort(tmp_path, stage, sig):
    ex = _extract(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    simulate_cohort(50, seed=1, progress=False).save(work / "cohort")  # the previous output (any cohort)
    before = _snapshot(work)
    res = _run_until(_import_args(ex, work / "cohort", "--overwrite"), stage, tmp_path, sig)
    _assert_interrupted(res, sig)
    assert _snapshot(work) == before


def test_import_interrupted_under_a_missing_parent_leaves_no_folder(tmp_path):
    ex = _extract(tmp_path)
    res = _run_until(_import_args(ex, tmp_path / "new" / "deeper" / "cohort"), "import-visits", tmp_path, signal.SIGTERM)
    _assert_interrupted(res, signal.SIGTERM)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extract"]


_NOTEBOOK = """{
 "cells": [
  {"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# Tiny report"]},
  {"cell_type": "code", "execution_count": null, "id": "b", "metadata": {"tags": ["parameters"]}, "outputs": [],
   "source": ["cohort_path = ''"]},
  {"cell_type": "code", "execution_count": null, "id": "c", "metadata": {}, "outputs": [], "source": ["x = 1"]}
 ],
 "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
 "nbformat": 4, "nbformat_minor": 5
}"""


@pytest.mark.parametrize(("stage", "sig"), [("report-executed", signal.SIGTERM)])
def test_report_interrupted_keeps_the_previous_pdf_and_notebook(tmp_path, stage, sig):
    nb = tmp_path / "tiny.ipynb"
    nb.write_text(_NOTEBOOK)
    cohort = tmp_path / "cohort"
    simulate_cohort(50, seed=1, progress=False).save(cohort)
    work = tmp_path / "reports"
    work.mkdir()
    (work / "r.pdf").write_bytes(b"previous pdf")
    (work / "r.ipynb").write_text("previous notebook")
    before = _snapshot(work)
    res = _run_until(["report", "--notebook", str(nb), "--cohort", str(cohort), "--out", str(work / "r.pdf")], stage, tmp_path, sig)
    _assert_interrupted(res, sig)
    assert _snapshot(work) == before


def test_report_interrupted_under_a_missing_parent_leaves_no_folder(tmp_path):
    nb = tmp_path / "tiny.ipynb"
    nb.write_text(_NOTEBOOK)
    cohort = tmp_path / "cohort"
    simulate_cohort(50, seed=1, progress=False).save(cohort)
    before = sorted(p.name for p in tmp_path.iterdir())
    res = _run_until(["report", "--notebook", str(nb), "--cohort", str(cohort), "--out", str(tmp_path / "new" / "r.pdf")],
                     "report-typeset", tmp_path, signal.SIGINT)
    _assert_interrupted(res, signal.SIGINT)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_report_interrupted_while_a_cell_runs(tmp_path):
    """SIGTERM while the kernel executes a cell: one line, exit 143, no temporary files, previous outputs kept."""
    import json

    marker = tmp_path / "cell-started"
    nb = json.loads(_NOTEBOOK)
    nb["cells"][2]["source"] = [f"import pathlib, time\npathlib.Path({str(marker)!r}).write_text('x')\ntime.sleep(60)"]
    (tmp_path / "slow.ipynb").write_text(json.dumps(nb))
    cohort = tmp_path / "cohort"
    simulate_cohort(50, seed=1, progress=False).save(cohort)
    work = tmp_path / "reports"
    work.mkdir()
    (work / "r.pdf").write_bytes(b"previous pdf")
    before = _snapshot(work)
    proc = subprocess.Popen([sys.executable, "-m", "footdrop_outcomes.cli", "report", "--notebook", str(tmp_path / "slow.ipynb"),
                             "--cohort", str(cohort), "--out", str(work / "r.pdf")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    _assert_interrupted(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), signal.SIGTERM)
    assert _snapshot(work) == before
