"""Base of every analysis result: a tidy ``summary`` table first, a plot as a view of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["AnalysisResult"]


@dataclass(frozen=True, repr=False)
class AnalysisResult:
    """A fitted analysis.

    Attributes
    ----------
    summary : pandas.DataFrame
        The headline table (tidy: one row per estimate).
    info : dict
        What was done: method, options, n, events, warnings issued, software versions.
    """

    summary: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:  # pragma: no cover - overridden
        """Draw the result on a matplotlib Axes (created when ``ax`` is None) and return it."""
        raise NotImplementedError(f"{type(self).__name__} has no plot")

    def __repr__(self) -> str:
        head = ", ".join(f"{k}={v}" for k, v in self.info.items() if k in ("method", "n", "events", "groups"))
        return f"{type(self).__name__}({head})"

    def _repr_html_(self) -> str:
        return f"<p><b>{type(self).__name__}</b> {self.__repr__()}</p>" + self.summary._repr_html_()  # type: ignore[operator]
