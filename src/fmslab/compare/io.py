"""Reading the outcome table and the study context for a comparison (IO only)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fmslab.catalog import connect, read_table
from fmslab.errors import InputError
from fmslab.provenance import sha256_file
from fmslab.study.blinding import read_unblinding
from fmslab.study.overrides import (
    EXCLUDED,
    apply_overrides,
    drop_marked,
    exclusion_mask,
    load_study_overrides,
)
from fmslab.study.validate import load_validated_study

log = logging.getLogger(__name__)


@dataclass
class Inputs:
    """The table to compare and what is needed to unblind and nest it."""

    table: pd.DataFrame
    source: str
    mice: pd.DataFrame | None
    key: pd.DataFrame | None
    input_files: list[Path]
    catalog_path: Path | None
    #: Rows left out by the study's ``qc_overrides`` sheet, with who/when/why.
    excluded: pd.DataFrame = field(default_factory=pd.DataFrame)


def read_any_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the table: {exc}", file=path) from exc
    raise InputError(f"unsupported table format '{suffix}' (use .csv or .parquet)", file=path)


def load_inputs(table: str, *, study: Path | None = None, unblinding: Path | None = None) -> Inputs:
    """Find ``table`` (a file, or a catalog table name with ``study``) and the study context."""
    files: list[Path] = []
    mice = key = None
    catalog_path = None
    st = None
    if study is not None:
        st = load_validated_study(study, unblinding=unblinding)
        mice = st.mice
        catalog_path = st.catalog_path
        unblinding = unblinding or st.unblinding_path
    path = Path(table)
    if path.suffix.lower() in (".csv", ".parquet"):
        if not path.is_file():
            raise InputError("table file not found", file=path)
        df, source = read_any_table(path), str(path)
        files.append(path)
    elif st is not None:
        with connect(st.catalog_path, read_only=True) as con:
            df = read_table(con, table)
        source = f"catalog:{table}"
    else:
        raise InputError(
            f"'{table}' is not a .csv/.parquet file; to use a catalog table give --study"
        )
    if unblinding is not None:
        if not Path(unblinding).is_file():
            raise InputError("unblinding key not found", file=unblinding)
        key = read_unblinding(unblinding)
        files.append(Path(unblinding))
    excluded = pd.DataFrame()
    if st is not None:
        files += [p for p in st.sheet_paths.values() if p.is_file()]
        # reviewers' exclusions (cells, units, mice, samples) are honoured before any statistic;
        # the study's current sheet decides, not the marks an earlier analysis run wrote
        overrides, overrides_file = load_study_overrides(st.root)
        if overrides_file is not None:
            files.append(overrides_file)
        stale = _stale_marks(df, overrides)
        if stale:
            log.warning("%s: %d row(s) marked excluded by the analysis run are not excluded by "
                        "the study's current qc_overrides sheet: kept (re-run the analysis to "
                        "refresh the marks)", source, stale)  # fmt: skip
        applied = apply_overrides(df, overrides)
        df, excluded = applied.kept.reset_index(drop=True), applied.excluded
    else:
        # a table compared without its study: the analysis' own marks (qc_overrides) are honoured
        applied = drop_marked(df)
        df, excluded = applied.kept.reset_index(drop=True), applied.excluded
    return Inputs(df, source, mice, key, files, catalog_path, excluded)


def _stale_marks(df: pd.DataFrame, overrides: pd.DataFrame) -> int:
    """Rows an analysis marked ``excluded`` that no decision of the current sheet excludes."""
    if EXCLUDED not in df.columns:
        return 0
    marked = df[EXCLUDED].fillna(False).astype(bool)
    now = pd.Series(False, index=df.index)
    for d in overrides.itertuples(index=False):
        now |= exclusion_mask(df, d)
    return int((marked & ~now).sum())


def file_hashes(paths: list[Path]) -> dict[str, str]:
    return {str(p.resolve()): sha256_file(p) for p in paths}
