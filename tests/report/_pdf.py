"""Reading rendered PDFs in tests (pypdf)."""

from __future__ import annotations

from pathlib import Path

from pypdf import PdfReader


def pdf_text(path: Path) -> str:
    """All page text, whitespace collapsed to single spaces."""
    reader = PdfReader(path)
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def text_outside_page(path: Path, tol: float = 1.0) -> list[tuple[int, str, float, float]]:
    """Text runs drawn (wholly or by their origin) outside the page's media box."""
    reader = PdfReader(path)
    bad: list[tuple[int, str, float, float]] = []
    for i, page in enumerate(reader.pages):
        box = page.mediabox
        w, h = float(box.width), float(box.height)

        def visit(text, cm, tm, font_dict, font_size, i=i, w=w, h=h):
            if not text.strip():
                return
            # text origin in device space: tm then cm
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            if x < -tol or y < -tol or x > w + tol or y > h + tol:
                bad.append((i + 1, text.strip()[:40], x, y))

        page.extract_text(visitor_text=visit)
    return bad
