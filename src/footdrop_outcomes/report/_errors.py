"""Errors of the report layer (subclasses of :class:`footdrop_outcomes.errors.FootdropError`)."""

from __future__ import annotations

from footdrop_outcomes.errors import ConfigError, FootdropError

__all__ = ["ReportError", "ReportParameterError", "NotebookExecutionError"]


class ReportError(FootdropError, RuntimeError):
    """A report could not be built (missing notebook, typesetting failed, refused resource)."""


class ReportParameterError(ReportError, ConfigError):
    """A report parameter is unknown, has the wrong type or an invalid value (names it and the allowed values)."""


class NotebookExecutionError(ReportError):
    """A notebook cell failed while the report ran.

    Attributes
    ----------
    cell_index : int
        0-based position of the failing cell in the executed notebook.
    execution_count : int or None
    ename, evalue : str
        The error's class name and message.
    source : str
        The failing cell's source.
    executed_notebook : pathlib.Path or None
        Where the executed notebook (with the error) was kept.
    """

    def __init__(self, *, notebook: str, cell_index: int, execution_count: int | None, ename: str, evalue: str,
                 source: str, executed_notebook: object = None):
        self.notebook = notebook
        self.cell_index = cell_index
        self.execution_count = execution_count
        self.ename = ename
        self.evalue = evalue
        self.source = source
        self.executed_notebook = executed_notebook
        first = next((ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "").strip()
        count = f", execution count {execution_count}" if execution_count is not None else ""
        kept = f"\nThe executed notebook, with the error, is at {executed_notebook}." if executed_notebook else ""
        super().__init__(
            f"notebook {notebook} failed in cell {cell_index}{count} ({first[:80]!r}): {ename}: {evalue}\n"
            f"No PDF was written. Fix the cell or its parameters, then run again.{kept}"
        )
