"""Write the three unbalanced designs of the R-agreement tests (seeded; numpy only).

Run from the repository root: ``python tests/data/compare/make_designs.py``. The outputs are the
inputs of ``designs_reference.R`` (R lme4 + lmerTest + emmeans), which writes
``designs_reference.csv``; tests/test_compare_designs.py compares fmslab with that table.

- ``design_k4.csv``: rheobase-like cells, donor > mouse > cell, groups FMS, HC, RA_FMS, RA_noFMS
  with 6/5/7/4 donors, 1-3 mice per donor, 2-8 cells per mouse; donor covariates age (numeric),
  sex, igg_batch (3 levels) and a cell covariate capacitance_pF.
- ``design_timecourse.csv``: von Frey-like log10 thresholds, donor > mouse > day, the same four
  groups with 4-6 donors, 1-3 mice per donor, days 0 1 3 5 7 14 with ~10 % of mouse-days missing;
  mouse covariate sex.
- ``design_invitro.csv``: DRG neurons incubated with donor IgG, donor > dish > cell (no mice),
  groups HC, FMS, RA_FMS with 5/6/4 donors, 1-4 dishes per donor, 3-12 cells per dish; donor
  covariate igg_batch and cell covariate capacitance_pF.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def k4(rng: np.random.Generator) -> pd.DataFrame:
    effects = {"HC": 0.0, "FMS": -40.0, "RA_FMS": -35.0, "RA_noFMS": -5.0}
    n_donors = {"FMS": 6, "HC": 5, "RA_FMS": 7, "RA_noFMS": 4}
    rows, d = [], 0
    for g, nd in n_donors.items():
        for _ in range(nd):
            d += 1
            age = int(rng.integers(25, 70))
            sex = "F" if rng.random() < 0.7 else "M"
            batch = f"B{rng.integers(1, 4)}"
            u = rng.normal(0, 18)
            for m in range(int(rng.integers(1, 4))):
                v = rng.normal(0, 10)
                for c in range(int(rng.integers(2, 9))):
                    cap = rng.normal(30, 6)
                    y = (
                        250
                        + effects[g]
                        + 0.8 * (age - 45)
                        + (8 if sex == "M" else 0)
                        + {"B1": 0, "B2": 12, "B3": -6}[batch]
                        + 3.0 * (cap - 30)
                        + u
                        + v
                        + rng.normal(0, 25)
                    )
                    rows.append(
                        (
                            g,
                            f"D{d:02d}",
                            f"D{d:02d}M{m}",
                            f"D{d:02d}M{m}C{c}",
                            age,
                            sex,
                            batch,
                            round(cap, 3),
                            round(y, 4),
                        )
                    )
    return pd.DataFrame(
        rows,
        columns=[
            "group",
            "donor_id",
            "mouse_id",
            "cell_id",
            "age",
            "sex",
            "igg_batch",
            "capacitance_pF",
            "rheobase_pA",
        ],
    )


def timecourse(rng: np.random.Generator) -> pd.DataFrame:
    days = [0, 1, 3, 5, 7, 14]
    shape = {0: 0.0, 1: 0.5, 3: 1.0, 5: 0.9, 7: 0.6, 14: 0.2}
    effects = {"HC": 0.0, "FMS": -0.4, "RA_FMS": -0.35, "RA_noFMS": -0.05}
    n_donors = {"FMS": 5, "HC": 6, "RA_FMS": 4, "RA_noFMS": 5}
    rows, d, mouse = [], 0, 0
    for g, nd in n_donors.items():
        for _ in range(nd):
            d += 1
            u = rng.normal(0, 0.08)
            for _m in range(int(rng.integers(1, 4))):
                mouse += 1
                sex = "F" if mouse % 2 else "M"
                v = rng.normal(0, 0.06)
                for day in days:
                    if day > 0 and rng.random() < 0.1:
                        continue  # missed session
                    y = (
                        0.1
                        + (0.05 if sex == "M" else 0)
                        + effects[g] * shape[day]
                        + 0.005 * day
                        + u
                        + v
                        + rng.normal(0, 0.1)
                    )
                    rows.append((g, f"D{d:02d}", f"M{mouse:03d}", sex, day, round(y, 6)))
    return pd.DataFrame(
        rows, columns=["group", "donor_id", "mouse_id", "sex", "day", "log10_threshold_g"]
    )


def invitro(rng: np.random.Generator) -> pd.DataFrame:
    effects = {"HC": 0.0, "FMS": -30.0, "RA_FMS": -25.0}
    n_donors = {"HC": 5, "FMS": 6, "RA_FMS": 4}
    rows, d = [], 0
    for g, nd in n_donors.items():
        for _ in range(nd):
            d += 1
            batch = f"B{1 + d % 2}"
            u = rng.normal(0, 15)
            for k in range(int(rng.integers(1, 5))):
                v = rng.normal(0, 12)
                for c in range(int(rng.integers(3, 13))):
                    cap = rng.normal(28, 5)
                    y = (
                        200
                        + effects[g]
                        + (10 if batch == "B2" else 0)
                        + 2.5 * (cap - 28)
                        + u
                        + v
                        + rng.normal(0, 30)
                    )
                    rows.append(
                        (
                            g,
                            f"V{d:02d}",
                            f"V{d:02d}S{k}",
                            f"V{d:02d}S{k}C{c}",
                            batch,
                            round(cap, 3),
                            round(y, 4),
                        )
                    )
    return pd.DataFrame(
        rows,
        columns=[
            "group",
            "donor_id",
            "dish_id",
            "cell_id",
            "igg_batch",
            "capacitance_pF",
            "rheobase_pA",
        ],
    )


def main() -> None:
    for name, fn, seed in (
        ("k4", k4, 16),
        ("timecourse", timecourse, 1604),
        ("invitro", invitro, 7),
    ):
        df = fn(np.random.default_rng(seed))
        df.to_csv(HERE / f"design_{name}.csv", index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
