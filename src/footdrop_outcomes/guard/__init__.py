"""The privacy guard: pure checks that refuse direct identifiers and calendar dates.

This package sits at the bottom of the package, below the cohort layer: it imports only the
standard library, numpy, pandas, pyarrow and :mod:`footdrop_outcomes.errors`. What it needs to
know about the data model (columns, closed vocabularies, key and label columns) the cohort
layer gives it (:class:`DataModel`, :func:`register_data_model`).

* :func:`check_privacy` / :class:`PrivacyScanner`: tables (whole, or chunk by chunk);
* :func:`check_text`: one text value (a report title, a label), naming only where it came from;
* :func:`find_identifiers`: which of several values look like identifiers (positions only);
* :func:`identifier_name_reason`: the column-name rules.

Every content pattern is RE2 (run by ``pyarrow.compute``): time is linear in the length of the
text, and long values are refused as free text before any other rule runs. Rules in words, and
what they cannot catch: ``docs/privacy.md``, section 1.
"""

from footdrop_outcomes.guard._model import DataModel, data_model, register_data_model
from footdrop_outcomes.guard._scanner import (
    PrivacyError,
    PrivacyScanner,
    check_privacy,
    check_text,
    find_identifiers,
    identifier_name_reason,
    key_threshold,
)

__all__ = [
    "DataModel",
    "register_data_model",
    "data_model",
    "PrivacyError",
    "PrivacyScanner",
    "check_privacy",
    "check_text",
    "find_identifiers",
    "identifier_name_reason",
    "key_threshold",
]
