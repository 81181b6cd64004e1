"""Import a site's extract into a validated cohort directory, streaming, atomically.

:func:`import_cohort` reads the three files of an extract (CSV or Parquet) with a mapping file
(:mod:`footdrop_outcomes.privacy.mapping`) and writes a cohort directory that
:func:`footdrop_outcomes.load_cohort` reads. Memory stays bounded however many visit or
adherence rows there are (it grows with the number of *patients*, not rows):

1. *patients* are read whole (one row per patient), mapped and checked;
2. *visits* and *adherence* are read in chunks; each chunk is checked by the privacy guard,
   mapped (names, codes, units, MRC notations) and spread over temporary partition files by
   patient (patients 0-4,999, 5,000-9,999, ...);
3. each partition is sorted by patient and time and validated with the cohort schema together
   with its patients, then appended to the output Parquet files.

Everything is written into a temporary directory beside the target, which is renamed into place
only when every check has passed: a refused or interrupted import leaves nothing behind.
Problems are collected over the whole extract and reported together, naming the file, column and
source rows (line numbers for CSV files, the header being line 1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes._version import __version__
from footdrop_outcomes._files import pause_point, refuse_symlink, staged_directory
from footdrop_outcomes._files import sha256_file as _sha256
from footdrop_outcomes.cohort.schema import FAILURE_COLUMNS, SCHEMA_VERSION, SCHEMAS, TABLES, validate_tables
from footdrop_outcomes.errors import CohortIOError, CohortValidationError, safe_column_name
from footdrop_outcomes.privacy.guard import PrivacyScanner
from footdrop_outcomes.privacy.kanonymity import AGE_TOP_CODE, top_code_ages
from footdrop_outcomes.privacy.mapping import MRC_COLUMNS, UNITS, WHOLE_DAY_COLUMNS, CohortMapping, TableMapping, load_mapping, shown

__all__ = ["import_cohort", "ImportResult"]

_LINE, _PIDX = "_line", "_pidx"
_TIME = {"visits": "day", "adherence": "week"}
_MRC = re.compile(r"^\s*(?:mrc\s*)?([0-5])\s*([+-]?)\s*(?:/\s*5)?\s*$", re.I)
_MAX_PROBLEMS = 200


@dataclass
class ImportResult:
    """What :func:`import_cohort` wrote.

    Attributes
    ----------
    path : pathlib.Path
        The cohort directory.
    rows : dict of str to int
        Rows written per table.
    handled : dict of str to int
        Documented changes made on the way: ``ages_top_coded``, ``duplicate_rows_dropped`` per
        table, ``rows_sorted`` per table (rows that were out of patient/time order),
        ``unknown_to_missing`` (``"table.column"``: values that were codes declared unknown in the
        mapping, now missing) and ``missing_values`` (per table, per column that may be missing:
        missing values in the imported cohort, whether empty in the extract or coded unknown).
    """

    path: Path
    rows: dict[str, int]
    handled: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"ImportResult({self.path}: {self.rows['patients']} patients, {self.rows['visits']} visits, {self.rows['adherence']} adherence weeks)"


class _Problems:
    """Validation problems over chunks/partitions, merged by (file, table, column, problem)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add(self, table: str, column: str, problem: str, lines: list[int] | np.ndarray | None, n: int | None = None) -> None:
        lines = [] if lines is None else [int(x) for x in np.asarray(lines)[:8]]
        n = len(lines) if n is None else int(n)
        key = (table, column, problem)
        if key not in self.rows:
            if len(self.rows) >= _MAX_PROBLEMS:
                return
            self.rows[key] = {"table": table, "column": column, "problem": problem, "lines": [], "n_rows": 0}
        rec = self.rows[key]
        rec["n_rows"] += n
        rec["lines"].extend(lines[: 8 - len(rec["lines"])])

    def frame(self) -> pd.DataFrame:
        out = []
        for rec in self.rows.values():
            rows = ", ".join(map(str, rec["lines"])) + (", ..." if rec["n_rows"] > len(rec["lines"]) else "") if rec["lines"] else "all"
            out.append({"table": rec["table"], "column": rec["column"], "problem": rec["problem"], "rows": rows,
                        "n_rows": rec["n_rows"]})
        return pd.DataFrame(out, columns=list(FAILURE_COLUMNS))


# ------------------------------------------------------------------------------------------------
# reading


def _kind(path: Path) -> str:
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith(".parquet") or suffixes.endswith(".pq"):
        return "parquet"
    if any(suffixes.endswith(s) for s in (".csv", ".csv.gz", ".txt", ".tsv", ".csv.zip")):
        return "csv"
    raise CohortIOError(f"{path}: unknown file type {suffixes or '(none)'}; give a .csv (optionally .gz) or .parquet file")


def _read_chunks(path: Path, mapping: CohortMapping, usecols: list[str] | None, chunk_rows: int, sep: str) -> Iterator[pd.DataFrame]:
    """Yield raw chunks: CSV as text (every value a string), Parquet as stored."""
    if _kind(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
            for batch in pf.iter_batches(batch_size=chunk_rows, columns=usecols):
                yield batch.to_pandas()
        except Exception as err:  # pyarrow raises several types for corrupt files
            raise CohortIOError(f"{path} could not be read as Parquet ({type(err).__name__})") from None
        return
    try:
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=list(mapping.missing), sep=sep,
                             encoding=mapping.encoding, usecols=usecols, chunksize=chunk_rows, skipinitialspace=True)
        with reader:
            yield from reader
    except pd.errors.EmptyDataError:
        raise CohortIOError(f"{path} is empty (no header line)") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as err:
        raise CohortIOError(f"{path} could not be read as CSV with delimiter {sep!r} and encoding "
                            f"{mapping.encoding!r} ({type(err).__name__}); check [read] in the mapping") from None
    except _DAMAGED as err:
        raise _damaged(path, err) from None


# a truncated or damaged .gz/.zip ends in EOFError, zlib.error, BadGzipFile or BadZipFile (an
# OSError or not); click would print "Aborted!" for EOFError. The reader's text is never shown.
_DAMAGED = (EOFError, OSError, zlib.error, zipfile.BadZipFile)


def _damaged(path: Path, err: BaseException) -> CohortIOError:
    if isinstance(err, OSError) and err.errno is not None and err.strerror:
        return CohortIOError(f"{path} could not be read ({err.strerror.lower()})")
    return CohortIOError(f"{path} could not be read ({type(err).__name__}): the file is truncated or damaged "
                         "(a compressed file cut short?); export it again")


def _header(path: Path, mapping: CohortMapping, sep: str) -> list[str]:
    if not path.is_file():
        raise CohortIOError(f"{path} does not exist")
    if path.stat().st_size == 0:
        raise CohortIOError(f"{path} is empty (no header line)")
    if _kind(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception as err:
            raise CohortIOError(f"{path} could not be read as Parquet ({type(err).__name__})") from None
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0, sep=sep, encoding=mapping.encoding, skipinitialspace=True).columns]
    except pd.errors.EmptyDataError:
        raise CohortIOError(f"{path} is empty (no header line)") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as err:
        raise CohortIOError(f"{path} could not be read as CSV ({type(err).__name__}); check [read] in the mapping") from None
    except _DAMAGED as err:
        raise _damaged(path, err) from None


def _check_header(name: str, header: list[str], tm: TableMapping, mapping: CohortMapping, path: Path,
                  scanner: PrivacyScanner, problems: _Problems) -> list[str]:
    """Column names: identifiers, unmapped and missing columns. Returns the columns to read."""
    dup = sorted({c for c in header if header.count(c) > 1})
    for c in dup:
        problems.add(name, safe_column_name(c, header.index(c)), f"column name appears more than once in {path.name}", None, 0)
    id_col = tm.columns["patient_id"]
    guarded = [c for c in header if c not in tm.drop and not (mapping.pseudonymise_ids and c == id_col)]
    scanner.scan_names(name, guarded, file=str(path))
    mapped = set(tm.columns.values())
    for i, c in enumerate(header):
        if c not in mapped and c not in tm.drop:
            problems.add(name, safe_column_name(c, i), f"column of {path.name} is neither mapped nor dropped (add it under [{name}.columns] "
                                  f"or to [{name}] drop)", None, 0)
    for target, src in tm.columns.items():
        if src not in header:
            problems.add(name, target, f"mapped to column {shown(src)}, which {path.name} does not have", None, 0)
    return [c for c in header if c in mapped]


# ------------------------------------------------------------------------------------------------
# mapping one chunk


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values as float; positions of non-missing values that are not numbers."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        arr = values.to_numpy(dtype="float64", na_value=np.nan)
        return arr, np.array([], dtype=np.int64)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = pd.Series(uniques, dtype=object).astype(str).str.strip()
    num = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    unparsable = np.isnan(num) & (text != "").to_numpy(bool)
    arr = np.where(codes >= 0, num[np.maximum(codes, 0)] if len(num) else np.nan, np.nan)
    bad = np.flatnonzero((codes >= 0) & (unparsable[np.maximum(codes, 0)] if len(num) else False))
    return arr, bad


def _range(table: str, col: str) -> tuple[float, float] | None:
    for check in SCHEMAS[table].columns[col].checks:
        if check.name == "in_range":
            return float(check.statistics["min_value"]), float(check.statistics["max_value"])
    return None


def _convert_unit(table: str, col: str, unit: str, arr: np.ndarray) -> np.ndarray:
    if table == "visits" and col in ("gait_speed", "gait_speed_device_off") and unit == "s/10m":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(arr > 0, 10.0 / arr, np.nan)
    if table == "adherence" and col == "week" and unit == "days":
        return np.floor(arr / 7.0)
    factor, offset = UNITS[table][col][unit]
    out = arr * factor + offset
    if col in WHOLE_DAY_COLUMNS:
        out = np.floor(out + 0.5)
    return out


def _unit_hint(table: str, col: str, unit: str, raw: np.ndarray, converted: np.ndarray) -> str | None:
    """When values break the range in the declared unit but fit another unit, say so."""
    bounds = _range(table, col)
    finite = np.isfinite(raw)
    if bounds is None or not finite.any():
        return None
    lo, hi = bounds
    out_declared = ((converted[finite] < lo) | (converted[finite] > hi)).mean()
    if out_declared < 0.05:
        return None
    for other in UNITS[table][col]:
        if other == unit:
            continue
        alt = _convert_unit(table, col, other, raw)
        if ((alt[finite] >= lo) & (alt[finite] <= hi)).all():
            return (f"most values are out of range {lo:g}-{hi:g} in the declared unit {unit!r} but fit {other!r}: "
                    f"check [{table}.units] {col}")
    return None


def _by_uniques(values: pd.Series, fn: Any) -> pd.Series:
    """Apply ``fn`` (Series -> Series) to the distinct values only, then spread back (fast on big chunks)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = fn(pd.Series(uniques, dtype=object)).reset_index(drop=True)
    out = mapped.take(np.where(codes < 0, 0, codes)).reset_index(drop=True) if len(mapped) else pd.Series([None] * len(values), dtype=object)
    if (codes < 0).any():
        out = out.astype(object).where(codes >= 0, None)
    return out


def _parse_mrc(uniques: pd.Series, minus: str) -> pd.Series:
    parts = uniques.astype(str).str.extract(_MRC)
    grade = pd.to_numeric(parts[0], errors="coerce")
    if minus == "lower":
        grade = grade - (parts[1] == "-").fillna(False).astype(int)
    return grade.astype("float64")


def _unknown_to_missing(name: str, target: str, values: pd.Series, codes: frozenset[str], numeric: bool,
                        handled: dict[str, Any]) -> pd.Series:
    """Values that are codes for "not known" (``[table.unknown]``) become missing, counted per column."""
    if numeric:
        numbers = {float(c) for c in codes if _is_number(c)}
        hit = values.isin(numbers).to_numpy(bool) if numbers else np.zeros(len(values), dtype=bool)
    else:
        found = _by_uniques(values, lambda u: u.astype(str).str.strip().str.casefold().isin(codes))
        hit = np.array([False if v is None or v is pd.NA else bool(v) for v in found], dtype=bool)
    counts = handled.setdefault("unknown_to_missing", {})
    key = f"{name}.{target}"
    counts[key] = counts.get(key, 0) + int(hit.sum())
    if not hit.any():
        return values
    return values.astype("float64" if numeric else object).where(~hit, np.nan if numeric else None)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _map_chunk(name: str, raw: pd.DataFrame, tm: TableMapping, mapping: CohortMapping, lines: np.ndarray,
               problems: _Problems, handled: dict[str, Any], file: str = "") -> pd.DataFrame:
    """Rename, recode, convert units and MRC notations; returns cohort columns (not yet typed).

    Columns come back as float (numbers) or text, the same in every chunk. Optional columns of the
    data model that the mapping does not map are left out.
    """
    out: dict[str, pd.Series] = {}
    n = len(raw)
    in_file = f" of {file}" if file else ""
    for target in SCHEMAS[name].columns:
        if target not in tm.constants and target not in tm.columns:
            continue  # an optional column the extract does not have (load_mapping requires the others)
        if target in tm.constants:
            const = tm.constants[target]
            out[target] = pd.Series(np.full(n, float(const)) if isinstance(const, (int, float)) and not isinstance(const, bool)
                                    else [str(const)] * n, dtype="float64" if isinstance(const, (int, float)) and not isinstance(const, bool) else "string")
            continue
        values = raw[tm.columns[target]].reset_index(drop=True)
        numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
        if not numeric:
            values = _by_uniques(values, lambda u: u.astype(str).str.strip())
        if target in tm.unknown:
            values = _unknown_to_missing(name, target, values, tm.unknown[target], numeric, handled)
        if target in tm.codes:
            codes = tm.codes[target]
            allowed = set(_allowed(name, target) or [])
            key = values.astype("string").str.casefold() if numeric else None

            def recode(u: pd.Series) -> pd.Series:
                k = u.astype(str).str.strip().str.casefold()
                return pd.Series([codes[x] if x in codes else (v if str(v) in allowed else _UNKNOWN) for x, v in zip(k, u)], dtype=object)

            mapped = _by_uniques(values if key is None else values.astype("string"), recode)
            unknown = np.flatnonzero(mapped.map(lambda v: v is _UNKNOWN).to_numpy(bool))
            if unknown.size:  # the codes themselves are data: the rows say where to look
                problems.add(name, target, f"code{in_file} not in [{name}.codes.{target}] of the mapping, nor declared "
                                           f"unknown in [{name}.unknown]; add it to the mapping or fix the extract",
                             lines[unknown], int(unknown.size))
                mapped = mapped.where(~mapped.map(lambda v: v is _UNKNOWN).to_numpy(bool), values.astype(object))
            values = mapped
            numeric = False
        if MRC_COLUMNS.get(name) == target and not numeric:
            grade = _by_uniques(values, lambda u: _parse_mrc(u, mapping.mrc_minus)).astype("float64")
            present = values.notna().to_numpy(bool)
            bad = np.flatnonzero(grade.isna().to_numpy() & present)
            if bad.size:
                problems.add(name, target, "not an MRC grade (0-5, optionally with +, - or /5)", lines[bad], int(bad.size))
            modified = _by_uniques(values, lambda u: u.astype(str).str.contains(r"[+-]\s*$", regex=True))
            handled["mrc_modifiers"] = handled.get("mrc_modifiers", 0) + int(modified.fillna(False).astype(bool).sum())
            values, numeric = grade, True
        if target in tm.units:
            arr, bad = _numbers(values)
            if bad.size:
                problems.add(name, target, "not a number", lines[bad], int(bad.size))
            conv = _convert_unit(name, target, tm.units[target], arr)
            hint = _unit_hint(name, target, tm.units[target], arr, conv)
            if hint:
                problems.add(name, target, hint, lines[np.flatnonzero(np.isfinite(arr))][:8], int(np.isfinite(arr).sum()))
            values, numeric = pd.Series(conv), True
        elif target in ("hba1c", "gait_speed", "gait_speed_device_off"):  # default units: still catch the common mix-ups
            arr, _ = _numbers(values)
            hint = _unit_hint(name, target, next(iter(UNITS[name][target])), arr, arr)
            if hint:
                problems.add(name, target, hint + " (no unit declared; the default is assumed)",
                             lines[np.flatnonzero(np.isfinite(arr))][:8], int(np.isfinite(arr).sum()))
        dtype = str(SCHEMAS[name].columns[target].dtype)
        if not numeric and (dtype.startswith("int") or dtype.startswith("float")):
            arr, bad = _numbers(values)
            if bad.size == 0:  # every value a number: store as float (else the schema names the rows)
                values, numeric = pd.Series(arr), True
        if not numeric and dtype == "bool":
            flags = _by_uniques(values, _yes_no)
            if flags.notna().all():  # every value a yes/no: store as bool (else the schema names the rows)
                values, numeric = flags.astype(bool), None
        if numeric is None:
            out[target] = values
        elif numeric:
            out[target] = values.astype("float64")
        else:
            out[target] = values.astype("string")
    return pd.DataFrame(out)


_UNKNOWN = object()
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def _yes_no(u: pd.Series) -> pd.Series:
    k = u.astype(str).str.strip().str.lower()
    return pd.Series([True if x in _TRUE else False if x in _FALSE else None for x in k], dtype=object)


def _allowed(table: str, col: str) -> list[str] | None:
    for check in SCHEMAS[table].columns[col].checks:
        if check.name == "isin":
            return list(map(str, check.statistics["allowed_values"]))
    return None


# ------------------------------------------------------------------------------------------------
# partitions


class _Partitions:
    """Rows spread over Arrow IPC files by patient range."""

    def __init__(self, directory: Path, table: str, patients_per_part: int):
        self.dir = directory
        self.table = table
        self.size = patients_per_part
        self.writers: dict[int, Any] = {}
        self.schema: Any = None
        self.counts: dict[int, int] = {}

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        part = frame[_PIDX].to_numpy() // self.size
        for k in np.unique(part):
            sub = frame[part == k]
            tbl = pa.Table.from_pandas(sub, preserve_index=False)
            if self.schema is None:
                self.schema = tbl.schema
            tbl = tbl.cast(self.schema)
            if k not in self.writers:
                self.writers[k] = pa.ipc.new_file(self.dir / f"{self.table}_{k}.arrow", self.schema)
            self.writers[k].write_table(tbl)
            self.counts[int(k)] = self.counts.get(int(k), 0) + len(sub)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()

    def read(self, k: int) -> pd.DataFrame | None:
        import pyarrow as pa

        f = self.dir / f"{self.table}_{k}.arrow"
        if not f.exists():
            return None
        with pa.memory_map(str(f)) as source:
            tbl = pa.ipc.open_file(source).read_all()
        # text columns as categoricals: the schema's type step takes them as they are (fast)
        for i, fld in enumerate(tbl.schema):
            if pa.types.is_string(fld.type) or pa.types.is_large_string(fld.type):
                tbl = tbl.set_column(i, fld.name, tbl.column(i).dictionary_encode())
        df = tbl.to_pandas()
        f.unlink()
        return df


def _parse_rows(rows: str) -> list[int]:
    return [int(t) for t in rows.split(", ") if t.strip().isdigit()]


def _record_validation(err: CohortValidationError, line_of: dict[str, np.ndarray], problems: _Problems,
                       skip_empty: set[str]) -> None:
    for rec in err.failures.itertuples(index=False):
        if rec.problem == "table is empty" and rec.table in skip_empty:
            continue
        positions = _parse_rows(str(rec.rows))
        lines = line_of[rec.table][positions] if rec.table in line_of and positions else []
        problems.add(rec.table, rec.column, rec.problem, lines, rec.n_rows)


def _drop_identical(df: pd.DataFrame, cols: list[str]) -> tuple[pd.DataFrame, int]:
    dup = df.duplicated(subset=cols, keep="first").to_numpy()
    return df[~dup], int(dup.sum())


def _to_storage(df: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as text, so every partition appends to the same Parquet schema."""
    out = df.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype("string")
    return out


# ------------------------------------------------------------------------------------------------
# the import


def _today() -> str:
    """The import date (UTC, ``YYYY-MM-DD``; ``SOURCE_DATE_EPOCH`` when set, for reproducible builds)."""
    from datetime import datetime, timezone

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    when = datetime.fromtimestamp(int(epoch), tz=timezone.utc) if epoch.isdigit() else datetime.now(tz=timezone.utc)
    return when.strftime("%Y-%m-%d")


def import_cohort(
    mapping: str | os.PathLike[str] | dict[str, Any] | CohortMapping,
    *,
    patients: str | os.PathLike[str],
    visits: str | os.PathLike[str],
    adherence: str | os.PathLike[str],
    out: str | os.PathLike[str],
    overwrite: bool = False,
    chunk_rows: int = 250_000,
    patients_per_partition: int = 5_000,
) -> ImportResult:
    """Import an extract (CSV or Parquet) into a validated cohort directory, atomically.

    Parameters
    ----------
    mapping : path-like, dict or CohortMapping
        The mapping file (TOML; see :func:`~footdrop_outcomes.privacy.mapping.load_mapping`).
    patients, visits, adherence : path-like
        The extract's three files (``.csv``, ``.csv.gz`` or ``.parquet``).
    out : path-like
        Cohort directory to write; must not exist unless ``overwrite=True``.
    overwrite : bool
        Replace an existing cohort directory (only one holding a ``manifest.json``).
    chunk_rows : int
        Rows read at a time from visits and adherence files.
    patients_per_partition : int
        Patients per temporary partition (memory is about this many patients' rows).

    Returns
    -------
    ImportResult

    Raises
    ------
    PrivacyError
        The extract holds direct identifiers or calendar dates (nothing is written).
    CohortValidationError
        The mapped extract breaks the data model (every problem, with source rows).
    CohortIOError
        A file is missing, empty or unreadable, or ``out`` exists.
    ConfigError
        The mapping file is invalid.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> ex = pathlib.Path("data/examples/site_extract")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     result = import_cohort("data/examples/mapping_example.toml", patients=ex / "patients.csv",
    ...                            visits=ex / "visits.csv", adherence=ex / "adherence.csv", out=pathlib.Path(d) / "c")
    ...     print(result.rows["patients"])
    120
    """
    m = load_mapping(mapping)
    paths = {"patients": Path(patients), "visits": Path(visits), "adherence": Path(adherence)}
    target = Path(out)
    refuse_symlink(target)
    if target.exists():
        if not overwrite:
            raise CohortIOError(f"{target} already exists; choose another path, or replace it with overwrite=True (CLI: --overwrite)")
        if not (target / "manifest.json").exists():
            raise CohortIOError(f"{target} exists and is not a cohort directory (no manifest.json); refusing to replace it")
    seps = {name: m.tables[name].delimiter or m.delimiter for name in TABLES}
    headers = {name: _header(p, m, seps[name]) for name, p in paths.items()}
    source = ", ".join(f"{k}={v}" for k, v in paths.items())
    scanner = PrivacyScanner(source)
    problems = _Problems()
    usecols = {name: _check_header(name, headers[name], m.tables[name], m, paths[name], scanner, problems) for name in TABLES}
    offset = {name: 2 if _kind(p) == "csv" else 0 for name, p in paths.items()}
    handled: dict[str, Any] = {"ages_top_coded": 0, "duplicate_rows_dropped": {t: 0 for t in TABLES},
                               "rows_sorted": {t: 0 for t in TABLES}, "mrc_modifiers": 0,
                               "unknown_to_missing": {f"{t}.{c}": 0 for t in TABLES for c in m.tables[t].unknown},
                               "missing_values": {t: {} for t in TABLES}}

    # everything goes to a temporary directory beside the target, renamed into place at the end;
    # on a refusal, an error or an interruption it is removed, with any parent folders made for it
    with staged_directory(target) as tmp:
        stage = tmp / "_stage"
        stage.mkdir()
        # ---------------------------------------------------------------- patients (whole)
        header_ok = not problems.rows  # with unmapped or missing columns, only the privacy scan runs
        pt = m.tables["patients"]
        pframes: list[pd.DataFrame] = []
        n_read = 0
        for chunk in _read_chunks(paths["patients"], m, usecols["patients"] or None, chunk_rows, seps["patients"]):
            scanner.scan("patients", chunk.rename(columns={v: k for k, v in pt.columns.items()}), file=str(paths["patients"]),
                         row_offset=offset["patients"] + n_read, names=False,
                         skip={"patient_id"} if m.pseudonymise_ids else set(), exempt=_exempt(pt))
            n_read += len(chunk)
            pframes.append(chunk)
        mapping_ok = header_ok and not scanner.found
        if mapping_ok:
            raw_p = pd.concat(pframes, ignore_index=True) if pframes else pd.DataFrame(columns=usecols["patients"])
            pmap, p_lines, index_of, new_ids = _prepare_patients(raw_p, pt, m, offset["patients"], problems, handled,
                                                                 file=paths["patients"].name)
        del pframes

        # ---------------------------------------------------------------- visits, adherence (streamed)
        parts = {name: _Partitions(stage, name, patients_per_partition) for name in ("visits", "adherence")}
        total_rows = {"visits": 0, "adherence": 0}
        for name in ("visits", "adherence"):
            tm = m.tables[name]
            start = 0
            pause_point(f"import-{name}")
            for chunk in _read_chunks(paths[name], m, usecols[name] or None, chunk_rows, seps[name]):
                chunk = chunk.reset_index(drop=True)
                lines = np.arange(len(chunk)) + start + offset[name]
                renamed = chunk.rename(columns={v: k for k, v in tm.columns.items()})
                if mapping_ok and "patient_id" in renamed:  # ids of known patients were scanned with the patients file
                    ids = renamed["patient_id"]
                    renamed["patient_id"] = ids.where(~_by_uniques(ids, lambda u: u.astype(str).str.strip().isin(index_of)).astype(bool).to_numpy())
                scanner.scan(name, renamed, file=str(paths[name]),
                             row_offset=start + offset[name], names=False,
                             skip={"patient_id"} if m.pseudonymise_ids else set(), exempt=_exempt(tm))
                start += len(chunk)
                if not (mapping_ok and not scanner.found):
                    continue  # keep scanning for identifiers; nothing more is mapped
                frame = _map_chunk(name, chunk, tm, m, lines, problems, handled, file=paths[name].name)
                pidx = index_of.get_indexer(frame["patient_id"].to_numpy(dtype=object, na_value=None))
                unknown = np.flatnonzero(pidx < 0)
                if unknown.size:
                    problems.add(name, "patient_id", "patient not in the patients table", lines[unknown])
                keep = pidx >= 0
                frame = frame[keep].reset_index(drop=True)
                frame[_PIDX] = pidx[keep]
                frame[_LINE] = lines[keep]
                if len(frame):
                    parts[name].write(frame)
            total_rows[name] = start
            parts[name].close()
        scanner.raise_if_any()
        if total_rows["visits"] == 0:
            problems.add("visits", "", "table is empty", None, 0)
        if not header_ok or total_rows["visits"] == 0 or len(pmap) == 0:
            raise CohortValidationError(problems.frame(), source)
        # problems found so far do not stop the schema checks below: every problem is reported at once

        # ---------------------------------------------------------------- validate partition by partition
        import pyarrow as pa
        import pyarrow.parquet as pq

        n_parts = max(1, -(-len(pmap) // patients_per_partition))
        groups: list[list[int]] = [[]]
        for k in range(n_parts):  # each group needs a visit row (the schema refuses an empty table)
            groups[-1].append(k)
            if parts["visits"].counts.get(k, 0) > 0 and k < n_parts - 1:
                groups.append([])
        if len(groups) > 1 and not any(parts["visits"].counts.get(j, 0) for j in groups[-1]):
            groups[-2].extend(groups.pop())
        writers: dict[str, Any] = {}
        rows_out = {t: 0 for t in TABLES}
        for group in groups:
            lo, hi = group[0] * patients_per_partition, (group[-1] + 1) * patients_per_partition
            psub = pmap[(pmap[_PIDX] >= lo) & (pmap[_PIDX] < hi)].reset_index(drop=True)
            tables: dict[str, pd.DataFrame] = {}
            line_of = {"patients": p_lines[psub[_PIDX].to_numpy()]}
            for name in ("visits", "adherence"):
                frames = [f for k in group if (f := parts[name].read(k)) is not None]
                df = pd.concat(frames, ignore_index=True) if frames else _empty(name, m.tables[name])
                t = pd.to_numeric(df[_TIME[name]], errors="coerce") if len(df) else pd.Series([], dtype=float)
                order = np.lexsort((df[_LINE].to_numpy(), t.to_numpy(), df[_PIDX].to_numpy())) if len(df) else np.array([], dtype=int)
                handled["rows_sorted"][name] += int((order != np.arange(len(order))).sum())
                df = df.iloc[order].reset_index(drop=True)
                if m.duplicates == "drop_identical" and len(df):
                    cols = [c for c in df.columns if c not in (_LINE,)]
                    df, nd = _drop_identical(df, cols)
                    df = df.reset_index(drop=True)
                    handled["duplicate_rows_dropped"][name] += nd
                line_of[name] = df[_LINE].to_numpy().astype(np.int64) if len(df) else np.array([], dtype=np.int64)
                if m.pseudonymise_ids and len(df):
                    df["patient_id"] = new_ids.to_numpy(dtype=object)[df[_PIDX].to_numpy()]
                tables[name] = df.drop(columns=[_LINE, _PIDX], errors="ignore")
            ptab = psub.drop(columns=[_PIDX])
            if m.pseudonymise_ids:
                ptab["patient_id"] = new_ids.to_numpy(dtype=object)[psub[_PIDX].to_numpy()]
            tables["patients"] = ptab
            try:
                typed = validate_tables(tables, source=source)
            except CohortValidationError as err:
                _record_validation(err, line_of, problems, skip_empty=set())
                continue
            if problems.rows:
                continue  # keep validating for more problems, write nothing
            for name in TABLES:
                tbl = pa.Table.from_pandas(_to_storage(typed[name]), preserve_index=False)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(tmp / f"{name}.parquet", tbl.schema)
                writers[name].write_table(tbl.cast(writers[name].schema))
                rows_out[name] += len(typed[name])
                counts = handled["missing_values"][name]
                for col, k in typed[name].isna().sum().items():
                    if SCHEMAS[name].columns[col].nullable:
                        counts[col] = counts.get(col, 0) + int(k)
        for w in writers.values():
            w.close()
        if problems.rows:
            raise CohortValidationError(problems.frame(), source)
        for name in TABLES:  # a table with no rows at all (adherence may be empty)
            if not (tmp / f"{name}.parquet").exists():
                _typed_empty(name, m.tables[name]).to_parquet(tmp / f"{name}.parquet", index=False)
        shutil.rmtree(stage)
        files = {f"{name}.parquet": _sha256(tmp / f"{name}.parquet") for name in TABLES}
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "package_version": __version__,
            "generator": {"name": "footdrop_outcomes.privacy.import_cohort", "package_version": __version__},
            "imported_on": _today(),
            "source": {k: str(v) for k, v in paths.items()},
            "source_sha256": {k: _sha256(v) for k, v in paths.items()},
            "mapping": m.to_dict(),
            "privacy": {"guard": "passed", "age_top_code": AGE_TOP_CODE, "ids_pseudonymised": m.pseudonymise_ids},
            "import_handling": handled,
            "rows": rows_out,
            "files_sha256": files,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    return ImportResult(path=target, rows=rows_out, handled=handled)


def _exempt(tm: TableMapping) -> dict[str, set[str]]:
    """Codes listed in the mapping are known, harmless values of their column (compared casefolded)."""
    return {target: set(codes) for target, codes in tm.codes.items()}


def _prepare_patients(raw: pd.DataFrame, pt: TableMapping, m: CohortMapping, offset: int, problems: _Problems,
                      handled: dict[str, Any], file: str = "") -> tuple[pd.DataFrame, np.ndarray, pd.Index, pd.Series]:
    """Map the patients table; handle duplicates, top-code ages, index (and pseudonymise) ids."""
    p_lines = np.arange(len(raw)) + offset
    pmap = _map_chunk("patients", raw, pt, m, p_lines, problems, handled, file=file)
    if len(pmap) == 0:
        problems.add("patients", "", "table is empty", None, 0)
    ids = pmap["patient_id"].astype("string").str.strip()
    pmap["patient_id"] = ids
    if m.duplicates == "drop_identical":
        keep = ~pmap.duplicated(keep="first").to_numpy()
        handled["duplicate_rows_dropped"]["patients"] = int((~keep).sum())
        pmap, p_lines, ids = pmap[keep].reset_index(drop=True), p_lines[keep], ids[keep].reset_index(drop=True)
    dup = ids.duplicated(keep=False).fillna(False).to_numpy(bool)
    if dup.any():
        hint = (" with different values" if m.duplicates == "drop_identical"
                else "; [options] duplicates = 'drop_identical' drops exact repeats")
        problems.add("patients", "patient_id", f"duplicate patient (same patient_id on several rows{hint})", p_lines[dup], int(dup.sum()))
    # top-coding (documented): ages of 90 and over become 90, meaning "90 or older"; ages above
    # the data model's maximum (110) are left for the schema to refuse as impossible
    age = pd.to_numeric(pmap["age"], errors="coerce")
    plausible = age.isna() | (age <= 110)
    coded, _ = top_code_ages(age, AGE_TOP_CODE)
    pmap["age"] = pd.Series(np.where(plausible, coded, age), dtype="float64")
    handled["ages_top_coded"] = int(((age > AGE_TOP_CODE) & plausible).sum())
    index_of = pd.Index(ids.to_numpy(dtype=object)).drop_duplicates()
    if m.pseudonymise_ids:
        width = max(7, len(str(len(pmap))))
        new_ids = pd.Series([f"P{i + 1:0{width}d}" for i in range(len(pmap))], dtype="string")
    else:
        new_ids = ids
    pmap[_PIDX] = np.arange(len(pmap))
    return pmap, p_lines, index_of, new_ids


def _mapped(name: str, tm: TableMapping) -> list[str]:
    """Cohort columns the import writes: every required one, and the optional ones the mapping maps."""
    return [c for c, spec in SCHEMAS[name].columns.items() if spec.required or c in tm.columns or c in tm.constants]


def _empty(name: str, tm: TableMapping) -> pd.DataFrame:
    cols = {c: pd.Series([], dtype="float64") for c in _mapped(name, tm)}
    cols["patient_id"] = pd.Series([], dtype="string")
    return pd.DataFrame({**cols, _PIDX: pd.Series([], dtype="int64"), _LINE: pd.Series([], dtype="int64")})


def _typed_empty(name: str, tm: TableMapping) -> pd.DataFrame:
    cols = {}
    for c in _mapped(name, tm):
        dtype = str(SCHEMAS[name].columns[c].dtype)
        cols[c] = pd.Series([], dtype="string" if dtype == "category" else dtype)
    return pd.DataFrame(cols)

