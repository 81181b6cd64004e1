"""Publication figures: a released report figure as SVG and 300-dpi PNG at a journal's column width,
and a colour-vision check of figure palettes.

Widths (millimetres) follow the figure guidelines of Cell Press journals (1 column 85 mm, 2 columns
174 mm) and Springer Nature journals such as the *Journal of Neurology* (84 mm and 174 mm):
:data:`JOURNAL_WIDTHS_MM` uses 85 mm (3.35 in) and 174 mm (6.85 in). Text is never smaller than
:data:`MIN_FONT_PT` (7 pt) at that printed size; smaller text is raised to it.

Colour vision: :func:`simulate_cvd` applies the Machado, Oliveira and Fernandes (2009) matrices
for full-severity protanopia, deuteranopia and tritanopia to linear sRGB;
:func:`palette_distances` gives the CIEDE2000 colour difference (Sharma, Wu and Dalal 2005) of every
pair of colours under normal vision and each simulation, so a palette can be checked (the report's
series colours are, in ``tests/report/test_figure_export.py``).

>>> round(delta_e2000((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485)), 4)
2.0425
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from footdrop_outcomes._files import refuse_symlink, write_atomic
from footdrop_outcomes.release import ReleasedFigure, ReleaseError
from footdrop_outcomes.report._errors import ReportError

__all__ = ["save_figure", "FigureFiles", "JOURNAL_WIDTHS_MM", "MIN_FONT_PT", "PNG_DPI", "MACHADO_2009", "simulate_cvd",
           "srgb_to_lab", "delta_e2000", "palette_distances"]

#: Printed figure widths in millimetres (Cell Press: 85 / 174 mm; Springer Nature: 84 / 174 mm).
JOURNAL_WIDTHS_MM: dict[str, float] = {"single": 85.0, "double": 174.0}
#: Smallest text size at the printed width, in points.
MIN_FONT_PT = 7.0
#: Resolution of the PNG.
PNG_DPI = 300
_MM_PER_IN = 25.4
_MAX_HEIGHT_MM = 230.0  # the tallest figure a journal page takes (Cell Press: 225 mm; Springer 234 mm)

#: Machado et al. (2009) simulation matrices at severity 1.0, applied to linear sRGB (rows: R, G, B out).
MACHADO_2009: dict[str, np.ndarray] = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]]),
}


@dataclass(frozen=True)
class FigureFiles:
    """The files :func:`save_figure` wrote."""

    svg: Path
    png: Path
    width_mm: float
    height_mm: float


def _rgb(colour: Any) -> np.ndarray:
    from matplotlib.colors import to_rgb

    return np.asarray(to_rgb(colour), dtype=float)


def _linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _gamma(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def simulate_cvd(colours: Iterable[Any], kind: Literal["protanopia", "deuteranopia", "tritanopia"]) -> np.ndarray:
    """sRGB colours (0-1, one row each) as seen with full-severity ``kind`` (Machado et al. 2009).

    >>> simulate_cvd(["#808080"], "deuteranopia").round(3).tolist()
    [[0.502, 0.502, 0.502]]
    """
    if kind not in MACHADO_2009:
        raise ValueError(f"kind must be one of {sorted(MACHADO_2009)}, got {kind!r}")
    rgb = np.array([_rgb(c) for c in colours]).reshape(-1, 3)
    return _gamma(_linear(rgb) @ MACHADO_2009[kind].T)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65 white) of sRGB colours (0-1, one row each)."""
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
    xyz = _linear(np.asarray(rgb, dtype=float).reshape(-1, 3)) @ m.T
    white = m.sum(axis=1)
    t = xyz / white
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(t > eps, np.cbrt(t), (kappa * t + 16) / 116)
    return np.column_stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])])


def delta_e2000(lab1: Sequence[float], lab2: Sequence[float]) -> float:
    """CIEDE2000 colour difference of two CIELAB colours (Sharma, Wu and Dalal 2005; kL = kC = kH = 1)."""
    L1, a1, b1 = map(float, lab1)
    L2, a2, b2 = map(float, lab2)
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360 if c2p else 0.0
    dL, dC = L2 - L1, c2p - c1p
    if c1p * c2p == 0:
        dh = 0.0
    else:
        dh = h2p - h1p
        dh = dh - 360 if dh > 180 else dh + 360 if dh < -180 else dh
    dH = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    L_bar, C_bar = (L1 + L2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    else:
        h_bar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (1 - 0.17 * np.cos(np.radians(h_bar - 30)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6)) - 0.20 * np.cos(np.radians(4 * h_bar - 63)))
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(C_bar**7 / (C_bar**7 + 25.0**7))
    s_l = 1 + 0.015 * (L_bar - 50) ** 2 / np.sqrt(20 + (L_bar - 50) ** 2)
    s_c = 1 + 0.045 * C_bar
    s_h = 1 + 0.015 * C_bar * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return float(np.sqrt((dL / s_l) ** 2 + (dC / s_c) ** 2 + (dH / s_h) ** 2 + r_t * (dC / s_c) * (dH / s_h)))


def palette_distances(colours: dict[str, Any] | Sequence[Any]) -> pd.DataFrame:
    """CIEDE2000 difference of every pair of colours, as seen with normal vision and with each
    simulated colour-vision deficiency.

    Returns
    -------
    pandas.DataFrame
        ``first``, ``second``, ``vision`` (``normal``, ``protanopia``, ``deuteranopia``,
        ``tritanopia``), ``delta_e``.

    >>> d = palette_distances({"blue": "#0072B2", "orange": "#E69F00"})
    >>> sorted(d["vision"]), bool(d["delta_e"].min() > 20)
    (['deuteranopia', 'normal', 'protanopia', 'tritanopia'], True)
    """
    named = dict(colours) if isinstance(colours, dict) else {str(c): c for c in colours}
    names = list(named)
    rows = []
    views = {"normal": np.array([_rgb(named[n]) for n in names])}
    views.update({k: simulate_cvd([named[n] for n in names], k) for k in MACHADO_2009})  # type: ignore[arg-type]
    for vision, rgb in views.items():
        lab = srgb_to_lab(rgb)
        for i, j in combinations(range(len(names)), 2):
            rows.append({"first": names[i], "second": names[j], "vision": vision, "delta_e": delta_e2000(lab[i], lab[j])})
    return pd.DataFrame(rows, columns=["first", "second", "vision", "delta_e"])


# ------------------------------------------------------------------------------------------------
# saving


class _Restore:
    """Put a figure back as it was (size, layout engine, axes positions, text sizes) after saving it resized."""

    def __init__(self, fig: Any) -> None:
        from matplotlib.text import Text

        self.fig = fig
        self.size = tuple(fig.get_size_inches())
        self.engine = fig.get_layout_engine()
        self.axes = [(ax, ax.get_position(original=True).frozen(), ax.get_position(original=False).frozen(), ax.get_in_layout())
                     for ax in fig.axes]
        self.texts = [(t, t.get_fontsize()) for t in fig.findobj(Text)]

    def __call__(self) -> None:
        self.fig.set_layout_engine(self.engine if self.engine is not None else "none")
        self.fig.set_size_inches(*self.size)
        for ax, original, active, in_layout in self.axes:
            ax.set_position(original, which="original")
            ax.set_position(active, which="active")
            ax.set_in_layout(in_layout)  # set_position takes an axes out of the layout
        for t, size in self.texts:
            t.set_fontsize(size)


def _raise_small_text(fig: Any, minimum: float) -> None:
    from matplotlib.text import Text

    for t in fig.findobj(Text):
        if t.get_text() and t.get_fontsize() < minimum:
            t.set_fontsize(minimum)


def _text_outside(fig: Any, tol: float = 0.01) -> bool:
    """True when something drawn (tick labels, axis labels, titles, legends, texts) runs past the
    figure's edge, so that it would be cut off in the saved files."""
    fig.draw_without_rendering()
    tight = fig.get_tightbbox()  # inches; only what is drawn (tick labels out of view are not)
    w, h = fig.get_size_inches()
    return bool(tight.x0 < -tol or tight.y0 < -tol or tight.x1 > w + tol or tight.y1 > h + tol)


def _atomic(data: bytes, target: Path) -> None:
    write_atomic(target, data, error=ReportError)


def save_figure(fig: ReleasedFigure, path_stem: str | os.PathLike[str], width: Literal["single", "double"] = "single", *,
                height_mm: float | None = None) -> FigureFiles:
    """Save a released figure as ``<path_stem>.svg`` and ``<path_stem>.png`` (300 dpi) at a journal's
    column width.

    Parameters
    ----------
    fig : ReleasedFigure
        A figure that passed release control (:func:`footdrop_outcomes.release.release_figure`,
        or any figure function of :mod:`footdrop_outcomes.report.figures`); it is resized for saving and put back as it was.
    path_stem : path
        Output path without suffix; its folder must exist. Both files are written atomically.
    width : {"single", "double"}
        Column width: :data:`JOURNAL_WIDTHS_MM` (85 mm or 174 mm).
    height_mm : float, optional
        Printed height; by default the figure's own height (text keeps its size in points, so it
        keeps the same room), at most 230 mm.

    Returns
    -------
    FigureFiles
        The two paths and the printed size. Text under :data:`MIN_FONT_PT` is raised to it; the
        layout is redone for the new size (constrained layout). Same figure, same bytes (no dates,
        fixed SVG ids, no software tag in the PNG).

    Raises
    ------
    ReleaseError
        ``fig`` is not a released figure.
    ReportError
        The figure does not fit the width with text of at least 7 pt (use ``"double"``), or a
        file cannot be written (nothing is left half-written).

    Examples
    --------
    >>> import tempfile, pathlib, matplotlib.pyplot as plt
    >>> from footdrop_outcomes.release import ReleasePolicy, release_figure
    >>> f, ax = plt.subplots(figsize=(6, 4)); _ = ax.plot([0, 1], [0, 1])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = save_figure(release_figure(f, ReleasePolicy(), support=200), pathlib.Path(d) / "fig1", "single")
    ...     out.width_mm, out.png.suffix, out.svg.exists()
    (85.0, '.png', True)
    """
    import matplotlib.pyplot as plt

    if not isinstance(fig, ReleasedFigure):
        raise ReleaseError(f"save_figure saves released figures only (footdrop_outcomes.release.release_figure), "
                           f"not a {type(fig).__name__}")
    if width not in JOURNAL_WIDTHS_MM:
        raise ValueError(f"width must be one of {sorted(JOURNAL_WIDTHS_MM)}, got {width!r}")
    stem = Path(path_stem)
    targets = (stem.with_name(stem.name + ".svg"), stem.with_name(stem.name + ".png"))
    for t in targets:
        refuse_symlink(t, error=ReportError)
    if not stem.parent.is_dir():
        raise ReportError(f"cannot write {stem}: its folder {stem.parent} does not exist")
    out = fig.figure
    restore = _Restore(out)  # figures hold local formatters (not picklable): resize in place, then put back
    try:
        _, h_in = out.get_size_inches()
        w_mm = JOURNAL_WIDTHS_MM[width]
        # text keeps its size in points, so the figure keeps its height (the same room for text), capped
        h_mm = float(height_mm) if height_mm is not None else min(_MAX_HEIGHT_MM, float(h_in) * _MM_PER_IN)
        out.set_size_inches(w_mm / _MM_PER_IN, h_mm / _MM_PER_IN)
        _raise_small_text(out, MIN_FONT_PT)
        out.set_layout_engine("constrained")
        with plt.rc_context({"svg.hashsalt": "footdrop-outcomes", "svg.fonttype": "none"}), warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            svg, png = io.BytesIO(), io.BytesIO()
            out.savefig(svg, format="svg", metadata={"Date": None})
            out.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
        collapsed = [w for w in seen if "constrained_layout not applied" in str(w.message)]
        if collapsed or _text_outside(out):
            raise ReportError(f"the figure does not fit {w_mm:g} mm ({width} column) with text of at least {MIN_FONT_PT:g} pt: "
                              "its labels and legend leave no room for the plot; save it at width='double' or draw it narrower")
        for w in seen:  # anything else matplotlib said goes on to the caller
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    finally:
        restore()
    _atomic(svg.getvalue(), targets[0])
    _atomic(png.getvalue(), targets[1])
    return FigureFiles(svg=targets[0], png=targets[1], width_mm=w_mm, height_mm=h_mm)
