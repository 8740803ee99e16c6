"""`fmslab ephys`: Current-clamp excitability of DRG neurons (ABF and other formats)."""

from __future__ import annotations

from pathlib import Path

import typer

from fmslab.cli.common import allow_failures_option, defer_catalog_option, jobs_option

app = typer.Typer(
    help="Current-clamp excitability of DRG neurons (ABF and other formats).", no_args_is_help=True
)


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
    jobs: int | None = jobs_option(),
    qc: Path = typer.Option(
        None, "--qc", help="QC criteria YAML (default: packaged ephys_qc.yaml)."
    ),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Per-cell PNG figures."),
    pdf: bool = typer.Option(False, "--pdf", help="Also a vector PDF of every cell's figure."),
    stimulus: Path = typer.Option(
        None,
        "--stimulus",
        help="File with the injected current of the (one) recording's sweeps, for formats that "
        "store it separately (sheet column stimulus_file for several).",
    ),
    allow_failures: bool = allow_failures_option(),
    defer_catalog: bool = defer_catalog_option(),
) -> None:
    """Per-sweep and per-cell features of current-clamp recordings (sweeps.csv, cells.csv, ...).

    Exits with code 1, listing the files skipped and why, when fewer files were analysed than
    given (unless --allow-failures)."""
    from fmslab.cli.common import print_frame, state
    from fmslab.ephys import run

    done = run(
        list(paths) if paths else None,
        out=out,
        study=study,
        sheet=sheet,
        qc=qc,
        n_jobs=jobs,
        progress=state(ctx).progress,
        figures=figures,
        stimulus=stimulus,
        figure_pdf=pdf,
        defer_catalog=defer_catalog,
    )
    res = done.result
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
            "excluded",
        )
        if c in res.cells.columns
    ]
    print_frame(res.cells[cols], title=f"{len(res.cells)} cells ({res.n_cached} from cache)")
    if len(res.errors):
        print_frame(res.errors, title=f"{len(res.errors)} files failed (errors.csv)")
    if len(res.warnings):
        print_frame(res.warnings, title=f"{len(res.warnings)} figures failed (warnings.csv)")
    from fmslab.batch import check_analysed

    skipped = list(
        zip(res.errors["file"].astype(str), res.errors["message"].astype(str), strict=True)
    )
    check_analysed(
        "ephys analyze", asked=len(done.files), skipped=skipped, allow_failures=allow_failures
    )


@app.command()
def inspect(
    path: Path = typer.Argument(..., help="One recording (ABF, NWB, Igor, AxoGraph, Spike2, ...)."),
    stimulus: Path = typer.Option(
        None, "--stimulus", help="File with the injected current of the recording's sweeps."
    ),
) -> None:
    """What the reader finds in one file: Vm channel, stimulus source, test step of every sweep,
    reader notes; or why the file is refused."""
    from dataclasses import asdict

    import pandas as pd

    from fmslab.cli.common import print_frame
    from fmslab.ephys.io import open_recording

    reader = open_recording(path, stimulus=stimulus)
    info = reader.info()
    facts = {k: v for k, v in asdict(info).items() if k != "notes"}
    facts.update({f"note {k + 1}": n for k, n in enumerate(info.notes)})
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
                "reason": st.reason,
            }
        )
    table = pd.DataFrame(rows)
    if not table["reason"].astype(bool).any():
        table = table.drop(columns="reason")  # shown only when some current is unknown
    print_frame(table, title="stimulus per sweep")
