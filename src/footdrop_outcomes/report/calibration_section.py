"""The simulator's calibration report, through the notebook -> PDF route of every other report.

The notebook ``calibration_report.ipynb`` runs
:func:`~footdrop_outcomes.cohort.calibration.calibration_check` (or reads a saved check table)
and shows, with the pieces below:

* a title block: settings, the pass rule, pass counts by set (calibration and validation; on the
  latent truth and as an analyst sees it from the tables) and the targets not passed;
* one table per set: every target with its published value and pass interval and the simulated
  values with Monte Carlo standard errors;
* one section per published source, each on a new page: for every figure of the source, the
  published value and interval against the simulated value with its 95% Monte Carlo interval,
  the set, PASS or FAIL, the source's population and outcome definition, and for a failure the
  known explanation (validation targets are reported, never tuned to).

The numbers are published figures and aggregates of simulated cohorts, not data of patients; they
still leave through the release layer like every number of a report, with the simulated cohorts'
size as their support. :func:`calibration_report` writes the PDF (the CLI's
``footdrop-outcomes calibration-report``).
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from footdrop_outcomes.cohort.calibration import pass_counts
from footdrop_outcomes.cohort.calibration.report import (
    DISCREPANCY_NOTES,
    PASS_RULE,
    CalibrationReport,
    _target_panel,
)
from footdrop_outcomes.errors import ConfigError
from footdrop_outcomes.release import (
    ReleasedFigure,
    ReleasedTable,
    ReleasedText,
    release_table,
)
from footdrop_outcomes.report.counts import figure, get_policy, text

__all__ = [
    "CHECK_COLUMNS",
    "calibration_report",
    "counts_table",
    "failed_text",
    "intro_text",
    "read_check",
    "set_table",
    "source_sections",
    "title_page",
]

#: Columns of a saved check table (``calibration_check(...).to_parquet``) the report reads.
CHECK_COLUMNS = ("id", "set", "feature", "source", "citation", "url", "population", "outcome", "value", "ci_low", "ci_high",
                 "n", "tolerance", "low", "high", "latent", "latent_se", "observed", "observed_se", "pass_latent",
                 "pass_observed")

_INTRO = ("Every target is one published figure (targets.toml). The split into a calibration set (the generator's parameters "
          "were set to reproduce these) and a validation set (never used to set anything) was committed before any parameter "
          "was chosen. Validation failures are reported with their explanation and were not tuned to. Simulated values are "
          "means over replicate cohorts with a 95% Monte Carlo interval (mean +/- 1.96 SE); 'latent' is computed on the "
          "simulated truth, 'tables' as an analyst sees it from the visits and adherence tables (where they can show it).")


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)) or pd.isna(x):
        return "-"
    x = float(x)
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.{digits}f}"


def _verdict(ok: Any) -> str:
    return "-" if ok is None or pd.isna(ok) else ("pass" if bool(ok) else "FAIL")


def title_page(title: str, settings: dict[str, int]) -> Any:
    """The title page (an IPython ``HTML`` object to display): title, generator, settings, package
    and the command that regenerates the report; then the table of contents."""

    from IPython.display import HTML

    from footdrop_outcomes._version import __version__

    s = settings
    rows = [("Generator", "version 2 (footdrop_outcomes.cohort.simulate_v2)"),
            ("Replicate cohorts", f"{s['replicates']} of {s['n']:,} patients, seeds {s['seed']}-{s['seed'] + s['replicates'] - 1}"),
            ("Package", f"footdrop-outcomes {__version__}"),
            ("Regenerate", f"footdrop-outcomes calibration-report --out reports/calibration.pdf --n {s['n']} "
                           f"--replicates {s['replicates']} --seed {s['seed']}")]
    meta = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return HTML(f'<section class="fd-title-page"><p class="fd-kicker">Foot drop outcomes: simulator calibration</p>'
                f'<h1 class="fd-title">{html.escape(title)}</h1><p class="fd-subtitle">Published figures from the clinical '
                'literature against the simulated world, calibration and validation sets apart.</p>'
                f'<table class="fd-meta"><tbody>{meta}</tbody></table></section><nav class="fd-toc"></nav>')


def read_check(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A saved :func:`calibration_check` table (Parquet), with the columns the report needs."""
    check = pd.read_parquet(path)
    missing = [c for c in CHECK_COLUMNS if c not in check.columns]
    if missing:
        raise ConfigError(f"{Path(path).name}: not a calibration check table (missing columns {missing})")
    return check


def intro_text(settings: dict[str, int], support: int) -> ReleasedText:
    """Settings, what the report holds and the pass rule (Markdown)."""
    s = settings
    return text(f"Generator version 2; {s['replicates']} replicate cohorts of {s['n']:,} patients, seeds {s['seed']}-"
                f"{s['seed'] + s['replicates'] - 1}.\n\n{_INTRO}\n\n**Pass rule.** {PASS_RULE}", support)


def counts_table(check: pd.DataFrame, support: int) -> ReleasedTable:
    """Pass counts by set: latent truth, and from the tables where they show the target."""
    c = pass_counts(check)
    df = pd.DataFrame({"Set": c["set"].astype(str).str.capitalize(), "Targets": c["targets"].astype(int).astype(str),
                       "Passed (latent)": [f"{p} / {t}" for p, t in zip(c["passed"], c["targets"], strict=True)],
                       "Passed (tables, where shown)": [f"{p} / {t}" for p, t in zip(c["observed_passed"], c["observed_checked"],
                                                                                     strict=True)]})
    return release_table(df, get_policy(), support=support)


def failed_text(check: pd.DataFrame, support: int) -> ReleasedText:
    """The targets not passed on the latent truth, one line each (Markdown list)."""
    failed = check[~check["pass_latent"].astype(bool)]
    lines = [f"- `{r['id']}` ({r['set']}): simulated {_fmt(r['latent'])} vs pass interval {_fmt(r['low'])}-{_fmt(r['high'])}"
             for _, r in failed.iterrows()]
    return text("**Targets not passed (latent truth).**\n\n" + ("\n".join(lines) if lines else "None."), support)


def set_table(check: pd.DataFrame, which: str, support: int) -> tuple[ReleasedTable, str]:
    """Every target of one set (``calibration`` or ``validation``) and the table's caption."""
    sub = check[check["set"].astype(str) == which]
    df = pd.DataFrame({
        "Target": sub["id"].astype(str), "Feature": sub["feature"].astype(str), "Source": sub["source"].astype(str),
        "Published": [_fmt(v) for v in sub["value"]],
        "Pass interval": [f"{_fmt(lo)}-{_fmt(hi)}" for lo, hi in zip(sub["low"], sub["high"], strict=True)],
        "Simulated, latent (SE)": [f"{_fmt(v)} ({_fmt(se, 4)})" for v, se in zip(sub["latent"], sub["latent_se"], strict=True)],
        "From tables (SE)": [f"{_fmt(v)} ({_fmt(se, 4)})" for v, se in zip(sub["observed"], sub["observed_se"], strict=True)],
        "Latent": [_verdict(x) for x in sub["pass_latent"]], "Tables": [_verdict(x) for x in sub["pass_observed"]],
    })
    caption = f"{which.capitalize()} set: {int(sub['pass_latent'].astype(bool).sum())} of {len(sub)} targets pass (latent truth)"
    return release_table(df, get_policy(), support=support), caption


def _target_text(r: pd.Series) -> str:
    basis = ("the published 95% CI" if pd.notna(r["ci_low"]) else
             f"a Wilson 95% interval from n = {int(r['n'])}" if pd.notna(r["n"]) else "the published value")
    widened = f", widened to value +/- {_fmt(r['tolerance'])}" if pd.notna(r["tolerance"]) else ""
    lines = [f"Published {_fmt(r['value'])}, pass interval {_fmt(r['low'])}-{_fmt(r['high'])}; simulated latent {_fmt(r['latent'])} "
             f"(MC SE {_fmt(r['latent_se'], 4)}), from the tables {_fmt(r['observed'])} (MC SE {_fmt(r['observed_se'], 4)}).",
             f"Population: {r['population']}", f"Outcome: {r['outcome']}",
             f"Rule: pass when {_fmt(r['low'])} <= simulated latent value <= {_fmt(r['high'])} ({basis}{widened})."]
    ok = bool(r["pass_latent"])
    obs = r["pass_observed"]
    note = DISCREPANCY_NOTES.get(str(r["id"]))
    if note and (not ok or (pd.notna(obs) and not bool(obs))):
        lines.append(("Validation failure, reported and not tuned: " if str(r["set"]) == "validation" and not ok
                      else "Why it differs: ") + note)
    return "\n\n".join(lines)


def source_sections(check: pd.DataFrame, support: int) -> Iterator[tuple[ReleasedText, list[tuple[ReleasedText, ReleasedFigure, ReleasedText]]]]:
    """Per published source (calibration set first): its heading and, per target, the verdict, the
    figure (published vs simulated, with intervals) and the text."""
    import matplotlib.pyplot as plt

    order = check.sort_values(["set", "feature", "id"], kind="stable")
    for k, src in enumerate(dict.fromkeys(order["source"])):
        rows = check[check["source"] == src]
        first = rows.iloc[0]
        # long addresses wrap inside the page: a line-break opportunity after every "/" and "-"
        url = (f'\n\n<p class="fd-url">{html.escape(first["url"]).replace("/", "/<wbr>").replace("-", "-<wbr>")}</p>'
               if isinstance(first.get("url"), str) and first.get("url") else "")
        page = ' class="fd-new-page"' if k else ""  # the first shares its page with the section's introduction
        head = text(f'<h2{page}>Source {src}</h2>\n\n{first["citation"]}{url}', support)
        items = []
        for _, r in rows.iterrows():
            ok = bool(r["pass_latent"])
            tag = text(f"**{r['id']}** {str(r['set']).upper()} target | {'PASS' if ok else 'FAIL'}", support)
            fig, ax = plt.subplots(figsize=(6.2, 1.5))
            _target_panel(ax, r)
            items.append((tag, figure(fig, support), text(_target_text(r), support)))
        yield head, items


def calibration_report(
    out: str | os.PathLike[str] = "reports/calibration.pdf",
    n_patients: int = 50_000,
    *,
    replicates: int = 4,
    seed: int = 2026,
    check: pd.DataFrame | None = None,
    timeout: int = 3600,
) -> CalibrationReport:
    """Write the calibration report of generator version 2 as a PDF (notebook -> PDF).

    Parameters
    ----------
    out : str or Path
        PDF to write; the executed notebook goes beside it (``.ipynb``).
    n_patients : int
        Patients per replicate cohort.
    replicates : int
        Replicate cohorts (>= 2, for a Monte Carlo interval); seeds ``seed, seed + 1, ...``.
    seed : int
        Seed of the first replicate.
    check : pandas.DataFrame, optional
        A :func:`~footdrop_outcomes.cohort.calibration.calibration_check` table to report instead of
        simulating (``n_patients``, ``replicates`` and ``seed`` are then only printed).
    timeout : int
        Seconds allowed for the simulation cell.

    Returns
    -------
    CalibrationReport
        ``summary`` (the check table), ``counts`` (pass counts by set), ``path``.
    """
    from footdrop_outcomes.report.render import render_report

    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 2:
        raise ConfigError("replicates must be a whole number >= 2 (the Monte Carlo interval needs two or more cohorts)")
    if Path(out).suffix.lower() != ".pdf":
        raise ConfigError("out must name a .pdf file")
    params: dict[str, Any] = {"n_patients": int(n_patients), "replicates": int(replicates), "seed": int(seed)}
    with tempfile.TemporaryDirectory(prefix="footdrop-calibration-") as tmp:
        saved = Path(tmp) / "check.parquet"
        if check is not None:  # report a given table; otherwise the notebook simulates
            check.to_parquet(saved)
            params["check_path"] = str(saved)
        else:
            params["save_check"] = str(saved)
        res = render_report("calibration_report", out, parameters=params, timeout=timeout)
        check = read_check(saved)
    return CalibrationReport(summary=check, counts=pass_counts(check), path=res.pdf,
                             info={"method": "calibration report", "n": int(n_patients), "replicates": int(replicates),
                                   "seed": int(seed), "sources": int(check["source"].nunique()), "notebook": str(res.notebook)})
