"""RO-Crate metadata (``ro-crate-metadata.json``, built with the ``rocrate`` library).

The crate's root dataset is the export folder, with its licence, name, description and keywords.
It lists every exported file (encoding format, size, SHA-256), the software (fmslab and the
libraries that wrote the formats, with versions), one ``CreateAction`` per run of the study's
catalog (command, start and end, status, the fmslab version it ran with, its inputs by SHA-256,
and the exported tables holding its rows) and a ``CreateAction`` for the export itself.

What a run record may reveal is limited like the tables: with a pseudonymisation key, input files
are named only by their hash and run parameters are left out (they hold paths with dates and ids);
in a blinded export the parameters and messages of runs are left out (the comparison runs name
the groups) and the unblinding key is not listed among any run's inputs.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

import fmslab
from fmslab.atomic import write_json
from fmslab.provenance import sha256_file

#: Libraries whose versions are recorded (they write or validate the exported formats).
SOFTWARE = ("pynwb", "hdmf", "h5py", "anndata", "pandas", "numpy", "frictionless", "rocrate")
MEDIA_TYPES = {
    ".nwb": "application/x-nwb",
    ".h5ad": "application/x-hdf5",
    ".csv": "text/csv",
    ".json": "application/json",
    ".yaml": "application/yaml",
}
WITHHELD = "run parameters and messages (paths with dates and ids; groups before unblinding)"
STATUS = {"ok": "CompletedActionStatus", "failed": "FailedActionStatus"}


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def write_crate(
    out: Path,
    study,
    catalog: dict[str, pd.DataFrame],
    result,
    *,
    title: str,
    description: str | None,
    settings,
    ps,
) -> Path:
    """Write ``out/ro-crate-metadata.json`` describing the export (see the module docstring)."""
    from rocrate.model.contextentity import ContextEntity
    from rocrate.model.softwareapplication import SoftwareApplication
    from rocrate.rocrate import ROCrate

    crate = ROCrate()
    crate.name = title
    crate.description = description or title
    crate.datePublished = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    if settings.keywords:
        crate.keywords = list(settings.keywords)
    lic = crate.add(
        ContextEntity(
            crate,
            settings.licence_url,
            properties={"@type": "CreativeWork", "name": settings.licence},
        )
    )
    crate.license = lic
    fm = crate.add(
        SoftwareApplication(
            crate,
            "https://pypi.org/project/fmslab/",
            properties={"name": "fmslab", "version": fmslab.__version__},
        )
    )
    software = ", ".join(f"{name} {_version(name)}" for name in SOFTWARE)
    for name in SOFTWARE:
        crate.add(
            SoftwareApplication(
                crate,
                f"https://pypi.org/project/{name}/",
                properties={"name": name, "version": _version(name)},
            )
        )
    files = {}
    for path in sorted({Path(p) for p in [*result.files, *result.nwb_files]}):
        if not path.is_file() or path.name == "ro-crate-metadata.json":
            continue
        rel = path.relative_to(out).as_posix()
        files[rel] = crate.add_file(
            source=None,
            dest_path=rel,
            properties={
                "name": path.name,
                "encodingFormat": MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
                "contentSize": str(path.stat().st_size),
                "sha256": sha256_file(path),
            },
        )
    _add_runs(crate, catalog, files, fm, study, result, ps)
    crate.add_action(
        fm,
        identifier="#fmslab-export",
        result=list(files.values()),
        properties={
            "@type": "CreateAction",
            "name": "fmslab export",
            "endTime": crate.datePublished,
            "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"},
            "description": (
                f"pseudonymised: {result.pseudonymised}; unblinded: {result.unblinded}; "
                f"software: {software}"
            ),
        },
    )
    meta = crate.metadata.generate()
    return write_json(out / "ro-crate-metadata.json", meta)


def _add_runs(crate, catalog, files, fm, study, result, ps) -> None:
    """One CreateAction per catalog run, its inputs and the exported tables with its rows."""
    from rocrate.model.contextentity import ContextEntity
    from rocrate.model.softwareapplication import SoftwareApplication

    runs = catalog.get("runs", pd.DataFrame())
    inputs = catalog.get("inputs", pd.DataFrame(columns=["run_id", "path", "sha256"]))
    key = Path(study.unblinding_path) if study.unblinding_path else None
    if not result.unblinded and key is not None:
        # by path and by content: the catalog may have recorded the key under another path
        drop = inputs["path"].astype(str) == str(key)
        if key.is_file():
            drop |= inputs["sha256"].astype(str) == sha256_file(key)
        inputs = inputs[~drop]
    tables_of: dict[str, list] = {}
    for rel, entity in files.items():
        if rel.startswith("tables/") and rel.endswith(".csv"):
            df = pd.read_csv(Path(result.out) / rel, usecols=lambda c: c == "run_id")
            for rid in df["run_id"].dropna().astype(str).unique() if "run_id" in df else []:
                tables_of.setdefault(rid, []).append(entity)
    versions_seen: dict[str, object] = {fmslab.__version__: fm}
    for r in runs.itertuples(index=False):
        v = json.loads(r.versions) if isinstance(r.versions, str) else (r.versions or {})
        ver = str(v.get("fmslab", "unknown"))
        if ver not in versions_seen:
            versions_seen[ver] = crate.add(
                SoftwareApplication(
                    crate, f"#fmslab-{ver}", properties={"name": "fmslab", "version": ver}
                )
            )
        objs = []
        for i in inputs[inputs["run_id"] == r.run_id].itertuples(index=False):
            name = "input file" if ps.active else Path(str(i.path)).name
            objs.append(
                crate.add(
                    ContextEntity(
                        crate,
                        f"#input-{i.sha256}",
                        properties={"@type": "CreativeWork", "name": name, "sha256": i.sha256},
                    )
                )
            )
        props = {
            "@type": "CreateAction",
            "name": str(r.command),
            "startTime": pd.Timestamp(r.started_at).isoformat(),
            "actionStatus": {
                "@id": f"http://schema.org/{STATUS.get(r.status, 'ActiveActionStatus')}"
            },
        }
        if pd.notna(r.finished_at):
            props["endTime"] = pd.Timestamp(r.finished_at).isoformat()
        if result.unblinded and not ps.active:
            props["description"] = f"parameters: {r.parameters}" + (
                f"; message: {r.message}" if r.message else ""
            )
        crate.add_action(
            versions_seen[ver],
            identifier=f"#run-{r.run_id}",
            object=objs or None,
            result=tables_of.get(str(r.run_id)) or None,
            properties=props,
        )
