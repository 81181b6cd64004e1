"""Concept sets in the OHDSI (ATLAS) concept-set JSON shape, shipped with the package and editable.

A concept set file is ``{"items": [{"concept": {...}, "isExcluded": ..., "includeDescendants":
..., "includeMapped": ...}, ...]}`` as ATLAS exports it. Each ``concept`` is identified by its
``CONCEPT_ID`` when that is a positive number found in the CDM's ``concept`` table, otherwise by
``VOCABULARY_ID`` + ``CONCEPT_CODE`` (the shipped files use codes, so they work with any
vocabulary release; ``CONCEPT_ID`` 0 means "look the code up").

Resolution in a CDM (documented rules, ``docs/data_sources.md``):

* a *standard* concept (``standard_concept = 'S'``) is matched against the events'
  ``*_concept_id``; with ``includeDescendants`` every descendant through ``concept_ancestor``
  is added;
* a *non-standard* concept (ICD-10-CM, a site's local code) is matched against the events'
  ``*_source_concept_id``; with ``includeDescendants`` its standard targets through
  ``concept_relationship`` ``'Maps to'`` and their descendants are added as well;
* ``isExcluded`` items (with their descendants, resolved the same way) are removed;
* ``includeMapped`` is accepted and treated like the rules above (source concepts are matched
  directly).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from footdrop_outcomes.errors import ConfigError

__all__ = ["CONCEPT_SET_NAMES", "concept_set_items", "load_concept_sets"]

#: Every concept set the OMOP import uses (file ``concept_sets/<name>.json``).
CONCEPT_SET_NAMES: tuple[str, ...] = (
    "foot_drop", "side_left", "side_right", "side_bilateral",
    "cause_peroneal_compression", "cause_lumbar_radiculopathy", "cause_stroke", "cause_multiple_sclerosis", "cause_als",
    "cause_peripheral_neuropathy", "cause_hip_knee_arthroplasty", "cause_spine_surgery",
    "diabetes", "smoking_current", "smoking_former", "smoking_never", "red_flag_cauda_equina", "red_flag_rapid_worsening",
    "hba1c", "bmi", "dorsiflexion_mrc", "dorsiflexion_mrc_onset", "gait_speed", "rom_dorsiflexion", "falls", "afo_needed",
    "treatment_start", "home_exercise", "supervised_physio", "afo_rigid", "afo_hinged", "afo_carbon", "fes",
    "surgery_decompression", "surgery_nerve_repair_graft", "surgery_tendon_transfer",
)


def _read(path: Path | Any, name: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"concept set {name} ({path}) could not be read as JSON ({type(err).__name__})") from None
    items = data.get("items") if isinstance(data, dict) else data if isinstance(data, list) else None
    if not isinstance(items, list):
        raise ConfigError(f"concept set {name} ({path}): expected the ATLAS shape {{\"items\": [...]}}")
    for k, item in enumerate(items, start=1):
        concept = item.get("concept") if isinstance(item, dict) else None
        if not isinstance(concept, dict):
            raise ConfigError(f"concept set {name}, item {k}: no \"concept\" object")
        has_id = isinstance(concept.get("CONCEPT_ID"), int) and concept["CONCEPT_ID"] > 0
        has_code = bool(concept.get("VOCABULARY_ID")) and bool(concept.get("CONCEPT_CODE"))
        if not (has_id or has_code):
            raise ConfigError(f"concept set {name}, item {k}: give CONCEPT_ID or VOCABULARY_ID and CONCEPT_CODE")
    return items


def load_concept_sets(folder: str | os.PathLike[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The concept sets: the shipped ones, each replaced by ``folder/<name>.json`` when present.

    Parameters
    ----------
    folder : path-like, optional
        A folder of edited concept-set files (ATLAS JSON); files not given keep the shipped set.
        A file whose name is not a known concept set is refused (a typo would go unnoticed).

    Returns
    -------
    dict of str to list
        Concept-set name -> its items.

    Examples
    --------
    >>> sets = load_concept_sets()
    >>> sets["cause_stroke"][0]["concept"]["CONCEPT_CODE"]
    '230690007'
    """
    shipped = resources.files("footdrop_outcomes.sources").joinpath("concept_sets")
    sets = {name: _read(shipped.joinpath(f"{name}.json"), name) for name in CONCEPT_SET_NAMES}
    if folder is not None:
        path = Path(folder)
        if not path.is_dir():
            raise ConfigError(f"concept_sets={path} is not a folder of concept-set JSON files")
        for file in sorted(path.glob("*.json")):
            if file.stem not in sets:
                raise ConfigError(f"{file.name}: not a concept set of the OMOP import; known: {', '.join(CONCEPT_SET_NAMES)}")
            sets[file.stem] = _read(file, file.stem)
    return sets


def concept_set_items(sets: dict[str, list[dict[str, Any]]]) -> pd.DataFrame:
    """One row per item: ``set_name``, ``concept_id``, ``vocabulary_id``, ``concept_code``, flags."""
    rows = []
    for name, items in sets.items():
        for item in items:
            c = item["concept"]
            cid = c.get("CONCEPT_ID")
            rows.append({"set_name": name, "concept_id": int(cid) if isinstance(cid, int) and cid > 0 else None,
                         "vocabulary_id": c.get("VOCABULARY_ID"), "concept_code": None if c.get("CONCEPT_CODE") is None else str(c["CONCEPT_CODE"]),
                         "descendants": bool(item.get("includeDescendants", False)), "excluded": bool(item.get("isExcluded", False))})
    return pd.DataFrame(rows, columns=["set_name", "concept_id", "vocabulary_id", "concept_code", "descendants", "excluded"]).astype(
        {"concept_id": "Int64", "vocabulary_id": "string", "concept_code": "string"})
