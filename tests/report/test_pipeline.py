"""Rendering pipeline: parameter schema, failing cells, exporter registration, typesetting details."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.report import (NotebookExecutionError, ReportError, ReportParameterError, render_report, schema_for,
                                      validate_parameters)
from footdrop_outcomes.report.exporter import EXPORTER_NAME, FootdropPDFExporter, add_table_of_contents, html_to_pdf, local_url_fetcher

pytestmark = pytest.mark.xdist_group("report-session")  # share the rendered reports with the tests that read them (pytest -n)


def _notebook(path: Path, *cells) -> Path:
    nb = new_notebook(cells=list(cells), metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return path


# -- parameters ------------------------------------------------------------------------------------

def test_defaults_and_text_conversion():
    p = validate_parameters("outcome_report", {"threshold": "5", "causes": "stroke,als", "landmarks": "6, 12", "alpha": "0.1"}, from_text=True)
    assert p["threshold"] == 5 and p["causes"] == ["stroke", "als"] and p["landmarks"] == [6.0, 12.0] and p["alpha"] == 0.1
    assert p["title"] == "Foot drop outcome report"  # defaults filled in
    assert validate_parameters("outcome_report", {"landmarks": "[6, 26]"}, from_text=True)["landmarks"] == [6.0, 26.0]
    assert validate_parameters("outcome_report", {"landmarks": (6, 26)})["landmarks"] == [6.0, 26.0]


@pytest.mark.parametrize(("values", "from_text", "message"), [
    ({"treshold": 5}, False, "unknown parameter 'treshold' for notebook outcome_report; did you mean 'threshold'?"),
    ({"colour": "red"}, False, "unknown parameter 'colour'"),
    ({"threshold": "5"}, False, "parameter 'threshold' must be an integer, got '5' (str)"),
    ({"threshold": True}, False, "must be an integer"),
    ({"threshold": 2.5}, False, "must be an integer"),
    ({"threshold": 9}, False, "out of range; allowed: int, between 1 and 5"),
    ({"threshold": "four"}, True, "parameter 'threshold' must be an integer, got 'four'"),
    ({"alpha": "nan"}, True, "must be a finite number"),
    ({"causes": ["stroek"]}, False, "'stroek' is not allowed; did you mean 'stroke'?"),
    ({"causes": "stroke"}, False, "must be a list"),
    ({"landmarks": "6,x"}, True, "must be a list of numbers"),
    ({"landmarks": "[6,"}, True, "is not a JSON list"),
    ({"distribution": "gamma"}, False, "Allowed: weibull, lognormal, loglogistic"),
    ({"title": 3}, False, "must be a string"),
    ({"small_cell_threshold": 0}, False, "'small_cell_threshold' = 0 is below the minimum of 5 for a report that can be released"),
    ({"small_cell_threshold": "1"}, True, "'small_cell_threshold' = 1 is below the minimum of 5"),
    ({"small_cell_threshold": 4}, False, "internal use only, from Python with internal_use=True"),
    ({"small_cell_threshold": "1", "internal_use": "true"}, True, "'internal_use' cannot be set from the command line"),
    ({"small_cell_threshold": 101}, False, "out of range; allowed: int, between 5 and 100"),
    ({"small_cell_threshold": "ten"}, True, "parameter 'small_cell_threshold' must be an integer"),
    ({"mcid_cause": "strok"}, False, "did you mean 'stroke'?"),
    ({"mcid_severity": "mid"}, False, "Allowed: mild, moderate, severe"),
])
def test_bad_parameters_are_refused(values, from_text, message):
    with pytest.raises(ReportParameterError) as e:
        validate_parameters("outcome_report", values, from_text=from_text)
    assert message in str(e.value)
    assert isinstance(e.value, ConfigError) and isinstance(e.value, FootdropError)


def test_schema_inferred_from_a_custom_notebook(tmp_path):
    nb = _notebook(tmp_path / "mine.ipynb", new_code_cell("n = 3\nname = 'x'\nxs = [1.0, 2.0]\nflag = False", metadata={"tags": ["parameters"]}))
    assert [(p.name, p.type) for p in schema_for(nb)] == [("n", "int"), ("name", "str"), ("xs", "list[float]"), ("flag", "bool")]
    assert validate_parameters(nb, {"flag": "yes", "n": "4"}, from_text=True) == {"n": 4, "name": "x", "xs": [1.0, 2.0], "flag": True}
    with pytest.raises(ReportParameterError, match="unknown parameter 'm'"):
        validate_parameters(nb, {"m": 1})
    two = _notebook(tmp_path / "two.ipynb", new_code_cell("a = 1", metadata={"tags": ["parameters"]}), new_code_cell("b = 1", metadata={"tags": ["parameters"]}))
    with pytest.raises(ReportParameterError, match="exactly one cell tagged 'parameters'"):
        schema_for(two)


def test_bad_parameter_is_refused_before_anything_runs(tmp_path, cohort_dir):
    out = tmp_path / "r.pdf"
    with pytest.raises(ReportParameterError):
        render_report("outcome_report", out, cohort=cohort_dir, parameters={"threshold": 0})
    assert list(tmp_path.iterdir()) == []


def test_missing_cohort_and_bad_out(tmp_path):
    with pytest.raises(ReportError, match="not a cohort directory"):
        render_report("cohort_overview", tmp_path / "r.pdf", cohort=tmp_path)
    with pytest.raises(ReportError, match="must name a .pdf file"):
        render_report("cohort_overview", tmp_path / "r.html", cohort=tmp_path)
    with pytest.raises(ReportError, match="unknown notebook 'nope'"):
        render_report("nope", tmp_path / "r.pdf")


# -- a failing cell --------------------------------------------------------------------------------

def test_failing_cell_names_the_cell_and_leaves_no_pdf(tmp_path):
    nb = _notebook(tmp_path / "broken.ipynb",
                   new_markdown_cell("# Broken"),
                   new_code_cell("divisor = 0", metadata={"tags": ["parameters"]}),
                   new_code_cell("x = 1"),
                   new_code_cell("ratio = 10 / divisor"))
    out = tmp_path / "out" / "broken.pdf"
    out.parent.mkdir()
    out.write_bytes(b"old report")  # a previous PDF is left as it was, never half-overwritten
    with pytest.raises(NotebookExecutionError) as e:
        render_report(nb, out, parameters={"divisor": 0})
    err = e.value
    assert err.ename == "ZeroDivisionError" and "division by zero" in err.evalue
    assert err.cell_index == 4  # markdown, parameters, injected parameters, x = 1, the failing cell
    assert "ratio = 10 / divisor" in str(err) and "ZeroDivisionError" in str(err) and "No PDF was written" in str(err)
    assert out.read_bytes() == b"old report"
    assert sorted(p.name for p in out.parent.iterdir()) == ["broken.ipynb", "broken.pdf"]  # executed notebook kept, no temp files


# -- the kernel and the demo -----------------------------------------------------------------------

def test_kernel_environment_sizes_the_thread_pools(monkeypatch):
    from footdrop_outcomes import set_threads
    from footdrop_outcomes.report.render import THREAD_VARIABLES, kernel_environment

    for var in (*THREAD_VARIABLES, "FOOTDROP_THREADS"):
        monkeypatch.delenv(var, raising=False)
    env = kernel_environment({"PATH": "/bin"})
    assert env["PATH"] == "/bin" and all(env[v] == "1" for v in THREAD_VARIABLES)  # the toolkit's default, one thread
    assert kernel_environment({"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"] == "3"  # a value the user set is kept
    monkeypatch.setenv("FOOTDROP_THREADS", "2")
    assert all(kernel_environment({})[v] == "2" for v in THREAD_VARIABLES)
    monkeypatch.setenv("FOOTDROP_THREADS", "all")  # no limit: the libraries' own defaults
    assert not set(THREAD_VARIABLES) & set(kernel_environment({}))
    set_threads(4)
    try:
        assert kernel_environment({})["OPENBLAS_NUM_THREADS"] == "4"
    finally:
        set_threads(None)


def test_report_kernel_gets_the_thread_setting_and_writes_nothing_to_stderr(tmp_path, monkeypatch, capfd):
    # jupyter_client starts kernels through _async_launch_kernel; an override of the old
    # _launch_kernel name alone was never called (the environment and the stderr redirect with it)
    from footdrop_outcomes.report.render import _execute

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FOOTDROP_THREADS", "1")
    nb = _notebook(tmp_path / "env.ipynb",
                   new_code_cell("label = 'x'", metadata={"tags": ["parameters"]}),
                   new_code_cell("import os\nos.write(2, b'kernel-fd-2-noise\\n')\n"
                                 "print(os.environ.get('OPENBLAS_NUM_THREADS'), os.environ.get('OMP_NUM_THREADS'))"))
    _execute(nb, tmp_path / "out.ipynb", {}, kernel_name=None, timeout=120)
    assert "kernel-fd-2-noise" not in capfd.readouterr().err  # the kernel process's own stderr goes nowhere
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in out.cells for o in c.get("outputs", []))
    assert printed.split() == ["1", "1"]


def test_demo_simulates_with_generator_v2(tmp_path, monkeypatch):
    import json

    from footdrop_outcomes.report import render

    seen = {}

    def fake_render(notebook, out, *, cohort, parameters, _kernel):  # the notebook run itself is tested elsewhere
        seen.update(notebook=notebook, cohort=Path(cohort), parameters=parameters, kernel=_kernel)
        return render.ReportResult(pdf=Path(out), notebook=Path(out).with_suffix(".ipynb"), parameters=dict(parameters),
                                   seconds={"execute": 0.0, "export": 0.0})

    monkeypatch.setattr(render, "render_report", fake_render)
    res = render.run_demo(tmp_path, n=120, seed=3)
    manifest = json.loads((tmp_path / "demo-cohort" / "manifest.json").read_text())
    assert render.DEMO_GENERATOR == 2 and str(manifest["generator"]["version"]).split(".")[0] == "2"
    assert seen["notebook"] == "outcome_report" and seen["cohort"] == (tmp_path / "demo-cohort").resolve()
    assert "120 patients" in seen["parameters"]["title"] and set(res.seconds) == {"simulate", "execute", "export"}
    # the report's kernel was started before the cohort was simulated, and is stopped even though no report ran
    assert seen["kernel"].closed and not seen["kernel"].km.has_kernel


# -- exporter --------------------------------------------------------------------------------------

def test_exporter_is_registered():
    from nbconvert.exporters import get_export_names, get_exporter

    assert EXPORTER_NAME in get_export_names()
    assert get_exporter(EXPORTER_NAME) is FootdropPDFExporter
    assert EXPORTER_NAME.replace("_", "").isalnum()


def test_jupyter_nbconvert_to_footdrop_pdf(tmp_path, pdf_text):
    """The command an analyst runs (and JupyterLab's menu) uses the entry point."""
    nb = _notebook(tmp_path / "plain.ipynb", new_markdown_cell("# Plain notebook\n\n## First\n\nSome text.\n\n## Second\n\nMore."),
                   new_code_cell("print('hello')", outputs=[nbformat.v4.new_output("stream", name="stdout", text="hello\n"),
                                                            nbformat.v4.new_output("stream", name="stderr", text="SECRET-STDERR\n")]))
    done = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", EXPORTER_NAME, str(nb)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pdf = tmp_path / "plain.pdf"
    text = pdf_text(pdf)
    assert "Plain notebook" in text and "hello" in text and "Contents" in text
    assert "print(" not in text and "SECRET-STDERR" not in text


def test_table_of_contents_and_remote_urls():
    html = ('<html><body><main><h1 id="T">Title</h1><nav class="fd-toc"></nav>'
            '<h2 id="A">Alpha<a class="anchor-link" href="#A">¶</a></h2><h3 id="B">Beta &amp; co</h3></main></body></html>')
    out = add_table_of_contents(html)
    assert '<li class="fd-toc-2"><a href="#A">Alpha</a></li>' in out and '<a href="#B">Beta &amp; co</a>' in out
    with pytest.raises(ReportError, match="refusing to fetch http://example.org/x.png"):
        local_url_fetcher("http://example.org/x.png")
    pdf = html_to_pdf('<html><body><p>offline</p><img src="https://example.org/tracker.png"></body></html>')
    assert pdf.startswith(b"%PDF")


def test_same_cohort_and_parameters_give_the_same_pdf(rendered, report_dir, cohort_dir):
    # the outcome report: every section, including the seeded MCID interval and the adherence fits
    first = rendered("outcome_report")
    again = render_report("outcome_report", report_dir / "again" / "outcome_report.pdf", cohort=cohort_dir,
                          parameters={"title": "Test outcome report"})
    assert again.pdf.read_bytes() == first.pdf.read_bytes()
