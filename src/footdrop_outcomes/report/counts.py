"""The one place where patient counts become text in a report.

Every table and sentence of the report layer formats a count of patients through
:func:`show_count` or :func:`count_percent`. Small-cell suppression (any count from 1 to 10 shown
as "<11", a separate issue) plugs in here, so no table can bypass it.

>>> count_percent(37, 200)
'37 (18.5%)'
>>> show_count(1234)
'1,234'
"""

from __future__ import annotations

__all__ = ["show_count", "count_percent"]


def show_count(n: int) -> str:
    """A count of patients (or events) as shown in a report."""
    return f"{int(n):,}"


def count_percent(n: int, total: int, *, digits: int = 1) -> str:
    """``n (p%)`` with ``p = 100 n / total``; ``total = 0`` gives ``n (-)``."""
    if total <= 0:
        return f"{show_count(n)} (-)"
    return f"{show_count(n)} ({100.0 * n / total:.{digits}f}%)"
