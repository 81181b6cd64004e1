"""Hand cohort frames built from a data source to the flat-file import (guard, schema, manifest).

Every source (OMOP CDM, REDCap) builds the three cohort tables in memory, with days since onset
and no calendar date, then calls :func:`import_frames`. It writes the frames as Parquet files in
a staging directory beside the target and runs :func:`footdrop_outcomes.privacy.import_cohort`
on them with an identity mapping, so the privacy guard, the schema checks, the age top-coding,
the pseudonymisation of keys and the atomic write are exactly those of the flat import. The
manifest is then completed with what the source was (paths and SHA-256 of the source files, not
of the staging files) and the source's own record (attrition, rules, concept sets).

Problems found by the import name the staging files' rows; they are translated back to the
source table, column and rows with the ``origins`` the source gives (never a value).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes._files import refuse_symlink, sha256_file, staged_directory
from footdrop_outcomes.cohort.schema import FAILURE_COLUMNS, SCHEMAS, TABLES
from footdrop_outcomes.errors import CohortIOError, CohortValidationError
from footdrop_outcomes.guard import PrivacyError
from footdrop_outcomes.privacy.importing import ImportResult, import_cohort

__all__ = ["Origin", "SourceProblems", "import_frames", "source_checksums"]


@dataclass(frozen=True)
class Origin:
    """Where the rows of one cohort table came from: a source table and its row numbers.

    Attributes
    ----------
    table : str
        Source table (``"person"``, ``"measurement"``, ``"records"``).
    rows : numpy.ndarray
        For each row of the cohort frame, the row number in the source (as the source counts
        them: CSV line numbers, 1-based rows of a Parquet or DuckDB table).
    columns : dict of str to str
        Cohort column -> source column (``"age" -> "person.year_of_birth"``); unnamed columns
        are reported as the cohort column.
    """

    table: str
    rows: np.ndarray
    columns: dict[str, str] = field(default_factory=dict)


class SourceProblems:
    """Problems of a source, collected over every rule and raised together (never a value)."""

    def __init__(self, source: str):
        self.source = source
        self.rows: list[dict[str, Any]] = []

    def add(self, table: str, column: str, problem: str, rows: np.ndarray | list[int] | None) -> None:
        """One problem: source table, column, what is wrong and the rows (at most 8 shown)."""
        arr = np.asarray([] if rows is None else rows, dtype=np.int64)
        if rows is not None and arr.size == 0:
            return
        shown = ", ".join(map(str, np.sort(arr)[:8])) + (", ..." if arr.size > 8 else "") if arr.size else "all"
        self.rows.append({"table": table, "column": column, "problem": problem, "rows": shown, "n_rows": int(arr.size)})

    def raise_if_any(self) -> None:
        """Raise :class:`~footdrop_outcomes.errors.CohortValidationError` with every problem."""
        if self.rows:
            raise CohortValidationError(pd.DataFrame(self.rows, columns=list(FAILURE_COLUMNS)), self.source)


def source_checksums(paths: Mapping[str, Path]) -> dict[str, str]:
    """SHA-256 of every source file (what the manifest records)."""
    return {name: sha256_file(p) for name, p in paths.items()}


def _identity_mapping(frames: Mapping[str, pd.DataFrame], pseudonymise_ids: bool, description: str) -> dict[str, Any]:
    """Every column of the data model the frames hold maps to itself (optional columns only when built)."""
    return {
        "format_version": 1,
        "description": description,
        "options": {"pseudonymise_ids": pseudonymise_ids, "duplicates": "refuse", "mrc_minus": "base"},
        **{name: {"columns": {c: c for c in SCHEMAS[name].columns if c in frames[name].columns}} for name in TABLES},
    }


def _translate(err: CohortValidationError, origins: Mapping[str, Origin], staged: Mapping[str, Path], source: str) -> CohortValidationError:
    """Failures of the staged import, named by source table, column and rows."""
    out = []
    for rec in err.failures.to_dict("records"):
        table, column, rows = str(rec.get("table", "")), str(rec.get("column", "")), str(rec.get("rows", ""))
        origin = origins.get(table)
        problem = str(rec.get("problem", ""))
        if origin is not None:
            positions = [int(t) for t in rows.split(", ") if t.strip().isdigit()]  # staged Parquet: 0-based rows
            mapped = [int(origin.rows[p]) for p in positions if 0 <= p < len(origin.rows)]
            src_col = origin.columns.get(column, column)
            src_table, _, src_column = src_col.rpartition(".") if "." in src_col else (origin.table, "", src_col)
            rows_text = ", ".join(map(str, mapped)) + (", ..." if rows.endswith("...") else "") if mapped else rows
            out.append({"table": src_table or origin.table, "column": src_column,
                        "problem": f"{problem} (cohort column {table}.{column})" if column else problem,
                        "rows": rows_text, "n_rows": rec.get("n_rows", 0)})
        else:
            out.append({"table": table, "column": column, "problem": problem, "rows": rows, "n_rows": rec.get("n_rows", 0)})
    frame = pd.DataFrame(out, columns=list(FAILURE_COLUMNS))
    if isinstance(err, PrivacyError):
        frame.insert(0, "file", source)
        frame["patient_ids"] = ""
        return PrivacyError(frame, source)
    return CohortValidationError(frame, source)


def import_frames(
    frames: Mapping[str, pd.DataFrame],
    out: str | os.PathLike[str],
    *,
    source: str,
    source_files: Mapping[str, Path],
    generator: str,
    record: Mapping[str, Any],
    origins: Mapping[str, Origin],
    pseudonymise_ids: bool,
    overwrite: bool = False,
    mapping: Mapping[str, Any] | None = None,
) -> ImportResult:
    """Write ``frames`` as a cohort directory through :func:`~footdrop_outcomes.privacy.import_cohort`.

    Parameters
    ----------
    frames : mapping of str to pandas.DataFrame
        ``patients``, ``visits`` and ``adherence`` with the cohort's columns (days since onset).
    out : path-like
        Cohort directory to write (atomically).
    source : str
        How messages name the source (a path).
    source_files : mapping of str to pathlib.Path
        Source files whose SHA-256 the manifest records.
    generator : str
        Name of the public function that built the frames (stored in the manifest).
    record : mapping
        Source-specific record stored in the manifest under ``"source_record"``.
    origins : mapping of str to Origin
        Where each cohort table's rows came from, to name source rows in errors.
    pseudonymise_ids : bool
        Replace the keys by ``P0000001``, ... (the flat import's option).
    overwrite : bool
        Replace an existing cohort directory.
    mapping : mapping, optional
        A flat-import mapping (dict) for the staged frames; default: every column maps to itself.

    Returns
    -------
    ImportResult
    """
    target = Path(out)
    refuse_symlink(target)
    if target.exists():
        if not overwrite:
            raise CohortIOError(f"{target} already exists; choose another path, or replace it with overwrite=True (CLI: --overwrite)")
        if not (target / "manifest.json").exists():
            raise CohortIOError(f"{target} exists and is not a cohort directory (no manifest.json); refusing to replace it")
    checksums = source_checksums(source_files)
    with staged_directory(target) as tmp:
        work = tmp / "_frames"
        work.mkdir()
        staged = {}
        for name in TABLES:
            staged[name] = work / f"{name}.parquet"
            frames[name].reset_index(drop=True).to_parquet(staged[name], index=False)
        try:
            used = dict(mapping) if mapping is not None else _identity_mapping(frames, pseudonymise_ids, f"built by {generator}")
            result = import_cohort(used, patients=staged["patients"],
                                   visits=staged["visits"], adherence=staged["adherence"], out=tmp / "_cohort")
        except CohortValidationError as err:
            raise _translate(err, origins, staged, source) from None
        for item in (tmp / "_cohort").iterdir():
            shutil.move(str(item), str(tmp / item.name))
        (tmp / "_cohort").rmdir()
        shutil.rmtree(work)
        manifest = json.loads((tmp / "manifest.json").read_text())
        manifest["generator"] = {"name": f"footdrop_outcomes.sources.{generator}", "package_version": manifest["package_version"]}
        manifest["source"] = {k: str(v) for k, v in source_files.items()}
        manifest["source_sha256"] = checksums
        if mapping is None:
            manifest["mapping"] = {"description": f"built by {generator} (see source_record)", "pseudonymise_ids": pseudonymise_ids}
        elif isinstance(manifest.get("mapping"), dict) and "mapping" in source_files:
            # the mapping reached the flat import as a table of settings; the title page names the file it came from
            manifest["mapping"]["source"] = str(source_files["mapping"])
        manifest["source_record"] = dict(record)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    return ImportResult(path=target, rows=result.rows, handled=result.handled)
