"""Analyse a recording day: files over both cores, cached, with tables, figures, provenance."""

from __future__ import annotations

import functools
import gc
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import fmslab
from fmslab.atomic import write_json, write_table, write_tables, write_text, write_with
from fmslab.batch import run_batch
from fmslab.cache import ResultCache, cache_key
from fmslab.ephys.io import SUFFIX_READERS
from fmslab.errors import InputError
from fmslab.provenance import RunRecord, sha256_file

log = logging.getLogger(__name__)

#: File types a folder is searched for (see :data:`fmslab.ephys.io.SUFFIX_READERS`; HEKA and CFS
#: files are included so that they are refused with what to do, not skipped silently).
RECORDING_SUFFIXES = tuple(SUFFIX_READERS)
STEP = "ephys_analyze"
WARNING_COLUMNS = ("file", "figure", "reason")


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Files as given, folders searched recursively for recordings; sorted, without duplicates."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(q for q in sorted(p.rglob("*")) if q.suffix.lower() in RECORDING_SUFFIXES)
        elif p.is_file():
            out.append(p)
        else:
            raise InputError("no such file or folder", file=str(p))
    seen: dict[Path, None] = {}
    for p in out:
        seen.setdefault(p.resolve(), None)
    return list(seen)


@dataclass(frozen=True)
class Task:
    path: Path
    params: dict[str, float]
    qc: dict[str, dict[str, float]]
    cache_root: Path | None
    figure_dir: Path | None
    code: str = ""
    #: a file holding the injected current of this recording's sweeps (formats that store it
    #: separately), or None
    stimulus: Path | None = None
    #: image formats of the per-cell figure
    figure_formats: tuple[str, ...] = ("png",)
    #: format the CSV rows of the sweeps and spikes tables here (False when the main process adds
    #: columns, a sheet's, and formats the whole tables itself)
    format_csv_rows: bool = True


def code_fingerprint() -> str:
    """SHA-256 of this package's source: a changed algorithm invalidates cached results even
    when fmslab's version number did not change."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _figures(
    reader,
    sweeps: pd.DataFrame,
    cell: dict[str, Any],
    fig_dir: Path,
    spikes: pd.DataFrame,
    formats: tuple[str, ...] = ("png",),
) -> None:
    from fmslab.ephys.raster import cell_png

    path = Path(reader.path)
    picks = example_sweeps(sweeps, cell)
    examples = [(label, reader.sweep(s)) for label, s in picks]
    stem = fig_dir / path.stem
    if "png" in formats:  # drawn on a pixel raster (raster.py): ~7x cheaper than matplotlib
        write_with(
            stem.with_suffix(".png"),
            lambda p: cell_png(p, path.name, examples, sweeps, cell, spikes=spikes),
        )
    if "pdf" in formats:  # vector figure: matplotlib
        from fmslab.ephys.plots import plot_cell

        fig = plot_cell(path.name, examples, sweeps, cell, fig=_canvas(), spikes=spikes)
        save_cell_figure(fig, stem, ("pdf",))


def example_sweeps(sweeps: pd.DataFrame, cell: dict[str, Any]) -> list[tuple[str, int]]:
    """(label, sweep) of the sweeps a cell's figure shows: the rheobase step and the step nearest
    twice rheobase; else the first ramp that fires (ramp rheobase); else the sweep with most
    spikes (ramp, pulse, spontaneous)."""
    kind = sweeps["stim_kind"].to_numpy(object)
    amp = sweeps["stim_pA"].to_numpy(float)
    sweep = sweeps["sweep"].to_numpy()
    step = kind == "step"
    picks: list[tuple[str, int]] = []
    rheo = cell.get("rheobase_pA")
    if rheo is not None and pd.notna(rheo):
        picks.append((f"rheobase {rheo:g} pA", int(sweep[step & (amp == rheo)][0])))
        two = cell.get("stim_2x_rheobase_pA")
        if two is not None and pd.notna(two):
            picks.append((f"{two:g} pA (~2x rheobase)", int(sweep[step & (amp == two)][0])))
    ramps = np.flatnonzero((kind == "ramp") & (sweeps["n_spikes_stim"].to_numpy() > 0))
    if not picks and ramps.size:
        picks.append((f"ramp to {amp[ramps[0]]:g} pA", int(sweep[ramps[0]])))
    if not picks:
        j = int(np.argmax(sweeps["n_spikes_total"].to_numpy()))
        picks.append((f"sweep {int(sweep[j])}", int(sweep[j])))
    return picks


def save_cell_figure(fig, stem: Path, formats: tuple[str, ...] = ("png",)) -> None:
    """``STEM.png`` (110 dpi, fast zlib level 1) and, when asked, ``STEM.pdf``, in the house style
    (TrueType fonts, no dates in the metadata)."""
    from fmslab.figures.style import house_style

    with house_style():
        if "png" in formats:
            write_with(
                stem.with_suffix(".png"),
                lambda p: fig.savefig(
                    p,
                    format="png",
                    dpi=110,
                    metadata={"Software": None},
                    pil_kwargs={"compress_level": 1},
                ),
            )
        if "pdf" in formats:
            write_with(
                stem.with_suffix(".pdf"),
                lambda p: fig.savefig(
                    p, format="pdf", metadata={"CreationDate": None, "Producer": None}
                ),
            )


@functools.lru_cache(maxsize=1)
def _canvas():
    """One drawing surface per worker process, cleared and reused for every cell's figure (a new
    Figure per file costs more than drawing it). It holds no results between files."""
    from matplotlib.figure import Figure

    from fmslab.ephys.plots import CELL_FIGSIZE

    return Figure(figsize=CELL_FIGSIZE)


def preload(*, figures: bool, pdf: bool = False) -> None:
    """Import what every file's analysis needs (the figure modules) before the worker processes
    are forked, so that they inherit the modules instead of each importing them again. (The tau
    fit, :mod:`fmslab.ephys.expfit`, needs numpy only.)"""

    if figures:
        from PIL import Image

        from fmslab.ephys.raster import font

        Image.preinit()  # Pillow's PNG plugin, otherwise imported by each worker's first save
        for size_px in (10, 11, 12):  # the figure's fonts, loaded once (lru_cache, inherited)
            font(size_px)
    if pdf:
        import fmslab.ephys.plots  # noqa: F401
        import fmslab.figures.plots  # noqa: F401


def figure_warning(file: str, figure: str, exc: BaseException) -> dict[str, str]:
    """One row of ``warnings.csv``: a figure that could not be drawn (the tables stay)."""
    return {"file": file, "figure": figure, "reason": f"{type(exc).__name__}: {exc}"}


def analyze_task(task: Task) -> dict[str, Any]:
    """Worker: one file -> its tables (from the cache when file and parameters are unchanged).

    The file is opened once, for the analysis and the figure. A figure that fails becomes a
    warning row (``warnings``: file, figure, reason); the file's tables are kept.
    """
    from fmslab.ephys.analysis import analyze_reader
    from fmslab.ephys.io import check_recording_path, open_recording
    from fmslab.ephys.spikes import SpikeParams

    check_recording_path(task.path)  # a loop or a directory is a refusal, not an OSError
    sha = sha256_file(task.path)
    stim_sha = sha256_file(task.stimulus) if task.stimulus is not None else ""
    key = cache_key(
        input_sha256=sha,
        parameters={"spikes": task.params, "qc": task.qc, "code": task.code, "stim": stim_sha},
        step=STEP,
    )
    cache = ResultCache(task.cache_root, fmt="pickle") if task.cache_root else None
    hit = cache.get(STEP, key) if cache else None
    reader = None
    if hit is not None and {"sweeps", "cells", "spikes"} <= set(hit):
        tables = hit
        cached = True
    else:
        reader = open_recording(task.path, stimulus=task.stimulus)
        tables = analyze_reader(reader, SpikeParams(**task.params), task.qc)
        if cache:
            cache.put(STEP, key, tables, meta={"file": str(task.path)})
        cached = False
    # the cache is keyed by content: a copy under another name must carry its own name (a fresh
    # analysis names the file as the reader does)
    if cached or Path(reader.path).name != task.path.name:
        tables = {
            k: df.assign(file=task.path.name) if "file" in df.columns else df
            for k, df in tables.items()
        }
    sweeps, cells = tables["sweeps"], tables["cells"]
    warn: list[dict[str, str]] = []
    if task.figure_dir is not None:
        png = task.figure_dir / f"{task.path.stem}.png"
        if not (cached and png.is_file()):
            try:
                reader = reader or open_recording(task.path, stimulus=task.stimulus)
                _figures(
                    reader,
                    sweeps,
                    cells.iloc[0].to_dict(),
                    task.figure_dir,
                    tables["spikes"],
                    task.figure_formats,
                )
            except Exception as exc:  # noqa: BLE001 - a figure never costs the file's results
                log.warning("%s: cell figure failed: %s", task.path.name, exc)
                warn.append(figure_warning(task.path.name, "cell summary", exc))
    return {
        "warnings": warn,
        "sweeps": sweeps,
        "cells": cells,
        "spikes": tables["spikes"],
        "sha256": sha,
        "cached": cached,
        # the rows of sweeps.csv and spikes.csv, formatted here on the workers' cores instead of
        # after the batch in the main process (see write_tables_from_parts)
        "csv": {k: csv_rows(tables[k]) for k in CSV_PARTS} if task.format_csv_rows else None,
    }


#: the tables whose CSV rows the workers format (the large ones)
CSV_PARTS = ("sweeps", "spikes")
#: dtype kinds whose CSV text pandas formats value by value (bool, integers, floats, objects):
#: a column's text in a file's table is its text in the concatenated table
_PER_VALUE_KINDS = frozenset("biufO")


def csv_rows(df: pd.DataFrame) -> str:
    """``df.to_csv(index=False)`` without the header line."""
    return df.to_csv(index=False, header=False)


def write_tables_from_parts(
    df: pd.DataFrame, stem: Path, parts: list[pd.DataFrame], rows: list[str]
) -> None:
    """``write_tables(df, stem)`` for ``df = pd.concat(parts, ignore_index=True)``, with the CSV
    made of the parts' rows (``rows[i] = csv_rows(parts[i])``) when that gives the same bytes:
    every part has the concatenated table's columns in its order with its dtypes, each of a kind
    pandas formats value by value (no datetimes, categories or extension types, which are
    formatted per column). Otherwise the CSV is formatted from ``df``."""
    cols = list(zip(df.columns, df.dtypes, strict=True))
    same = (
        bool(parts)
        and len(parts) == len(rows)
        and df.columns.is_unique
        and all(isinstance(dt, np.dtype) and dt.kind in _PER_VALUE_KINDS for _, dt in cols)
        and all(list(zip(p.columns, p.dtypes, strict=True)) == cols for p in parts)
        and sum(len(p) for p in parts) == len(df)
    )
    if not same:
        write_tables(df, stem)
        return
    header = pd.DataFrame(columns=df.columns).to_csv(index=False)
    write_text(stem.with_suffix(".csv"), header + "".join(rows))
    write_table(df, stem.with_suffix(".parquet"))


@dataclass
class BatchResult:
    sweeps: pd.DataFrame
    cells: pd.DataFrame
    errors: pd.DataFrame
    inputs: dict[str, str] = field(default_factory=dict)
    n_cached: int = 0
    spikes: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: figures that could not be drawn: file, figure, reason (the tables are complete)
    warnings: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(WARNING_COLUMNS))
    )


def analyze_paths(
    paths: list[Path],
    out_dir: Path,
    *,
    sheet: pd.DataFrame | None = None,
    params: dict[str, float] | None = None,
    qc: dict[str, dict[str, float]] | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    figures: bool = True,
    figure_pdf: bool = False,
    cache_root: Path | None = None,
    use_cache: bool = True,
    stimuli: dict[str, Path] | None = None,
    overrides: pd.DataFrame | None = None,
    overrides_info: dict[str, Any] | None = None,
) -> BatchResult:
    """Analyse ``paths`` in parallel; write tables, figures and ``provenance.json`` to ``out_dir``.

    ``sheet`` (optional) links files to cells and mice: a column ``file`` (the file's name) and any
    others (``cell_id``, ``mouse_id``, ...) which are copied into both tables. Results are reused
    for files whose content, parameters and code are unchanged (``cache_root``, default
    ``out_dir/.cache``); ``use_cache=False`` analyses every file afresh and stores nothing.
    Figures are one PNG per cell (``figure_pdf=True`` adds a vector PDF of each).
    ``stimuli`` maps a file name to the file holding its injected current (formats that store
    it separately; an Igor ``*_Ch0_*`` wave is found without it).
    ``overrides`` (the study's ``qc_overrides``, :mod:`fmslab.study.overrides`) marks the cells a
    reviewer excluded: cells.csv keeps them with ``excluded`` True and the ``exclusion_reason``
    (``overrides_info``, from :func:`~fmslab.study.overrides.overrides_record`, goes into the
    provenance).
    """
    from fmslab.ephys.qc import load_qc
    from fmslab.ephys.spikes import SpikeParams

    out_dir = Path(out_dir)
    by_name: dict[str, list[str]] = {}
    for p in paths:
        by_name.setdefault(Path(p).name, []).append(str(p))
    dup = {k: v for k, v in by_name.items() if len(v) > 1}
    if dup:
        name, where = next(iter(dup.items()))
        raise InputError(
            f"{len(dup)} file name(s) occur more than once, e.g. {name}: {where}; the tables "
            f"identify recordings by file name, so rename or analyse them separately"
        )
    params = params or SpikeParams().as_dict()
    qc = qc or load_qc()
    run = RunRecord(
        command="ephys analyze",
        parameters={"spikes": params, "qc": qc, "files": [str(p) for p in paths]},
    )
    fig_dir = out_dir / "figures" if figures else None
    cache_root = (cache_root or out_dir / ".cache") if use_cache else None
    code = code_fingerprint()
    stimuli = stimuli or {}
    fmts = ("png", "pdf") if figure_pdf else ("png",)
    with_sheet = sheet is not None and len(sheet) > 0  # its columns are not in the workers' rows
    tasks = [
        Task(
            Path(p),
            params,
            qc,
            cache_root,
            fig_dir,
            code,
            stimuli.get(Path(p).name),
            fmts,
            format_csv_rows=not with_sheet,
        )
        for p in paths
    ]
    preload(figures=figures, pdf=figure_pdf)
    # the objects alive now (the modules imported, mostly) are moved out of the garbage
    # collector's generations for the batch: its collections no longer walk them, in this
    # process or in the forked workers (whose writes to those objects' headers also copy the
    # parent's memory pages); in a 144-file run each worker's collections took 0.08 s of CPU,
    # now 0.01 s. They are handed back after the batch (garbage among them is collected then).
    gc.freeze()
    try:
        outcome = run_batch(
            analyze_task,
            tasks,
            n_jobs=n_jobs,
            description="ephys",
            progress=progress,
            label=lambda t: t.path.name,
        )
    finally:
        gc.unfreeze()
    spikes = [r["spikes"] for _, r in outcome.results if len(r["spikes"])]
    sweeps = [r["sweeps"] for _, r in outcome.results]
    res = [] if with_sheet else [r for _, r in outcome.results]  # no rows formatted with a sheet
    spike_rows = [r["csv"]["spikes"] for r in res if len(r["spikes"])]
    sweep_rows = [r["csv"]["sweeps"] for r in res]
    cells = [r["cells"] for _, r in outcome.results]
    inputs = {name: r["sha256"] for name, r in outcome.results}
    n_cached = sum(bool(r["cached"]) for _, r in outcome.results)
    sweeps_df = (
        pd.concat(sweeps, ignore_index=True) if sweeps else pd.DataFrame(columns=["file", "sweep"])
    )
    cells_df = pd.concat(cells, ignore_index=True) if cells else pd.DataFrame(columns=["file"])
    spikes_df = (
        pd.concat(spikes, ignore_index=True)
        if spikes
        else pd.DataFrame(columns=["file", "sweep", "spike"])
    )
    errors = outcome.failures_frame("file")
    warnings_df = pd.DataFrame(
        [w for _, r in outcome.results for w in r["warnings"]], columns=list(WARNING_COLUMNS)
    )
    if with_sheet:
        extra = sheet.drop_duplicates("file")
        sweeps_df = _attach(sweeps_df, extra)
        cells_df = _attach(cells_df, extra)
        spikes_df = _attach(spikes_df, extra)
    if overrides is not None:
        from fmslab.study.overrides import mark_overrides

        cells_df = mark_overrides(cells_df, overrides)
    write_tables_from_parts(sweeps_df, out_dir / "sweeps", sweeps, sweep_rows)
    write_tables(cells_df, out_dir / "cells")
    write_tables_from_parts(spikes_df, out_dir / "spikes", spikes, spike_rows)
    write_table(errors, out_dir / "errors.csv")
    write_table(warnings_df, out_dir / "warnings.csv")
    run.finish("ok" if errors.empty else "partial")
    write_json(
        out_dir / "provenance.json",
        {
            **run.to_dict(),
            "fmslab": fmslab.__version__,
            "inputs_sha256": inputs,
            "ephys_code_sha256": code,
            "n_files": len(paths),
            "n_failed": int(len(errors)),
            "n_cached": n_cached,
            "n_figure_warnings": int(len(warnings_df)),
            **({"qc_overrides": overrides_info} if overrides_info is not None else {}),
            "n_cells_excluded": int(cells_df["excluded"].sum()) if "excluded" in cells_df else 0,
        },
    )
    return BatchResult(sweeps_df, cells_df, errors, inputs, n_cached, spikes_df, warnings_df)


def _attach(df: pd.DataFrame, sheet: pd.DataFrame) -> pd.DataFrame:
    """Put the sheet's columns (cell_id, mouse_id, ...) right after ``file``."""
    cols = [c for c in sheet.columns if c != "file" and c not in df.columns]
    merged = df.merge(sheet[["file", *cols]], on="file", how="left")
    order = ["file", *cols] + [c for c in df.columns if c != "file"]
    return merged[order]


def store_in_catalog(
    result: BatchResult,
    catalog_path: str | Path,
    files: list[Path],
    *,
    parameters: dict[str, Any],
    defer: bool = False,
    extra_inputs: list[Path] | None = None,
) -> None:
    """Record one analysis run in a study catalog: its inputs' hashes (``files`` and
    ``extra_inputs``, e.g. the qc_overrides sheet) and the tables
    ``ephys_sweeps``, ``ephys_cells``, ``ephys_spikes`` and ``ephys_errors`` (every row of the
    run's files replaced in all four tables, in one transaction; other files' rows kept)."""
    from fmslab.catalog import open_session

    with open_session(
        catalog_path, command="ephys analyze", parameters=parameters, defer=defer
    ) as ses:
        ses.record_inputs([f for f in [*files, *(extra_inputs or [])] if Path(f).is_file()])
        # the run's scope is every file it was given, analysed or failed: a file that failed
        # before and succeeds now leaves no error row behind, and vice versa
        ses.write_scope(
            "ephys",
            {
                "ephys_sweeps": result.sweeps,
                "ephys_cells": result.cells,
                "ephys_spikes": result.spikes,
                "ephys_errors": result.errors,
            },
            scope={"file": sorted({Path(f).name for f in files})},
        )
