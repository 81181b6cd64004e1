"""The calibration report PDF (notebook -> PDF): sections, pass/fail and counts checked against the check table."""

from __future__ import annotations

import re

import numpy as np
import pytest
from pypdf import PdfReader

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.calibration import calibration_check
from footdrop_outcomes.errors import ConfigError
from footdrop_outcomes.report.calibration_section import calibration_report

pytestmark = pytest.mark.xdist_group("calibration_report")

_SOURCES = ("P6", "HUTIN")  # P6: a calibration and a validation target; HUTIN: on-off from the tables


@pytest.fixture(scope="module")
def check():
    cohorts = [simulate_cohort(1_500, seed=s, version=2) for s in (1, 2)]
    full = calibration_check(cohorts=cohorts)
    return full[full["source"].isin(_SOURCES)].reset_index(drop=True)


@pytest.fixture(scope="module")
def written(check, tmp_path_factory):
    out = tmp_path_factory.mktemp("cal") / "calibration.pdf"
    rep = calibration_report(out, n_patients=1_500, replicates=2, seed=1, check=check)
    pages = [p.extract_text() for p in PdfReader(out).pages]
    return rep, pages


def _first(pages, needle):
    return next(i for i, p in enumerate(pages) if needle in p)


def test_title_summary_set_tables_then_one_section_per_source(check, written):
    rep, pages = written
    assert "Simulator v2: calibration" in pages[0] and "Contents" in pages[1]
    summary, cal, val = _first(pages, "Table 1. Pass counts"), _first(pages, "Calibration set:"), _first(pages, "Validation set:")
    assert summary < cal < val
    starts = [_first(pages[val + 1:], f"Source {src}") for src in _SOURCES]
    assert len(set(starts)) == len(_SOURCES)  # each source on its own page
    for src in _SOURCES:
        assert sum(p.count(f"Source {src}\n") + p.count(f"Source {src} ") for p in pages[val + 1:]) >= 1
    assert rep.info["notebook"].endswith(".ipynb") and rep.path.is_file()
    import nbformat

    nb = nbformat.read(rep.info["notebook"], as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")]
    text = " ".join(pages)
    for marker in ("import ", "nbh.", "cal.", "Traceback", "This cell is removed"):
        assert marker not in text, marker


def test_pass_and_fail_follow_the_rule_recomputed_here(check, written):
    _, pages = written
    inside = (check["latent"] >= check["low"]) & (check["latent"] <= check["high"])  # the rule, independently
    for (_, r), ok in zip(check.iterrows(), inside):
        page = "".join(pages[_first(pages, "Validation set:") + 1:])
        assert re.search(rf"{r['id']}\s*{str(r['set']).upper()} target\s+\|\s+{'PASS' if ok else 'FAIL'}", page), r["id"]
        note = "reported and not tuned" in page
        if str(r["set"]) == "validation" and not ok:
            assert note
    for which in ("calibration", "validation"):
        sub = inside[(check["set"].astype(str) == which).to_numpy()]
        assert f"{which.capitalize()} set: {int(sub.sum())} of {sub.size} targets pass" in "".join(pages)
        assert f"{int(sub.sum())} / {sub.size}" in pages[_first(pages, "Table 1. Pass counts")]


def test_simulated_values_printed_match_the_replicates(check, written):
    _, pages = written
    r = check[check["id"] == "peroneal_dec_mrc5_final"].iloc[0]
    page = "".join(pages[_first(pages, "Validation set:") + 1:])
    assert f"simulated latent {r['latent']:.3f}" in page
    assert np.isfinite(r["latent_se"]) and f"MC SE {r['latent_se']:.4f}" in page


def test_report_refuses_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="replicates"):
        calibration_report(tmp_path / "a.pdf", n_patients=100, replicates=1)
    with pytest.raises(ConfigError, match="pdf"):
        calibration_report(tmp_path / "a.txt", n_patients=100, replicates=2)


def test_the_notebook_simulates_when_no_table_is_given(tmp_path):
    """The CLI route: the notebook runs calibration_check itself (tiny cohorts; only the plumbing is checked)."""
    from typer.testing import CliRunner

    from footdrop_outcomes.cli import app

    res = CliRunner().invoke(app, ["calibration-report", "--out", str(tmp_path / "c.pdf"), "--n", "1000", "--replicates", "2"])
    assert res.exit_code == 0, res.output
    assert "calibration:" in res.output and "validation:" in res.output and (tmp_path / "c.pdf").is_file()
