"""`build_report`: read a study's catalog and figures, write the static HTML report atomically."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from fmslab.atomic import write_bytes, write_json, write_table, write_text
from fmslab.provenance import RunRecord, sha256_file
from fmslab.report.collect import collect
from fmslab.report.render import RenderOptions, render

log = logging.getLogger(__name__)

COMMAND = "report"


@dataclass
class ReportResult:
    """What :func:`build_report` wrote."""

    index: Path
    out_dir: Path
    tables: list[str]
    n_figures: int
    run: RunRecord


def build_report(
    study: str | Path,
    out: str | Path | None = None,
    *,
    max_rows: int = 200,
    max_figures: int = 60,
) -> ReportResult:
    """Write ``index.html`` (self-contained), ``tables/*.csv`` and ``provenance.json`` for a study.

    Parameters
    ----------
    study
        Study folder; its catalog ``results/fmslab.duckdb`` must exist (``fmslab study catalog``).
    out
        Output folder (default ``STUDY/results/report``).
    max_rows
        Rows shown per table; longer tables are truncated with a note and a link to their CSV.
    max_figures
        Figures embedded per results folder.

    Returns
    -------
    ReportResult
    """
    study = Path(study)
    out_dir = Path(out) if out is not None else study / "results" / "report"
    run = RunRecord(
        command=COMMAND,
        parameters={
            "study": str(study.resolve()),
            "out": str(out_dir.resolve()),
            "max_rows": max_rows,
            "max_figures": max_figures,
        },
    )
    data = collect(study, exclude=out_dir)
    catalog_sha = sha256_file(data.catalog_path)
    run_info = {**run.to_dict(), "catalog_sha256": catalog_sha}
    rendered = render(data, run_info, RenderOptions(max_rows=max_rows, max_figures=max_figures))
    for name, df in rendered.tables.items():
        write_table(df, out_dir / "tables" / f"{name}.csv")
    for name, src in rendered.source_data.items():
        if isinstance(src, Path):
            write_bytes(out_dir / "source_data" / name, src.read_bytes())
        else:
            write_table(src, out_dir / "source_data" / name)
    index = write_text(out_dir / "index.html", rendered.html)
    run.finish("ok")
    results = study / "results"
    write_json(
        out_dir / "provenance.json",
        {
            **run.to_dict(),
            "inputs": [
                {"path": str(data.catalog_path.resolve()), "sha256": catalog_sha},
                *(
                    {"path": str(p.relative_to(results)), "sha256": sha256_file(p)}
                    for p in rendered.figures
                ),
            ],
            "outputs": [
                "index.html",
                *(f"tables/{n}.csv" for n in sorted(rendered.tables)),
                *(f"source_data/{n}" for n in sorted(rendered.source_data)),
            ],
        },
    )
    log.debug(
        "report: %d tables, %d figures -> %s", len(rendered.tables), len(rendered.figures), index
    )
    return ReportResult(
        index=index,
        out_dir=out_dir,
        tables=sorted(rendered.tables),
        n_figures=len(rendered.figures),
        run=run,
    )
