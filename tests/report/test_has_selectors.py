"""The exporter answers the print stylesheet's :has() selectors in advance (classes on the parsed
tables): the PDF must be the same, byte for byte, as WeasyPrint evaluating the :has() rules itself."""

from __future__ import annotations

import footdrop_outcomes.report.exporter as ex
from footdrop_outcomes.report.exporter import EXPORTER_NAME, TEMPLATE_DIR


def _table(cols: int, rows: int, *, thead: bool = True, body_th: bool = False, cls: str = "") -> str:
    head = ("<thead><tr>" + "".join(f"<th>H{j}</th>" for j in range(cols)) + "</tr></thead>") if thead else ""
    cell = "th" if body_th else "td"
    body = "".join("<tr>" + "".join(f"<{cell}>{i}.{j} wide words here</{cell}>" for j in range(cols)) + "</tr>" for i in range(rows))
    body = f"<tbody>{body}</tbody>" if thead else body  # without thead: rows straight in <table> (the parser adds tbody)
    # a spacer first: the table starts low on a page, so whether it may break there shows in the PDF
    return (f'<div style="height: 190mm"></div><table{cls}><caption>{cols} x {rows}</caption>{head}{body}</table>'
            '<p>after</p>')


def _page() -> str:
    css = (TEMPLATE_DIR / EXPORTER_NAME / "print.css").read_text(encoding="utf-8")
    tables = [
        _table(8, 24), _table(9, 24), _table(9, 25), _table(11, 3), _table(12, 26), _table(13, 2, cls=' class="fd-nowrap x"'),
        _table(8, 40), _table(9, 30, thead=False), _table(12, 25, thead=False), _table(10, 5, thead=False, body_th=True),
        '<div class="celltag_landscape">' + _table(12, 30) + _table(10, 4) + "</div>",
    ]
    return f"<html><head><style>{css}</style></head><body><main>{''.join(tables)}</main></body></html>"


def test_classes_give_the_same_pdf_as_has_rules(monkeypatch):
    page = _page()
    ran: list[bool] = []
    real = ex.resolve_has_selectors
    monkeypatch.setattr(ex, "resolve_has_selectors", lambda root: ran.append(real(root)) or ran[-1])
    fast = ex.html_to_pdf(page)
    assert ran == [True]  # the rules were found and rewritten: the fast path really ran
    monkeypatch.setattr(ex, "resolve_has_selectors", lambda root: False)  # WeasyPrint evaluates :has() itself
    slow = ex.html_to_pdf(page)
    assert fast == slow


def test_tables_get_the_classes_of_the_has_tests_they_pass():
    import tinyhtml5

    root = tinyhtml5.parse(_page(), namespace_html_elements=False)
    assert ex.resolve_has_selectors(root) is True
    got = [(t.get("class") or "") for t in root.iter("table")]
    assert got == ["", "fd-has-col9", "fd-has-row25 fd-has-col9", "fd-has-col9", "fd-has-row25 fd-has-col9 fd-has-col12",
                   "fd-nowrap x fd-has-col9 fd-has-col12", "fd-has-row25", "fd-has-row25", "fd-has-row25", "",
                   "fd-has-row25 fd-has-col9 fd-has-col12", "fd-has-col9"]
    style = next(root.iter("style")).text
    assert ":has(" not in style and "html body table.fd-has-col9 th" in style
    bare = tinyhtml5.parse("<html><head><style>table { color: red }</style></head><body><table></table></body></html>",
                           namespace_html_elements=False)
    assert ex.resolve_has_selectors(bare) is False  # a page without those rules is left alone
