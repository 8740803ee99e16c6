"""The tables of an export, built from a study's sheets and catalog, blinded and pseudonymised.

Each exported table is *normalised*: a measurement table keeps its own keys and a foreign key to
the level above (sweep -> cell -> mouse -> donor; response -> unit -> mouse; trial -> mouse), and
the attributes of the level above (sex, treatment code, group) live only in that level's table.
Copies of sheet columns that the analyses add to their tables (``path``, ``modality``,
``protocol``, ``group``, ``treatment_code``, ...) are therefore not exported twice.

Blinding: without ``unblinded`` no ``group`` column is exported (nor the donor columns that reveal
the group, see :data:`~fmslab.export.pseudonymise.DONOR_UNBLINDED_COLUMNS`), and the tables made
with the unblinding key (DE results, their channel ranking, comparison statistics) are withheld;
:func:`assert_blind` checks every exported string against the key's group labels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fmslab.errors import InputError
from fmslab.export.pseudonymise import (
    DONOR_COLUMNS,
    DONOR_UNBLINDED_COLUMNS,
    Pseudonymiser,
    is_direct_identifier,
)
from fmslab.study.model import Study

log = logging.getLogger(__name__)

#: id columns and the kind of pseudonym each gets.
ID_COLUMNS = {
    "donor_id": "donor",
    "mouse_id": "mouse",
    "cell_id": "cell",
    "recording_id": "unit",
    "sample_id": "sample",
}
#: Columns holding raw file names or paths (they carry dates and ids): exported only without a key.
FILE_COLUMNS = ("file", "path", "sheet", "figure")
#: Date columns (generalised with a key).
DATE_COLUMNS = ("date", "date_of_birth")
#: Catalog tables made with the unblinding key: exported only with ``--unblinded``.
UNBLINDED_TABLES = ("rnaseq_de_results", "rnaseq_channels", "compare_stats")

#: Per exported table: the catalog table it comes from, the columns dropped as copies of the
#: sheets (or of the level above), renames, and its primary key.
_SPEC: dict[str, dict] = {
    "ephys_cells": {
        "source": "ephys_cells",
        "drop": ["run_id_unused"],
        "pk": ["cell_id"],
    },
    "ephys_sweeps": {
        "source": "ephys_sweeps",
        "drop": ["mouse_id", "date", "protocol_sheet", "file"],
        "pk": ["cell_id", "sweep"],
    },
    "ephys_spikes": {
        "source": "ephys_spikes",
        "drop": ["mouse_id", "date", "protocol_sheet", "file"],
        "pk": ["cell_id", "sweep", "spike"],
    },
    "skinnerve_units": {
        "source": "skinnerve_units",
        "drop": ["path", "modality", "cell_id", "sample_id", "protocol", "figure"],
        "rename": {"recording_unit_id": "recording_id"},
        "pk": ["recording_id", "unit_id"],
    },
    "skinnerve_responses": {
        "source": "skinnerve_responses",
        "drop": [
            "path",
            "modality",
            "cell_id",
            "sample_id",
            "protocol",
            "mouse_id",
            "date",
            "file",
        ],
        "rename": {"recording_unit_id": "recording_id"},
        "pk": ["recording_id", "unit_id", "stimulus", "index"],
    },
    "behaviour_trials": {
        "source": "behaviour_trials",
        "drop": ["sheet", "row", "group", "treatment_code", "donor_id"],
        "pk": ["mouse_id", "day", "assay", "side", "trial", "measure"],
    },
    "behaviour_mouse_day": {
        "source": "behaviour_mouse_day",
        "drop": ["group", "treatment_code", "donor_id"],
        "pk": ["mouse_id", "day", "assay", "measure"],
    },
    "behaviour_mouse": {
        "source": "behaviour_mouse",
        "drop": ["group", "treatment_code", "donor_id"],
        "pk": ["mouse_id", "assay", "measure"],
    },
    "rnaseq_de_results": {"source": "rnaseq_de_results", "drop": [], "pk": ["contrast", "gene"]},
    "rnaseq_channels": {"source": "rnaseq_channels", "drop": [], "pk": ["contrast", "gene"]},
    "compare_stats": {"source": "compare_stats", "drop": [], "pk": []},
}


@dataclass
class ExportTables:
    """The exported tables (name -> frame) and their primary keys."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    primary_keys: dict[str, list[str]] = field(default_factory=dict)
    group_labels: set[str] = field(default_factory=set)

    def add(self, name: str, df: pd.DataFrame, pk: list[str]) -> None:
        if pk and len(df) and df.duplicated(pk).any():
            dup = df[df.duplicated(pk, keep=False)][pk].head(3).to_dict(orient="records")
            raise InputError(f"table {name}: primary key {pk} is not unique (e.g. {dup})")
        self.tables[name] = df.reset_index(drop=True)
        self.primary_keys[name] = pk


def read_catalog_tables(study: Study) -> dict[str, pd.DataFrame]:
    """Every table of the study's catalog (read-only)."""
    from fmslab.catalog import connect, table_names

    with connect(study.catalog_path, read_only=True) as con:
        return {n: con.execute(f'SELECT * FROM "{n}"').df() for n in table_names(con)}


def read_key(study: Study) -> pd.DataFrame:
    """The study's unblinding key (raises when the study declares none)."""
    from fmslab.study.blinding import read_unblinding

    if study.unblinding_path is None or not study.unblinding_path.is_file():
        raise InputError(
            "--unblinded needs the unblinding key (study.yaml 'unblinding:' or --unblinding)",
            file=study.unblinding_path or study.root,
        )
    return read_unblinding(study.unblinding_path)


def _clean(df: pd.DataFrame, ps: Pseudonymiser, table: str, *, blinded: bool) -> pd.DataFrame:
    """Drop direct identifiers, file names (with a key) and group columns (blinded)."""
    df = ps.drop_direct(df, table)
    if blinded and "group" in df.columns:
        df = df.drop(columns="group")
        ps.note(table, "group", "withheld", "blinded export: no group before unblinding")
    if ps.active:
        for c in FILE_COLUMNS:
            if c in df.columns:
                df = df.drop(columns=c)
                ps.note(table, c, "dropped", "file name or path (holds dates and ids)")
    df = ps.map_ids(df, ID_COLUMNS, table)
    return ps.generalise_dates(df, list(DATE_COLUMNS), table)


def donors_table(study: Study, ps: Pseudonymiser, *, unblinded: bool) -> pd.DataFrame:
    """The donors sheet restricted to the allowed columns; age binned with a key."""
    donors = study.donors.copy()
    allowed = list(DONOR_COLUMNS) + (list(DONOR_UNBLINDED_COLUMNS) if unblinded else [])
    for c in donors.columns:
        if c in allowed:
            continue
        if is_direct_identifier(str(c)):
            ps.note("donors", c, "dropped", "direct identifier")
        elif c in DONOR_UNBLINDED_COLUMNS:
            ps.note("donors", c, "withheld", "reveals the group: exported only with --unblinded")
        else:
            ps.note("donors", c, "dropped", "donor column not on the export allow-list")
    donors = donors[[c for c in donors.columns if c in allowed]]
    if unblinded:
        key = read_key(study)
        if "donor_id" in key.columns and key["donor_id"].notna().any():
            g = key.dropna(subset=["donor_id"]).drop_duplicates("donor_id")
            donors = donors.drop(columns=[c for c in ["group"] if c in donors.columns]).merge(
                g[["donor_id", "group"]], on="donor_id", how="left"
            )
    donors = ps.generalise_number(donors, "age", ps.bins.donor_age_years, "y", "donors")
    return ps.map_ids(donors, {"donor_id": "donor"}, "donors")


def mice_table(study: Study, ps: Pseudonymiser, *, unblinded: bool) -> pd.DataFrame:
    """The mice sheet; ``donor_id`` from the sheet, or from the key with ``--unblinded``."""
    mice = study.mice.copy()
    if "donor_id" not in mice.columns:
        mice["donor_id"] = pd.NA
    if unblinded:
        key = read_key(study)
        lookup = key.set_index("treatment_code")
        if "treatment_code" in mice.columns:
            codes = mice["treatment_code"].astype("string")
            mice["group"] = codes.map(lookup["group"]).astype("string")
            if "donor_id" in key.columns and mice["donor_id"].isna().all():
                mice["donor_id"] = codes.map(lookup["donor_id"]).astype("string")
    elif mice["donor_id"].isna().all():
        ps.note(
            "mice",
            "donor_id",
            "withheld",
            "the mouse -> donor link is only in the unblinding key: exported with --unblinded",
        )
    mice["donor_id"] = mice["donor_id"].astype("string")
    keep = [c for c in mice.columns if c != "run_id"]
    mice = mice[keep]
    dob = mice["date_of_birth"] if "date_of_birth" in mice.columns else None
    mice = mice.drop(columns=["date_of_birth"]) if dob is not None else mice
    mice = _clean(mice, ps, "mice", blinded=not unblinded)
    if dob is not None:
        mice["date_of_birth"] = [ps.date(v) for v in dob]
        mice["date_of_birth"] = mice["date_of_birth"].astype("string")
        if ps.active:
            ps.note("mice", "date_of_birth", "generalised", f"date -> {ps.bins.date_resolution}")
    return mice


def samples_table(study: Study, ps: Pseudonymiser, *, unblinded: bool) -> pd.DataFrame | None:
    """The RNA-seq sample sheet (``parameters.rnaseq.samples``), or None when there is none."""
    from fmslab.study.sheets import read_sheet

    rp = (study.config.get("parameters") or {}).get("rnaseq") or {}
    if not rp.get("samples"):
        return None
    df = read_sheet(study.resolve(rp["samples"]))
    if unblinded and "treatment_code" in df.columns:
        key = read_key(study).set_index("treatment_code")["group"]
        df["group"] = df["treatment_code"].astype("string").map(key).astype("string")
    return _clean(df, ps, "rnaseq_samples", blinded=not unblinded)


def build_tables(
    study: Study, catalog: dict[str, pd.DataFrame], ps: Pseudonymiser, *, unblinded: bool
) -> ExportTables:
    """Every exported table (see the module docstring)."""
    out = ExportTables()
    if unblinded:
        out.group_labels = set()
    else:
        out.group_labels = _group_labels(study)
    out.add("donors", donors_table(study, ps, unblinded=unblinded), ["donor_id"])
    out.add("mice", mice_table(study, ps, unblinded=unblinded), ["mouse_id"])
    samples = samples_table(study, ps, unblinded=unblinded)
    if samples is not None:
        out.add("rnaseq_samples", samples, ["sample_id"])
    for name, spec in _SPEC.items():
        src = spec["source"]
        if src not in catalog or not len(catalog[src]):
            continue
        if name in UNBLINDED_TABLES and not unblinded:
            ps.note(
                name, "*", "withheld", "made with the unblinding key: exported with --unblinded"
            )
            continue
        df = catalog[src].rename(columns=spec.get("rename", {}))
        df = df.drop(columns=[c for c in spec["drop"] if c in df.columns])
        df = df.loc[:, [c for c in df.columns if not df[c].isna().all() or c in spec["pk"]]]
        df = _clean(df, ps, name, blinded=not unblinded)
        out.add(name, df, spec["pk"])
    return out


def _group_labels(study: Study) -> set[str]:
    """The key's group labels (empty when the study has no key file)."""
    from fmslab.study.blinding import read_unblinding

    p = study.unblinding_path
    if p is None or not Path(p).is_file():
        return set()
    return {str(g) for g in read_unblinding(p)["group"].dropna().unique()}


def assert_blind(tables: ExportTables) -> None:
    """Raise when any exported cell equals a group label of the key (blinded exports only)."""
    labels = tables.group_labels
    if not labels:
        return
    for name, df in tables.tables.items():
        for col in df.columns:
            if str(col) in labels:
                raise InputError(f"blinded export: column '{col}' of table {name} is a group label")
            if df[col].dtype == object or str(df[col].dtype) == "string":
                hit = df[col].dropna().astype(str).isin(labels)
                if hit.any():
                    raise InputError(
                        f"blinded export: table {name} column '{col}' holds a group label "
                        f"('{df[col][hit.reindex(df.index, fill_value=False)].iloc[0]}')"
                    )
