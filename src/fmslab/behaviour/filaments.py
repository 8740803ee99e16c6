"""Von Frey filament sets: the standard sets shipped as package data, plus custom sets from a CSV.

A set is an ordered table (weakest first) with ``force_g``, ``force_mN`` and ``log10_10000g``
(= log10(10000 x force in g), the scale of Chaplan's formula). Up-down walks move one filament up or
down this order.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from fmslab.errors import InputError
from fmslab.study.sheets import read_sheet, sheet_row

G_TO_MN = 9.80665
#: Relative tolerance when matching a force written in a sheet to a filament of the set.
FORCE_RTOL = 0.02


@dataclass(frozen=True)
class FilamentSet:
    """One ordered filament set.

    Attributes
    ----------
    name
        Set name as sheets write it in ``filament_set``.
    force_g
        Nominal forces, strictly increasing.
    source
        Where the set came from (package data or a file).
    """

    name: str
    force_g: tuple[float, ...]
    source: str = "fmslab package data"

    @property
    def log_units(self) -> np.ndarray:
        """log10(10000 x force_g) of every filament."""
        return np.log10(10000.0 * np.asarray(self.force_g))

    @property
    def delta(self) -> float:
        """Mean step between neighbouring filaments in log units (Chaplan's delta)."""
        lu = self.log_units
        return float((lu[-1] - lu[0]) / (len(lu) - 1))

    def __len__(self) -> int:
        return len(self.force_g)

    def index_of(self, force_g: float) -> int | None:
        """Index (0 = weakest) of the filament with this nominal force, or None."""
        forces = np.asarray(self.force_g)
        hits = np.flatnonzero(np.abs(forces - force_g) <= FORCE_RTOL * forces)
        return int(hits[0]) if len(hits) else None

    def table(self) -> pd.DataFrame:
        f = np.asarray(self.force_g)
        return pd.DataFrame(
            {
                "filament_set": self.name,
                "filament_index": np.arange(1, len(f) + 1),
                "force_g": f,
                "force_mN": f * G_TO_MN,
                "log10_10000g": self.log_units,
            }
        )


def _sets_from_frame(
    df: pd.DataFrame, source: str, file: str | Path | None
) -> dict[str, FilamentSet]:
    for col in ("filament_set", "force_g"):
        if col not in df.columns:
            raise InputError("required column is missing", file=file, column=col)
    out: dict[str, FilamentSet] = {}
    forces = pd.to_numeric(df["force_g"], errors="coerce")
    for idx in df.index[forces.isna() | (forces <= 0)]:
        raise InputError(
            f"force_g '{df.at[idx, 'force_g']}' is not a positive number",
            file=file,
            row=sheet_row(idx),
            column="force_g",
        )
    for name, grp in df.assign(_f=forces).groupby("filament_set", sort=False):
        f = np.sort(grp["_f"].to_numpy(dtype=float))
        if len(f) < 2:
            raise InputError(f"filament set '{name}' has fewer than 2 filaments", file=file)
        if np.any(np.diff(f) <= 0):
            raise InputError(f"filament set '{name}' lists the same force twice", file=file)
        out[str(name)] = FilamentSet(str(name), tuple(float(x) for x in f), source)
    return out


def standard_sets() -> dict[str, FilamentSet]:
    """The sets shipped with fmslab (``fmslab/data/behaviour/filament_sets.csv``)."""
    path = files("fmslab") / "data" / "behaviour" / "filament_sets.csv"
    with path.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype={"filament_set": str})
    return _sets_from_frame(df, "fmslab package data (filament_sets.csv)", None)


def read_filament_sets(path: str | Path) -> dict[str, FilamentSet]:
    """Custom sets from a CSV/XLSX with columns ``filament_set, force_g`` (one row per filament)."""
    return _sets_from_frame(read_sheet(path), str(path), path)


def load_sets(custom: str | Path | None = None) -> dict[str, FilamentSet]:
    """Standard sets plus the custom ones; a custom set may not reuse a standard name."""
    sets = standard_sets()
    if custom is not None:
        extra = read_filament_sets(custom)
        clash = sorted(set(extra) & set(sets))
        if clash:
            raise InputError(
                f"set name(s) {', '.join(clash)} already used by a standard set; rename them",
                file=custom,
            )
        sets.update(extra)
    return sets
