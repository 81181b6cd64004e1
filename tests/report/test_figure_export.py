"""Publication figures (SVG + 300-dpi PNG at journal widths) and the colour-vision check of the report's palette.

Outside references: CIEDE2000 against Sharma, Wu and Dalal (2005), Table 1 of "The CIEDE2000
color-difference formula: implementation notes, supplementary test data"; the colour-vision
simulation against colorspacious 1.1.2 (``sRGB1+CVD``, Machado 2009, severity 100), whose outputs
for seven colours are stored below (colorspacious is not needed at test time).
"""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.release import ReleaseError, ReleasePolicy, release_figure
from footdrop_outcomes.report import figures
from footdrop_outcomes.report._errors import ReportError
from footdrop_outcomes.report.figure_export import (
    JOURNAL_WIDTHS_MM,
    MACHADO_2009,
    MIN_FONT_PT,
    delta_e2000,
    palette_distances,
    save_figure,
    simulate_cvd,
    srgb_to_lab,
)

# Sharma et al. (2005) test pairs: L1, a1, b1, L2, a2, b2, dE00
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
]

CVD_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#332288", "#88CCEE", "#DDCC77"]
COLORSPACIOUS = {  # cspace_convert(rgb, {"name": "sRGB1+CVD", "cvd_type": ..., "severity": 100}, "sRGB1"), clipped to 0-1
    "protanopia": [[0.3538, 0.4753, 0.7161], [0.6459, 0.5674, 0.0], [0.6411, 0.5674, 0.0965], [0.3802, 0.3407, 0.1462],
                   [0.0, 0.2232, 0.545], [0.734, 0.7905, 0.9403], [0.8586, 0.7833, 0.4394]],
    "deuteranopia": [[0.2711, 0.423, 0.7014], [0.7667, 0.6822, 0.02], [0.5892, 0.5318, 0.2186], [0.5465, 0.4879, 0.1204],
                     [0.0, 0.1954, 0.5259], [0.6765, 0.7455, 0.9316], [0.8773, 0.8079, 0.4801]],
    "tritanopia": [[0.0, 0.5251, 0.5529], [1.0, 0.3808, 0.4273], [0.0018, 0.6088, 0.5379], [0.9255, 0.0, 0.1667],
                   [0.0, 0.2443, 0.3246], [0.3654, 0.8373, 0.8425], [0.9205, 0.7564, 0.72]],
}

#: Smallest CIEDE2000 difference between two series colours of one figure, with normal vision and
#: with each simulated deficiency (about 10 is where neighbouring categorical hues stay tellable
#: apart in thin lines; the tab10 palette falls to 1.3 under protanopia).
MIN_SERIES_DE = 10.0
#: Smallest difference of a series colour from the white page.
MIN_BACKGROUND_DE = 15.0


@pytest.mark.parametrize("row", SHARMA)
def test_ciede2000_matches_sharma_2005(row):
    assert delta_e2000(row[:3], row[3:6]) == pytest.approx(row[6], abs=1e-4)
    assert delta_e2000(row[3:6], row[:3]) == pytest.approx(row[6], abs=1e-4)  # symmetric


def test_lab_of_known_colours():
    # sRGB white and black, and sRGB red's CIELAB (D65) as tabulated (L 53.24, a 80.09, b 67.20)
    lab = srgb_to_lab(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=1e-3)
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.02)


@pytest.mark.parametrize("kind", sorted(MACHADO_2009))
def test_cvd_simulation_matches_colorspacious(kind):
    np.testing.assert_allclose(simulate_cvd(CVD_COLOURS, kind), COLORSPACIOUS[kind], atol=1e-4)


def test_simulation_collapses_red_green_for_dichromats_only():
    # stroke green and L5 orange of the old tab10 palette: far apart normally, nearly one colour with protanopia
    d = palette_distances({"orange": "#ff7f0e", "green": "#2ca02c"}).set_index("vision")["delta_e"]
    assert d["normal"] > 30 and d["protanopia"] < 3 and d["tritanopia"] > 10


def _series_palettes() -> dict[str, dict[str, str]]:
    """Every set of series colours drawn together by report/figures.py."""
    cols = figures.GROUP_COLOURS
    from footdrop_outcomes.cohort.vocabulary import CAUSES

    return {
        "causes (curves, cumulative incidence)": {c: cols[c] for c in CAUSES},
        "severities (curves)": {s: cols[s] for s in ("mild", "moderate", "severe")},
    }


@pytest.mark.parametrize("name", list(_series_palettes()))
def test_report_palette_is_colour_blind_safe(name):
    palette = _series_palettes()[name]
    d = palette_distances(palette)
    worst = d.loc[d.groupby("vision")["delta_e"].idxmin()]
    bad = worst[worst["delta_e"] < MIN_SERIES_DE]
    assert bad.empty, f"{name}: pairs too alike (CIEDE2000 < {MIN_SERIES_DE}):\n{bad.round(1).to_string(index=False)}"
    page = palette_distances({**palette, "page": "#ffffff"})
    page = page[page["second"] == "page"]
    assert page["delta_e"].min() >= MIN_BACKGROUND_DE, page.nsmallest(3, "delta_e").to_string(index=False)


def test_severity_bar_colours_are_colour_blind_safe():
    # cause_severity_plot draws its three severity segments in these blues (figures.py)
    from pathlib import Path

    src = Path(figures.__file__).read_text(encoding="utf-8")
    m = re.search(r'zip\(tab\.columns, \(("#[0-9a-fA-F]{6}"), ("#[0-9a-fA-F]{6}"), ("#[0-9a-fA-F]{6}")\)\)', src)
    assert m, "the severity bar colours of cause_severity_plot were not found"
    d = palette_distances([g.strip('"') for g in m.groups()])
    assert d["delta_e"].min() >= MIN_SERIES_DE


def test_a_palette_that_fails_is_caught():
    bad = palette_distances({"L5": "#ff7f0e", "stroke": "#2ca02c", "x": "#1f77b4"})
    assert bad["delta_e"].min() < MIN_SERIES_DE


# ------------------------------------------------------------------------------------------------
# save_figure


@pytest.fixture(scope="module")
def report_figures():
    """Two report figures: the forest plot (fits a single column) and patients by cause and severity
    (its long labels and legend need two columns)."""
    import matplotlib.pyplot as plt

    from footdrop_outcomes.report.counts import figure, set_threshold

    set_threshold(10)
    ax = figures.forest_plot(["Stroke vs peroneal", "L5 radiculopathy vs peroneal", "Severe vs mild"], np.array([0.5, 0.8, 0.4]),
                             np.array([0.3, 0.6, 0.25]), np.array([0.8, 1.1, 0.6]), xlabel="hazard ratio", title="Cox model")
    out = {"single": figure(ax.figure, 200), "double": figures.cause_severity_plot(simulate_cohort(400, seed=11, progress=False))}
    yield out
    for f in out.values():
        plt.close(f.figure)


def _svg_size_pt(svg: str) -> tuple[float, float]:
    m = re.search(r'<svg[^>]*width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    assert m, "no width/height in pt on the svg element"
    return float(m.group(1)), float(m.group(2))


@pytest.mark.parametrize("width", ["single", "double"])
def test_save_figure_sizes_fonts_and_resolution(report_figures, tmp_path, width):
    fig = report_figures[width]
    before = (tuple(fig.figure.get_size_inches()), [tuple(ax.get_position().bounds) for ax in fig.figure.axes])
    out = save_figure(fig, tmp_path / "fig1", width)
    after = (tuple(fig.figure.get_size_inches()), [tuple(ax.get_position().bounds) for ax in fig.figure.axes])
    assert after == before  # the report's figure is put back as it was
    svg = out.svg.read_text(encoding="utf-8")
    w_pt, h_pt = _svg_size_pt(svg)
    assert w_pt == pytest.approx(JOURNAL_WIDTHS_MM[width] / 25.4 * 72, abs=0.1)
    assert h_pt == pytest.approx(out.height_mm / 25.4 * 72, abs=0.1)
    sizes = [float(s) for s in re.findall(r"font(?:-size)?:\s*(?:[a-z]+\s+)*([\d.]+)px", svg)]
    assert sizes and min(sizes) >= MIN_FONT_PT - 1e-9, sorted(set(sizes))  # matplotlib writes pt as px (72 per inch)
    with Image.open(out.png) as im:
        assert abs(im.size[0] - JOURNAL_WIDTHS_MM[width] / 25.4 * 300) <= 1  # matplotlib truncates to whole pixels
        assert im.info["dpi"][0] == pytest.approx(300, abs=0.01)
    assert "<dc:date>" not in svg


def test_a_figure_too_wide_for_a_column_is_refused_not_squeezed(report_figures, tmp_path):
    with pytest.raises(ReportError, match="does not fit 85 mm"):
        save_figure(report_figures["double"], tmp_path / "wide", "single")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("width", ["single", "double"])
def test_save_figure_is_byte_reproducible(report_figures, tmp_path, width):
    a = save_figure(report_figures[width], tmp_path / "a", width)
    b = save_figure(report_figures[width], tmp_path / "b", width)
    assert a.svg.read_bytes() == b.svg.read_bytes()
    assert a.png.read_bytes() == b.png.read_bytes()


def test_save_figure_refuses_unreleased_and_bad_options(tmp_path):
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    try:
        with pytest.raises(ReleaseError, match="released figures only"):
            save_figure(fig, tmp_path / "x")
        released = release_figure(fig, ReleasePolicy(), support=100)
        with pytest.raises(ValueError, match="single"):
            save_figure(released, tmp_path / "x", "triple")  # type: ignore[arg-type]
        with pytest.raises(ReportError, match="does not exist"):
            save_figure(released, tmp_path / "missing" / "x")
        (tmp_path / "link.svg").symlink_to(tmp_path / "elsewhere.svg")
        with pytest.raises(ReportError, match="symbolic link"):
            save_figure(released, tmp_path / "link")
        assert not list(tmp_path.glob(".*tmp"))
    finally:
        plt.close(fig)
