"""Reading an OMOP CDM v5.4 (a DuckDB file, or a folder of CSV or Parquet tables) into DuckDB views.

Table and column names and types come from the official CDM v5.4 DuckDB DDL shipped in
``sources/cdm/`` (github.com/OHDSI/CommonDataModel, Apache 2.0). Every view gets a ``_row``
column: the row as the source counts it (CSV line number, the header being line 1; 1-based row
of a Parquet file or DuckDB table), so that messages can name rows without showing values.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from footdrop_outcomes.errors import CohortIOError

__all__ = ["TABLE_FILES", "CdmSource", "cdm_columns", "cdm_ddl"]

_DDL_FILE = "OMOPCDM_duckdb_5.4_ddl.sql"
_CREATE = re.compile(r"CREATE TABLE \w+\.(\w+) \((.*?)\);", re.DOTALL)
_COLUMN = re.compile(r"^\s*(\w+)\s+(\w+(?:\(\d+(?:,\s*\d+)?\))?)\s+(NOT NULL|NULL)", re.MULTILINE)
#: Suffixes accepted for a table file in a CDM folder, in order of preference.
TABLE_FILES = (".parquet", ".csv", ".csv.gz")


def cdm_ddl(schema: str = "main") -> str:
    """The official CDM v5.4 DuckDB DDL with ``@cdmDatabaseSchema`` replaced by ``schema``.

    Examples
    --------
    >>> "CREATE TABLE main.person (" in cdm_ddl()
    True
    """
    text = resources.files("footdrop_outcomes.sources").joinpath("cdm", _DDL_FILE).read_text(encoding="utf-8")
    return text.replace("@cdmDatabaseSchema", schema)


@lru_cache(maxsize=1)
def cdm_columns() -> dict[str, dict[str, tuple[str, bool]]]:
    """Table -> column -> (DuckDB type, required) from the official DDL.

    Examples
    --------
    >>> cdm_columns()["person"]["year_of_birth"]
    ('integer', True)
    """
    out: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, body in _CREATE.findall(cdm_ddl()):
        out[table] = {name: (kind, null == "NOT NULL") for name, kind, null in _COLUMN.findall(body)}
    return out


def _arrow_type(kind: str) -> Any:
    import pyarrow as pa

    k = kind.lower()
    if k in ("integer", "int", "bigint"):
        return pa.int64()
    if k == "date":
        return pa.date32()
    if k == "timestamp":
        return pa.timestamp("s")
    if k.startswith("numeric") or k in ("float", "double"):
        return pa.float64()
    return pa.string()


class CdmSource:
    """A CDM opened for reading: one in-memory DuckDB connection with a view per table.

    Parameters
    ----------
    source : path-like
        A DuckDB file (``.duckdb`` / ``.db``) or a folder holding ``person.csv``,
        ``measurement.parquet``, ... (file names are the CDM table names, in lower case).
    schema : str
        Schema of the CDM tables inside a DuckDB file.
    """

    def __init__(self, source: str | Path, schema: str = "main"):
        import duckdb

        self.path = Path(source)
        self.con = duckdb.connect()
        self.files: dict[str, Path] = {}
        self.kind: str
        if self.path.is_dir():
            self.kind = "folder"
        elif self.path.is_file() and self.path.suffix.lower() in (".duckdb", ".db"):
            self.kind = "duckdb"
            try:
                self.con.execute(f"ATTACH '{_quote(str(self.path))}' AS src (READ_ONLY)")
            except duckdb.Error as err:
                raise CohortIOError(f"{self.path} could not be opened as a DuckDB database ({type(err).__name__})") from None
            self.files["database"] = self.path
            self.schema = schema
            found = self.con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' AND schema_name = ?",
                                     [schema]).fetchall()
            self.tables_present = {r[0].lower(): r[0] for r in found}
        elif not self.path.exists():
            raise CohortIOError(f"{self.path} does not exist")
        else:
            raise CohortIOError(f"{self.path}: give a DuckDB file (.duckdb) or a folder of CDM tables as CSV or Parquet")

    def _file_of(self, table: str) -> Path | None:
        for suffix in TABLE_FILES:
            for cand in (self.path / f"{table}{suffix}", self.path / f"{table.upper()}{suffix}"):
                if cand.is_file():
                    return cand
        return None

    def has(self, table: str) -> bool:
        """Whether the CDM holds ``table``."""
        if self.kind == "duckdb":
            return table in self.tables_present
        return self._file_of(table) is not None

    def view(self, table: str, columns: list[str], *, required: bool = True) -> None:
        """Create view ``table`` with ``_row`` and ``columns`` (an empty view if the table is absent and optional)."""
        spec = cdm_columns()[table]
        unknown = [c for c in columns if c not in spec]
        if unknown:  # a programming error: the DDL is the reference
            raise KeyError(f"{table} has no columns {unknown} in CDM v5.4")
        if not self.has(table):
            if required:
                where = f"{self.path} (schema {self.schema})" if self.kind == "duckdb" else str(self.path)
                raise CohortIOError(f"{where}: CDM table {table} is missing ({table}{'/'.join(TABLE_FILES)} or a DuckDB table)")
            cols = ", ".join(f"CAST(NULL AS {spec[c][0]}) AS {c}" for c in columns)
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT CAST(NULL AS BIGINT) AS _row, {cols} WHERE false")
            return
        if self.kind == "duckdb":
            real = self.tables_present[table]
            have = {r[0].lower(): r[0] for r in self.con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name='src' AND schema_name=? AND table_name=?",
                [self.schema, real]).fetchall()}
            self._missing_columns(table, columns, set(have), str(self.path))
            cols = ", ".join(f"CAST({_ident(have[c])} AS {spec[c][0]}) AS {c}" for c in columns)
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT rowid + 1 AS _row, {cols} "
                             f"FROM src.{_ident(self.schema)}.{_ident(real)}")
            return
        path = self._file_of(table)
        assert path is not None
        self.files[table] = path
        if path.name.lower().endswith(".parquet"):  # DuckDB reads Parquet itself: streamed, only the rows joined are kept
            self._parquet_view(table, path, columns)
            return
        arrow = self._read_arrow(table, path, columns)
        self.con.register(f"_arrow_{table}", arrow)
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM _arrow_{table}")

    def _parquet_view(self, table: str, path: Path, columns: list[str]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        spec = cdm_columns()[table]
        try:
            schema = pq.read_schema(path)
        except (OSError, pa.ArrowInvalid) as err:
            raise CohortIOError(f"{path} could not be read as Parquet ({type(err).__name__}): truncated or damaged?") from None
        names = {n.lower(): n for n in schema.names}
        self._missing_columns(table, columns, set(names), str(path))
        parts = []
        for c in columns:
            want = _arrow_type(spec[c][0])
            have = schema.field(names[c]).type
            same = have == want or (pa.types.is_integer(have) and pa.types.is_integer(want)) or (
                pa.types.is_floating(have) and pa.types.is_floating(want))
            expr = _ident(names[c]) if same else f"CAST({_ident(names[c])} AS {spec[c][0]})"
            parts.append(f"{expr} AS {c}")
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT file_row_number + 1 AS _row, {', '.join(parts)} "
                         f"FROM read_parquet('{_quote(str(path))}', file_row_number = true)")

    def _missing_columns(self, table: str, columns: list[str], have: set[str], where: str) -> None:
        missing = [c for c in columns if c not in have]
        if missing:
            raise CohortIOError(f"{where}: CDM table {table} lacks column(s) {', '.join(missing)} (CDM v5.4 names)")

    def _read_arrow(self, table: str, path: Path, columns: list[str]) -> Any:
        import numpy as np
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        spec = cdm_columns()[table]
        try:
            if path.name.lower().endswith(".parquet"):
                names = {n.lower(): n for n in pq.read_schema(path).names}
                self._missing_columns(table, columns, set(names), str(path))
                tbl = pq.read_table(path, columns=[names[c] for c in columns])
                tbl = tbl.rename_columns(columns)
                first = 1
            else:
                header = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)).schema.names
                names = {n.lower(): n for n in header}
                self._missing_columns(table, columns, set(names), str(path))
                types = {names[c]: _arrow_type(spec[c][0]) for c in columns}
                tbl = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                    column_types=types, include_columns=[names[c] for c in columns], strings_can_be_null=True))
                tbl = tbl.rename_columns(columns)
                first = 2  # the header is line 1
        except pa.ArrowInvalid as err:
            m = re.search(r"column #(\d+)", str(err))
            col = ""
            if m and not path.name.lower().endswith(".parquet"):
                idx = int(m.group(1))
                col = f", column {header[idx]}" if idx < len(header) and header[idx].lower() in spec else ""
            raise CohortIOError(f"{path}: CDM table {table}{col} holds a value that is not of its CDM v5.4 type "
                                "(values are not shown); check dates are YYYY-MM-DD and ids are whole numbers") from None
        except CohortIOError:
            raise
        except OSError as err:
            raise CohortIOError(f"{path} could not be read ({type(err).__name__}): the file is truncated or damaged") from None
        for i, c in enumerate(columns):  # cast Parquet columns to the DDL type
            want = _arrow_type(spec[c][0])
            if tbl.schema.field(i).type != want:
                try:
                    tbl = tbl.set_column(i, c, tbl.column(i).cast(want))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    raise CohortIOError(f"{path}: CDM table {table}, column {c} is not of its CDM v5.4 type "
                                        f"{spec[c][0]} (values are not shown)") from None
        return tbl.append_column("_row", pa.array(np.arange(first, first + tbl.num_rows, dtype=np.int64)))


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
