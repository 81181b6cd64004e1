"""docs/data_sources.md: its Python examples run, in order, and its rule tables match the code."""

from __future__ import annotations

import re
from pathlib import Path

from footdrop_outcomes.sources import CONCEPT_SET_NAMES
from footdrop_outcomes.sources.omop import CAUSE_PRECEDENCE, UNIT_CONVERSIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "data_sources.md"


def test_examples_run(tmp_path: Path) -> None:
    text = DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"tmp": tmp_path, "__name__": "docs_example"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["result"].rows["patients"] == 30  # the last example: the REDCap project of 30 patients


def test_doc_names_every_concept_set_unit_and_cause() -> None:
    text = DOC.read_text()
    for name in CONCEPT_SET_NAMES:
        assert f"`{name}`" in text, name
    for units in UNIT_CONVERSIONS.values():
        for unit in units:
            if unit is not None:
                assert f"`{unit}`" in text, unit
    order = text[text.index("Default order:"):text.index("Why:")]
    words = {"post_surgical_spine": "spine surgery", "post_surgical_hip_knee": "hip/knee", "stroke": "stroke", "als": "ALS",
             "multiple_sclerosis": "multiple sclerosis", "lumbar_radiculopathy": "lumbar", "peripheral_neuropathy": "polyneuropathy",
             "peroneal_compression": "peroneal"}
    positions = [order.index(words[c]) for c in CAUSE_PRECEDENCE]
    assert positions == sorted(positions)
