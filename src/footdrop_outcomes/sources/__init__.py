"""Real data sources in and out: OMOP CDM v5.4 and REDCap.

This package sits at the cohort-input level beside :mod:`footdrop_outcomes.privacy`: it builds
the three cohort tables from a source and hands them to the flat import
(:func:`footdrop_outcomes.privacy.import_cohort`), so every source goes through the same privacy
guard, schema checks, manifest and atomic write. Nothing below it imports it.

* :func:`import_omop`: an OMOP CDM v5.4 (DuckDB file, or folder of CSV / Parquet tables) into
  a cohort directory, with editable OHDSI concept sets (:func:`load_concept_sets`) and an
  attrition table;
* :func:`export_omop`: any cohort as CDM v5.4 tables (CSV, Parquet or DuckDB);
* :func:`import_redcap`: a REDCap records export with its data dictionary and a mapping;
  :func:`redcap_mapping_template` writes a mapping to complete from the dictionary;
  :func:`export_redcap` writes any cohort as a REDCap project (dictionary, records, mapping).

Rules and worked examples: ``docs/data_sources.md``.
"""

from footdrop_outcomes.sources.concepts import CONCEPT_SET_NAMES, load_concept_sets
from footdrop_outcomes.sources.omop import (
    CAUSE_PRECEDENCE,
    OmopImport,
    OmopOptions,
    import_omop,
)
from footdrop_outcomes.sources.omop_export import export_omop
from footdrop_outcomes.sources.redcap import (
    export_redcap,
    import_redcap,
    read_dictionary,
    redcap_mapping_template,
)

__all__ = [
    "CAUSE_PRECEDENCE",
    "CONCEPT_SET_NAMES",
    "OmopImport",
    "OmopOptions",
    "export_omop",
    "export_redcap",
    "import_omop",
    "import_redcap",
    "load_concept_sets",
    "read_dictionary",
    "redcap_mapping_template",
]
