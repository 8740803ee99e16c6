"""`fmslab skinnerve`: skin-nerve single-afferent recordings: spikes, CV, responses."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from fmslab.errors import InputError
from fmslab.skinnerve.batch import TABLES, analyze_item

log = logging.getLogger(__name__)

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
    out: Path = typer.Option(..., "--out", help="Output folder."),
    channels: Path | None = typer.Option(
        None, "--channels", help="Channel-map YAML for all files."
    ),
    study: Path | None = typer.Option(
        None, "--study", help="Study folder: its skinnerve recordings, catalog."
    ),
    params_file: Path | None = typer.Option(None, "--params", help="YAML of analysis parameters."),
    jobs: int | None = typer.Option(None, "--jobs", help="Worker processes (default: all cores)."),
) -> None:
    """Detect and sort spikes, measure CV and responses; write units/responses/spikes tables."""
    import yaml

    from fmslab.atomic import write_json, write_table
    from fmslab.batch import run_batch
    from fmslab.cli.common import state
    from fmslab.provenance import RunRecord, sha256_file
    from fmslab.skinnerve.params import Params

    params_d: dict[str, Any] = {}
    st = None
    meta = pd.DataFrame()
    if study is not None:
        from fmslab.study import load_study

        st = load_study(study)
        params_d.update((st.config.get("parameters") or {}).get("skinnerve") or {})
        rows = st.recordings_of("skinnerve")
        meta = rows.drop(columns=["abs_path"]).assign(file=[Path(p).name for p in rows["abs_path"]])
        # explicit PATHS restrict the run to them (e.g. one recording day); default: all rows
        paths = list(paths) if paths else [Path(p) for p in rows["abs_path"]]
    if params_file is not None:
        try:
            params_d.update(yaml.safe_load(params_file.read_text()) or {})
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"cannot read parameters: {exc}", file=params_file) from None
    params = Params.from_dict(params_d)  # validates names
    if not paths:
        raise InputError("no recordings given (PATHS or --study with skinnerve recordings)")
    out.mkdir(parents=True, exist_ok=True)
    items = [
        (str(p), str(channels) if channels else None, params.to_dict(), str(out), Path(p).name)
        for p in paths
    ]
    run = RunRecord(
        command="skinnerve analyze",
        parameters={"params": params.to_dict(), "channels": str(channels)},
    )
    outcome = run_batch(
        analyze_item,
        items,
        n_jobs=jobs,
        description="skin-nerve",
        progress=state(ctx).progress,
        label=lambda it: it[0],
    )
    frames: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        parts = [res[name] for _lbl, res in outcome.results if len(res[name])]
        df = (
            pd.concat(parts, ignore_index=True)
            if parts
            else pd.DataFrame(columns=["file", "unit_id"])
        )
        if len(meta) and len(df):
            df = df.merge(
                meta.rename(columns={"unit_id": "recording_unit_id"}), on="file", how="left"
            )
        frames[name] = df
        write_table(df, out / f"{name}.csv")
    errors = outcome.failures_frame("file")
    write_table(errors, out / "errors.csv")
    run.finish("ok" if not len(errors) else "partial")
    inputs = [
        {"path": str(Path(p).resolve()), "sha256": sha256_file(p)}
        for p in paths
        if Path(p).is_file()
    ]
    write_json(
        out / "provenance.json",
        {
            **run.to_dict(),
            "inputs": inputs,
            "outputs": [f"{n}.csv" for n in TABLES] + ["errors.csv", "figures/"],
        },
    )
    if st is not None:
        from fmslab.catalog import open_session

        with open_session(
            st.catalog_path, command="skinnerve analyze", parameters=run.parameters
        ) as ses:
            ses.record_inputs([p for p in paths if Path(p).is_file()])
            for name in TABLES:
                if len(frames[name]):
                    ses.write_table(f"skinnerve_{name}", frames[name], replace_on=["file"])
    n_units = len(frames["units"])
    log.info(
        "%d file(s) analysed, %d unit(s), %d failure(s)", len(outcome.results), n_units, len(errors)
    )
    from fmslab.logs import STDERR

    STDERR.print(
        f"skinnerve: {len(outcome.results)} file(s), {n_units} unit(s), "
        f"{len(errors)} failure(s) -> {out}"
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
