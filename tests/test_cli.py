"""The command line, as a newcomer uses it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from footdrop_outcomes import load_cohort
from footdrop_outcomes.cli import app

runner = CliRunner()


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("simulate", "validate", "data-dictionary"):
        assert cmd in result.output
    for cmd in ("simulate", "validate", "data-dictionary"):
        assert runner.invoke(app, [cmd, "--help"]).exit_code == 0
    assert runner.invoke(app, ["import", "--help"]).exit_code == 0


def test_simulate_then_validate(tmp_path):
    out = tmp_path / "cohort"
    result = runner.invoke(app, ["simulate", "--n", "150", "--seed", "4", "--out", str(out), "--no-progress", "--csv"])
    assert result.exit_code == 0, result.output
    assert "150 patients" in result.output
    assert load_cohort(out).metadata["seed"] == 4
    assert (out / "csv" / "visits.csv").is_file()
    result = runner.invoke(app, ["validate", str(out)])
    assert result.exit_code == 0 and "VALID" in result.output
    csv = out / "csv"
    result = runner.invoke(app, ["validate", "--patients", str(csv / "patients.csv"), "--visits", str(csv / "visits.csv"), "--adherence", str(csv / "adherence.csv")])
    assert result.exit_code == 0, result.output


def test_simulate_refuses_existing_directory(tmp_path):
    out = tmp_path / "cohort"
    assert runner.invoke(app, ["simulate", "--n", "50", "--out", str(out), "--no-progress"]).exit_code == 0
    result = runner.invoke(app, ["simulate", "--n", "50", "--out", str(out), "--no-progress"])
    assert result.exit_code == 2 and "already exists" in result.output + (result.stderr or "")


def test_simulate_with_config_overrides(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"followup_weeks": 52, "visit_weeks": [2, 6, 12, 26, 52]}')
    out = tmp_path / "c"
    result = runner.invoke(app, ["simulate", "--n", "80", "--out", str(out), "--config", str(cfg), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert load_cohort(out).visits["day"].max() <= 52 * 7 + 21
    cfg.write_text('{"weibul_shape": 2}')
    result = runner.invoke(app, ["simulate", "--n", "80", "--out", str(tmp_path / "d"), "--config", str(cfg), "--no-progress"])
    assert result.exit_code == 2 and "unknown option" in result.output + (result.stderr or "")
    assert not (tmp_path / "d").exists()


def test_validate_reports_problems_and_exits_1(small_cohort, tmp_path):
    files = small_cohort.to_csv(tmp_path)
    v = pd.read_csv(files["visits"])
    v.loc[2, "mrc"] = 8
    v.to_csv(files["visits"], index=False)
    result = runner.invoke(app, ["validate", "--patients", str(files["patients"]), "--visits", str(files["visits"]), "--adherence", str(files["adherence"])])
    assert result.exit_code == 1
    assert "NOT VALID" in result.output and "mrc" in result.output and "out of range" in result.output


def test_validate_needs_a_source():
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2


def test_data_dictionary_command(tmp_path):
    result = runner.invoke(app, ["data-dictionary", "--out", str(tmp_path / "dd.md")])
    assert result.exit_code == 0 and "| `patient_id` |" in (tmp_path / "dd.md").read_text()


def test_report_command(tmp_path):
    from footdrop_outcomes import simulate_cohort

    cohort = simulate_cohort(300, 5, progress=False).save(tmp_path / "cohort")
    out = tmp_path / "reports" / "overview.pdf"
    result = runner.invoke(app, ["report", "--cohort", str(cohort), "--notebook", "cohort_overview", "-p", "title", "CLI overview",
                                 "-p", "threshold", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.with_suffix(".ipynb").is_file()
    assert "wrote" in result.output


def test_report_command_refuses_bad_parameters(tmp_path):
    cases = [(["-p", "treshold", "3"], "did you mean 'threshold'"), (["-p", "threshold", "x"], "must be an integer"),
             (["-p", "threshold"], "needs a KEY and a VALUE"), (["stray"], "unexpected argument 'stray'")]
    for extra, message in cases:
        result = runner.invoke(app, ["report", "--cohort", str(tmp_path), "--out", str(tmp_path / "r.pdf"), *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert message in " ".join(result.output.split()), (extra, result.output)
    assert not (tmp_path / "r.pdf").exists()


def test_report_and_demo_help():
    for cmd in ("report", "demo"):
        result = runner.invoke(app, [cmd, "--help"])
        assert result.exit_code == 0
    result = runner.invoke(app, ["report", "--list-parameters"])
    assert result.exit_code == 0 and "cox_formula" in result.output


def test_import_worked_example_then_validate_reports_kanonymity(tmp_path):
    ex = "data/examples/site_extract"
    out = tmp_path / "imported"
    result = runner.invoke(app, ["import", "--mapping", "data/examples/mapping_example.toml", "--patients", f"{ex}/patients.csv",
                                 "--visits", f"{ex}/visits.csv", "--adherence", f"{ex}/adherence.csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "120 patients" in result.output and "top-coded" in result.output
    result = runner.invoke(app, ["validate", str(out), "--k", "3"])
    assert result.exit_code == 0 and "VALID" in result.output
    assert "k-anonymity" in result.output and "k=3" in result.output


def test_import_refuses_identifiers_with_exit_1_and_writes_nothing(tmp_path):
    import shutil

    src = tmp_path / "x"
    shutil.copytree("data/examples/site_extract", src)
    v = pd.read_csv(src / "visits.csv", dtype=str)
    v["Falls"] = "jo@example.org"
    v.to_csv(src / "visits.csv", index=False)
    result = runner.invoke(app, ["import", "--mapping", "data/examples/mapping_example.toml", "--patients", str(src / "patients.csv"),
                                 "--visits", str(src / "visits.csv"), "--adherence", str(src / "adherence.csv"), "--out", str(tmp_path / "c")])
    assert result.exit_code == 1 and "REFUSED" in result.output and "e-mail" in result.output
    assert "jo@example" not in result.output and not (tmp_path / "c").exists()
    result = runner.invoke(app, ["import", "--mapping", str(tmp_path / "none.toml"), "--patients", str(src / "patients.csv"),
                                 "--visits", str(src / "visits.csv"), "--adherence", str(src / "adherence.csv"), "--out", str(tmp_path / "c")])
    assert result.exit_code == 2


def test_validate_refuses_identifiers_in_csv(small_cohort, tmp_path):
    files = small_cohort.to_csv(tmp_path)
    p = pd.read_csv(files["patients"])
    p["dob"] = "1961-03-15"
    p.to_csv(files["patients"], index=False)
    result = runner.invoke(app, ["validate", "--patients", str(files["patients"]), "--visits", str(files["visits"]), "--adherence", str(files["adherence"])])
    assert result.exit_code == 1 and "dob" in result.output and "1961" not in result.output


# -- study sub-app (docs/studies.md) ---------------------------------------------------------------

STUDY_TOML = """
name = "cli power"
replicates = 20
seed = 3

[design]
kind = "trial"
visit_weeks = []
followup_weeks = 26

[grid]
n_per_arm = [30, 60, 120]
log_hr = [-0.7]

[[analyses]]
label = "logrank"
method = "logrank"

[[analyses]]
label = "aft"
method = "interval_aft"
truth = "log_hr"
truth_multiplier = -1.0
options = { formula = "arm", term = "arm[treatment]" }
"""


def test_study_run_then_report(tmp_path):
    from pypdf import PdfReader

    spec = tmp_path / "study.toml"
    spec.write_text(STUDY_TOML)
    out = tmp_path / "study"
    args = ["study", "run", str(spec), "--out", str(out), "--workers", "1", "--threads", "--chunk-size", "10", "--no-progress"]
    result = runner.invoke(app, [*args, "--max-chunks", "2"])
    assert result.exit_code == 0, result.output
    assert "complete: False" in result.output
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "ran 40 replicates" in result.output and "complete: True" in result.output
    assert "performance" in result.output and "aft" in result.output
    result = runner.invoke(app, ["study", "report", str(out)])
    assert result.exit_code == 0, result.output
    rep = out / "report"
    for name in ("performance.csv", "power.csv", "sample_size.csv", "power_logrank.svg", "power_aft.svg", "report.html", "report.pdf"):
        assert (rep / name).is_file(), name
    perf = pd.read_csv(rep / "performance.csv")
    assert set(perf["analysis"]) == {"logrank", "aft"} and (perf["n_rep"] == 20).all()
    text = "\n".join(page.extract_text() for page in PdfReader(rep / "report.pdf").pages)
    assert "Simulation study: cli power" in text and "60 of 60 replicates finished" in text
    for section in ("Performance", "Power curves", "Smallest sample size for power 0.8"):
        assert section in text
    assert "import " not in text and "def " not in text
    # wide tables must fit: WeasyPrint clips at the page edge silently and the clipped text is still
    # in the text layer, so check the laid-out table cells against the page width
    from weasyprint import HTML

    over = []
    for page in HTML(filename=str(rep / "report.html")).render().pages:
        stack = [page._page_box]
        while stack:
            box = stack.pop()
            stack.extend(getattr(box, "children", None) or [])
            if getattr(box, "element_tag", None) in ("td", "th") and box.position_x + box.margin_width() > page.width + 0.5:
                over.append(box.element_tag)
    assert not over, f"{len(over)} table cells run off the page"


def test_study_errors_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(STUDY_TOML.replace('method = "logrank"', 'method = "t_test"'))
    result = runner.invoke(app, ["study", "run", str(bad), "--out", str(tmp_path / "x"), "--no-progress"])
    assert result.exit_code == 2 and "method must be one of" in result.output
    result = runner.invoke(app, ["study", "report", str(tmp_path)])
    assert result.exit_code == 2 and "no study.json" in result.output


def test_import_the_redcap_worked_example(tmp_path):
    """The README's REDCap command on data/examples/redcap writes a cohort that loads and has every patient."""
    from footdrop_outcomes import load_cohort

    ex = Path(__file__).resolve().parents[1] / "data" / "examples" / "redcap"
    out = tmp_path / "redcap-cohort"
    result = runner.invoke(app, ["import-redcap", "--records", str(ex / "records.csv"), "--dictionary", str(ex / "dictionary.csv"),
                                 "--mapping", str(ex / "mapping.toml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = pd.read_csv(ex / "records.csv", usecols=["record_id"])
    cohort = load_cohort(out)
    assert cohort.n_patients == records["record_id"].nunique()
    assert not any("date" in c for t in cohort.tables().values() for c in t.columns)  # calendar dates never kept


def test_import_referral_example_with_late_first_contact_and_gaps_then_the_report_uses_late_entry(tmp_path):
    """The second worked example (README): first contact weeks after onset, unknown covariates."""
    import warnings

    from footdrop_outcomes import load_cohort
    from footdrop_outcomes.report.analysis import analyse_recovery

    ex = "data/examples/referral_extract"
    out = tmp_path / "referral"
    result = runner.invoke(app, ["import", "--mapping", "data/examples/mapping_referral.toml", "--patients", f"{ex}/patients.csv",
                                 "--visits", f"{ex}/visits.csv", "--adherence", f"{ex}/adherence.csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "now missing values" in " ".join(result.output.split())
    cohort = load_cohort(out)
    p = cohort.patients
    raw = pd.read_csv(f"{ex}/patients.csv", sep=";", dtype=str)
    assert len(p) == len(raw)
    # unknown codes became missing values, one for one
    assert int(p["diabetes"].isna().sum()) == int((raw["DM"] == "not recorded").sum()) > 0
    assert int(p["smoking"].isna().sum()) == int((raw["Smoker"] == "9").sum()) > 0
    assert int(p["hba1c"].isna().sum()) == int((raw["HbA1c_mmolmol"] == "-99").sum()) > 0
    # first contact in days, from weeks; no visit before it
    fc = pd.to_numeric(raw["FirstSeenWeeks"]).to_numpy() * 7
    assert abs(p["first_contact_day"].to_numpy(float) - fc).max() < 0.5 and (fc > 0).mean() > 0.9
    first_visit = cohort.visits.groupby("patient_id", observed=True)["day"].min()
    assert (first_visit.reindex(p["patient_id"]).to_numpy() >= p["first_contact_day"].to_numpy() - 0.5).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = analyse_recovery(cohort)
    assert a.choices["late_entry"] is True and "referral sample" in a.choices["late_entry_reason"]
    tb = a.results["turnbull_cause"]
    assert tb.info["entry_col"] is not None and all(v["start"] >= 0 for v in tb.info["curve_start"].values())
    # no curve is the degenerate "everyone recovered at once" of one early patient
    s = tb.summary[(tb.summary["statistic"] == "recovered_by") & (tb.summary["time"] == 6)]
    assert (s["estimate"] < 0.9).all(), s[["group", "estimate"]]


def test_site_export_serve_and_pool_one_stage_equal_the_pooled_stratified_cox(tmp_path):
    """Issue 18: two sites answer the coordinator's rounds from their own processes (site-export --serve); pool
    --one-stage prints the pooled site-stratified Cox estimates; a silent exchange directory and usage errors exit 2."""
    import re
    import subprocess
    import sys

    import pytest

    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.cohort.simulate import SimulationConfig
    from footdrop_outcomes.survival import fit_cox

    formula = "supervised_physio + age"
    cohort = simulate_cohort(800, seed=12, config=SimulationConfig(n_sites=2))
    exe = str(Path(sys.executable).parent / "footdrop-outcomes")
    servers = []
    for s in ("S01", "S02"):
        cohort.subset(sites=s).save(tmp_path / s)
        (tmp_path / "x" / s).mkdir(parents=True)
        servers.append(subprocess.Popen([exe, "site-export", str(tmp_path / s), "--formula", formula, "--serve",
                                         str(tmp_path / "x" / s), "--timeout", "120"], stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    try:
        res = runner.invoke(app, ["pool", "--one-stage", "--exchange", str(tmp_path / "x" / "S01"), "--exchange",
                                  str(tmp_path / "x" / "S02"), "--formula", formula, "--timeout", "120"])
    finally:
        outs = [p.communicate(timeout=120) for p in servers]
    assert res.exit_code == 0, res.output
    assert all(p.returncode == 0 for p in servers), [o[1][-300:] for o in outs]
    pooled = fit_cox(cohort, formula, strata=["site"]).summary.set_index("term")
    text = " ".join(res.output.split())
    for term in ("supervised_physio", "age"):
        m = re.search(rf"{term}: log HR (-?[0-9.]+) \(SE ([0-9.]+)", text)
        assert m, text
        assert float(m.group(1)) == pytest.approx(pooled.loc[term, "log_hr"], abs=1e-4)
        assert float(m.group(2)) == pytest.approx(pooled.loc[term, "se"], abs=1e-4)
    (tmp_path / "empty").mkdir()
    silent = runner.invoke(app, ["pool", "--one-stage", "--exchange", str(tmp_path / "empty"), "--formula", formula,
                                 "--timeout", "1"])
    assert silent.exit_code == 2 and "empty" in silent.output
    assert runner.invoke(app, ["site-export", str(tmp_path / "S01"), "--formula", formula]).exit_code == 2
