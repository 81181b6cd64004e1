"""The adherence worker's key (report.prefetch.cohort_key): a canonical hash of the cohort's content.

Equal content gives the same key in any process (another string-hash seed, other pandas options,
a copy, the cohort loaded again); any change of content - one cell of any table, a type, a
category order, a column name, the index, the metadata, the truth - gives another key.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.cohort import load_cohort
from footdrop_outcomes.report import prefetch

ARGS = {"threshold": 4, "alpha": 0.05, "propensity_formula": "C(cause) + C(severity) + age + diabetes"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return simulate_cohort(150, 3, progress=False, version=2).save(tmp_path_factory.mktemp("key") / "cohort")


@pytest.fixture(scope="module")
def cohort(saved):
    return load_cohort(saved)


def key(c, arguments=ARGS, section="adherence"):
    return prefetch.cohort_key(section, c, arguments)


def _set(df, row, col, value):
    df.loc[df.index[row], col] = value


def _column(df, name, values):
    df[name] = values


def _first_numeric(df):
    return next(c for c in df.columns if pd.api.types.is_float_dtype(df[c]))


CHANGES = {
    "patients: one age": lambda c: _set(c.patients, 7, "age", c.patients["age"].iloc[7] + 1),
    "patients: one category value": lambda c: _set(
        c.patients, 0, "severity", next(x for x in c.patients["severity"].cat.categories if x != c.patients["severity"].iloc[0])),
    "patients: category order only": lambda c: _column(
        c.patients, "severity", c.patients["severity"].cat.reorder_categories(c.patients["severity"].cat.categories[::-1])),
    "patients: an unused category added": lambda c: _column(
        c.patients, "severity", c.patients["severity"].cat.add_categories(["unheard-of"])),
    "patients: int column as float, same values": lambda c: _column(c.patients, "age", c.patients["age"].astype(float)),
    "patients: a column renamed": lambda c: c.patients.rename(columns={"bmi": "bmi2"}, inplace=True),
    "patients: two column names swapped": lambda c: _swap_names(c.patients, "age", "baseline_mrc"),
    "patients: index relabelled": lambda c: _replace(c, "patients", c.patients.set_axis(c.patients.index + 1, axis=0)),
    "patients: a missing value filled": lambda c: _set(c.patients, int(np.flatnonzero(c.patients["hba1c"].isna())[0]), "hba1c", 6.0),
    "visits: one MRC grade": lambda c: _set(c.visits, 11, "mrc", c.visits["mrc"].iloc[11] + 1),
    "visits: last row dropped": lambda c: _replace(c, "visits", c.visits.iloc[:-1]),
    "adherence: one session count": lambda c: _set(c.adherence, 20, "toe_lifts_completed", c.adherence["toe_lifts_completed"].iloc[20] + 1),
    "metadata: a nested value": lambda c: c.metadata["config"].__setitem__("hd_test", 1),
    "metadata: numpy integer for int": lambda c: c.metadata.__setitem__("seed", np.int64(c.metadata["seed"])),
    "truth: one parameter value": lambda c: _set(c.truth.parameters, 0, "value", c.truth.parameters["value"].iloc[0] + 1e-9),
    "truth: one latent value": lambda c: _set(c.truth.patients, 3, _first_numeric(c.truth.patients),
                                              c.truth.patients[_first_numeric(c.truth.patients)].iloc[3] * 2 + 1),
    "truth: an object cell as another type with the same text": lambda c: _set(
        c.truth.patients, 0, "treatment_clock", _Text(c.truth.patients["treatment_clock"].iloc[0])),
    "truth: removed": lambda c: _replace(c, "truth", None),
}


class _Text(str):
    """A str subclass: the same text, another type."""


def _swap_names(df, a, b):
    """Two columns of the same type exchange names (data kept in place)."""
    df.columns = [b if c == a else a if c == b else c for c in df.columns]


def _replace(c, name, value):
    object.__setattr__(c, name, value)  # the Cohort dataclass is frozen


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_changed_cell_or_type_changes_the_key(cohort, change):
    base = key(cohort)
    other = copy.deepcopy(cohort)
    assert key(other) == base  # a copy: the same key
    CHANGES[change](other)
    assert key(other) != base


def test_a_tuple_is_not_a_list_in_the_metadata(cohort):
    c1, c2 = copy.deepcopy(cohort), copy.deepcopy(cohort)
    c1.metadata["extra"], c2.metadata["extra"] = (1, 2), [1, 2]
    assert key(c1) != key(c2)
    c2.metadata["extra"] = (1, 2)
    assert key(c1) == key(c2)


def test_arguments_and_section_count(cohort):
    base = key(cohort)
    assert key(cohort, {**ARGS, "alpha": 0.1}) != base
    assert key(cohort, {**ARGS, "threshold": 3}) != base
    assert key(cohort, section="other") != base
    assert key(cohort, dict(reversed(list(ARGS.items())))) == base  # argument order does not count


CHILD = r"""
import json, sys
import pandas as pd
from footdrop_outcomes.cohort.cohort import load_cohort
from footdrop_outcomes.report import prefetch
pd.set_option("display.max_columns", 3)     # interpreter state that must not count
pd.set_option("mode.copy_on_write", True)
args = json.loads(sys.argv[2])
print(prefetch.cohort_key("adherence", load_cohort(sys.argv[1]), args))
"""


def test_the_same_content_gives_the_same_key_in_any_process(saved, cohort):
    """Another string-hash seed, other pandas options, the cohort loaded again: the same key."""
    here = key(cohort)
    assert key(load_cohort(saved)) == here  # loaded again
    keys = set()
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", CHILD, str(saved), json.dumps(ARGS)], capture_output=True, text=True,
                              timeout=300, check=False, env={**os.environ, "PYTHONHASHSEED": seed})
        assert done.returncode == 0, done.stderr[-2000:]
        keys.add(done.stdout.strip().splitlines()[-1])
    assert keys == {here}
