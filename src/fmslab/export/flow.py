"""``fmslab.export.run`` (this module's :func:`run`): a study as a self-describing package a data hub can take.

Layout of ``OUT``::

    OUT/
      nwb/                       DANDI layout (dandiset.yaml + sub-<mouse>/...)
        dandiset.yaml
        sub-<mouse>/sub-<mouse>_ses-<cell>_icephys.nwb       one per current-clamp cell
        sub-<mouse>/sub-<mouse>_ses-<recording>_ecephys.nwb  one per skin-nerve recording
      rnaseq/counts.h5ad         counts, sample sheet (obs), genes (var), DE results (unblinded)
      tables/<name>.csv          every exported table
      datapackage.json           Frictionless data package (Table Schemas, keys)
      pseudonymisation_report.csv   what was dropped, pseudonymised, generalised or withheld
      ro-crate-metadata.json     files, software, the runs that made them, licence

Blinding and pseudonymisation are described in :mod:`fmslab.export.tables` and
:mod:`fmslab.export.pseudonymise`.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fmslab.errors import InputError
from fmslab.export.pseudonymise import Pseudonymiser, read_key
from fmslab.export.settings import ExportSettings
from fmslab.export.tables import assert_blind, build_tables, read_catalog_tables
from fmslab.study import load_study
from fmslab.study.model import Study

log = logging.getLogger(__name__)

NWB_DIR = "nwb"
REPORT = "pseudonymisation_report.csv"
MODALITIES = ("icephys", "ecephys", "rnaseq")
#: Marker file: an export folder may be replaced by the next export, nothing else may.
MARKER = ".fmslab-export"


@dataclass
class ExportResult:
    """What :func:`run` wrote."""

    out: Path
    files: list[Path] = field(default_factory=list)
    nwb_files: list[Path] = field(default_factory=list)
    report: pd.DataFrame = field(default_factory=pd.DataFrame)
    skipped: list[str] = field(default_factory=list)  # recordings not exported, with the reason
    pseudonymised: bool = False
    unblinded: bool = False


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise InputError("output folder exists and is not an fmslab export", file=out)
        if not overwrite:
            raise InputError("output folder holds an earlier export (use --overwrite)", file=out)
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by fmslab export\n", encoding="utf-8")


def _free_text(text: str | None, labels: set[str], what: str, ps: Pseudonymiser) -> str | None:
    """Free text of study.yaml, withheld from a blinded export when it names a group label."""
    if not text:
        return None
    found = sorted(g for g in labels if re.search(rf"\b{re.escape(g)}\b", text))
    if found:
        ps.note(
            "study.yaml",
            what,
            "withheld",
            "names group label(s); declare parameters.export.description for blinded exports",
        )
        return None
    return text


def run(
    study: str | Path | Study,
    out: str | Path,
    *,
    pseudonymise_key: str | Path | None = None,
    unblinded: bool = False,
    unblinding: str | Path | None = None,
    modalities: tuple[str, ...] = MODALITIES,
    overwrite: bool = False,
) -> ExportResult:
    """Export ``study`` to ``out`` (see the module docstring).

    Parameters
    ----------
    study
        Study folder (or loaded :class:`~fmslab.study.model.Study`) with its catalog analysed.
    out
        Output folder (created; an earlier export there is replaced only with ``overwrite``).
    pseudonymise_key
        The lab's secret key file: ids become keyed hashes, dates and ages are generalised.
    unblinded
        Join the unblinding key: groups, the mouse -> donor link from the key, DE results and
        comparison statistics are exported. Without it nothing from the key is exported.
    unblinding
        The key's path when it is not the one ``study.yaml`` names.
    modalities
        Which NWB/h5ad parts to write (tables and metadata are always written).
    """
    from fmslab.export.datapackage import write_datapackage

    st = study if isinstance(study, Study) else load_study(study, unblinding=unblinding)
    settings = ExportSettings.from_config(st.config, file=st.root / "study.yaml")
    if not st.catalog_path.is_file():
        raise InputError("the study has no catalog yet (run its analyses first)", file=st.root)
    unknown = sorted(set(modalities) - set(MODALITIES))
    if unknown:
        raise InputError(f"unknown export part(s) {', '.join(unknown)}; known: {MODALITIES}")
    ps = (
        Pseudonymiser(key=read_key(pseudonymise_key), bins=settings.bins)
        if pseudonymise_key is not None
        else Pseudonymiser.identity()
    )
    out = Path(out).resolve()
    _prepare_out(out, overwrite)
    result = ExportResult(out=out, pseudonymised=ps.active, unblinded=unblinded)
    catalog = read_catalog_tables(st)
    tables = build_tables(st, catalog, ps, unblinded=unblinded)
    labels = tables.group_labels
    description = settings.description or _free_text(
        st.config.get("description"), labels, "description", ps
    )
    title = _free_text(st.name, labels, "name", ps) or "fmslab study export"
    if "icephys" in modalities:
        from fmslab.export.nwb_icephys import export_icephys

        export_icephys(st, catalog, tables, ps, settings, out / NWB_DIR, result, description)
    if "ecephys" in modalities:
        from fmslab.export.nwb_ecephys import export_ecephys

        export_ecephys(st, catalog, tables, ps, settings, out / NWB_DIR, result, description)
    if result.nwb_files:
        from fmslab.export.nwb_common import write_dandiset_yaml

        result.files.append(write_dandiset_yaml(out / NWB_DIR, title, description, settings))
    if "rnaseq" in modalities:
        from fmslab.export.h5ad import export_h5ad

        path = export_h5ad(st, catalog, tables, ps, out / "rnaseq" / "counts.h5ad", unblinded)
        if path is not None:
            result.files.append(path)
    if not (unblinded and not ps.active):
        from fmslab.export.rocrate import WITHHELD

        ps.note("ro-crate runs", "parameters", "withheld", WITHHELD)
    if not unblinded:
        assert_blind(tables)
    result.report = ps.report_frame()
    tables.add("pseudonymisation_report", result.report, [])
    result.files.append(
        write_datapackage(
            out,
            tables.tables,
            tables.primary_keys,
            title=title,
            description=description,
            settings=settings,
        )
    )
    result.files.extend(out / "tables" / f"{n}.csv" for n in tables.tables)
    from fmslab.export.rocrate import write_crate

    result.files.append(
        write_crate(
            out, st, catalog, result, title=title, description=description, settings=settings, ps=ps
        )
    )
    return result
