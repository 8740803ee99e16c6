"""`fmslab ephys`: Current-clamp excitability of DRG neurons (ABF and other formats)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from fmslab.cli.common import print_frame, state
from fmslab.errors import InputError

app = typer.Typer(
    help="Current-clamp excitability of DRG neurons (ABF and other formats).", no_args_is_help=True
)


def _read_sheet(path: Path) -> pd.DataFrame:
    sheet = pd.read_csv(path, dtype=str)
    if "file" not in sheet.columns:
        if "path" not in sheet.columns:
            raise InputError("the sheet needs a 'file' or 'path' column", file=str(path))
        sheet["file"] = [Path(p).name for p in sheet["path"]]
    return sheet


@app.command()
def analyze(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(None, help="ABF (or neo-readable) files or folders."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: STUDY/results/ephys)."),
    sheet: Path = typer.Option(None, "--sheet", help="CSV linking files to cell_id, mouse_id, ..."),
    study: Path = typer.Option(
        None,
        "--study",
        help="Study folder: sheet and catalog; analyse its ephys_cc recordings (or only PATHS).",
    ),
    jobs: int = typer.Option(None, "--jobs", help="Worker processes (default: all cores)."),
    qc: Path = typer.Option(
        None, "--qc", help="QC criteria YAML (default: packaged ephys_qc.yaml)."
    ),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Per-cell PNG/PDF figures."),
) -> None:
    """Per-sweep and per-cell features of current-clamp recordings (sweeps.csv, cells.csv, ...)."""
    from fmslab.ephys.batch import analyze_paths, expand_paths
    from fmslab.ephys.qc import load_qc

    sheet_df = _read_sheet(sheet) if sheet else None
    st = None
    files: list[Path] = expand_paths(list(paths)) if paths else []
    if study is not None:
        from fmslab.study import load_study

        st = load_study(study)
        recs = st.recordings_of("ephys_cc")
        if not files:  # explicit PATHS restrict the run to them (e.g. one recording day)
            files = [Path(p) for p in recs["abs_path"]]
        recs = recs.assign(file=[Path(p).name for p in recs["abs_path"]])
        keep = [c for c in ("file", "cell_id", "mouse_id", "date", "protocol") if c in recs.columns]
        sheet_df = (
            recs[keep].rename(columns={"protocol": "protocol_sheet"})
            if sheet_df is None
            else sheet_df
        )
        out = out or st.results_dir / "ephys"
    if not files:
        raise InputError("nothing to analyse: give files/folders or --study")
    if out is None:
        raise InputError("--out is required without --study")
    res = analyze_paths(
        files,
        out,
        sheet=sheet_df,
        qc=load_qc(qc),
        n_jobs=jobs,
        progress=state(ctx).progress,
        figures=figures,
    )
    if st is not None:
        from fmslab.ephys.batch import store_in_catalog

        store_in_catalog(
            res,
            st.catalog_path,
            files,
            parameters={"out": str(out), "files": [str(f) for f in files]},
        )
    cols = [
        c
        for c in (
            "file",
            "cell_id",
            "rheobase_pA",
            "rin_MOhm",
            "rmp_mV",
            "firing_pattern",
            "qc_pass",
        )
        if c in res.cells.columns
    ]
    print_frame(res.cells[cols], title=f"{len(res.cells)} cells ({res.n_cached} from cache)")
    if len(res.errors):
        print_frame(res.errors, title=f"{len(res.errors)} files failed (errors.csv)")


@app.command()
def inspect(
    path: Path = typer.Argument(..., help="One recording."),
) -> None:
    """What the reader finds in one file: Vm channel, stimulus source, test step of every sweep."""
    from dataclasses import asdict

    from fmslab.ephys.io import open_recording

    reader = open_recording(path)
    info = reader.info()
    facts = {k: v for k, v in asdict(info).items() if k != "notes"}
    print_frame(
        pd.DataFrame({"field": list(facts), "value": [str(v) for v in facts.values()]}),
        title=path.name,
    )
    rows = []
    for s in range(reader.n_sweeps):
        st = reader.sweep(s).stimulus
        rows.append(
            {
                "sweep": s,
                "kind": st.kind,
                "stim_pA": st.stim_pA,
                "stim_start_s": st.stim_start_s,
                "stim_end_s": st.stim_end_s,
                "prepulse_pA": st.prepulse_pA,
                "source": st.source,
            }
        )
    print_frame(pd.DataFrame(rows), title="stimulus per sweep")
