"""Release control: the one door through which numbers leave for a report.

Layer between the analyses and the report (imports the cohort layer, never the report, studies
or command line). Every table, figure and sentence a report shows is a *released* object:

* :class:`ReleasePolicy` (frozen): the small-cell threshold (default 10, never below
  :data:`MIN_THRESHOLD` = 5 unless ``internal_use=True``, which stamps "NOT FOR RELEASE");
* :func:`release_cohort`: the cohort a report is written from, without the groups of 1 to
  threshold patients (by cause, severity, intervention, ...), so no curve, median, share or
  model contrast of a small group can be computed in the first place;
* :func:`release_table`, :func:`release_text`, :func:`release_figure`: a table, sentence or
  figure with the number of patients behind each row, cell, sentence or curve (its *support*);
  every statistic whose support is 1..threshold is masked;
* :func:`suppress_counts` (primary and complementary suppression, audited with non-negativity),
  :func:`at_risk_labels`, :func:`format_count` for counts.

The report's page-level functions accept released objects only. Rules: ``docs/privacy.md``
section 4 and ``docs/reports.md``.
"""

from footdrop_outcomes.release.cohort import PROTECTED_GROUPS, ReleasedCohort, release_cohort
from footdrop_outcomes.release.policy import MIN_THRESHOLD, NOT_FOR_RELEASE, ReleaseError, ReleasePolicy, TooFewToRelease
from footdrop_outcomes.release.released import (
    MASK,
    ReleasedFigure,
    ReleasedTable,
    ReleasedText,
    release_figure,
    release_table,
    release_text,
    term_support,
)
from footdrop_outcomes.release.suppression import DEFAULT_THRESHOLD, SuppressedCounts, at_risk_labels, format_count, suppress_counts

__all__ = [
    "ReleasePolicy",
    "ReleaseError",
    "TooFewToRelease",
    "MIN_THRESHOLD",
    "NOT_FOR_RELEASE",
    "release_cohort",
    "ReleasedCohort",
    "PROTECTED_GROUPS",
    "release_table",
    "release_text",
    "release_figure",
    "ReleasedTable",
    "ReleasedText",
    "ReleasedFigure",
    "MASK",
    "term_support",
    "suppress_counts",
    "SuppressedCounts",
    "at_risk_labels",
    "format_count",
    "DEFAULT_THRESHOLD",
]
