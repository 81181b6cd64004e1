"""What the guard knows about the data model, given by the layer that owns it.

The guard sits below the cohort layer: it cannot import the schemas. The cohort layer describes
its columns in a :class:`DataModel` and registers it (:func:`register_data_model`) when it is
imported; every check takes an explicit ``model=`` too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["DataModel", "register_data_model", "data_model"]


@dataclass(frozen=True)
class DataModel:
    """The columns of a data model as the guard needs them.

    Attributes
    ----------
    columns : frozenset of str
        Column names of the data model; they are never refused by *name* (their content is
        still checked).
    vocabularies : mapping of str to frozenset of str
        Closed vocabularies: values in them are harmless; other values of these columns get
        every content rule.
    keys : frozenset of str
        Pseudonymous key columns (``patient_id``): the key rules apply.
    labels : frozenset of str
        Free-text label columns (``site``).
    day_columns : frozenset of str
        Columns of days since onset (spreadsheet serial dates are refused there).
    """

    columns: frozenset[str] = frozenset()
    vocabularies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    keys: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()
    day_columns: frozenset[str] = frozenset()


_REGISTERED: list[DataModel] = [DataModel()]


def register_data_model(model: DataModel) -> None:
    """Make ``model`` the default of every check (the cohort layer calls this on import)."""
    _REGISTERED[0] = model


def data_model() -> DataModel:
    """The registered data model (an empty one before the cohort layer is imported)."""
    return _REGISTERED[0]
