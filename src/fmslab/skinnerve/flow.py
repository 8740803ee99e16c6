"""The whole skin-nerve flow of a study or a set of files: the one entry point behind
``fmslab skinnerve analyze``, the demo and the workflow.

Each recording is analysed by :func:`fmslab.skinnerve.batch.analyze_item` (spikes, units,
responses, figures; cached by content), the per-file tables are joined with the study's recording
rows, written to ``out`` with ``errors.csv`` and ``provenance.json``, and stored in the study
catalog as ``skinnerve_units``, ``skinnerve_responses``, ``skinnerve_spikes`` and
``skinnerve_errors`` (the rows of the run's files replaced in all four, in one transaction).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fmslab.errors import InputError

COMMAND = "skinnerve analyze"


@dataclass(frozen=True)
class SkinnerveRun:
    """What :func:`run` did.

    Attributes
    ----------
    tables
        ``{"units", "responses", "spikes"}`` -> DataFrame over all files.
    errors
        One row per file that failed (``file``, ``error_type``, ``message``).
    files
        The recordings given.
    out
        Folder holding the tables, ``figures/`` and ``provenance.json``.
    catalog_path
        The study catalog the tables were stored in, or ``None``.
    parameters
        The analysis parameters used (:class:`fmslab.skinnerve.params.Params` as a dict).
    """

    tables: dict[str, pd.DataFrame]
    errors: pd.DataFrame
    files: list[Path]
    out: Path
    catalog_path: Path | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def units(self) -> pd.DataFrame:
        return self.tables["units"]

    @property
    def n_analysed(self) -> int:
        """Files analysed without error."""
        return len(self.files) - len(self.errors)


def _read_params(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read parameters: {exc}", file=path) from None
    if not isinstance(data, dict):
        raise InputError("parameters must be a mapping of name: value", file=path)
    return data


def run(
    paths: list[str | Path] | None = None,
    *,
    out: str | Path | None = None,
    study: str | Path | None = None,
    channels: str | Path | None = None,
    params: Mapping[str, Any] | str | Path | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
    defer_catalog: bool = False,
) -> SkinnerveRun:
    """Analyse skin-nerve recordings and, with ``study``, store the tables in its catalog.

    Parameters
    ----------
    paths
        Recordings (.smr, .abf, .csv). With ``study`` they restrict the run to them; default:
        every ``skinnerve`` row of the study.
    out
        Output folder; default with ``study``: ``STUDY/results/skinnerve``.
    study
        Study folder: recording rows joined to the tables (by file name), parameters from
        ``study.yaml`` (``parameters.skinnerve``), catalog. A sheet column ``accept`` (yes / no /
        unit K) is the physiologist's review of the unit figures and is honoured
        (:func:`fmslab.skinnerve.review.apply_review`): units.csv records it in ``accepted`` and
        ``review``. The study's ``qc_overrides`` sheet marks the units (or mice) a reviewer
        excluded in units.csv and responses.csv (``excluded``, ``exclusion_reason``; the rows are
        kept) and is recorded with the run.
    channels
        Channel-map YAML for all files; default: ``RECORDING.yaml`` beside each recording.
    params
        Analysis parameters (mapping or YAML file), applied over the study's.
    n_jobs, progress
        Worker processes (default: all cores) and progress bar.

    Returns
    -------
    SkinnerveRun
        Per-file failures are in ``errors`` (and ``errors.csv``); they do not stop the batch.
    """
    from fmslab.atomic import write_json, write_table
    from fmslab.batch import run_batch
    from fmslab.locks import folder_lock
    from fmslab.provenance import RunRecord, sha256_file
    from fmslab.skinnerve.batch import CATALOG_TABLES, TABLES, analyze_item
    from fmslab.skinnerve.params import Params
    from fmslab.skinnerve.review import apply_review

    params_d: dict[str, Any] = {}
    meta = pd.DataFrame()
    catalog_path = None
    overrides = overrides_file = None
    files = [Path(p) for p in paths] if paths else []
    if study is not None:
        from fmslab.study.overrides import load_study_overrides
        from fmslab.study.validate import load_validated_study

        st = load_validated_study(study)
        params_d.update((st.config.get("parameters") or {}).get("skinnerve") or {})
        rows = st.recordings_of("skinnerve")
        meta = rows.drop(columns=["abs_path"]).assign(file=[Path(p).name for p in rows["abs_path"]])
        files = files or [Path(p) for p in rows["abs_path"]]
        out = out if out is not None else st.results_dir / "skinnerve"
        catalog_path = st.catalog_path
        overrides, overrides_file = load_study_overrides(st.root)
    if params is not None:
        params_d.update(_read_params(Path(params)) if isinstance(params, str | Path) else params)
    prm = Params.from_dict(params_d)  # validates names
    if not files:
        raise InputError("no recordings given (PATHS or --study with skinnerve recordings)")
    if out is None:
        raise InputError("an output folder is required without a study")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items = [
        (str(p), str(channels) if channels else None, prm.to_dict(), str(out), p.name)
        for p in files
    ]
    parameters = {
        "params": prm.to_dict(),
        "channels": str(channels) if channels else "RECORDING.yaml beside each file",
    }
    if study is not None:  # the reviewers' decisions honoured, kept with the run
        from fmslab.study.overrides import overrides_record

        parameters["qc_overrides"] = overrides_record(overrides, overrides_file)
    record = RunRecord(command=COMMAND, parameters=parameters)
    with folder_lock(out, command=COMMAND):  # one run at a time writes a folder
        outcome = run_batch(
            analyze_item,
            items,
            n_jobs=n_jobs,
            description="skin-nerve",
            progress=progress,
            label=lambda it: it[0],
        )
        tables: dict[str, pd.DataFrame] = {}
        for name in TABLES:
            parts = [r[name] for _lbl, r in outcome.results if len(r.get(name, ()))]
            df = (
                pd.concat(parts, ignore_index=True)
                if parts
                else pd.DataFrame(columns=["file", "unit_id"])
            )
            if len(meta) and len(df):
                df = df.merge(
                    meta.rename(columns={"unit_id": "recording_unit_id"}), on="file", how="left"
                )
            if name == "units" and len(df):
                # the physiologist's accept/reject column of the sheet (skinnerve.review)
                sheet = meta[["file", "accept"]] if "accept" in meta.columns else pd.DataFrame()
                df = apply_review(df, sheet if len(sheet) else pd.DataFrame(columns=["file"]))
            if overrides is not None and name in ("units", "responses") and len(df):
                from fmslab.study.overrides import mark_overrides

                df = mark_overrides(df, overrides)  # kept, marked: left out by every statistic
            tables[name] = df
            write_table(df, out / f"{name}.csv")
        errors = outcome.failures_frame("file")
        write_table(errors, out / "errors.csv")
        record.finish("ok" if not len(errors) else "partial")
        readable = [p for p in files if p.is_file()]
        readable += [overrides_file] if overrides_file is not None else []
        write_json(
            out / "provenance.json",
            {
                **record.to_dict(),
                "inputs": [{"path": str(p.resolve()), "sha256": sha256_file(p)} for p in readable],
                "outputs": [f"{n}.csv" for n in TABLES] + ["errors.csv", "figures/"],
            },
        )
        if catalog_path is not None:
            from fmslab.catalog import open_session

            with open_session(
                catalog_path, command=COMMAND, parameters=parameters, defer=defer_catalog
            ) as ses:
                ses.record_inputs(readable)
                # one transaction replaces every row of the run's files, results and errors together
                frames = {f"skinnerve_{name}": tables[name] for name in CATALOG_TABLES}
                frames["skinnerve_errors"] = errors.assign(
                    file=[Path(f).name for f in errors["file"]]
                )
                ses.write_scope(
                    "skinnerve", frames, scope={"file": sorted({p.name for p in files})}
                )
    return SkinnerveRun(
        tables=tables,
        errors=errors,
        files=files,
        out=out,
        catalog_path=catalog_path,
        parameters=parameters,
    )
