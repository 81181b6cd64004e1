"""The table scanner, the error it raises, and the checks built on it."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from footdrop_outcomes.errors import CohortValidationError, safe_column_name
from footdrop_outcomes.guard import _rules
from footdrop_outcomes.guard._model import DataModel, data_model
from footdrop_outcomes.guard._names import name_reason

#: Numbers at or above this (in absolute value) look like identifiers (phone, record numbers,
#: YYYYMMDD dates); the largest legitimate value in the data model is 3650.
LONG_NUMBER = 1_000_000
#: Day values in this range look like spreadsheet date serials (1954-09 to 2119-01 in Excel).
SERIAL_DAYS = (20_000, 80_000)


def key_threshold(n_keys: int) -> float:
    """Largest number a sequential pseudonym can hold in a column of ``n_keys`` distinct keys.

    Study numbers count patients (``P0000001``, ``FD-0001``); a key whose number is larger than
    ten times the number of keys plus 1,000 was not counted out for this cohort: it is an
    institution's record number (``H123456`` among 300 patients).
    """
    return 10.0 * n_keys + 1000.0


class PrivacyError(CohortValidationError):
    """Something looks like a direct identifier or a calendar date.

    A :class:`~footdrop_outcomes.errors.CohortValidationError` whose ``failures`` table has an
    extra ``file`` column; ``patient_ids`` is always empty and no value is ever shown.
    """

    def _format(self, max_items: int = 20) -> str:
        n = len(self.failures)
        lines = [f"privacy guard refused {self.source}: {n} problem{'s' if n != 1 else ''} "
                 "look like direct identifiers or calendar dates (values are not shown)"]
        for rec in self.failures.head(max_items).itertuples(index=False):
            if rec.table or rec.column:
                rows = "" if rec.n_rows == 0 and rec.rows == "all" else f"; {rec.n_rows} row(s) (rows {rec.rows})"
                lines.append(f"  - file {rec.file}, {rec.table}.{rec.column}: {rec.problem}{rows}")
            else:
                lines.append(f"  - {rec.file}: {rec.problem}")
        if n > max_items:
            lines.append(f"  ... and {n - max_items} more (see the exception's .failures table)")
        lines.append("Nothing was loaded or written. Remove these columns or values (or map them away), "
                     "give times as days since onset, then try again (docs/privacy.md, section 1).")
        return "\n".join(lines)


_COLUMNS = ["file", "table", "column", "problem", "rows", "patient_ids", "n_rows"]


@dataclass
class _Finding:
    file: str
    table: str
    column: str
    problem: str
    n_rows: int = 0
    rows: list[int] = field(default_factory=list)

    def add(self, rows: np.ndarray) -> None:
        self.n_rows += int(len(rows))
        if len(self.rows) < 8:
            self.rows.extend(int(r) for r in rows[: 8 - len(self.rows)])


@dataclass
class _PendingKeys:
    """Keys whose number is above the threshold for the keys seen so far (decided at the end)."""

    file: str
    table: str
    column: str
    key_column: str
    numbers: np.ndarray
    counts: np.ndarray
    first_rows: np.ndarray


@dataclass
class _Cached:
    categories: pd.Index
    findings: list[tuple[str, np.ndarray]]
    numbers: np.ndarray | None
    words: dict[int, list[str]] | None = None


@dataclass
class _Word:
    """A word (run of letters) found in patient keys: which keys hold it (two are enough) and where."""

    keys: set[str] = field(default_factory=set)
    #: (file, table, column) -> key -> [rows, first row]
    where: dict[tuple[str, str, str], dict[str, list[int]]] = field(default_factory=dict)


_KEY_WORD = "keys hold a word that no other key shares (a name?)"


_DENSITY = "keys look like record or national ID numbers (numbers far larger than the number of patients)"


class PrivacyScanner:
    """Accumulates privacy findings over one or more tables, or over chunks of a large table.

    Used by :func:`check_privacy` (whole tables) and by the streaming import (chunk by chunk).

    Parameters
    ----------
    source : str
        Where the tables come from (used in the error message).
    model : DataModel, optional
        The data model (columns, vocabularies, key and label columns); by default the one the
        cohort layer registered (:func:`register_data_model`).
    """

    def __init__(self, source: str, *, model: DataModel | None = None, key_reference: int = 0):
        self.source = source
        self.model = model if model is not None else data_model()
        self.key_reference = int(key_reference)
        self._findings: dict[tuple[str, str, str], _Finding] = {}
        self._keys: dict[str, set[str]] = {}
        self._pending: list[_PendingKeys] = []
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._words: dict[str, dict[str, _Word]] = {}

    # -- recording ------------------------------------------------------------------------------
    def _finding(self, file: str, table: str, column: str, problem: str) -> _Finding:
        return self._findings.setdefault((table, column, problem), _Finding(file, table, column, problem))

    def scan_names(self, table: str, columns: Iterable[object], *, file: str = "") -> None:
        """Refuse identifier-like column names, and headers that look like data values."""
        for pos, col in enumerate(columns):
            if str(col) in self.model.columns:
                continue
            shown = self._shown(col, pos)
            reason = name_reason(col)
            if reason is None:
                found = _header_findings(str(col))
                if found:
                    reason = f"column name looks like a data value ({found[0]})"
            if reason is not None:
                self._finding(file or table, table, shown, reason)

    def _shown(self, col: object, pos: int) -> str:
        """A column as named in messages: ``<column N>`` when the header itself could be a value."""
        if str(col) in self.model.columns:
            return str(col)
        shown = safe_column_name(col, pos)
        if shown == str(col) and _header_findings(shown):
            return f"<column {pos + 1}>"
        return shown

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
            Per column, values known to be harmless (the codes of a mapping file, which
            :func:`footdrop_outcomes.privacy.load_mapping` has checked itself), compared
            stripped and case-folded.
        """
        if names:
            self.scan_names(table, df.columns, file=file)
        for pos, col in enumerate(df.columns):
            if str(col) in skip:
                continue
            values = df.iloc[:, pos]
            shown = self._shown(col, pos)
            for reason, rows in self._column(str(col), values, (exempt or {}).get(str(col)), file or table, table, shown,
                                             row_offset):
                self._finding(file or table, table, shown, reason).add(rows + row_offset)

    # -- one column -----------------------------------------------------------------------------
    def _kind(self, col: str) -> _rules.Kind:
        if col in self.model.keys:
            return "key"
        if col in self.model.labels:
            return "label"
        if col in self.model.vocabularies:
            return "code"
        return "free"

    def _column(self, col: str, values: pd.Series, exempt: set[str] | None, file: str, table: str, shown: str,
                row_offset: int) -> list[tuple[str, np.ndarray]]:
        dtype = values.dtype
        if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
            return [("column holds calendar dates or times (give days since onset)", np.flatnonzero(values.notna().to_numpy()))]
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
            return []
        if isinstance(dtype, pd.CategoricalDtype) and not (
                pd.api.types.is_object_dtype(dtype.categories.dtype) or pd.api.types.is_string_dtype(dtype.categories.dtype)):
            values = pd.Series(np.asarray(values, dtype=object), index=values.index)  # numeric categories: as values
            dtype = values.dtype
        if pd.api.types.is_numeric_dtype(dtype) and self._kind(col) != "key":
            return self._numbers(col, values.to_numpy(dtype="float64", na_value=np.nan))
        # nested values (lists, arrays, dicts, Parquet lists and structs) and bytes: every element
        # is a text value of its row
        row_of: np.ndarray | None = None
        if _needs_flattening(values):
            values, row_of = _flatten(values)
            dtype = values.dtype
        # text: distinct values, and the code of each row
        words: dict[int, list[str]] | None = None
        if isinstance(dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy()
            uniques = pd.Index(dtype.categories)
            cache_key = (col, self._kind(col))
            hit = self._cache.get(cache_key)
            if hit is not None and not exempt and hit.categories.equals(uniques):
                found, numbers, words = hit.findings, hit.numbers, hit.words
            else:
                found, numbers, words = self._text(col, uniques, exempt)
                if not exempt:
                    self._cache[cache_key] = _Cached(uniques, found, numbers, words)
                if self._kind(col) == "key":
                    self._keys.setdefault(col, set()).update(map(str, uniques))
        else:
            codes, uniq = pd.factorize(values, use_na_sentinel=True)
            uniques = pd.Index(uniq)
            found, numbers, words = self._text(col, uniques, exempt)
            if self._kind(col) == "key":
                self._keys.setdefault(col, set()).update(map(str, uniques))
        out = [(reason, np.flatnonzero(np.isin(codes, np.flatnonzero(mask)))) for reason, mask in found]
        if row_of is not None:  # positions of the flattened elements -> rows of the column
            out = [(reason, np.unique(row_of[pos])) for reason, pos in out]
        if numbers is not None:
            self._pend(col, numbers, codes, file, table, shown, row_offset, row_of)
        if words:
            self._record_words(col, uniques, words, codes, file, table, shown, row_offset, row_of)
        return out

    def _record_words(self, col: str, uniques: pd.Index, words: dict[int, list[str]], codes: np.ndarray, file: str,
                      table: str, shown: str, row_offset: int, row_of: np.ndarray | None) -> None:
        """Remember which keys hold which words, and the rows they are on (decided in ``_settled``)."""
        seen = self._words.setdefault(col, {})
        valid = codes >= 0
        counts = np.bincount(codes[valid], minlength=len(uniques))
        first = np.full(len(uniques), -1, dtype=np.int64)
        pos = np.flatnonzero(valid)
        first[codes[pos][::-1]] = pos[::-1] if row_of is None else row_of[pos[::-1]]
        for i, ws in words.items():
            if counts[i] == 0:
                continue
            key = str(uniques[i])
            for w in ws:
                entry = seen.setdefault(w, _Word())
                if len(entry.keys) < 2:
                    entry.keys.add(key)
                place = entry.where.setdefault((file, table, shown), {}).setdefault(key, [0, int(first[i]) + row_offset])
                place[0] += int(counts[i])

    def _text(self, col: str, uniques: pd.Index, exempt: set[str] | None
              ) -> tuple[list[tuple[str, np.ndarray]], np.ndarray | None, dict[int, list[str]] | None]:
        """Findings as masks over ``uniques``; for key columns also each key's number and words."""
        kind = self._kind(col)
        n = len(uniques)
        if n == 0:
            return [], None, None
        bytes_like = uniques.dtype == object and pd.api.types.infer_dtype(uniques, skipna=True) not in ("string", "empty")
        text = np.asarray([_as_text(u) for u in uniques] if bytes_like else uniques.astype(str), dtype=object)
        check = np.ones(n, bool)
        vocab = self.model.vocabularies.get(col)
        if vocab is not None:
            check &= ~pd.Index(text).isin(list(vocab))
        if exempt:
            check &= ~pd.Index(text).str.strip().str.casefold().isin(list(exempt))
        idx = np.flatnonzero(check)
        if idx.size == 0:
            return [], None, None
        sub = text[idx]
        if kind != "key":
            as_numbers = pd.to_numeric(pd.Series(sub), errors="coerce")
            if as_numbers.notna().all():  # numbers written as text: the number rules apply (and zero padding)
                found = self._numbers(col, as_numbers.to_numpy(dtype="float64"), texts=sub)
                masks = [(r, np.isin(np.arange(len(sub)), pos)) for r, pos in found]
                padded = _rules.zero_padded(_rules.as_arrow(list(sub)))
                if padded.any():
                    masks.append((_rules.ZERO_PADDED_REASON, padded))
                return [(r, _spread(m, idx, n)) for r, m in masks], None, None
        arrow = _rules.as_arrow(list(sub))
        found = [(r, _spread(m, idx, n)) for r, m in _rules.text_findings(arrow, kind)]
        numbers = None
        words = None
        if kind == "key":
            numbers = np.zeros(n)
            numbers[idx] = _rules.key_numbers(arrow)
            key_words = _rules.key_words(arrow)
            if key_words:
                words = {int(idx[i]): w for i, w in key_words.items()}
        return found, numbers, words

    def _numbers(self, col: str, arr: np.ndarray, texts: np.ndarray | None = None) -> list[tuple[str, np.ndarray]]:
        out = []
        with np.errstate(invalid="ignore"):
            long_ = np.flatnonzero(np.abs(arr) >= LONG_NUMBER)
            if long_.size and col in self.model.vocabularies:  # SNOMED CT concept ids in a code column are codes
                shown = [str(texts[i]) if texts is not None else (str(int(arr[i])) if np.isfinite(arr[i]) and arr[i] == int(arr[i])
                         else "") for i in long_]
                long_ = long_[~_rules.snomed_ids(shown)]
            if long_.size:
                out.append(("numbers of 7 or more digits look like phone, record or ID numbers, or YYYYMMDD dates", long_))
            if col in self.model.day_columns:
                serial = np.flatnonzero((arr >= SERIAL_DAYS[0]) & (arr < SERIAL_DAYS[1]))
                if serial.size and serial.size * 2 >= np.isfinite(arr).sum():
                    out.append(("values look like spreadsheet date serials, not days since onset", serial))
        return out

    def _pend(self, col: str, numbers: np.ndarray, codes: np.ndarray, file: str, table: str, shown: str,
              row_offset: int, row_of: np.ndarray | None = None) -> None:
        limit = key_threshold(max(len(self._keys.get(col, ())), self.key_reference))
        high = np.flatnonzero(numbers > limit)
        if high.size == 0:
            return
        valid = codes >= 0
        counts = np.bincount(codes[valid], minlength=len(numbers))[high]
        first = np.full(len(numbers), -1, dtype=np.int64)
        pos = np.flatnonzero(valid)
        first[codes[pos][::-1]] = pos[::-1] if row_of is None else row_of[pos[::-1]]
        self._pending.append(_PendingKeys(file, table, shown, col, numbers[high], counts, first[high] + row_offset))

    def _settled(self) -> dict[tuple[str, str, str], _Finding]:
        """Findings, with the key-density and key-word rules decided on every key seen so far."""
        out = dict(self._findings)
        refused: dict[tuple[str, str, str], dict[str, list[int]]] = {}
        for words in self._words.values():
            for entry in words.values():
                if len(entry.keys) < 2:
                    for place, keys in entry.where.items():
                        refused.setdefault(place, {}).update(keys)
        for (file, table, column), keys in refused.items():
            f = out.get((table, column, _KEY_WORD))
            f = _Finding(file, table, column, _KEY_WORD, f.n_rows, list(f.rows)) if f else _Finding(file, table, column, _KEY_WORD)
            f.n_rows += sum(n for n, _ in keys.values())
            f.rows = sorted(set(f.rows) | {first for _, first in keys.values()})[:8]
            out[(table, column, _KEY_WORD)] = f
        for p in self._pending:
            refused = p.numbers > key_threshold(max(len(self._keys.get(p.key_column, ())), self.key_reference))
            if not refused.any():
                continue
            key = (p.table, p.column, _DENSITY)
            f = out.get(key)
            f = _Finding(p.file, p.table, p.column, _DENSITY, f.n_rows, list(f.rows)) if f else _Finding(p.file, p.table, p.column, _DENSITY)
            rows = np.sort(p.first_rows[refused & (p.first_rows >= 0)])
            f.n_rows += int(p.counts[refused].sum())
            f.rows = sorted(set(f.rows) | set(int(r) for r in rows[:8]))[:8]
            out[key] = f
        return out

    # -- results --------------------------------------------------------------------------------
    @property
    def found(self) -> bool:
        """True once anything was found."""
        return bool(self._settled())

    @property
    def failures(self) -> pd.DataFrame:
        """One row per refused column and reason: file, table, column, problem, rows, patient_ids, n_rows."""
        rows = []
        for f in self._settled().values():
            if f.problem.startswith(("name", "column name")):
                shown = "all"
            elif f.rows:
                shown = ", ".join(map(str, f.rows)) + (", ..." if f.n_rows > len(f.rows) else "")
            else:
                shown = "none (only in the column's categories)"
            rows.append({"file": f.file, "table": f.table, "column": f.column, "problem": f.problem,
                         "rows": shown, "patient_ids": "", "n_rows": f.n_rows})
        return pd.DataFrame(rows, columns=_COLUMNS)

    def raise_if_any(self) -> None:
        """Raise :class:`PrivacyError` when anything was found."""
        if self.found:
            raise PrivacyError(self.failures, self.source)


def _spread(mask: np.ndarray, idx: np.ndarray, n: int) -> np.ndarray:
    full = np.zeros(n, bool)
    full[idx] = mask
    return full


def check_privacy(
    tables: Mapping[str, pd.DataFrame],
    *,
    source: str = "in-memory tables",
    files: Mapping[str, object] | None = None,
    row_offset: int = 0,
    model: DataModel | None = None,
    key_reference: int = 0,
) -> None:
    """Refuse tables that hold direct identifiers or calendar dates (``docs/privacy.md``, section 1).

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
    model : DataModel, optional
        Known columns, vocabularies, key and label columns (default: the registered model).
    key_reference : int
        Number of patients the keys were numbered over when the tables are a subset of a larger
        cohort (a site or a cause of a saved cohort: ``metadata["subset"]``); key numbers up to
        :func:`key_threshold` of the larger of this and the keys present are sequential study
        numbers, not record numbers. 0: the keys present.

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
    scanner = PrivacyScanner(source, model=model, key_reference=key_reference)
    for name, df in tables.items():
        file = str((files or {}).get(name, "")) or name
        scanner.scan(name, df, file=file, row_offset=row_offset)
    scanner.raise_if_any()


def find_identifiers(values: Sequence[object], *, kind: _rules.Kind = "text") -> list[tuple[str, list[int]]]:
    """Which of ``values`` look like identifiers: ``(reason, positions)`` per reason, values never returned.

    Parameters
    ----------
    values : sequence
        Text values (anything else is turned into text).
    kind : {"text", "free", "label", "key"}
        ``"text"``: running text such as a title; ``"label"``: a site label; ``"key"``: a
        patient key (the key-density rule needs a whole column and does not run here);
        ``"free"``: a value of any other column.
    """
    if not values:
        return []
    found = _rules.text_findings(_rules.as_arrow([str(v)[: _rules.MAX_TEXT_CHARS + 1] for v in values]), kind)
    return [(reason, np.flatnonzero(mask).tolist()) for reason, mask in found]


def check_text(value: object, *, where: str, kind: _rules.Kind = "text") -> None:
    """Refuse one text value that looks like a direct identifier or a calendar date.

    For values that leave the package outside a cohort table: report titles, labels, formula
    terms that print site labels. The error names ``where`` and the reason, never the value.

    Parameters
    ----------
    value : object
        The text (anything else is turned into text; ``None`` passes).
    where : str
        What the value is, for the message (e.g. ``"report parameter 'title'"``).
    kind : {"text", "label", "key", "free"}
        Which rules apply (see :func:`find_identifiers`).

    Raises
    ------
    PrivacyError
        Whose message names ``where`` and the reason only.

    Examples
    --------
    >>> check_text("Foot-drop outcomes, 2019-2024 cohort", where="report title")  # passes
    >>> try:
    ...     check_text("Patients of Dr Müller", where="report title")
    ... except PrivacyError as e:
    ...     print(e.failures.loc[0, "problem"])
    values look like personal names
    """
    if value is None:
        return
    found = find_identifiers([value], kind=kind)
    if found:
        rows = [{"file": where, "table": "", "column": "", "problem": reason, "rows": "", "patient_ids": "", "n_rows": 1}
                for reason, _ in found]
        raise PrivacyError(pd.DataFrame(rows, columns=_COLUMNS), where)


def identifier_name_reason(name: object, *, model: DataModel | None = None) -> str | None:
    """Why a column *name* looks like a direct identifier, or ``None``.

    Columns of the data model never count as identifiers by name.

    Examples
    --------
    >>> identifier_name_reason("Patient Name"), identifier_name_reason("DateOfBirth")
    ("name looks like a person's name", 'name looks like a date of birth')
    >>> identifier_name_reason("followup_days") is None
    True
    """
    m = model if model is not None else data_model()
    if str(name) in m.columns:
        return None
    return name_reason(name)


@functools.lru_cache(maxsize=4096)
def _header_findings(name: str) -> tuple[str, ...]:
    """The reasons a column header looks like a data value (the rules for one text value)."""
    return tuple(r for r, _ in _rules.text_findings(_rules.as_arrow([name[: _rules.MAX_TEXT_CHARS + 1]]), "text"))


def _needs_flattening(values: pd.Series) -> bool:
    """True for columns holding nested values (lists, arrays, dicts, structs) or bytes."""
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype):
        t = dtype.pyarrow_dtype
        return bool(pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)
                    or pa.types.is_fixed_size_binary(t))
    if not pd.api.types.is_object_dtype(dtype):
        return False
    return pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty", "integer", "floating", "mixed-integer-float",
                                                                 "decimal", "boolean", "mixed-integer")


def _elements(value: object, out: list[str]) -> None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, bytes | bytearray | memoryview):
        out.append(bytes(value).decode("utf-8", errors="replace"))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _elements(k, out)
            _elements(v, out)
    elif isinstance(value, list | tuple | set | frozenset | np.ndarray):
        for v in value:
            _elements(v, out)
    else:
        out.append(str(value))


def _flatten(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Every element of nested values as one text value, and the row (position) each came from."""
    texts: list[str] = []
    rows: list[int] = []
    for pos, value in enumerate(values.to_numpy(dtype=object)):
        before = len(texts)
        _elements(value, texts)
        rows.extend([pos] * (len(texts) - before))
    return pd.Series(texts, dtype=object), np.asarray(rows, dtype=np.int64)


def _as_text(value: object) -> str:
    """A distinct value as text (bytes decoded as UTF-8, not shown as ``b'...'``)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)
