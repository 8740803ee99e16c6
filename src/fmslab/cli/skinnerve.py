"""`fmslab skinnerve`: skin-nerve single-afferent recordings: spikes, CV, responses."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from fmslab.errors import InputError

log = logging.getLogger(__name__)

app = typer.Typer(
    help="Skin-nerve single-afferent recordings: spikes, conduction velocity, responses.",
    no_args_is_help=True,
)

TABLES = ("units", "responses", "spikes")
STEP = "skinnerve.analyze"


def _analyze_one(item: tuple[str, str | None, dict[str, Any], str, str]) -> dict[str, pd.DataFrame]:
    """Worker: analyse one file, save its figures, return its tables (module-level: picklable)."""
    import matplotlib

    matplotlib.use("Agg")
    from fmslab.atomic import write_with
    from fmslab.cache import ResultCache, cache_key
    from fmslab.provenance import sha256_file, sha256_json
    from fmslab.skinnerve.analysis import analyze_file
    from fmslab.skinnerve.channels import channel_map_for
    from fmslab.skinnerve.params import Params
    from fmslab.skinnerve.plots import stimulus_figure, unit_figure

    path_s, channels_file, params_d, out_s, label = item
    path, out = Path(path_s), Path(out_s)
    if not path.is_file():
        raise InputError("file not found", file=path)
    params = Params.from_dict(params_d)
    cmap = channel_map_for(path, channels_file)
    fig_dir = out / "figures"
    key = cache_key(
        input_sha256=sha256_file(path),
        parameters={
            "params": params.to_dict(),
            "channels": sha256_json(cmap.__dict__ if cmap else None),
            "label": label,
        },
        step=STEP,
    )
    cache = ResultCache(out / ".cache")
    hit = cache.get(STEP, key)
    if hit is not None and all((fig_dir / f).is_file() for f in hit["units"].get("figure", [])):
        log.info("%s: unchanged, results reused", path)
        return hit
    fr = analyze_file(path, cmap, params)
    stem = path.stem
    figs = []
    for k in fr.units["unit_id"] if len(fr.units) else []:
        fig = unit_figure(fr, int(k))
        name = f"{stem}_unit{int(k)}.png"
        write_with(fig_dir / name, lambda p, fig=fig: fig.savefig(p, format="png", dpi=90))
        figs.append(name)
    fig = stimulus_figure(fr)
    write_with(fig_dir / f"{stem}_stimuli.png", lambda p: fig.savefig(p, format="png", dpi=90))
    tables = {"units": fr.units, "responses": fr.responses, "spikes": fr.spikes}
    for df in tables.values():
        if len(df) or "file" in df.columns:
            df["file"] = label
    if len(fr.units):
        fr.units["figure"] = figs
    cache.put(STEP, key, tables)
    return tables


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
        _analyze_one,
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
