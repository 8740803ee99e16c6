"""Validation of an export with the tools a data hub runs: nwbinspector, DANDI's schema, Frictionless.

The ``dandi`` command itself cannot be installed beside fmslab's pins (dandi 0.81 requires
zarr <= 3.1.5), so :func:`dandi_problems` applies what ``dandi validate`` checks of an NWB
dandiset, with DANDI's own pieces: the file layout (``sub-<id>/sub-<id>_ses-<id>_<modality>.nwb``
with ``<id>`` the file's ``subject_id``), ``dandiset.yaml`` at the root, nwbinspector with DANDI's
inspector configuration (``config="dandi"``; its CRITICAL messages fail a dandi upload), and each
file's asset metadata (read back from the NWB file with pynwb) validated against dandischema's
``BareAsset`` model.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from fmslab.export.nwb_common import SPECIES
from fmslab.provenance import sha256_file

DANDI_NAME = re.compile(
    r"^sub-(?P<sub>[A-Za-z0-9-]+)/sub-(?P=sub)_ses-(?P<ses>[A-Za-z0-9-]+)_(?P<mod>icephys|ecephys)\.nwb$"
)
#: NCBI taxon and PATO sex terms DANDI uses.
SPECIES_TERMS = {
    SPECIES: ("http://purl.obolibrary.org/obo/NCBITaxon_10090", "Mus musculus - House mouse")
}
SEX_TERMS = {
    "F": ("http://purl.obolibrary.org/obo/PATO_0000383", "Female"),
    "M": ("http://purl.obolibrary.org/obo/PATO_0000384", "Male"),
}
TECHNIQUE = {"icephys": "current clamp technique", "ecephys": "spike sorting technique"}
#: nwbinspector's checks of a ``location`` against the Allen Mouse *Brain* atlas (CCF). Every
#: preparation fmslab exports is in the peripheral nervous system (dorsal root ganglion neurons,
#: a skin nerve), which that atlas does not cover, so its locations can never be CCF terms.
#: nwbinspector's own message says these checks "can be ignored if Allen CCF terms do not meet
#: your needs", and its documentation gives ``--ignore`` (``ignore=`` in Python) for checks that
#: are "not applicable to your use case": :func:`inspect_nwb` skips them by default (see
#: docs/export.md). They are BEST_PRACTICE_VIOLATION, so ``dandi validate`` (CRITICAL only) does
#: not depend on this.
ALLEN_CCF_CHECKS = (
    "check_electrodes_location_allen_ccf",
    "check_intracellular_electrode_location_allen_ccf",
)


def inspect_nwb(
    paths: list[Path], *, config: str | None = None, ignore: tuple[str, ...] = ALLEN_CCF_CHECKS
) -> pd.DataFrame:
    """Every nwbinspector message on ``paths``: file, importance, check, location, message.

    ``config="dandi"`` applies DANDI's importance overrides (what ``dandi validate`` uses).
    ``ignore`` names checks not run (default: the Allen *Brain* atlas location checks, which
    cannot apply to peripheral tissue: :data:`ALLEN_CCF_CHECKS`; ``ignore=()`` runs every check).
    """
    from nwbinspector import inspect_nwbfile, load_config

    cfg = load_config(config) if config else None
    rows = []
    for p in paths:
        for m in inspect_nwbfile(nwbfile_path=str(p), config=cfg, ignore=list(ignore) or None):
            rows.append(
                {
                    "file": str(p),
                    "importance": m.importance.name,
                    "check": m.check_function_name,
                    "location": m.location,
                    "message": m.message,
                }
            )
    return pd.DataFrame(rows, columns=["file", "importance", "check", "location", "message"])


def asset_metadata(path: Path, root: Path) -> dict:
    """DANDI asset metadata of one NWB file, read back from the file with pynwb."""
    from dandischema.digests.dandietag import DandiETag
    from pynwb import NWBHDF5IO

    rel = path.relative_to(root).as_posix()
    m = DANDI_NAME.match(rel)
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        subj = nwb.subject
        species = SPECIES_TERMS.get(subj.species, (None, subj.species))
        participant = {
            "schemaKey": "Participant",
            "identifier": subj.subject_id,
            "species": {"schemaKey": "SpeciesType", "identifier": species[0], "name": species[1]},
            "age": {
                "schemaKey": "PropertyValue",
                "value": subj.age,
                "unitText": "ISO-8601 duration",
                "valueReference": {"schemaKey": "PropertyValue", "value": "dandi:BirthReference"},
            },
        }
        if subj.sex in SEX_TERMS:
            sid, sname = SEX_TERMS[subj.sex]
            participant["sex"] = {"schemaKey": "SexType", "identifier": sid, "name": sname}
        if subj.strain:
            participant["strain"] = {"schemaKey": "StrainType", "name": subj.strain}
        meta = {
            "schemaKey": "BareAsset",
            "path": rel,
            "contentSize": path.stat().st_size,
            "encodingFormat": "application/x-nwb",
            "digest": {
                "dandi:dandi-etag": DandiETag.from_file(path).as_str(),
                "dandi:sha2-256": sha256_file(path),
            },
            "wasAttributedTo": [participant],
            "wasGeneratedBy": [
                {
                    "schemaKey": "Session",
                    "identifier": nwb.session_id,
                    "name": nwb.session_id,
                    "description": nwb.session_description,
                    "startDate": nwb.session_start_time.isoformat(),
                }
            ],
            "measurementTechnique": [
                {
                    "schemaKey": "MeasurementTechniqueType",
                    "name": TECHNIQUE.get(m.group("mod") if m else "", "electrophysiology"),
                }
            ],
        }
    return meta


def dandi_problems(root: Path, files: list[Path] | None = None) -> list[str]:
    """What would stop ``root`` (an export's ``nwb/`` folder) from passing ``dandi validate``.

    ``files`` restricts the per-file checks to some of the NWB files (default: all).
    """
    from dandischema.models import BareAsset
    from pydantic import ValidationError

    root = Path(root)
    problems = []
    if not (root / "dandiset.yaml").is_file():
        problems.append(f"{root}: no dandiset.yaml")
    files = sorted(root.rglob("*.nwb")) if files is None else [Path(f) for f in files]
    if not files:
        problems.append(f"{root}: no NWB files")
    for p in files:
        rel = p.relative_to(root).as_posix()
        m = DANDI_NAME.match(rel)
        if not m:
            problems.append(f"{rel}: not named sub-<id>/sub-<id>_ses-<id>_<modality>.nwb")
            continue
        meta = asset_metadata(p, root)
        if meta["wasAttributedTo"][0]["identifier"] != m.group("sub"):
            problems.append(f"{rel}: subject_id differs from the sub- entity of the name")
        if meta["wasGeneratedBy"][0]["identifier"] != m.group("ses"):
            problems.append(f"{rel}: session_id differs from the ses- entity of the name")
        try:
            BareAsset(**meta)
        except ValidationError as exc:
            problems.append(f"{rel}: dandischema BareAsset: {exc}")
    msgs = inspect_nwb(files, config="dandi") if files else pd.DataFrame(columns=["importance"])
    for r in msgs[msgs["importance"] == "CRITICAL"].itertuples(index=False):
        problems.append(f"{Path(r.file).relative_to(root)}: {r.check}: {r.message}")
    return problems


def datapackage_problems(out: Path) -> list[str]:
    """Frictionless validation of ``out/datapackage.json`` (every table against its schema)."""
    from frictionless import validate

    report = validate(str(Path(out) / "datapackage.json"))
    if report.valid:
        return []
    out = [f"{task.name}: {err.message}" for task in report.tasks for err in task.errors]
    return out + [err.message for err in report.errors]


def check_export(out: Path) -> pd.DataFrame:
    """Every validator on an export: tool, file, importance, message (empty frame: all clear).

    nwbinspector messages at BEST_PRACTICE_VIOLATION and above are listed; the Allen Mouse Brain
    atlas location checks are not run (:data:`ALLEN_CCF_CHECKS`: peripheral tissue).
    """
    out = Path(out)
    rows = [
        {"tool": "frictionless", "file": "datapackage.json", "importance": "ERROR", "message": m}
        for m in datapackage_problems(out)
    ]
    nwb_root = out / "nwb"
    if nwb_root.is_dir():
        rows += [
            {"tool": "dandi", "file": "nwb/", "importance": "ERROR", "message": m}
            for m in dandi_problems(nwb_root)
        ]
        msgs = inspect_nwb(sorted(nwb_root.rglob("*.nwb")))
        bad = msgs[msgs["importance"].isin(["ERROR", "CRITICAL", "BEST_PRACTICE_VIOLATION"])]
        for r in bad.itertuples(index=False):
            rows.append(
                {
                    "tool": "nwbinspector",
                    "file": Path(r.file).relative_to(out).as_posix(),
                    "importance": r.importance,
                    "message": f"{r.check}: {r.message}",
                }
            )
    return pd.DataFrame(rows, columns=["tool", "file", "importance", "message"])
