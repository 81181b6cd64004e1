"""Guard rules at their documented edges (issue 21: survivors of the mutation run over
``guard/_rules.py``).

* Short record labels ("UR123456", "PID12345") have the simple shape of study codes
  (``_patterns.PLAIN``), for which only a few patterns are run; the run found that pointing that
  short list at the wrong national-ID pattern let every such label through unnoticed.
* Bare phone numbers have 9 to 15 digits (E.164 allows at most 15): the run found that 15
  digits could be dropped from the phone rule without a test noticing.
"""

from __future__ import annotations

import re

import pytest

from footdrop_outcomes.guard import find_identifiers

HARMLESS = ["S01", "0", "stroke"]
ID_REASON = "values look like record or national ID numbers"
PHONE_REASON = "values look like phone numbers"

# short record labels (UR, HN, RN, MR, PAS, PID, NHC, IPP, NHI) with 5 or 6 digits, no leading
# zero: the digits alone are too few for the long-digit rules, so only the label rule sees them
SHORT_LABELS = ["UR123456", "HN12345", "RN-123456", "PAS_123456", "PID12345", "NHC12345", "IPP123456", "NHI12345",
                "MR12345", "ur_55555"]


@pytest.mark.parametrize("kind", ["free", "label", "code"])
@pytest.mark.parametrize("value", SHORT_LABELS)
def test_short_record_labels_of_code_shape_are_refused(value, kind):
    assert re.fullmatch(r"[A-Za-z]{1,4}[-_]?[0-9]{1,8}", value)  # the shape of a study code (PLAIN)
    hits = dict(find_identifiers([*HARMLESS, value], kind=kind))
    assert hits.get(ID_REASON) == [3], hits


@pytest.mark.parametrize(("value", "digits"), [("020 7946 095", 10), ("+44 20 7946 0958", 12), ("+855 12 345 678 901", 14),
                                               ("+49 30 1234 5678 901", 15), ("+49 301 234 567 8901", 15)])
def test_phone_numbers_of_9_to_15_digits_are_called_phone_numbers(value, digits):
    assert len(re.sub(r"\D", "", value)) == digits
    hits = dict(find_identifiers([*HARMLESS, value], kind="free"))
    assert hits.get(PHONE_REASON) == [3], hits


def test_sixteen_digits_are_not_a_phone_number_but_still_refused():
    value = "+49 30 1234 5678 9012"
    assert len(re.sub(r"\D", "", value)) == 16  # above E.164's 15
    hits = dict(find_identifiers([*HARMLESS, value], kind="free"))
    assert PHONE_REASON not in hits and any(pos == [3] for pos in hits.values()), hits


def test_key_numbers_read_a_year_as_a_study_year_only_next_to_another_number():
    # documented: a key's number is its largest run of digits; a four-digit year (1900-2099) next
    # to another number is a study year, not a count ("FD2024-001" holds 1); alone it is the number
    import pyarrow as pa

    from footdrop_outcomes.guard._rules import key_numbers

    keys = {"FD2024-001": 1, "FD1999-12": 12, "P1987": 1987, "1950": 1950, "2024": 2024, "X2100-3": 2100, "S01": 1,
            "P0000123": 123, "abc": 0}
    assert key_numbers(pa.array(list(keys))).tolist() == [float(v) for v in keys.values()]


def test_an_exemption_for_one_chunk_does_not_carry_over_to_the_next():
    # the scanner caches the findings of a categorical column between chunks; findings computed
    # with a mapping's exemptions must not be reused for a chunk scanned without them
    import pandas as pd

    from footdrop_outcomes.guard import PrivacyScanner

    cats = ["stroke", "jane.doe@example.com"]
    chunk = pd.DataFrame({"patient_id": ["P1", "P2"], "ref": pd.Categorical(cats, categories=cats)})
    scanner = PrivacyScanner("test")
    scanner.scan("patients", chunk, exempt={"ref": {"jane.doe@example.com"}})
    assert not scanner.found  # exempted in this chunk
    scanner.scan("patients", chunk, row_offset=2, names=False)  # the same categories, no exemption
    assert scanner.found
    f = scanner.failures
    assert set(f["column"]) == {"ref"} and f["problem"].str.contains("e-mail").any()
    assert set(f["rows"]) == {"3"}  # the e-mail's row in the second chunk (offset 2, position 1)


def test_a_refusal_lists_the_first_eight_rows_over_all_chunks_and_counts_them_all():
    # 15 e-mail addresses in three chunks of 5: rows 2..16 (CSV lines); the first eight are listed
    import pandas as pd

    from footdrop_outcomes.guard import PrivacyScanner

    scanner = PrivacyScanner("test")
    for k in range(3):
        chunk = pd.DataFrame({"patient_id": [f"P{k}{i}" for i in range(5)],
                              "ref": [f"jane{k}{i}.doe@example.com" for i in range(5)]})
        scanner.scan("patients", chunk, row_offset=2 + 5 * k, names=k == 0)
    f = scanner.failures
    mail = f[f["problem"].str.contains("e-mail")].iloc[0]
    assert int(mail["n_rows"]) == 15
    assert mail["rows"] == "2, 3, 4, 5, 6, 7, 8, 9, ..."
