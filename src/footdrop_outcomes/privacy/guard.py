"""Privacy guard: refuse tables that carry direct identifiers or calendar dates.

The guard runs on the *raw* tables of every load (:func:`footdrop_outcomes.load_cohort`,
:meth:`footdrop_outcomes.Cohort.from_csv`, the constructor of an unvalidated ``Cohort`` and
:func:`footdrop_outcomes.privacy.import_cohort`), before the schema checks, so that no schema
error message can ever echo an identifier value.

A column is refused

* **by name** when its name looks like a direct identifier (names, record numbers, national
  IDs, phone numbers, e-mail addresses, street addresses, postcodes, dates of birth or other
  calendar dates, free-text notes), unless it is a column of the data model;
* **by content** when its values look like one, whatever the column is called: e-mail
  addresses, phone numbers, long digit strings (record / national ID numbers, ``YYYYMMDD``),
  national-ID formats (US SSN, UK NINO), calendar dates in any common format, full postcodes
  (UK, US ZIP+4, Canada, Netherlands), street addresses, personal names, free-text notes;
  numbers of 7 or more digits in number columns; date/time column types; time columns whose
  values look like spreadsheet date serials instead of days since onset.

The error (:class:`PrivacyError`) names the file, table, column and reason, with row numbers
but never the offending values. See ``docs/privacy.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from footdrop_outcomes.cohort.schema import SCHEMAS
from footdrop_outcomes.errors import CohortValidationError

__all__ = ["PrivacyError", "PrivacyScanner", "check_privacy", "identifier_name_reason"]

#: Data-model columns that hold times relative to onset, with their unit.
TIME_COLUMNS: dict[str, str] = {"day": "days", "days_to_treatment": "days", "followup_days": "days", "week": "weeks"}


class PrivacyError(CohortValidationError):
    """A table holds something that looks like a direct identifier or a calendar date.

    A :class:`~footdrop_outcomes.errors.CohortValidationError` whose ``failures`` table has an
    extra ``file`` column; ``patient_ids`` is always empty and no value is ever shown.
    """

    def _format(self, max_items: int = 20) -> str:
        n = len(self.failures)
        lines = [f"privacy guard refused the cohort from {self.source}: {n} column{'s' if n != 1 else ''} "
                 "look like direct identifiers or calendar dates (values are not shown)"]
        for rec in self.failures.head(max_items).itertuples(index=False):
            lines.append(f"  - file {rec.file}, {rec.table}.{rec.column}: {rec.problem}; {rec.n_rows} row(s) (rows {rec.rows})")
        if n > max_items:
            lines.append(f"  ... and {n - max_items} more (see the exception's .failures table)")
        lines.append("Nothing was loaded or written. Remove these columns from the extract (or map them away), "
                     "give times as days since onset, then try again.")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# names

_NAME_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("a person's name", re.compile(r"^(?:(?:first|last|given|family|middle|full|maiden|patient|pt|sur|fore|nick|pat|mother|father|next_of_kin|nok|gp|doctor|physician|clinician)_?)?names?$|surname|forename|initials|^fname$|^lname$|^nom$|^name_")),
    ("a record number", re.compile(r"(?:^|_)mrn(?:_|$)|medical_?record|record_?(?:no|num|number|id)|hospital_?(?:no|num|number|id)|hosp_?no|chart_?(?:no|num|number)|case_?(?:no|num|number)|episode_?(?:no|num|number)|encounter_?(?:no|num|number)|accession|(?:^|_)(?:urn|ur_no|pas_?(?:no|id)|emr_?id|ehr_?id)(?:_|$)")),
    ("a national ID", re.compile(r"(?:^|_)(?:ssn|sin|nhs|chi|nino|bsn|pesel|personnummer|cpr|medicare|medicaid|aadhaar|tfn|insee)(?:_|$)|social_?security|national_?(?:id|insurance|number)|passport|driv(?:er|ing)_?licen[cs]e|health_?(?:card|insurance_?(?:no|number))|insurance_?(?:no|num|number|id)|tax_?(?:id|no|number)")),
    ("a phone number", re.compile(r"phone|(?:^|_)(?:tel|tele|telephone|mobile|cell|fax|contact_?(?:no|number))(?:_|$)")),
    ("an e-mail address", re.compile(r"e_?mail")),
    ("a street address", re.compile(r"address|(?:^|_)(?:addr\d*|street|house_?(?:no|number)|residence|home_?town)(?:_|$)")),
    ("a postcode", re.compile(r"post_?code|postal|(?:^|_)zip(?:_?code)?(?:_|$)|(?:^|_)plz(?:_|$)")),
    ("a date of birth", re.compile(r"(?:^|_)dob(?:_|$)|birth|geboren|(?:^|_)bday(?:_|$)")),
    ("a calendar date", re.compile(r"(?:^|_)(?:dates?|dt|datetime|timestamp|time_?stamp|dod|doa|dov|admitted|discharged)(?:_|$)|(?<!up)(?<!candi)(?<!vali)date$")),
    ("free-text notes", re.compile(r"(?:^|_)(?:notes?|comments?|remarks?|narrative|free_?text|text|memo|letter|clinical_?notes?)(?:_|$)")),
    ("an online identifier", re.compile(r"(?:^|_)(?:ip|ip_?address|url|website|username|user_?name|login|device_?serial|serial_?(?:no|number)|mac_?address)(?:_|$)")),
    ("a photograph or biometric", re.compile(r"(?:^|_)(?:photo|photograph|image|fingerprint|face_?image|biometric)s?(?:_|$)")),
]

_MODEL_COLUMNS = frozenset(c for schema in SCHEMAS.values() for c in schema.columns)


def _normalise_name(name: object) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))  # camelCase -> camel_Case
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def identifier_name_reason(name: object) -> str | None:
    """Why a column *name* looks like a direct identifier, or ``None``.

    Columns of the data model never count as identifiers by name.

    Examples
    --------
    >>> identifier_name_reason("Patient Name"), identifier_name_reason("DateOfBirth")
    ("name looks like a person's name", 'name looks like a date of birth')
    >>> identifier_name_reason("followup_days") is None
    True
    """
    if str(name) in _MODEL_COLUMNS:
        return None
    norm = _normalise_name(name)
    for reason, pattern in _NAME_RULES:
        if pattern.search(norm):
            return f"name looks like {reason}"
    return None


# ------------------------------------------------------------------------------------------------
# content

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = (
    r"^\s*(?:"
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ t]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?"  # ISO
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?"  # 15/03/2024, 03-15-24
    rf"|\d{{1,2}}(?:st|nd|rd|th)?[\s\-/]*{_MONTH}[\s\-/,]*\d{{2,4}}"  # 15 March 2024, 15-Mar-24
    rf"|{_MONTH}\s*\d{{1,2}}(?:st|nd|rd|th)?,?\s*\d{{2,4}}"  # March 15, 2024
    rf"|{_MONTH}[\s\-/]\d{{4}}"  # Mar 2024
    r")\s*$"
)

# (reason, pattern, kind): kind "any" refuses the column on one match, "share" when at least
# half of the distinct values match.
_CONTENT_RULES: list[tuple[str, re.Pattern[str], str]] = [
    ("values look like e-mail addresses", re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.I), "any"),
    ("values look like US social security numbers", re.compile(r"^\s*\d{3}-\d{2}-\d{4}\s*$"), "any"),
    ("values look like UK national insurance numbers", re.compile(r"^\s*[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\s*$", re.I), "any"),
    ("values look like calendar dates (give days since onset)", re.compile(_DATE, re.I), "any"),
    ("values look like phone numbers", re.compile(r"^\s*(?:\+|00)?\(?\d[\d\s().\-/]{7,}\d\s*$"), "phone"),
    ("values look like record or national ID numbers (7 or more digits)", re.compile(r"^\s*\d{7,}\s*$|^\s*(?:mrn|nhs|hosp|urn|ur|rn|chi|pas|ssn|nin)\s*[-:#]?\s*\d{5,}\s*$", re.I), "any"),
    ("values look like full postcodes", re.compile(r"^\s*(?:[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}|\d{5}-\d{4}|[A-Z]\d[A-Z]\s?\d[A-Z]\d|\d{4}\s?[A-Z]{2})\s*$", re.I), "any"),
    ("values look like street addresses", re.compile(r"\b\d+[a-z]?,?\s+(?:[a-z'.]+\s+){0,4}(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|boulevard|blvd|court|ct|place|pl|terrace|crescent|gardens|square|sq|strasse|straße|weg|rue|via|calle)\b\.?", re.I), "any"),
    ("values look like personal names", re.compile(r"^\s*(?i:mr|mrs|ms|miss|dr|prof|sir)\.?\s+[A-Z][a-z]|^\s*[A-Z][a-z'’\-]+,\s*[A-Z][a-z'’\-]+\s*$"), "any"),
    ("values look like personal names", re.compile(r"^\s*[A-Z][a-z'’\-]+(?:\s+[A-Z]\.?)?\s+[A-Z][a-z'’\-]+(?:\s+[A-Z][a-z'’\-]+)?\s*$"), "share"),
    ("values look like free-text notes", re.compile(r"^\s*\S+(?:\s+\S+){5,}|^(?=.{60,})", re.S), "any"),
]

#: Numbers at or above this (in absolute value) look like identifiers (phone, record numbers,
#: YYYYMMDD dates); the largest legitimate value in the data model is 3650.
_LONG_NUMBER = 1_000_000
#: Day values in this range look like spreadsheet date serials (1954-09 to 2119-01 in Excel).
_SERIAL_DAYS = (20_000, 80_000)


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _text_findings(uniques: pd.Series, *, column: str) -> list[tuple[str, np.ndarray]]:
    """Content rules on distinct text values; returns (reason, matching distinct values)."""
    found: list[tuple[str, np.ndarray]] = []
    if uniques.empty:
        return found
    values = uniques.astype(str)
    done: set[str] = set()
    for reason, pattern, kind in _CONTENT_RULES:
        if reason in done:
            continue
        if column == "patient_id" and "personal names" in reason and kind == "share":
            continue  # pseudonyms like "Ab Cd" are unlikely; keep the strict patterns only
        hit = values.str.contains(pattern, regex=True).to_numpy(bool)
        if kind == "phone" and hit.any():
            hit &= np.array([9 <= _digits(v) <= 15 for v in values], dtype=bool)
        if kind == "share" and hit.sum() * 2 < len(values):
            continue
        if hit.any():
            found.append((reason, values[hit].to_numpy()))
            done.add(reason)
    return found


@dataclass
class _Finding:
    file: str
    table: str
    column: str
    problem: str
    n_rows: int = 0
    rows: list[int] = field(default_factory=list)


class PrivacyScanner:
    """Accumulates privacy findings over one or more tables, or over chunks of a large table.

    Used by :func:`check_privacy` (whole tables) and by the streaming import (chunk by chunk).

    Parameters
    ----------
    source : str
        Where the tables come from (used in the error message).
    """

    def __init__(self, source: str):
        self.source = source
        self._findings: dict[tuple[str, str, str], _Finding] = {}

    def _add(self, file: str, table: str, column: str, problem: str, rows: np.ndarray | None) -> None:
        key = (table, column, problem)
        f = self._findings.setdefault(key, _Finding(file, table, column, problem))
        if rows is None:
            return
        f.n_rows += int(len(rows))
        if len(f.rows) < 8:
            f.rows.extend(int(r) for r in rows[: 8 - len(f.rows)])

    def scan_names(self, table: str, columns: list[str] | pd.Index, *, file: str = "") -> None:
        """Refuse identifier-like column names."""
        for col in columns:
            reason = identifier_name_reason(col)
            if reason is not None:
                self._add(file or table, table, str(col), reason, None)

    def scan(self, table: str, df: pd.DataFrame, *, file: str = "", row_offset: int = 0, names: bool = True,
             skip: frozenset[str] | set[str] = frozenset(), exempt: Mapping[str, set[str]] | None = None) -> None:
        """Scan one table (or one chunk of it) by column name and content.

        Parameters
        ----------
        table : str
            Table name (``patients``, ``visits``, ``adherence``).
        df : pandas.DataFrame
            The raw table or chunk.
        file : str
            File the table was read from (named in the error).
        row_offset : int
            Added to 0-based positions to give the row numbers shown (e.g. 2 + chunk start
            for CSV files, whose header is line 1).
        names : bool
            Also check the column names (once per table is enough when streaming).
        skip : set of str
            Columns not to scan by content (e.g. a source id column the import replaces).
        exempt : mapping of str to set of str, optional
            Per column, values known to be harmless (the codes a mapping file recodes).
        """
        if names:
            self.scan_names(table, df.columns, file=file)
        for col in df.columns:
            if str(col) in skip:
                continue
            values = df[col]
            if isinstance(values, pd.DataFrame):  # duplicated column name
                values = values.iloc[:, 0]
            for reason, pos in self._column_findings(str(col), values, (exempt or {}).get(str(col))):
                self._add(file or table, table, str(col), reason, pos + row_offset)

    def _column_findings(self, col: str, values: pd.Series, exempt: set[str] | None = None) -> list[tuple[str, np.ndarray]]:
        dtype = values.dtype
        if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
            return [("column holds calendar dates or times (give days since onset)", np.flatnonzero(values.notna().to_numpy()))]
        if pd.api.types.is_bool_dtype(dtype):
            return []
        if pd.api.types.is_numeric_dtype(dtype):
            arr = values.to_numpy(dtype="float64", na_value=np.nan)
            out = []
            long_ = np.flatnonzero(np.abs(np.nan_to_num(arr)) >= _LONG_NUMBER)
            if long_.size:
                out.append(("numbers of 7 or more digits look like phone, record or ID numbers, or YYYYMMDD dates", long_))
            if col in TIME_COLUMNS and TIME_COLUMNS[col] == "days":
                serial = np.flatnonzero((arr >= _SERIAL_DAYS[0]) & (arr < _SERIAL_DAYS[1]))
                if serial.size and serial.size * 2 >= np.isfinite(arr).sum():
                    out.append(("values look like spreadsheet date serials, not days since onset", serial))
            return out
        # text: categorical (scan categories) or object / string (scan distinct values)
        if isinstance(dtype, pd.CategoricalDtype):
            uniques = pd.Series(values.cat.categories[pd.unique(values.cat.codes[values.cat.codes >= 0])])
            codes_of = None
        else:
            text = values.astype("string")
            uniques = pd.Series(text.dropna().unique())
            codes_of = text
        if col in _VOCAB and not uniques.empty:
            uniques = uniques[~uniques.astype(str).isin(_VOCAB[col])]  # allowed categories are fine
        if exempt and not uniques.empty:
            uniques = uniques[~uniques.astype(str).str.strip().str.casefold().isin(exempt)]
        out = []
        as_numbers = pd.to_numeric(uniques.astype(str), errors="coerce") if not uniques.empty else uniques
        if not uniques.empty and as_numbers.notna().all():  # numbers written as text: the number rules apply
            src = codes_of if codes_of is not None else values.astype("string")
            found = self._column_findings(col, as_numbers.astype("float64").reset_index(drop=True))
            return [(reason, np.flatnonzero(src.isin(uniques.to_numpy()[pos]).fillna(False).to_numpy(bool))) for reason, pos in found]
        for reason, matched in _text_findings(uniques.reset_index(drop=True), column=col):
            src = codes_of if codes_of is not None else values.astype("string")
            out.append((reason, np.flatnonzero(src.isin(matched).fillna(False).to_numpy(bool))))
        return out

    @property
    def found(self) -> bool:
        """True once anything was found."""
        return bool(self._findings)

    @property
    def failures(self) -> pd.DataFrame:
        """One row per refused column: file, table, column, problem, rows, patient_ids, n_rows."""
        rows = []
        for f in self._findings.values():
            shown = ", ".join(map(str, f.rows)) + (", ..." if f.n_rows > len(f.rows) else "") if f.rows else "all"
            rows.append({"file": f.file, "table": f.table, "column": f.column, "problem": f.problem,
                         "rows": shown, "patient_ids": "", "n_rows": f.n_rows})
        return pd.DataFrame(rows, columns=["file", "table", "column", "problem", "rows", "patient_ids", "n_rows"])

    def raise_if_any(self) -> None:
        """Raise :class:`PrivacyError` when anything was found."""
        if self._findings:
            raise PrivacyError(self.failures, self.source)


def _allowed(column: str) -> frozenset[str] | None:
    for schema in SCHEMAS.values():
        if column in schema.columns:
            for check in schema.columns[column].checks:
                if check.name == "isin":
                    return frozenset(map(str, check.statistics["allowed_values"]))
    return None


_VOCAB: dict[str, frozenset[str]] = {c: v for c in _MODEL_COLUMNS if (v := _allowed(c)) is not None}


def check_privacy(
    tables: Mapping[str, pd.DataFrame],
    *,
    source: str = "in-memory tables",
    files: Mapping[str, object] | None = None,
    row_offset: int = 0,
) -> None:
    """Refuse tables that hold direct identifiers or calendar dates (see the module docstring).

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Raw tables by name (any subset of ``patients``, ``visits``, ``adherence``).
    source : str
        Where the tables came from (used in the error message).
    files : mapping of str to path-like, optional
        File each table was read from (named in the error).
    row_offset : int
        Added to 0-based positions in the error (2 for CSV files).

    Raises
    ------
    PrivacyError
        Naming the file, table, column and reason for each refused column; values never shown.

    Examples
    --------
    >>> import pandas as pd
    >>> check_privacy({"patients": pd.DataFrame({"patient_id": ["P1"], "age": [54]})})  # passes
    >>> try:
    ...     check_privacy({"patients": pd.DataFrame({"patient_id": ["P1"], "contact": ["jo@example.org"]})})
    ... except PrivacyError as e:
    ...     print(e.failures.loc[0, "column"], "|", e.failures.loc[0, "problem"])
    contact | values look like e-mail addresses
    """
    scanner = PrivacyScanner(source)
    for name, df in tables.items():
        file = str((files or {}).get(name, "")) or name
        scanner.scan(name, df, file=file, row_offset=row_offset)
    scanner.raise_if_any()
