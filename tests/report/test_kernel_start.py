"""The report kernel started ahead of the notebook run (report._kernel, render._start_kernel).

A kernel started ahead runs the notebook as a kernel papermill starts would (same working folder,
environment, outputs), has the toolkit modules the notebook imports imported already, and is
stopped when the run ends, also when the run fails before it reaches the kernel; the analysis
worker launched with it gets its job later or exits.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from footdrop_outcomes.report import _kernel, prefetch, render
from footdrop_outcomes.report._errors import ReportParameterError


def _notebook(path: Path, *cells) -> Path:
    nb = new_notebook(cells=list(cells), metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return path


def _printed(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stdout"]


def test_notebook_modules_are_the_toolkit_imports_of_code_cells(tmp_path):
    nb = _notebook(tmp_path / "m.ipynb",
                   new_markdown_cell("import footdrop_outcomes.cohort  # markdown: not code"),
                   new_code_cell("import numpy as np\nfrom footdrop_outcomes.report import tables as t, figures\n"
                                 "import footdrop_outcomes.survival.cox"),
                   new_code_cell("this is not python"),
                   new_code_cell("def f():\n    from footdrop_outcomes.report.notebook import show_table\n"
                                 "from . import nothing\nfrom footdrop_outcomes.report import tables"))
    assert _kernel.notebook_modules(nb) == [
        "footdrop_outcomes.report.tables", "footdrop_outcomes.report.figures", "footdrop_outcomes.report",
        "footdrop_outcomes.survival.cox", "footdrop_outcomes.report.notebook.show_table", "footdrop_outcomes.report.notebook"]
    shipped = _kernel.notebook_modules(render.notebook_path("outcome_report"))
    assert {"footdrop_outcomes.report.notebook", "footdrop_outcomes.report.adherence_section",
            "footdrop_outcomes.report.trajectory_section", "footdrop_outcomes.report.tables"} <= set(shipped)
    assert _kernel.notebook_modules(tmp_path / "missing.ipynb") == []


def test_preload_skips_names_that_are_not_modules_and_modules_that_fail():
    import sys

    _kernel.preload(["footdrop_outcomes.report.notebook.show_table", "footdrop_outcomes.no_such_module",
                     "footdrop_outcomes.report.counts"])
    assert "footdrop_outcomes.report.counts" in sys.modules


def test_a_kernel_started_ahead_runs_the_notebook_as_papermills_own_does(tmp_path, monkeypatch, capfd):
    for var in render.THREAD_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FOOTDROP_THREADS", "1")
    folder = tmp_path / "nbs"
    folder.mkdir()
    nb = _notebook(folder / "k.ipynb",
                   new_code_cell("label = 'x'", metadata={"tags": ["parameters"]}),
                   new_code_cell("import os, sys\nos.write(2, b'kernel-fd-2-noise\\n')\n"
                                 "print('footdrop_outcomes.report.counts' in sys.modules, 'matplotlib.pyplot' in sys.modules)\n"
                                 "print(os.getcwd() == os.path.dirname(os.path.abspath('k.ipynb')), os.path.exists('k.ipynb'))\n"
                                 "print(os.environ.get('OPENBLAS_NUM_THREADS'), label)"),
                   new_code_cell("from footdrop_outcomes.report import counts\nprint(counts.get_threshold())\n"
                                 "import matplotlib.pyplot as plt\nprint(plt.get_backend())"))
    head = _kernel.start(nb)
    proc = head.km.provisioner.process
    try:
        render._execute(nb, tmp_path / "ahead.ipynb", {"label": "y"}, kernel_name=None, timeout=120, kernel=head)
    finally:
        head.close()
    assert proc.poll() is not None  # stopped
    assert head.closed and head.km.clients and not head.km.has_kernel
    head.close()  # twice is fine
    render._execute(nb, tmp_path / "own.ipynb", {"label": "y"}, kernel_name=None, timeout=120)
    ahead, own = ("".join(_printed(tmp_path / f)).splitlines() for f in ("ahead.ipynb", "own.ipynb"))
    assert ahead[0] == "True True" and own[0] == "False False"  # imported while the kernel started / not
    assert ahead[1:] == own[1:] == ["True True", "1 y", "10", "module://matplotlib_inline.backend_inline"]
    assert "kernel-fd-2-noise" not in capfd.readouterr().err


def test_a_failed_run_stops_the_kernel_and_worker_started_ahead(tmp_path, monkeypatch):
    monkeypatch.setenv(prefetch.SWITCH_VARIABLE, "1")
    head = render._start_kernel(render.notebook_path("outcome_report"), None)
    kernel_proc, worker = head.km.provisioner.process, head.worker
    assert worker is not None and head.prefetch_folder is not None and head.prefetch_folder.is_dir()
    env = json.loads(Path(head.km.connection_file).read_text())  # the kernel knows where to look
    assert env["key"]
    with pytest.raises(ReportParameterError):
        render.render_report("outcome_report", tmp_path / "r.pdf", cohort=tmp_path, parameters={"no_such_parameter": 1},
                             _kernel=head)
    assert head.closed and kernel_proc.poll() is not None
    assert worker.process.wait(timeout=30) is not None
    assert not head.prefetch_folder.exists()
    assert not (tmp_path / "r.pdf").exists()


def test_a_worker_launched_ahead_without_a_job_exits_without_a_result(tmp_path, monkeypatch):
    monkeypatch.setenv(prefetch.SWITCH_VARIABLE, "1")
    folder = prefetch.reserve()
    worker = prefetch.launch(render.kernel_environment(), folder)
    assert worker is not None and worker.folder == folder
    try:
        assert not worker.submit("adherence", cohort_path=str(tmp_path), causes=[], small_cell_threshold=10,
                                 internal_use=False, arguments={"threshold": 4, "alpha": 0.05})  # not a cohort: no job
        assert worker.process.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while not (folder / prefetch._FAILED).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (folder / prefetch._FAILED).exists() and not (folder / prefetch._RESULT).exists()
        monkeypatch.setenv(prefetch.FOLDER_VARIABLE, str(folder))
        assert prefetch.take("adherence", None, {}) == (False, None)  # the kernel does not wait
    finally:
        worker.close(keep_folder=True)
    assert folder.is_dir()
    worker.close()
    assert not folder.exists()
    monkeypatch.setenv(prefetch.SWITCH_VARIABLE, "0")
    assert prefetch.launch(dict(os.environ)) is None
