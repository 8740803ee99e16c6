"""The sheet's accept column (the physiologist's review of the unit figures) is honoured."""

from __future__ import annotations

import pandas as pd
import pytest

from fmslab.errors import InputError
from fmslab.skinnerve.review import apply_review


def _units() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file": ["a.smr", "a.smr", "b.smr", "b.smr", "c.smr", "d.smr"],
            "unit_id": [1, 2, 1, 2, 1, 1],
            "is_unit_under_study": [True, False, True, False, True, True],
        }
    )


def test_accept_reject_and_unit_choice() -> None:
    sheet = pd.DataFrame(
        {"file": ["a.smr", "b.smr", "c.smr", "d.smr"], "accept": ["yes", "unit 2", "reject", None]}
    )
    out = apply_review(_units(), sheet).set_index(["file", "unit_id"])
    assert out.loc[("a.smr", 1), "is_unit_under_study"] and out.loc[("a.smr", 1), "review"] == (
        "sheet: accepted"
    )
    # the physiologist picked unit 2 of b.smr
    assert out.loc[("b.smr", 2), "is_unit_under_study"]
    assert not out.loc[("b.smr", 1), "is_unit_under_study"]
    assert out.loc[("b.smr", 1), "review"] == "sheet: unit 2"
    # rejected: not used, and recorded
    assert not out.loc[("c.smr", 1), "accepted"]
    assert not out.loc[("c.smr", 1), "is_unit_under_study"]
    assert out.loc[("c.smr", 1), "review"] == "sheet: rejected"
    # not reviewed: automatic choice stands
    assert out.loc[("d.smr", 1), "is_unit_under_study"] and out.loc[("d.smr", 1), "accepted"]
    assert out.loc[("d.smr", 1), "review"] == "automatic"


def test_bad_values_are_refused_with_the_file() -> None:
    with pytest.raises(InputError, match="b.smr.*'maybe' is not yes/no/unit K"):
        apply_review(_units(), pd.DataFrame({"file": ["b.smr"], "accept": ["maybe"]}))
    with pytest.raises(InputError, match="a.smr.*names unit 5, but the recording has units"):
        apply_review(_units(), pd.DataFrame({"file": ["a.smr"], "accept": ["u5"]}))
