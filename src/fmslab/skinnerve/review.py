"""A physiologist's review of the sorted units, read from the study sheet's ``accept`` column.

After looking at the unit figures, the physiologist writes one value per recording in the sheet's
``accept`` column:

============================ =====================================================================
value                        meaning
============================ =====================================================================
empty                        not reviewed: the automatic unit under study stands
``yes``/``accept``/``true``  reviewed, the automatic unit under study is right
``no``/``reject``/``false``  reviewed, no unit of this recording may be used
``unit K`` / ``uK`` / ``K``  reviewed, unit K (the figure's number) is the unit under study
============================ =====================================================================

:func:`apply_review` honours it in the units table: ``is_unit_under_study`` follows the review,
``accepted`` is False for every unit of a rejected recording, and ``review`` records what decided
(``automatic``, ``sheet: accepted``, ``sheet: rejected``, ``sheet: unit K``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from fmslab.errors import InputError

YES = {"yes", "y", "accept", "accepted", "true", "ok"}
NO = {"no", "n", "reject", "rejected", "false"}
_UNIT = re.compile(r"^(?:unit\s*|u)?(\d+)$", re.I)


def parse_review(value: object, *, file: str) -> tuple[str, int | None]:
    """``("auto" | "accept" | "reject" | "unit", K)`` from one sheet cell."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "auto", None
    text = str(value).strip()
    if not text:
        return "auto", None
    low = text.lower()
    if low in YES:
        return "accept", None
    if low in NO:
        return "reject", None
    m = _UNIT.match(text)
    if m:
        return "unit", int(m.group(1))
    raise InputError(
        f"accept value '{text}' is not yes/no/unit K (empty = not reviewed)",
        file=file,
        column="accept",
    )


def apply_review(units: pd.DataFrame, sheet: pd.DataFrame) -> pd.DataFrame:
    """Units with the sheet's review applied (``file`` joins them; see the module docstring)."""
    out = units.copy()
    out["accepted"] = True
    out["review"] = "automatic"
    if "accept" not in sheet.columns or not len(out):
        return out
    for file, value in zip(sheet["file"], sheet["accept"], strict=True):
        kind, k = parse_review(value, file=file)
        rows = out["file"] == file
        if kind == "auto" or not rows.any():
            continue
        if kind == "accept":
            out.loc[rows, "review"] = "sheet: accepted"
        elif kind == "reject":
            out.loc[rows, ["accepted", "is_unit_under_study"]] = [False, False]
            out.loc[rows, "review"] = "sheet: rejected"
        else:
            if not (rows & (out["unit_id"] == k)).any():
                raise InputError(
                    f"accept names unit {k}, but the recording has units "
                    f"{sorted(out.loc[rows, 'unit_id'].tolist())}",
                    file=file,
                    column="accept",
                )
            out.loc[rows, "is_unit_under_study"] = out.loc[rows, "unit_id"] == k
            out.loc[rows, "review"] = f"sheet: unit {k}"
    return out
