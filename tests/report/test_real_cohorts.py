"""The report survives real cohorts and never says something false.

A representative part of the matrix in ``matrix_cohorts.py`` (the whole matrix, every notebook
on every cohort, is ``benchmarks/report_matrix.py``): the README's worked example through every
shipped notebook, and the outcome report on one cause alone, one severity alone, 30 patients,
and a cohort where one cause all recover and one never. Every run must write a PDF whose pages
carry no raw exception text, and every model that could not be fitted must say why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from footdrop_outcomes.cohort.vocabulary import CAUSES
from footdrop_outcomes.report import render_report
from footdrop_outcomes.report.analysis import CAUSE_SHORT
from footdrop_outcomes.report.parameters import COHORT_REPORTS

from .matrix_cohorts import (
    all_and_none,
    cause_alone,
    page_problems,
    pdf_text,
    severity_alone,
    small,
    worked_example,
)

# the rendered reports are shared by the module's tests: one xdist worker runs them all (pytest -n)
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.xdist_group("real-cohorts")]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("matrix")


_TEXTS: dict[tuple[str, str], str] = {}


def _render(root: Path, build, notebook: str) -> str:
    """The PDF text of ``notebook`` on ``build``'s cohort, rendered once per module (renders are the slow part)."""
    key = (build.__name__, notebook)
    if key not in _TEXTS:
        _TEXTS[key] = _render_now(root, build, notebook)
    return _TEXTS[key]


def _render_now(root: Path, build, notebook: str) -> str:
    cohort, params = build(root)
    out = root / f"{notebook}-{build.__name__}.pdf"
    res = render_report(notebook, out, cohort=cohort, parameters={**params, "title": f"Matrix {build.__name__}"})
    assert Path(res.pdf).is_file()
    return pdf_text(Path(res.pdf))


@pytest.mark.parametrize("notebook", sorted(COHORT_REPORTS))
def test_worked_example_gives_every_report(root, notebook):
    text = _render(root, worked_example, notebook)
    assert page_problems(text) == []
    if notebook in ("outcome_report", "time_to_recovery"):
        # 33 of 35 peroneal patients recover: the cure model is not identifiable, and the report says so in words
        assert "Mixture cure model (cause + severity) could not be fitted: the data cannot pin the model down" in " ".join(text.split())
    if notebook != "trajectories":
        assert "De-identified cohort imported" in " ".join(text.split())
        assert "Synthetic" not in text


@pytest.mark.parametrize("build", [cause_alone("stroke"), cause_alone("post_surgical_hip_knee"), severity_alone("severe"), small(30), all_and_none],
                         ids=lambda b: b.__name__)
def test_outcome_report_on_lopsided_cohorts(root, build):
    text = _render(root, build, "outcome_report")
    assert page_problems(text) == []
    if build.__name__ == "n30":  # every cause has 10 or fewer patients: the PDF says nothing can be released
        assert "No result of this cohort can be released" in text
        assert "Table" not in text
    else:
        assert "Table 1. Patients by cause" in text


def test_text_is_true_for_the_subset_analysed(root):
    """With ``-p causes stroke`` no other cause is named anywhere (reference levels, ranges,
    windows, exclusions), and no sentence ranges over a single group."""
    text = " ".join(_render(root, cause_alone("stroke"), "outcome_report").split())
    others = [CAUSE_SHORT[c] for c in CAUSES if c != "stroke"]
    named = [label for label in others if label in text]
    assert named == [], f"causes not analysed are named on the pages: {named}"
    assert "Stroke" in text
    assert "restricted to Stroke" in text


def test_a_threshold_the_data_reject_is_refused_before_anything_runs(root):
    """``-p threshold 3`` on the worked example (a patient is at MRC 3 on day 0): a clear parameter
    error naming the parameter, with no count or value of the data, and no files written."""
    from footdrop_outcomes.report import ReportParameterError

    cohort, _ = worked_example(root)
    out = root / "t3" / "x.pdf"
    with pytest.raises(ReportParameterError, match=r"threshold = 3 does not suit this cohort: some patients are already at MRC >= 3") as e:
        render_report("outcome_report", out, cohort=cohort, parameters={"threshold": 3})
    assert not any(ch.isdigit() for ch in str(e.value).replace("threshold = 3", "").replace("MRC >= 3", "").replace("day-0", ""))
    assert not out.parent.exists()


def test_a_notebook_without_kernel_metadata_runs_and_never_overwrites_itself(root, tmp_path):
    import json

    from footdrop_outcomes.report import ReportError
    from footdrop_outcomes.report.render import notebook_path

    nb = json.loads(notebook_path("cohort_overview").read_text())
    nb["metadata"].pop("kernelspec", None)
    src = tmp_path / "overview.ipynb"
    src.write_text(json.dumps(nb))
    cohort, _ = worked_example(root)
    with pytest.raises(ReportError, match="over the notebook being run"):
        render_report(src, tmp_path / "overview.pdf", cohort=cohort)
    assert json.loads(src.read_text()) == nb
    res = render_report(src, tmp_path / "out.pdf", cohort=cohort)
    assert page_problems(pdf_text(Path(res.pdf))) == []


@pytest.mark.parametrize("name, value", [("title", "Outcomes for Mrs Jones"), ("title", "Cohort of 15/03/2024"),
                                         ("title", "Patient NHS 943 476 5919"), ("title", "Ward report, jo.bloggs@nhs.net")])
def test_text_parameters_pass_the_privacy_guard(root, tmp_path, name, value):
    """A title or formula is printed on every page: it is guarded like a cohort value, and the
    message names the parameter, never the value."""
    from footdrop_outcomes.privacy import PrivacyError

    cohort, _ = worked_example(root)
    with pytest.raises(PrivacyError) as e:
        render_report("outcome_report", tmp_path / "x.pdf", cohort=cohort, parameters={name: value})
    assert f"report parameter '{name}'" in str(e.value)
    assert value not in str(e.value) and value.split()[-1] not in str(e.value)
    assert not (tmp_path / "x.pdf").exists()
