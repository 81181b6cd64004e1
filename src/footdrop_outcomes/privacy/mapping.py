"""Mapping files: how a site's extract maps onto the cohort data model.

A mapping is a small TOML file (read with the standard library's ``tomllib``; TOML needs no
extra dependency, has comments, and cannot run code). The full format, with every option, is in
``docs/privacy.md``; ``data/examples/mapping_template.toml`` is a commented template. In short::

    format_version = 1
    description = "Example Hospital foot-drop extract, 2026"

    [options]
    pseudonymise_ids = false   # true: replace the site's patient keys by P0000001, P0000002, ...
    duplicates = "refuse"      # or "drop_identical": drop rows that repeat another row exactly
    mrc_minus = "base"         # "4-" counts as 4 ("base") or as 3 ("lower"); "4+" is always 4

    [read]                      # how to read CSV files (Parquet needs nothing)
    delimiter = ","
    encoding = "utf-8"
    missing = ["", "NA", "n/a"]

    [patients]
    drop = ["ward"]             # columns of the extract never read
    delimiter = ";"             # this file's CSV delimiter, if not [read] delimiter
    [patients.columns]          # cohort column = column in the extract
    patient_id = "StudyNo"
    [patients.constants]        # cohort column = value, when the extract lacks the column
    red_flag_cauda_equina = false
    [patients.units]            # cohort column = unit of the extract's values
    days_to_treatment = "weeks"
    [patients.codes.sex]        # code in the extract = cohort value (case and spaces ignored)
    F = "female"
    M = "male"
    [patients.unknown]          # cohort column = codes meaning "not known": become missing values
    smoking = ["unknown", "not recorded", "9"]
    hba1c = ["-99"]

Codes declared unknown are counted per column in the imported cohort's manifest
(``import_handling.unknown_to_missing``); only columns that may be missing in the data model
(``docs/data_dictionary.md``) accept them. Optional columns of the data model (``first_contact_day``,
``surgery_day``, ``dropout_reason``, ``gait_speed_device_off``) need not be mapped.

Every column of the extract must be either mapped or dropped, so nothing enters unseen.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from footdrop_outcomes.cohort._guard_model import GUARD_MODEL
from footdrop_outcomes.cohort.schema import SCHEMAS, TABLES
from footdrop_outcomes.errors import ConfigError, safe_column_name
from footdrop_outcomes.guard import PrivacyError, find_identifiers

__all__ = ["CohortMapping", "TableMapping", "load_mapping", "UNITS", "MRC_COLUMNS"]

Duplicates = Literal["refuse", "drop_identical"]
MrcMinus = Literal["base", "lower"]

_DAYS = {"days": 1.0, "weeks": 7.0, "months": 30.4375}
#: Allowed source units per cohort column: unit -> (multiply by, add) to get the cohort unit.
UNITS: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    "patients": {
        "days_to_treatment": {u: (f, 0.0) for u, f in _DAYS.items()},
        "followup_days": {u: (f, 0.0) for u, f in _DAYS.items()},
        "first_contact_day": {u: (f, 0.0) for u, f in _DAYS.items()},
        "surgery_day": {u: (f, 0.0) for u, f in _DAYS.items()},
        "hba1c": {"%": (1.0, 0.0), "mmol/mol": (1 / 10.929, 2.15)},  # NGSP % = IFCC / 10.929 + 2.15
        "age": {"years": (1.0, 0.0)},
        "bmi": {"kg/m2": (1.0, 0.0)},
    },
    "visits": {
        "day": {u: (f, 0.0) for u, f in _DAYS.items()},
        **{c: {"m/s": (1.0, 0.0), "km/h": (1 / 3.6, 0.0), "cm/s": (0.01, 0.0), "s/10m": (float("nan"), 0.0)}
           for c in ("gait_speed", "gait_speed_device_off")},
        "rom_deg": {"degrees": (1.0, 0.0), "radians": (57.29577951308232, 0.0)},
    },
    "adherence": {
        "week": {"weeks": (1.0, 0.0), "days": (float("nan"), 0.0)},
        **{c: {"hours": (1.0, 0.0), "minutes": (1 / 60, 0.0)}
           for c in ("afo_hours_prescribed", "afo_hours", "fes_hours_prescribed", "fes_hours")},
    },
}
#: Columns that accept MRC notations such as "4-", "4+", "4/5" or "MRC 4".
MRC_COLUMNS: dict[str, str] = {"patients": "baseline_mrc", "visits": "mrc"}
#: Cohort columns whose values are whole days after unit conversion (rounded half up).
WHOLE_DAY_COLUMNS = {"days_to_treatment", "followup_days", "first_contact_day", "surgery_day", "day"}


@dataclass(frozen=True)
class TableMapping:
    """How one table of the extract maps onto a cohort table."""

    table: str
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    delimiter: str | None = None
    unknown: dict[str, frozenset[str]] = field(default_factory=dict)

    def source_of(self, target: str) -> str | None:
        """Column of the extract that feeds a cohort column."""
        return self.columns.get(target)


@dataclass(frozen=True)
class CohortMapping:
    """A parsed, checked mapping file (see :func:`load_mapping`)."""

    tables: dict[str, TableMapping]
    pseudonymise_ids: bool = False
    duplicates: Duplicates = "refuse"
    mrc_minus: MrcMinus = "base"
    delimiter: str = ","
    encoding: str = "utf-8"
    missing: tuple[str, ...] = ("",)
    description: str = ""
    source: str = "in-memory mapping"

    def to_dict(self) -> dict[str, Any]:
        """Plain data, stored in the imported cohort's manifest."""
        return {
            "description": self.description, "source": self.source, "pseudonymise_ids": self.pseudonymise_ids,
            "duplicates": self.duplicates, "mrc_minus": self.mrc_minus,
            "tables": {t: {"columns": m.columns, "constants": m.constants, "units": m.units,
                           "codes": {c: {str(k): v for k, v in codes.items()} for c, codes in m.codes.items()},
                           "drop": list(m.drop), "unknown": {c: sorted(v) for c, v in m.unknown.items()}}
                       for t, m in self.tables.items()},
        }


def _fail(where: str, what: str) -> ConfigError:
    return ConfigError(f"mapping {where}: {what}")


def shown(value: object) -> str:
    """A mapping entry or column name as a message may show it: quoted, or a placeholder.

    A value is shown only when it is short, reads as a column name or code (``safe_column_name``)
    and the guard finds nothing in it; otherwise ``<a value that is not shown>``, since a
    mapping's own entries (a column name, an option) may be the identifier.
    """
    text = str(value)
    if len(text) <= 60 and safe_column_name(text) == text and not find_identifiers([text], kind="text"):
        return repr(value)
    return "<a value that is not shown>"


def _choice(value: Any, allowed: tuple[str, ...], where: str, key: str) -> str:
    if value not in allowed:
        raise _fail(where, f"{key} = {shown(value)} is not allowed; use one of {', '.join(map(repr, allowed))}")
    return str(value)


def _kind(column: str) -> Literal["key", "label", "code", "free"]:
    if column in GUARD_MODEL.keys:
        return "key"
    if column in GUARD_MODEL.labels:
        return "label"
    return "code" if column in GUARD_MODEL.vocabularies else "free"


def _guard_values(name: str, constants: Mapping[str, Any], codes: Mapping[str, Any], where: str) -> None:
    """Run the privacy guard on what a mapping writes: constants and both sides of code tables.

    Raises :class:`PrivacyError` naming the mapping file, section and entry (its position in
    the code table; the code itself may be the identifier), never the value.
    """
    rows: list[dict[str, object]] = []

    def add(column: str, section: str, what: str, reason: str) -> None:
        rows.append({"file": where, "table": name, "column": column, "problem": f"{section} {what}: {reason}",
                     "rows": "all", "patient_ids": "", "n_rows": 0})

    for target, value in constants.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            if str(value) not in GUARD_MODEL.vocabularies.get(target, ()):
                for reason, _ in find_identifiers([str(value)], kind=_kind(target)):
                    add(target, f"[{name}.constants]", target, reason)
    for target, table in codes.items():
        if not isinstance(table, Mapping):
            continue
        sources = [str(k) for k in table]
        targets = [str(v) for v in table.values()]
        vocab = GUARD_MODEL.vocabularies.get(target, frozenset())
        for side, values in (("code", sources), ("value", targets)):
            check = [i for i, v in enumerate(values) if side == "code" or v not in vocab]
            for reason, pos in find_identifiers([values[i] for i in check], kind=_kind(target)):
                for p in pos:
                    add(target, f"[{name}.codes.{target}]", f"entry {check[p] + 1} ({side})", reason)
    if rows:
        raise PrivacyError(pd.DataFrame(rows), f"mapping {where}")


def _table(name: str, raw: Any, where: str) -> TableMapping:
    if not isinstance(raw, Mapping):
        raise _fail(where, f"[{name}] must be a table")
    unknown = set(raw) - {"columns", "constants", "units", "codes", "drop", "delimiter", "unknown"}
    if unknown:
        raise _fail(where, f"[{name}] has unknown keys {sorted(unknown)}; allowed: columns, constants, units, codes, drop, "
                           "delimiter, unknown")
    model = SCHEMAS[name].columns
    columns = dict(raw.get("columns", {}))
    constants = dict(raw.get("constants", {}))
    for section, entries in (("columns", columns), ("constants", constants)):
        for target in entries:
            if target not in model:
                raise _fail(where, f"[{name}.{section}] names {shown(target)}, which is not a column of the {name} table; "
                                   f"columns are: {', '.join(model)}")
    for target, src in columns.items():
        if not isinstance(src, str) or not src:
            raise _fail(where, f"[{name}.columns] {target} must name a column of the extract (text)")
    both = set(columns) & set(constants)
    if both:
        raise _fail(where, f"{sorted(both)} given both as a column and as a constant in [{name}]")
    missing = [c for c in model if c not in columns and c not in constants and model[c].required]
    if missing:
        raise _fail(where, f"[{name}] does not say where cohort columns {missing} come from; "
                           f"add them under [{name}.columns] (or [{name}.constants])")
    if "patient_id" not in columns:
        raise _fail(where, f"[{name}.columns] must map patient_id to a column of the extract")
    units = dict(raw.get("units", {}))
    for target, unit in units.items():
        allowed = UNITS[name].get(target)
        if allowed is None:
            raise _fail(where, f"[{name}.units] {target}: no unit conversion for this column; "
                               f"columns with units: {', '.join(UNITS[name])}")
        _choice(unit, tuple(allowed), where, f"[{name}.units] {target}")
    codes: dict[str, dict[str, Any]] = {}
    _guard_values(name, constants, dict(raw.get("codes", {})), where)
    for target, table in dict(raw.get("codes", {})).items():
        if target not in columns:
            raise _fail(where, f"[{name}.codes.{target}] recodes a column that is not mapped under [{name}.columns]")
        if not isinstance(table, Mapping) or not table:
            raise _fail(where, f"[{name}.codes.{target}] must be a non-empty table of code = value")
        codes[target] = {str(k).strip().casefold(): v for k, v in table.items()}
    drop = raw.get("drop", [])
    if not isinstance(drop, list) or not all(isinstance(d, str) for d in drop):
        raise _fail(where, f"[{name}] drop must be a list of column names")
    clash = set(drop) & set(columns.values())
    if clash:
        raise _fail(where, f"[{name}] columns {sorted(clash)} are both mapped and dropped")
    delimiter = raw.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise _fail(where, f"[{name}] delimiter must be one character")
    return TableMapping(name, columns, constants, units, codes, tuple(drop), delimiter, _unknown_codes(name, raw, columns, where))


def _unknown_codes(name: str, raw: Mapping[str, Any], columns: Mapping[str, str], where: str) -> dict[str, frozenset[str]]:
    """``[table.unknown]``: per cohort column, the codes that mean "not known" (compared casefolded)."""
    section = raw.get("unknown", {})
    if not isinstance(section, Mapping):
        raise _fail(where, f"[{name}.unknown] must be a table of column = [codes]")
    model = SCHEMAS[name].columns
    out: dict[str, frozenset[str]] = {}
    for target, codes in section.items():
        if target not in columns:
            raise _fail(where, f"[{name}.unknown] {target}: not a column mapped under [{name}.columns]")
        if not model[target].nullable:
            raise _fail(where, f"[{name}.unknown] {target}: this column may not be missing in the data model "
                               "(docs/data_dictionary.md), so it cannot have unknown codes")
        if isinstance(codes, str | int | float) and not isinstance(codes, bool):
            codes = [codes]
        if not isinstance(codes, list) or not codes or not all(isinstance(c, str | int | float) and not isinstance(c, bool) for c in codes):
            raise _fail(where, f"[{name}.unknown] {target} must be a non-empty list of codes (text or numbers)")
        found = find_identifiers([str(c) for c in codes], kind="free")
        if found:
            raise PrivacyError(pd.DataFrame([{"file": where, "table": name, "column": target,
                                              "problem": f"[{name}.unknown] {target} entry {pos[0] + 1}: {reason}", "rows": "all",
                                              "patient_ids": "", "n_rows": 0} for reason, pos in found]), f"mapping {where}")
        out[target] = frozenset(str(c).strip().casefold() for c in codes)
    return out


def load_mapping(mapping: str | os.PathLike[str] | Mapping[str, Any] | CohortMapping) -> CohortMapping:
    """Read and check a mapping file (TOML) or an already parsed mapping dictionary.

    Parameters
    ----------
    mapping : path-like, dict or CohortMapping
        A ``.toml`` file, the same content as a dictionary, or a parsed mapping (returned as is).

    Returns
    -------
    CohortMapping

    Raises
    ------
    ConfigError
        Naming the section and key at fault and what is allowed.
    PrivacyError
        When a constant or a code table entry (either side) looks like a direct identifier or a
        calendar date: naming the file, section and entry number, never the value.

    Examples
    --------
    >>> m = load_mapping("data/examples/mapping_example.toml")
    >>> m.tables["visits"].units["day"]
    'weeks'
    """
    if isinstance(mapping, CohortMapping):
        return mapping
    if isinstance(mapping, Mapping):
        raw, where = dict(mapping), "(in memory)"
    else:
        path = Path(mapping)
        where = str(path)
        if not path.is_file():
            raise ConfigError(f"mapping file {path} does not exist")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"mapping file {path} is not valid TOML ({e})") from None
    unknown = set(raw) - {"format_version", "description", "options", "read", *TABLES}
    if unknown:
        raise _fail(where, f"unknown sections {sorted(unknown)}; allowed: format_version, description, options, read, "
                           + ", ".join(TABLES))
    if raw.get("format_version", 1) != 1:
        raise _fail(where, f"format_version {shown(raw.get('format_version'))} is not supported (this version reads 1)")
    options = dict(raw.get("options", {}))
    bad = set(options) - {"pseudonymise_ids", "duplicates", "mrc_minus"}
    if bad:
        raise _fail(where, f"[options] has unknown keys {sorted(bad)}; allowed: pseudonymise_ids, duplicates, mrc_minus")
    read = dict(raw.get("read", {}))
    bad = set(read) - {"delimiter", "encoding", "missing"}
    if bad:
        raise _fail(where, f"[read] has unknown keys {sorted(bad)}; allowed: delimiter, encoding, missing")
    missing_tables = [t for t in TABLES if t not in raw]
    if missing_tables:
        raise _fail(where, f"sections {['[' + t + ']' for t in missing_tables]} are missing")
    pseudo = options.get("pseudonymise_ids", False)
    if not isinstance(pseudo, bool):
        raise _fail(where, "[options] pseudonymise_ids must be true or false")
    found = find_identifiers([str(raw.get("description", ""))], kind="text")
    if found:
        raise PrivacyError(pd.DataFrame([{"file": where, "table": "", "column": "description", "problem": f"description: {r}",
                                          "rows": "all", "patient_ids": "", "n_rows": 0} for r, _ in found]), f"mapping {where}")
    return CohortMapping(
        tables={t: _table(t, raw[t], where) for t in TABLES},
        pseudonymise_ids=pseudo,
        duplicates=_choice(options.get("duplicates", "refuse"), ("refuse", "drop_identical"), where, "[options] duplicates"),  # type: ignore[arg-type]
        mrc_minus=_choice(options.get("mrc_minus", "base"), ("base", "lower"), where, "[options] mrc_minus"),  # type: ignore[arg-type]
        delimiter=str(read.get("delimiter", ",")),
        encoding=str(read.get("encoding", "utf-8")),
        missing=tuple(map(str, read.get("missing", [""]))),
        description=str(raw.get("description", "")),
        source=where,
    )
