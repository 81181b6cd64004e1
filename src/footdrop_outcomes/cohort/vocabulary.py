"""Closed vocabularies of the cohort data model: causes, severities, interventions, exercises.

Every category used anywhere in the toolkit is declared here once, as a ``Literal`` type (for
signatures and docs) and a tuple (for run-time checks and the schema).
"""

from __future__ import annotations

from typing import Literal, get_args

Cause = Literal[
    "peroneal_compression",
    "lumbar_radiculopathy",
    "stroke",
    "multiple_sclerosis",
    "als",
    "peripheral_neuropathy",
    "post_surgical_hip_knee",
    "post_surgical_spine",
]
Severity = Literal["mild", "moderate", "severe"]
Sex = Literal["female", "male"]
Side = Literal["left", "right", "bilateral"]
Smoking = Literal["never", "former", "current"]
AfoType = Literal["none", "rigid", "hinged", "carbon"]
Surgery = Literal["none", "decompression", "nerve_repair_graft", "tendon_transfer"]
FollowupEnd = Literal["study_end", "dropout", "death"]

CAUSES: tuple[str, ...] = get_args(Cause)
SEVERITIES: tuple[str, ...] = get_args(Severity)
SEXES: tuple[str, ...] = get_args(Sex)
SIDES: tuple[str, ...] = get_args(Side)
SMOKING: tuple[str, ...] = get_args(Smoking)
AFO_TYPES: tuple[str, ...] = get_args(AfoType)
SURGERIES: tuple[str, ...] = get_args(Surgery)
FOLLOWUP_ENDS: tuple[str, ...] = get_args(FollowupEnd)

#: Causes that progress rather than recover (decline of strength and gait over time).
PROGRESSIVE_CAUSES: tuple[str, ...] = ("als", "multiple_sclerosis")

CAUSE_LABELS: dict[str, str] = {
    "peroneal_compression": "Peroneal (fibular) nerve compression",
    "lumbar_radiculopathy": "Lumbar (L5) radiculopathy",
    "stroke": "Stroke",
    "multiple_sclerosis": "Multiple sclerosis",
    "als": "Amyotrophic lateral sclerosis",
    "peripheral_neuropathy": "Peripheral / diabetic neuropathy",
    "post_surgical_hip_knee": "After hip or knee replacement",
    "post_surgical_spine": "After spine surgery",
}

#: Baseline dorsiflexion MRC grades allowed for each severity (grade at onset).
SEVERITY_MRC: dict[str, tuple[int, ...]] = {
    "severe": (0, 1),
    "moderate": (2,),
    "mild": (3, 4),
}

#: The home exercise program: column stem, label and usual dose (shown in the data dictionary).
EXERCISES: dict[str, tuple[str, str]] = {
    "toe_lifts": ("Toe lifts", "10-15 reps, 2-3 sets, 1-2 times a day"),
    "ankle_alphabet": ("Ankle alphabet", "1-2 times a day"),
    "towel_slides": ("Towel slides", "10-15 reps, once a day"),
    "band_dorsiflexion": ("Resistance-band dorsiflexion", "10-12 reps, 2-3 sets, 3-4 days a week"),
    "heel_walking": ("Heel walking", "10-20 steps, once a day when safe (baseline MRC >= 3)"),
    "calf_stretch": ("Standing calf stretch", "20-30 s, 2-3 times, 1-2 times a day"),
}
