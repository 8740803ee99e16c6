"""`fmslab skinnerve`: skin-nerve single-afferent recordings: spikes, CV, responses."""

from __future__ import annotations

from pathlib import Path

import typer

from fmslab.cli.common import allow_failures_option, defer_catalog_option, jobs_option

app = typer.Typer(
    help="Skin-nerve single-afferent recordings: spikes, conduction velocity, responses.",
    no_args_is_help=True,
)


@app.command("analyze")
def analyze(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        None, help="Recordings (.smr, .abf, .csv); with --study, optional."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Output folder (default with --study: STUDY/results/skinnerve)."
    ),
    channels: Path | None = typer.Option(
        None, "--channels", help="Channel-map YAML for all files."
    ),
    study: Path | None = typer.Option(
        None, "--study", help="Study folder: its skinnerve recordings, catalog."
    ),
    params_file: Path | None = typer.Option(None, "--params", help="YAML of analysis parameters."),
    jobs: int | None = jobs_option(),
    allow_failures: bool = allow_failures_option(),
    defer_catalog: bool = defer_catalog_option(),
) -> None:
    """Detect and sort spikes, measure CV and responses; write units/responses/spikes tables.

    Exits with code 1, listing the files skipped and why, when fewer files were analysed than
    given (unless --allow-failures)."""
    from fmslab.cli.common import state
    from fmslab.logs import STDERR
    from fmslab.skinnerve import run

    done = run(
        list(paths) if paths else None,
        out=out,
        study=study,
        channels=channels,
        params=params_file,
        n_jobs=jobs,
        progress=state(ctx).progress,
        defer_catalog=defer_catalog,
    )
    STDERR.print(
        f"skinnerve: {done.n_analysed} file(s), {len(done.units)} unit(s), "
        f"{len(done.errors)} failure(s) -> {done.out}"
    )
    from fmslab.batch import check_analysed

    skipped = list(
        zip(done.errors["file"].astype(str), done.errors["message"].astype(str), strict=True)
    )
    check_analysed(
        "skinnerve analyze", asked=len(done.files), skipped=skipped, allow_failures=allow_failures
    )


@app.command("simulate")
def simulate_cmd(
    out: Path = typer.Argument(
        ..., help="CSV file to write (a .yaml channel map and truth files beside it)."
    ),
    seed: int = typer.Option(0, help="Random seed."),
    noise_uv: float = typer.Option(10.0, help="Broadband noise SD (uV)."),
) -> None:
    """Write a ground-truth skin-nerve recording (CSV layout + channel map + true spikes)."""
    from dataclasses import replace

    from fmslab.skinnerve.simulate import SimConfig, simulate, write_csv

    sim = simulate(replace(SimConfig(), noise_uv=noise_uv), seed=seed)
    write_csv(sim, out)
