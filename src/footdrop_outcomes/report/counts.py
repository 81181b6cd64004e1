"""The one place where patient counts become text in a report, with small-cell protection.

Every table, sentence and figure annotation of the report layer formats a count of patients
through this module, which uses the privacy module's public API
(:func:`footdrop_outcomes.release.format_count`, :func:`~footdrop_outcomes.release.suppress_counts`,
:func:`~footdrop_outcomes.release.at_risk_labels`):

* a count from 1 to the threshold (report parameter ``small_cell_threshold``, default 10) is
  shown as ``≤10`` and never with a percentage (the percentage would give the count back);
* tables of counts with known totals (a cause x category breakdown) are protected together
  with their margins by :func:`protect`, so that a hidden cell cannot be worked out from the
  totals (complementary suppression): such further hidden cells show as ``*``;
* numbers at risk under curves go through ``at_risk_labels`` (rounded to 5).

The policy (threshold, internal use) is set once per report by :func:`set_policy` /
:func:`set_threshold` (``notebook.setup`` does it from the report parameter). :func:`table`,
:func:`text` and :func:`figure` release a view under that policy
(:mod:`footdrop_outcomes.release`): the report's pages accept nothing else.

>>> count_percent(37, 200)
'37 (18.5%)'
>>> show_count(1234), show_count(7), count_percent(7, 200)
('1,234', '≤10', '≤10')
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from footdrop_outcomes.release import (
    DEFAULT_THRESHOLD,
    ReleasedFigure,
    ReleasedTable,
    ReleasedText,
    ReleaseError,
    ReleasePolicy,
    format_count,
    release_figure,
    release_table,
    release_text,
    suppress_counts,
)

__all__ = ["show_count", "count_percent", "is_small", "group_sizes", "set_threshold", "get_threshold", "set_policy", "get_policy",
           "protect", "Protected", "HIDDEN", "footnote", "DEFAULT_THRESHOLD", "table", "text", "figure", "static"]

#: Marker of a cell hidden by complementary suppression (its count is above the threshold).
HIDDEN = "*"

_state: dict[str, Any] = {"policy": ReleasePolicy()}


def set_policy(policy: ReleasePolicy) -> None:
    """Set the release policy of the report being built (``notebook.setup`` does it)."""
    if not isinstance(policy, ReleasePolicy):
        raise ReleaseError(f"set_policy needs a ReleasePolicy, got {type(policy).__name__}")
    _state["policy"] = policy


def get_policy() -> ReleasePolicy:
    """The release policy in force."""
    return _state["policy"]


def set_threshold(threshold: int, *, internal_use: bool = False) -> None:
    """Set the small-cell threshold for the report being built (counts 1..threshold hidden); below
    :data:`~footdrop_outcomes.release.MIN_THRESHOLD` only with ``internal_use`` (pages stamped)."""
    set_policy(ReleasePolicy(threshold, internal_use=internal_use))


def get_threshold() -> int:
    """The small-cell threshold in force."""
    return get_policy().threshold


def table(df: pd.DataFrame, support: Any, *, keep: Any = ()) -> ReleasedTable:
    """:func:`~footdrop_outcomes.release.release_table` under the report's policy."""
    return release_table(df, get_policy(), support=support, keep=keep)


def text(s: str, support: Any, *, replacement: str | None = None) -> ReleasedText:
    """:func:`~footdrop_outcomes.release.release_text` under the report's policy."""
    return release_text(s, get_policy(), support=support, replacement=replacement)


def static(s: str) -> ReleasedText:
    """Text that states no number derived from the data (refused if it holds a digit)."""
    return release_text(s, get_policy(), support=None)


def figure(fig: Any, support: Any) -> ReleasedFigure:
    """:func:`~footdrop_outcomes.release.release_figure` under the report's policy; a figure that
    would draw a group of threshold or fewer patients is replaced by a note (the report goes on;
    nothing of the figure is shown)."""
    import numpy as np

    policy = get_policy()
    sizes = [support] if np.isscalar(support) else list(dict(support).values())
    if any(policy.is_small(n) for n in sizes):
        import matplotlib.pyplot as plt

        plt.close(getattr(fig, "figure", fig))
        note, ax = plt.subplots(figsize=(6.0, 0.6))
        ax.set_axis_off()
        ax.text(0.0, 0.5, f"Figure not shown: it would draw a group of {policy.threshold} or fewer patients.", va="center",
                transform=ax.transAxes)
        return release_figure(note, policy, support={})
    return release_figure(fig, policy, support=support)


def footnote() -> str:
    """The sentence explaining the markers, for captions and the limitations."""
    t = get_threshold()
    return (f"Counts from 1 to {t} are shown as ≤{t} and without a percentage; {HIDDEN} marks a count hidden so that "
            "a small count cannot be worked out from the totals.")


def is_small(n: Any) -> bool:
    """True for a count from 1 to the threshold."""
    return 1 <= int(n) <= get_threshold()


def show_count(n: int, *, hidden: bool = False) -> str:
    """A count of patients (or events) as shown in a report: ``≤10`` when small, ``*`` when
    hidden by complementary suppression, else with thousands separators."""
    n = int(n)
    if is_small(n):
        return format_count(n, get_threshold())
    if hidden:
        return HIDDEN
    return f"{n:,}"


def count_percent(n: int, total: int, *, digits: int = 1, hidden: bool = False, total_hidden: bool = False) -> str:
    """``n (p%)`` with ``p = 100 n / total``; a small or hidden count is shown without its
    percentage, and so is any count whose denominator is hidden; ``total = 0`` gives ``n (-)``."""
    if is_small(n) or hidden:
        return show_count(n, hidden=hidden)
    if total <= 0:
        return f"{show_count(n)} (-)"
    if total_hidden or is_small(total):
        return show_count(n)
    return f"{show_count(n)} ({100.0 * n / total:.{digits}f}%)"


class Protected:
    """A table of counts protected with its margins (rows = groups, columns = categories).

    ``hidden(row, col)`` tells whether a cell may not be shown (``"Total"`` names a margin);
    ``count(row, col)`` is the true count (for percentages of shown cells only).

    >>> t = pd.DataFrame({"yes": [3, 40], "no": [50, 60]}, index=["a", "b"])
    >>> p = protect(t)
    >>> p.text("a", "yes"), p.hidden("b", "yes"), p.text("Total", "yes")
    ('≤10', True, '43')
    """

    def __init__(self, counts: pd.DataFrame) -> None:
        self.counts = counts
        self.result = suppress_counts(counts, threshold=get_threshold(), margins=True)
        full = counts.copy()
        full["Total"] = full.sum(axis=1)
        full.loc["Total"] = full.sum(axis=0)
        self.full = full

    def hidden(self, row: Any, col: Any) -> bool:
        return bool(self.result.hidden.loc[row, col])

    def count(self, row: Any, col: Any) -> int:
        return int(self.full.loc[row, col])

    def text(self, row: Any, col: Any) -> str:
        return show_count(self.count(row, col), hidden=self.hidden(row, col))

    def percent(self, row: Any, col: Any, *, digits: int = 1) -> str:
        """``n (p%)`` of the row's total (the row total's own hiding removes the percentage)."""
        return count_percent(self.count(row, col), self.count(row, "Total"), digits=digits, hidden=self.hidden(row, col),
                             total_hidden=self.hidden(row, "Total"))


def group_sizes(values: pd.Series) -> Protected:
    """Patients per group (e.g. per cause) protected with the grand total, always the same way:
    every table that prints these sizes must use this, so that a size hidden in one table (a
    complementary cell) is not printed by another. Look up with ``.text(group, "n")``."""
    return protect(values.astype(str).value_counts().astype("int64"))


def protect(counts: pd.DataFrame | pd.Series) -> Protected:
    """Protect a table of counts (groups x categories, no totals; a Series is one column)."""
    if isinstance(counts, pd.Series):
        counts = counts.to_frame(name="n")
    # rows and columns in label order: the same counts give the same hidden cells in every table
    counts = counts.sort_index(axis=0, key=lambda i: i.astype(str)).sort_index(axis=1, key=lambda i: i.astype(str))
    return Protected(counts.astype("int64"))
