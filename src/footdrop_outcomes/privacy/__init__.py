"""Real, de-identified cohorts: the one door through which real data enters and results leave.

* :func:`import_cohort` with a mapping file (:func:`load_mapping`): a site's extract (CSV or
  Parquet, any layout) into a validated cohort directory, streamed and atomic.
* :func:`check_privacy`: the guard every load runs; refuses direct identifiers and calendar
  dates by column name and content (:class:`PrivacyError`, never showing values).
* :func:`kanonymity`: quasi-identifier risk over age band, sex, site and cause;
  :func:`top_code_ages` (90 means 90 or older).
* :func:`suppress_counts`: small-cell protection for every published table of counts, with
  complementary suppression; :func:`at_risk_labels` / :func:`format_count` for plot annotations.

Rules, mapping format and the suppression algorithm: ``docs/privacy.md``.
"""

from footdrop_outcomes.privacy.guard import PrivacyError, PrivacyScanner, check_privacy, identifier_name_reason
from footdrop_outcomes.privacy.importing import ImportResult, import_cohort
from footdrop_outcomes.privacy.kanonymity import AGE_TOP_CODE, KAnonymityReport, age_band, kanonymity, top_code_ages
from footdrop_outcomes.privacy.mapping import CohortMapping, TableMapping, load_mapping
from footdrop_outcomes.release.suppression import (  # moved to the release-control layer; re-exported here
    DEFAULT_THRESHOLD,
    SuppressedCounts,
    at_risk_labels,
    format_count,
    suppress_counts,
)

__all__ = [
    "import_cohort",
    "ImportResult",
    "load_mapping",
    "CohortMapping",
    "TableMapping",
    "check_privacy",
    "PrivacyError",
    "PrivacyScanner",
    "identifier_name_reason",
    "kanonymity",
    "KAnonymityReport",
    "age_band",
    "top_code_ages",
    "AGE_TOP_CODE",
    "suppress_counts",
    "SuppressedCounts",
    "format_count",
    "at_risk_labels",
    "DEFAULT_THRESHOLD",
]
