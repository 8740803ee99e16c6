"""The whole current-clamp flow of a study or a set of files: the one entry point behind
``fmslab ephys analyze``, the demo and the workflow.

Reads the recordings, analyses them (:func:`fmslab.ephys.batch.analyze_paths`: tables, figures,
provenance in ``out``) and, for a study, stores the tables in its catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fmslab.ephys.batch import BatchResult
from fmslab.errors import InputError

#: Recording-sheet columns copied into the result tables (``protocol`` as ``protocol_sheet``).
SHEET_COLUMNS = ("file", "cell_id", "mouse_id", "date", "protocol")


@dataclass(frozen=True)
class EphysRun:
    """What :func:`run` did.

    Attributes
    ----------
    result
        The tables (``sweeps``, ``cells``, ``spikes``, ``errors``) and cache counts.
    files
        The recordings analysed.
    out
        Folder holding the tables, figures and ``provenance.json``.
    catalog_path
        The study catalog the tables were stored in, or ``None`` without a study.
    """

    result: BatchResult
    files: list[Path]
    out: Path
    catalog_path: Path | None


def read_sheet(path: str | Path) -> pd.DataFrame:
    """A CSV linking recordings to cells and mice; needs a ``file`` or ``path`` column."""
    path = Path(path)
    try:
        sheet = pd.read_csv(path, dtype=str)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the sheet: {exc}", file=str(path)) from None
    if "file" not in sheet.columns:
        if "path" not in sheet.columns:
            raise InputError("the sheet needs a 'file' or 'path' column", file=str(path))
        sheet["file"] = [Path(p).name for p in sheet["path"]]
    return sheet


def _stimulus_files(
    files: list[Path],
    stimulus: str | Path | None,
    sheet_df: pd.DataFrame | None,
    sheet: str | Path | pd.DataFrame | None,
) -> dict[str, Path]:
    """File name -> its stimulus file, from ``stimulus`` (one recording) or the sheet."""
    if stimulus is not None:
        if len(files) != 1:
            raise InputError(
                f"a stimulus file belongs to one recording, but {len(files)} were given; use a "
                f"sheet column 'stimulus_file' for several"
            )
        if not Path(stimulus).is_file():
            raise InputError("stimulus file not found", file=str(stimulus))
        return {files[0].name: Path(stimulus)}
    if sheet_df is None or "stimulus_file" not in sheet_df.columns:
        return {}
    base = Path(sheet).parent if isinstance(sheet, str | Path) else Path.cwd()
    out = {}
    for name, stim in zip(sheet_df["file"], sheet_df["stimulus_file"], strict=True):
        if isinstance(stim, str) and stim.strip():
            p = Path(stim.strip())
            out[str(name)] = p if p.is_absolute() else base / p
    return out


def run(
    paths: list[str | Path] | None = None,
    *,
    out: str | Path | None = None,
    study: str | Path | None = None,
    sheet: str | Path | pd.DataFrame | None = None,
    qc: str | Path | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
    figures: bool = True,
    stimulus: str | Path | None = None,
    figure_pdf: bool = False,
    defer_catalog: bool = False,
) -> EphysRun:
    """Analyse current-clamp recordings and, with ``study``, store the tables in its catalog.

    Parameters
    ----------
    paths
        Files or folders (searched recursively). With ``study`` they restrict the run to them
        (e.g. one recording day); default: every ``ephys_cc`` row of the study.
    out
        Output folder; default with ``study``: ``STUDY/results/ephys``.
    study
        Study folder: its recordings sheet gives ``cell_id``, ``mouse_id``, ``date`` and
        ``protocol`` (unless ``sheet`` is given) and its catalog receives the tables. Its
        ``qc_overrides`` sheet marks the cells (or mice) a reviewer excluded: they stay in
        ``cells.csv`` and ``ephys_cells`` with ``excluded`` True and the ``exclusion_reason``, and
        the decisions are recorded with the run (provenance and catalog run parameters).
    sheet
        CSV (or DataFrame) linking file names to ``cell_id``, ``mouse_id``, ...
    qc
        QC criteria YAML; default: the packaged ``ephys_qc.yaml``.
    n_jobs, progress, figures
        Worker processes (default: all cores), progress bar, per-cell PNG figures.
    figure_pdf
        Also a vector PDF of every cell's figure.
    stimulus
        The file holding the injected current of the (single) recording's sweeps, for formats
        that store it separately; for several recordings use a sheet column ``stimulus_file``
        (a path relative to the sheet's folder, or absolute).

    Returns
    -------
    EphysRun

    Raises
    ------
    InputError
        Nothing to analyse, no output folder, an unreadable sheet or duplicated file names.
    """
    from fmslab.ephys.batch import analyze_paths, expand_paths, store_in_catalog
    from fmslab.ephys.qc import load_qc
    from fmslab.locks import folder_lock

    sheet_df = read_sheet(sheet) if isinstance(sheet, str | Path) else sheet
    files = expand_paths(list(paths)) if paths else []
    catalog_path = None
    overrides = overrides_file = None
    if study is not None:
        from fmslab.study.overrides import load_study_overrides
        from fmslab.study.validate import load_validated_study

        st = load_validated_study(study)
        recs = st.recordings_of("ephys_cc")
        if not files:
            files = [Path(p) for p in recs["abs_path"]]
        recs = recs.assign(file=[Path(p).name for p in recs["abs_path"]])
        if sheet_df is None:
            keep = [c for c in SHEET_COLUMNS if c in recs.columns]
            sheet_df = recs[keep].rename(columns={"protocol": "protocol_sheet"})
        out = out if out is not None else st.results_dir / "ephys"
        catalog_path = st.catalog_path
        overrides, overrides_file = load_study_overrides(st.root)
    if paths and not files:
        from fmslab.ephys.batch import RECORDING_SUFFIXES

        raise InputError(
            f"no recordings ({', '.join(RECORDING_SUFFIXES)}) in "
            + ", ".join(str(p) for p in paths)
        )
    if not files:
        raise InputError("nothing to analyse: give files/folders or a study with ephys_cc rows")
    if out is None:
        raise InputError("an output folder is required without a study")
    out = Path(out)
    stimuli = _stimulus_files(files, stimulus, sheet_df, sheet)
    record = None
    if study is not None:
        from fmslab.study.overrides import overrides_record

        record = overrides_record(overrides, overrides_file)
    with folder_lock(out, command="ephys analyze"):  # one run at a time writes a folder
        res = analyze_paths(
            files,
            out,
            sheet=sheet_df,
            qc=load_qc(qc),
            n_jobs=n_jobs,
            progress=progress,
            figures=figures,
            figure_pdf=figure_pdf,
            stimuli=stimuli,
            overrides=overrides,
            overrides_info=record,
        )
        if catalog_path is not None:
            store_in_catalog(
                res,
                catalog_path,
                files,
                extra_inputs=[overrides_file] if overrides_file is not None else [],
                parameters={
                    "out": str(out),
                    "files": [str(f) for f in files],
                    "qc_overrides": record,
                },  # fmt: skip
                defer=defer_catalog,
            )
    return EphysRun(result=res, files=files, out=out, catalog_path=catalog_path)
