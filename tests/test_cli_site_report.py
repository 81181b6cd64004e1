"""``footdrop-outcomes report --notebook site_comparison``: the site-comparison report from the command line (issue 18)."""

from __future__ import annotations

from pypdf import PdfReader
from typer.testing import CliRunner

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cli import app
from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.cohort.simulate import SimulationConfig

runner = CliRunner()


def test_site_report_from_the_command_line(tmp_path) -> None:
    c = simulate_cohort(900, seed=12, config=SimulationConfig(n_sites=4, site_frailty_sd=0.3))
    p = c.patients.copy()
    p["site"] = p["site"].cat.add_categories(["S09"])
    p.loc[p.index[:5], "site"] = "S09"  # a site of 5 patients: left out of the report
    Cohort(p, c.visits, c.adherence, metadata=c.metadata, truth=c.truth).save(tmp_path / "cohort")
    out = tmp_path / "reports" / "sites.pdf"
    result = runner.invoke(app, ["report", "--cohort", str(tmp_path / "cohort"), "--notebook", "site_comparison",
                                 "-p", "n_draws", "300", "-p", "overdispersion", "multiplicative", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.with_suffix(".ipynb").is_file() and "wrote" in result.output
    text = " ".join(" ".join((pg.extract_text() or "").split()) for pg in PdfReader(str(out)).pages)
    assert "Foot drop: comparison of sites" in text and "Table 1. Patient characteristics by site" in text
    assert "S09" not in text and "S01" in text
    assert "widened by the square root of phi" in text  # the parameter reached the notebook


def test_site_report_parameters_are_listed_and_checked(tmp_path) -> None:
    listed = runner.invoke(app, ["report", "--notebook", "site_comparison", "--list-parameters"])
    assert listed.exit_code == 0
    flat = " ".join(listed.output.split())
    assert "overdispersion" in flat and "additive, multiplicative, none" in flat and "n_draws" in flat
    bad = runner.invoke(app, ["report", "--cohort", str(tmp_path), "--notebook", "site_comparison", "-p", "overdispersion", "additiv",
                              "--out", str(tmp_path / "r.pdf")])
    assert bad.exit_code == 2
    assert "did you mean 'additive'" in " ".join(bad.output.split())
    assert not (tmp_path / "r.pdf").exists()
