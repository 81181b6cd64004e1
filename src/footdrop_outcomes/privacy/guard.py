"""The privacy guard, as the privacy layer uses it (a re-export of :mod:`footdrop_outcomes.guard`).

The checks live in :mod:`footdrop_outcomes.guard`, below the cohort layer; the cohort layer
registers its data model there (:mod:`footdrop_outcomes.cohort._guard_model`). Importing this
module makes sure it is registered. Rules: ``docs/privacy.md``, section 1.
"""

from __future__ import annotations

from footdrop_outcomes.cohort._guard_model import GUARD_MODEL
from footdrop_outcomes.guard import (
    PrivacyError,
    PrivacyScanner,
    check_privacy,
    check_text,
    find_identifiers,
    identifier_name_reason,
)

__all__ = ["PrivacyError", "PrivacyScanner", "check_privacy", "check_text", "find_identifiers", "identifier_name_reason",
           "GUARD_MODEL"]
