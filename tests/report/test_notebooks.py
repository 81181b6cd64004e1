"""Every shipped notebook runs on a small cohort, and its PDF says what the library computes."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from pypdf import PdfReader

from footdrop_outcomes import load_cohort
from footdrop_outcomes.release import ReleasePolicy, release_cohort
from footdrop_outcomes.report import SCHEMAS
from footdrop_outcomes.report import adherence_section as ads
from footdrop_outcomes.report import trajectory_section as ts
from footdrop_outcomes.report.adherence_section import analyse_adherence
from footdrop_outcomes.report.analysis import CAUSE_SHORT, analyse_recovery
from footdrop_outcomes.report.narrative import key_findings
from footdrop_outcomes.report.parameters import COHORT_REPORTS
from footdrop_outcomes.report.render import NOTEBOOK_DIR
from footdrop_outcomes.report.tables import curve_table, hazard_ratio_table, table_one
from footdrop_outcomes.report.trajectory_section import analyse_trajectories

pytestmark = pytest.mark.xdist_group("report-session")  # share the rendered reports with the tests that read them (pytest -n)

CODE_MARKERS = ("import ", "nbh.", "analyse_recovery(", "show_table(", "cohort_path =", "def ", "Traceback", "papermill")


def _norm(s: str) -> str:
    return " ".join(str(s).split())


#: Notebooks that report on a cohort (the calibration report simulates its own: tests/report/test_calibration_report.py)
COHORT_NOTEBOOKS = sorted(COHORT_REPORTS)


@pytest.mark.parametrize("name", COHORT_NOTEBOOKS)
def test_notebook_runs_and_pdf_is_clean(rendered, name, pdf_text, text_outside_page, boxes_off_page):
    res = rendered(name)
    assert res.pdf.is_file() and res.notebook.is_file()
    assert res.notebook.parent == res.pdf.parent and res.notebook.stem == res.pdf.stem
    nb = nbformat.read(res.notebook, as_version=4)
    streams = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream" and o.name == "stderr"]
    assert streams == [], f"stderr in {name}: {[s.text[:200] for s in streams]}"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    text = pdf_text(res.pdf)
    for marker in CODE_MARKERS:
        assert marker not in text, f"code leaked into the {name} PDF: {marker!r}"
    assert "remove_cell" not in text and "This cell is removed" not in text
    assert text_outside_page(res.pdf) == []
    assert boxes_off_page(res.notebook) == []
    reader = PdfReader(res.pdf)
    n = len(reader.pages)
    assert f"Page 1 of {n}" in text and f"Page {n} of {n}" in text
    assert reader.metadata.title == f"Test {name.replace('_', ' ')}"
    assert "Contents" in text and "Parameters" in text and "Data SHA-256" in text
    for page in reader.pages:
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        assert sorted((round(w), round(h))) == [595, 842]  # A4 (portrait or landscape)


def test_outcome_report_sections_and_numbers(rendered, cohort_dir, pdf_text):
    res = rendered("outcome_report")
    text = pdf_text(res.pdf)
    for section in ("Summary", "Cohort", "Time to recovery", "Recovery curves by cause", "Recovery curves by severity",
                    "Models", "Strength and gait trajectories", "Adherence and interventions", "Methods", "Limitations",
                    "Table 1. Patients by cause of foot drop", "Stopping home exercise", "Adherence and recovery",
                    "Table 10. Trajectory models: fixed effects", "Table 16. Adherence and recovery, model by model",
                    "Weekly adherence over time", "Ankle-foot orthosis: intention to treat and per protocol"):
        assert section in text, section
    assert "Not yet available" not in text
    reader = PdfReader(res.pdf)
    outline = [o.title for o in reader.outline if not isinstance(o, list)]
    assert {"Summary", "Cohort", "Models", "Methods", "Limitations"} <= set(outline)

    # the same numbers as the library gives on the same cohort and parameters
    cohort = release_cohort(load_cohort(cohort_dir), ReleasePolicy(p_threshold := res.parameters["small_cell_threshold"])).cohort
    assert p_threshold == 10
    p = res.parameters
    rec = analyse_recovery(cohort, threshold=p["threshold"], landmarks=p["landmarks"], alpha=p["alpha"],
                           cox_formula=p["cox_formula"], cluster=p["cluster"], distribution=p["distribution"])
    for sentence in key_findings(rec):
        assert _norm(sentence) in text, sentence
    medians = curve_table(rec.results["turnbull_cause"]).frame
    for _, row in medians.iterrows():
        assert _norm(row["Median weeks, all patients (95% CI)"]) in text, row.to_dict()
    hr = hazard_ratio_table(rec.cox, rec.model_frame).frame
    for value in hr.iloc[:, 1]:
        assert value in text
    t1 = table_one(cohort).frame
    assert t1.loc["Patients", "All"] in text
    assert t1.loc["Recovered (MRC >= 4) at a visit, n (%)", "All"] in text
    assert rec.cox.info["formula"] in text
    assert f"global chi-square {rec.cox.ph_test['chisq'].iloc[-1]:.1f}" in text

    # trajectories: the same fits, MCID and variance components as the library gives
    traj = analyse_trajectories(cohort, alpha=p["alpha"], mcid=p["mcid"], mcid_cause=p["mcid_cause"], mcid_severity=p["mcid_severity"])
    assert _norm(ts.mcid_text(traj)) in text
    for col in ts.variance_table(traj).frame.columns[1:]:
        for value in ts.variance_table(traj).frame[col]:
            assert _norm(value) in text, value
    gait = traj.fits["gait_speed"].summary.set_index("term")
    assert f"{gait.loc['lw', 'estimate']:.3f} ({gait.loc['lw', 'lower']:.3f} to {gait.loc['lw', 'upper']:.3f})" in text
    assert traj.fits["gait_speed"].info["converged"] and traj.fits["mrc"].info["converged"]
    assert "The fit converged" in text and "no variance component at its boundary" in text

    # adherence: the same comparison and adherence-effect estimates (incl. the visit-interval cure model)
    adh = analyse_adherence(cohort, threshold=p["threshold"], alpha=p["alpha"])
    assert adh.failed == {}
    for value in ads.recovery_effect_table(adh).frame.iloc[:, 2]:
        assert value in text, value
    for value in ads.comparison_table(adh).frame.iloc[:, 1]:
        assert value in text, value
    assert any(m.startswith("Cure model on visit intervals") for m in ads.recovery_effect_table(adh).frame["Model"])
    assert adh.trend is not None and adh.itt is not None
    for value in [*ads.trend_table(adh).frame.iloc[:, 1], *ads.itt_table(adh).frame.iloc[:, 1]]:
        assert value in text, value
    for sentence in ads.key_findings(adh):
        assert _norm(sentence) in text, sentence


def test_export_is_reproducible(rendered, report_dir):
    """Typesetting the executed notebook again gives the same bytes (fixed metadata, stable ids)."""
    from footdrop_outcomes.report import export_pdf

    res = rendered("cohort_overview")
    again = export_pdf(res.notebook, report_dir / "again.pdf")
    assert again.read_bytes() == res.pdf.read_bytes()


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_notebooks_are_stored_clean_and_match_their_schema(name):
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), "store notebooks without outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    ns: dict[str, object] = {}
    exec(tagged[0].source, ns)  # noqa: S102 - our own parameters cell: literals only
    declared = {p.name: p.default for p in SCHEMAS[name]}
    assert {k: v for k, v in ns.items() if not k.startswith("__")} == declared
    assert nb.metadata.kernelspec.name == "python3"


def test_cause_labels_cover_vocabulary():
    from footdrop_outcomes.cohort.vocabulary import CAUSES

    assert set(CAUSE_SHORT) == set(CAUSES)


def test_shipped_notebooks_are_package_data():
    """demo/report work from a wheel: the notebooks are package data (a link to notebooks/ here)."""
    from importlib.resources import files

    root = Path(__file__).resolve().parents[2]
    shipped = files("footdrop_outcomes.report") / "notebooks"
    assert sorted(p.name for p in shipped.iterdir() if p.name.endswith(".ipynb")) == sorted(f"{n}.ipynb" for n in SCHEMAS)
    for name in SCHEMAS:
        assert (shipped / f"{name}.ipynb").read_bytes() == (root / "notebooks" / f"{name}.ipynb").read_bytes()
    pyproject = (root / "pyproject.toml").read_text()
    assert '"report/notebooks/*.ipynb"' in pyproject
