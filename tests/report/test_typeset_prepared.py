"""The PDF exporter prepared while the kernel runs (render._warm_typesetting) gives the same PDF as a fresh one."""

from __future__ import annotations

from pathlib import Path

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from footdrop_outcomes.report import render
from footdrop_outcomes.report.exporter import FootdropPDFExporter

SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60"><path d="M 0 60 L 60 10 L 120 30" stroke="black" '
       'fill="none"/><text x="10" y="50">label</text></svg>')


def _notebook():
    outputs = [new_output("display_data", data={"text/markdown": "### A result\n\nThe share was **40%**.", "text/plain": "md"}),
               new_output("display_data", data={"text/html": "<table><thead><tr><th>Group</th><th>n</th></tr></thead>"
                                                             "<tbody><tr><td>a</td><td>12</td></tr></tbody></table>",
                                                "text/plain": "table"}),
               new_output("display_data", data={"image/svg+xml": SVG, "text/plain": "figure"})]
    cells = [new_markdown_cell("## Section one\n\nSome text."), new_code_cell("shown()", outputs=outputs),
             new_markdown_cell("## Section two", metadata={"tags": ["new-page"]}),
             new_code_cell("hidden()", metadata={"tags": ["remove_cell"]}, outputs=outputs[:1])]
    for k, cell in enumerate(cells):
        cell["id"] = f"cell-{k}"  # fixed ids (new cells get random ones, which reach the PDF)
    return new_notebook(cells=cells, metadata={"title": "Prepared exporter check"})


def test_a_prepared_exporter_gives_the_same_pdf(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    res = {"metadata": {"name": "check", "path": str(tmp_path)}}
    fresh, _ = FootdropPDFExporter().from_notebook_node(_notebook(), resources=dict(res))
    prepared, _ = FootdropPDFExporter().prepare().from_notebook_node(_notebook(), resources=dict(res))
    assert fresh == prepared


def test_typesetting_uses_the_exporter_prepared_while_the_kernel_ran(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    used = []
    orig = FootdropPDFExporter.from_notebook_node

    def spy(self, nb, resources=None, **kw):
        used.append(self)
        return orig(self, nb, resources=resources, **kw)

    monkeypatch.setattr(FootdropPDFExporter, "from_notebook_node", spy)
    render._warm_typesetting().join()
    assert len(render._prepared) == 1
    prepared = render._prepared[0]
    first = render._typeset(_notebook(), Path(tmp_path) / "a.pdf")
    assert used == [prepared] and render._prepared == []  # used once
    second = render._typeset(_notebook(), Path(tmp_path) / "a.pdf")  # no prepared exporter left: a fresh one
    assert len(used) == 2 and used[1] is not prepared
    assert first == second
