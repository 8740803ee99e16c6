"""`fmslab figures`: Journal figures with source data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from fmslab.atomic import write_json
from fmslab.catalog import connect, read_table
from fmslab.errors import InputError
from fmslab.logs import STDERR
from fmslab.provenance import RunRecord, sha256_file

app = typer.Typer(help="Journal figures with source data.", no_args_is_help=True)


class _Tables:
    """Loads each table once: a .csv/.parquet path relative to the spec, or a catalog table."""

    def __init__(self, base: Path, catalog: Path | None) -> None:
        self.base, self.catalog = base, catalog
        self.cache: dict[str, pd.DataFrame] = {}
        self.files: list[Path] = []

    def __call__(self, name: str) -> pd.DataFrame:
        if name not in self.cache:
            self.cache[name] = self._load(name)
        return self.cache[name]

    def _load(self, name: str) -> pd.DataFrame:
        from fmslab.compare.io import read_any_table

        path = Path(name)
        if path.suffix.lower() in (".csv", ".parquet"):
            path = path if path.is_absolute() else self.base / path
            if not path.is_file():
                raise InputError("table not found", file=path)
            self.files.append(path)
            return read_any_table(path)
        if self.catalog is None:
            raise InputError(
                f"'{name}' is not a .csv/.parquet file; for a catalog table give --study "
                "or 'study:' in the spec"
            )
        with connect(self.catalog, read_only=True) as con:
            return read_table(con, name)


@app.command()
def build(
    spec: Annotated[Path, typer.Argument(help="figures.yaml (see docs/figures.md).")],
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: 'figures' beside the spec).")
    ] = None,
    study: Annotated[
        Path | None, typer.Option(help="Study folder whose catalog tables panels may name.")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option(help="Build only these figure names (repeat).")
    ] = None,
) -> None:
    """Compose multi-panel figures: PDF, SVG, 300-dpi PNG and one source-data CSV per panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fmslab.figures.compose import build_figure, load_spec
    from fmslab.figures.export import save_figure, save_source_data
    from fmslab.study.model import load_study

    config = load_spec(spec)
    base = spec.resolve().parent
    study = study or (base / config["study"] if config.get("study") else None)
    catalog = load_study(study).catalog_path if study else None
    tables = _Tables(base, catalog)
    out = out or base / "figures"
    run = RunRecord(
        command="figures build",
        parameters={"spec": str(spec), "study": str(study) if study else None},
    )
    written: list[str] = []
    for fig_spec in config["figures"]:
        if only and fig_spec["name"] not in only:
            continue
        fig, sources = build_figure(fig_spec, tables)
        stem = out / fig_spec["name"]
        paths = save_figure(fig, stem) + save_source_data(sources, stem)
        plt.close(fig)
        written += [p.name for p in paths]
        STDERR.print(f"{fig_spec['name']}: {', '.join(p.name for p in paths)}")
    run.finish("ok")
    inputs = [spec, *tables.files]
    write_json(
        out / "provenance.json",
        {
            **run.to_dict(),
            "inputs_sha256": {str(p.resolve()): sha256_file(p) for p in inputs},
            "catalog_tables": sorted(
                k for k in tables.cache if not k.lower().endswith((".csv", ".parquet"))
            ),
            "catalog": str(catalog) if catalog else None,
            "outputs": written,
        },
    )
