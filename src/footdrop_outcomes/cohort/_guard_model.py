"""The cohort data model as the privacy guard sees it (the guard sits below this layer).

Built from the schemas (:mod:`footdrop_outcomes.cohort.schema`) and registered as the guard's
default on import, so every check (loading, import, a report's text checks) knows the data
model's columns, closed vocabularies, the key column and the free-text label column.
"""

from __future__ import annotations

from footdrop_outcomes.cohort.schema import SCHEMAS
from footdrop_outcomes.guard import DataModel, check_privacy, register_data_model

__all__ = ["GUARD_MODEL", "check_privacy"]


def _vocabularies() -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for schema in SCHEMAS.values():
        for name, column in schema.columns.items():
            for check in column.checks:
                if check.name == "isin":
                    out[name] = frozenset(map(str, check.statistics["allowed_values"]))
    return out


def _unit_columns(unit: str) -> frozenset[str]:
    return frozenset(name for schema in SCHEMAS.values() for name, column in schema.columns.items()
                     if (column.metadata or {}).get("unit") == unit)


#: Columns, vocabularies, keys (``patient_id``) and labels (``site``: the only other free text).
GUARD_MODEL = DataModel(
    columns=frozenset(c for schema in SCHEMAS.values() for c in schema.columns),
    vocabularies=_vocabularies(),
    keys=frozenset({"patient_id"}),
    labels=frozenset({"site"}),
    day_columns=_unit_columns("days since onset"),
)
register_data_model(GUARD_MODEL)
