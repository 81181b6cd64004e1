"""Study report: performance table, power curves and sample sizes as CSV, SVG and a PDF.

:func:`write_study_report` reads a study folder and writes into ``OUT`` (default
``STUDY/report``): ``performance.csv`` (every measure with its Monte Carlo SE),
``power.csv`` and ``sample_size.csv`` (when the grid has a sample-size column), one
``power_<analysis>.svg`` per tested analysis, ``report.html`` and ``report.pdf``. The PDF is
typeset by the report layer's WeasyPrint typesetter
(:func:`footdrop_outcomes.report.exporter.html_to_pdf`: A4, no remote resources, fixed metadata);
it is not a parameterised notebook, because the report notebooks take a cohort, not a study.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from footdrop_outcomes.studies.measures import performance
from footdrop_outcomes.studies.power import plot_power_curves, power_curve, sample_size
from footdrop_outcomes.studies.runner import load_results, load_study_spec

__all__ = ["write_study_report", "SIZE_COLUMNS"]

#: Grid columns recognised as the sample size of a power curve, in order of preference.
SIZE_COLUMNS = ("n_per_arm", "n")

_CSS = """
@page { size: A4 landscape; margin: 15mm 15mm 18mm 15mm; @bottom-center { content: "Page " counter(page) " of " counter(pages); font-size: 8pt; color: #555; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 9pt; color: #111; }
h1 { font-size: 16pt; margin-bottom: 2mm; } h2 { font-size: 12pt; margin-top: 6mm; border-bottom: 1px solid #999; }
table { border-collapse: collapse; margin: 2mm 0 4mm 0; font-size: 7.5pt; }
th, td { padding: 1mm 1.6mm; border-bottom: 0.5px solid #ccc; text-align: right; white-space: nowrap; }
tr { page-break-inside: avoid; } thead { display: table-header-group; }
table.keep { page-break-inside: avoid; }
th:first-child, td:first-child { text-align: left; }
.note { color: #444; font-size: 8pt; } figure { margin: 2mm 0; page-break-inside: avoid; } img { width: 115mm; }
h2, h2 + p.note { page-break-after: avoid; }
"""


def _fmt(x: Any, digits: int = 4) -> str:
    if isinstance(x, float):
        if math.isnan(x):
            return "–"
        return f"{x:.{digits}g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"
    return html.escape(str(x))


def _est_mcse(df: pd.DataFrame, measure: str) -> pd.Series:
    return pd.Series([f"{_fmt(v)} ({_fmt(s, 2)})" if not (isinstance(v, float) and math.isnan(v)) else "–"
                      for v, s in zip(df[measure], df[f"{measure}_mcse"], strict=True)], index=df.index)


def _table(df: pd.DataFrame, keep: bool = False) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v) if not isinstance(v, str) else html.escape(v)}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    cls = " class='keep'" if keep else ""  # a short table stays on one page
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    return buf.getvalue()


def write_study_report(study: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, *, target: float = 0.8,
                       size: str | None = None, effect: str | None = None, pdf: bool = True) -> dict[str, Path]:
    """Write the study report files; returns their paths by name.

    ``size`` and ``effect`` name the grid columns of the power curves (default: the first of
    :data:`SIZE_COLUMNS` in the grid, and the one other grid column if there is exactly one).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    study = Path(study)
    out = Path(out) if out is not None else study / "report"
    out.mkdir(parents=True, exist_ok=True)
    spec = load_study_spec(study)
    res = load_results(study)
    paths: dict[str, Path] = {}
    perf = performance(res, alpha=spec.alpha)
    perf.to_csv(out / "performance.csv", index=False)
    paths["performance"] = out / "performance.csv"
    grid = spec.grid_keys
    size = size or next((c for c in SIZE_COLUMNS if c in grid), None)
    others = [g for g in grid if g != size]
    effect = effect or (others[0] if len(others) == 1 else None)
    total = spec.replicates * len(spec.points())
    have = res[["point", "replicate"]].drop_duplicates().shape[0] if len(res) else 0

    parts = [f"<h1>Simulation study: {html.escape(spec.name)}</h1>",
             f"<p class='note'>{have} of {total} replicates finished ({spec.replicates} per grid point, {len(spec.points())} points); "
             f"master seed {spec.seed}; alpha {spec.alpha}; design <code>{html.escape(spec.design_dict['kind'])}</code>; "
             f"specification SHA-256 {spec.sha256()[:16]}.</p>"]
    parts.append("<h2>Performance</h2><p class='note'>Estimate (Monte Carlo SE). Bias, empirical and model SE, relative error "
                 "of the model SE (%), coverage of the CI and power (share of p &lt; alpha; the type I error when the truth is 0), "
                 "as in Morris, White &amp; Crowther (2019). Failed fits are counted and left out of the measures.</p>")
    show = perf[["analysis", *[g for g in grid if g in perf], "truth", "n_ok", "n_failed"]].copy()
    for m, label in (("bias", "bias"), ("empse", "emp. SE"), ("modse", "model SE"), ("relerr_modse", "rel. err. SE %"),
                     ("coverage", "coverage"), ("power", "power")):
        show[label] = _est_mcse(perf, m)
    parts.append(_table(show))
    n_head = len(parts)
    if size is not None:
        curves, sizes = [], []
        for a in spec.analyses:
            curve = power_curve(res, analysis=a.label, size=size, effect=effect, alpha=spec.alpha)
            curve.insert(0, "analysis", a.label)
            curves.append(curve)
            ss = sample_size(curve.drop(columns="analysis"), size=size, effect=effect, target=target)
            ss.insert(0, "analysis", a.label)
            sizes.append(ss)
            fig, ax = plt.subplots(figsize=(6.0, 3.6))
            plot_power_curves(curve, size=size, effect=effect, target=target, ax=ax, title=f"{a.label} ({a.method})")
            svg = _svg(fig)
            plt.close(fig)
            p = out / f"power_{a.label}.svg"
            p.write_text(svg)
            paths[f"power_{a.label}"] = p
            uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
            parts.append(f"<figure><img src='{uri}' alt='power curve of {html.escape(a.label)}'/></figure>")
        power = pd.concat(curves, ignore_index=True)
        sizes_df = pd.concat(sizes, ignore_index=True)
        power.to_csv(out / "power.csv", index=False)
        sizes_df.to_csv(out / "sample_size.csv", index=False)
        paths["power"], paths["sample_size"] = out / "power.csv", out / "sample_size.csv"
        figs = parts[n_head:]
        parts = parts[:n_head]
        parts.append(f"<h2>Power curves</h2><p class='note'>Power against {html.escape(size)}"
                     + (f", one line per {html.escape(effect)}" if effect else "")
                     + "; bands are Wilson 95% intervals of the Monte Carlo estimate; dashed line: target "
                     f"{target:g}. Failed fits count as not rejecting.</p>")
        parts.extend(figs)
        parts.append(f"<h2>Smallest sample size for power {target:g}</h2><p class='note'>n_grid: smallest grid value with "
                     "simulated power at least the target (n_grid_sure / n_grid_possible: with the Wilson lower / upper bound); "
                     "n_interp: probit fit of rejection on sqrt(n), with a delta-method 95% interval.</p>")
        parts.append(_table(sizes_df, keep=True))
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Simulation study {html.escape(spec.name)}</title>"
            f"<meta name='generator' content='footdrop-outcomes'><style>{_CSS}</style></head><body><main>{''.join(parts)}</main></body></html>")
    (out / "report.html").write_text(page)
    paths["html"] = out / "report.html"
    if pdf:
        from footdrop_outcomes.report.exporter import html_to_pdf

        tmp = out / ".report.pdf.tmp"
        tmp.write_bytes(html_to_pdf(page, base_url=out))
        os.replace(tmp, out / "report.pdf")
        paths["pdf"] = out / "report.pdf"
    return paths
