"""Building the figures of a ``figures.yaml`` spec: PDF, SVG, 300-dpi PNG and source data.

The library behind ``fmslab figures build``; it returns the paths it wrote and never shows anything.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from fmslab.atomic import write_json
from fmslab.catalog import connect, read_table
from fmslab.errors import InputError
from fmslab.provenance import RunRecord, sha256_file

log = logging.getLogger(__name__)


class TableLoader:
    """Loads each table once: a .csv/.parquet path relative to the spec, or a catalog table."""

    def __init__(
        self, base: Path, catalog: Path | None, overrides: pd.DataFrame | None = None
    ) -> None:
        self.base, self.catalog = base, catalog
        self.cache: dict[str, pd.DataFrame] = {}
        self.files: list[Path] = []
        self.overrides = overrides
        #: rows left out per table by the study's qc_overrides
        self.excluded: dict[str, int] = {}

    def __call__(self, name: str) -> pd.DataFrame:
        if name not in self.cache:
            df = self._load(name)
            if self.overrides is not None and len(self.overrides):
                from fmslab.study.overrides import apply_overrides

                applied = apply_overrides(df, self.overrides)
                if len(applied.excluded):
                    self.excluded[name] = len(applied.excluded)
                df = applied.kept
            self.cache[name] = df
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


def build_figures(
    spec: str | Path,
    *,
    out: str | Path | None = None,
    study: str | Path | None = None,
    only: list[str] | None = None,
) -> list[Path]:
    """Compose every figure of ``spec`` (or those named in ``only``) and write them to ``out``.

    Parameters
    ----------
    spec
        ``figures.yaml`` (see docs/figures.md).
    out
        Output folder; default ``figures`` beside the spec.
    study
        Study whose catalog tables panels may name (default: ``study:`` in the spec).
    only
        Names of the figures to build.

    Returns
    -------
    list of Path
        Every file written (figures, source-data CSVs), then ``provenance.json``.
    """
    import matplotlib.pyplot as plt

    from fmslab.figures.compose import build_figure, load_spec
    from fmslab.figures.export import save_figure, save_source_data
    from fmslab.figures.groups import study_group_style
    from fmslab.study.model import load_study

    spec = Path(spec)
    config = load_spec(spec)
    base = spec.resolve().parent
    study = Path(study) if study else (base / config["study"] if config.get("study") else None)
    catalog = load_study(study).catalog_path if study else None
    overrides, overrides_file = None, None
    if study:  # reviewers' exclusions apply to every table a panel draws
        from fmslab.study.overrides import load_study_overrides

        overrides, overrides_file = load_study_overrides(study)
    tables = TableLoader(base, catalog, overrides)
    out = Path(out) if out else base / "figures"
    run = RunRecord(
        command="figures build",
        parameters={"spec": str(spec), "study": str(study) if study else None},
    )
    written: list[Path] = []
    for fig_spec in config["figures"]:
        if only and fig_spec["name"] not in only:
            continue
        fig, sources = build_figure(fig_spec, tables, groups=study_group_style(study))
        stem = out / fig_spec["name"]
        paths = save_figure(fig, stem) + save_source_data(sources, stem)
        plt.close(fig)
        written += paths
        log.info("%s: %s", fig_spec["name"], ", ".join(p.name for p in paths))
    run.finish("ok")
    inputs = [spec, *tables.files]
    if overrides_file is not None:
        inputs.append(overrides_file)
    prov = write_json(
        out / "provenance.json",
        {
            **run.to_dict(),
            "inputs_sha256": {str(p.resolve()): sha256_file(p) for p in inputs},
            "catalog_tables": sorted(
                k for k in tables.cache if not k.lower().endswith((".csv", ".parquet"))
            ),
            "catalog": str(catalog) if catalog else None,
            "excluded_by_qc_overrides": tables.excluded,
            "outputs": [p.name for p in written],
        },
    )
    return [*written, prov]
