"""Turning :class:`~fmslab.report.collect.ReportData` into the report's HTML (no file IO here
except reading the figure bytes that are embedded)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fmslab.report import assets
from fmslab.report.collect import MODALITIES, STATS_FOLDERS, ReportData, read_errors_file
from fmslab.report.html import (
    cards_html,
    esc,
    image_html,
    kv_html,
    not_analysed,
    page_html,
    section_html,
    table_html,
)

#: Sheets and system tables handled by their own sections.
SPECIAL_TABLES = ("donors", "mice", "recordings", "validation", "runs", "inputs", "compare_stats")
#: Columns holding long text that should wrap.
WRAP_COLUMNS = ("message", "reason", "qc_reasons", "description", "platform")
#: Columns holding JSON shown collapsed.
JSON_COLUMNS = ("parameters", "versions")
#: Run columns shown in the provenance section, in order.
RUN_COLUMNS = ("run_id", "command", "status", "started_at", "finished_at", "parameters", "versions",
               "platform", "message")  # fmt: skip


@dataclass
class RenderOptions:
    """Limits of the page: rows per table and figures per results folder."""

    max_rows: int = 200
    max_figures: int = 60


@dataclass
class Rendered:
    """The page and what it used: tables shown (written beside it as CSV) and figures embedded."""

    html: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)


def unblinded_tables(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Tables (other than the sheets) holding group labels from the key.

    These are tables with a ``group`` column holding labels other than "blinded", and a non-empty
    ``compare_stats`` (its ``reference``/``treatment`` columns name the groups compared).
    """
    out = []
    for name, df in sorted(tables.items()):
        if name in ("donors", "mice", "recordings"):
            continue
        labels: set[str] = set()
        for col in ("group",) + (("reference", "treatment") if name == "compare_stats" else ()):
            if col in df.columns:
                labels |= set(df[col].dropna().astype(str))
        if labels - {"blinded", ""}:
            out.append(name)
    return out


class _Builder:
    def __init__(self, data: ReportData, opts: RenderOptions) -> None:
        self.data = data
        self.opts = opts
        self.used_tables: dict[str, pd.DataFrame] = {}
        self.figures: list[Path] = []

    # -- pieces -------------------------------------------------------------------------------
    def table(self, name: str, df: pd.DataFrame, *, caption: str | None = None) -> str:
        """A catalog (or derived) table; its full CSV is written to ``tables/NAME.csv``."""
        self.used_tables[name] = df
        return table_html(
            df,
            table_id=f"tbl-{name}",
            max_rows=self.opts.max_rows,
            csv_href=f"tables/{name}.csv",
            wrap_columns=WRAP_COLUMNS,
            pre_columns=JSON_COLUMNS,
            caption=caption,
        )

    def figure_gallery(self, folder: str) -> str:
        paths = self.data.figures.get(folder, [])
        if not paths:
            return ""
        results = self.data.root / "results"
        shown = paths[: self.opts.max_figures]
        items = []
        for path in shown:
            items.append(image_html(path.read_bytes(), path.suffix, str(path.relative_to(results))))
            self.figures.append(path)
        note = f"{len(paths)} figure{'s' if len(paths) != 1 else ''} in results/{folder}/"
        if len(paths) > len(shown):
            note += f"; the first {len(shown)} are shown, the rest are in that folder"
        return (
            f'<h3>Figures</h3><p class="note">{esc(note)}</p>'
            f'<div class="figs">{"".join(items)}</div>'
        )

    def modality_tables(self, prefixes: tuple[str, ...]) -> list[str]:
        return sorted(
            n
            for n in self.data.tables
            if n.startswith(prefixes) and n not in SPECIAL_TABLES and not n.endswith("_errors")
        )

    # -- sections ------------------------------------------------------------------------------
    def overview(self) -> str:
        d = self.data
        parts = []
        if d.description:
            parts.append(f"<p>{esc(d.description)}</p>")
        parts.append(
            kv_html(
                [
                    ("Study folder", str(d.root.resolve())),
                    ("Catalog", str(d.catalog_path.resolve())),
                ]
            )
        )
        recordings = d.table("recordings")
        counts: list[tuple[str, Any]] = []
        for sheet in ("donors", "mice", "recordings"):
            df = d.table(sheet)
            counts.append((sheet, len(df) if df is not None else "not catalogued"))
        parts.append("<h3>Counts</h3>" + cards_html(counts))
        if recordings is not None and "modality" in recordings.columns:
            per = recordings["modality"].fillna("(none)").value_counts().sort_index()
            known = [m[3] for m in MODALITIES]
            items = [(f"{m} recordings", int(per.get(m, 0))) for m in known]
            items += [(f"{m} recordings", int(n)) for m, n in per.items() if m not in known]
            parts.append(cards_html(items))
            by_mod = (
                recordings.groupby("modality", dropna=False)
                .agg(
                    recordings=("path", "size"),
                    mice=("mouse_id", "nunique") if "mouse_id" in recordings else ("path", "size"),
                )
                .reset_index()
            )
            parts.append(self.table("recordings_per_modality", by_mod))
        parts.append(
            '<p class="note">Treatment groups are blinded: this report never reads the unblinding '
            "key, and the donor sheet is counted but not listed (its clinical columns could "
            "unblind).</p>"
        )
        unblinded = unblinded_tables(d.tables)
        if unblinded:
            parts.append(
                '<p class="note">Group labels from the unblinding key appear in: '
                + ", ".join(f"<code>{esc(n)}</code>" for n in unblinded)
                + " (written by analyses run with the key).</p>"
            )
        else:
            parts.append('<p class="note">No catalog table carries unblinded group labels.</p>')
        stats = d.table("compare_stats")
        parts.append("<h3>Comparisons (compare_stats)</h3>")
        if stats is not None and len(stats):
            parts.append(self.table("compare_stats", stats))
        else:
            parts.append(
                '<p class="na">No comparisons have been run (fmslab compare); groups stay blinded.'
                "</p>"
            )
        mice = d.table("mice")
        if mice is not None:
            parts.append("<h3>Mice</h3>" + self.table("mice", mice))
        if recordings is not None:
            parts.append("<h3>Recordings</h3>" + self.table("recordings", recordings))
        return section_html("overview", "Study overview", "".join(parts))

    def qc(self) -> str:
        d = self.data
        parts = []
        validation = d.table("validation")
        parts.append("<h3>Study validation</h3>")
        if validation is None:
            parts.append(not_analysed("Validation (fmslab study catalog)"))
        elif not len(validation):
            parts.append('<p class="pass">The study sheets passed validation (0 problems).</p>')
        else:
            parts.append(
                f'<p class="fail">{len(validation)} validation problem(s).</p>'
                + self.table("validation", validation)
            )
        parts.append("<h3>Failed files</h3>")
        error_tables = sorted(n for n in d.tables if n.endswith("_errors"))
        covered = {n.removesuffix("_errors") for n in error_tables}
        summary_rows = []
        detail = []
        for name in error_tables:
            df = d.tables[name]
            summary_rows.append({"source": f"catalog: {name}", "failures": len(df)})
            if len(df):
                detail.append(f"<h3>{esc(name)}</h3>" + self.table(name, df))
        for folder, path in sorted(d.error_files.items()):
            if folder in covered:
                continue
            df = read_errors_file(path)
            rel = str(path.relative_to(d.root))
            summary_rows.append({"source": rel, "failures": len(df)})
            if len(df):
                detail.append(f"<h3>{esc(rel)}</h3>" + self.table(f"{folder}_errors_csv", df))
        if summary_rows:
            summary = pd.DataFrame(summary_rows)
            total = int(summary["failures"].sum())
            cls = "fail" if total else "pass"
            parts.append(
                f'<p class="{cls}">{total} failure(s) recorded by the analyses (failed files or rows).</p>'
            )
            parts.append(self.table("errors_summary", summary))
            parts.extend(detail)
        else:
            parts.append('<p class="na">No analysis has recorded failures (nothing analysed).</p>')
        parts.append(self.ephys_qc())
        return section_html("qc", "Quality control", "".join(parts))

    def ephys_qc(self) -> str:
        cells = self.data.table("ephys_cells")
        sweeps = self.data.table("ephys_sweeps")
        if cells is None or "qc_pass" not in cells.columns:
            return "<h3>Current-clamp QC</h3>" + not_analysed("Current-clamp QC")
        parts = ["<h3>Current-clamp QC</h3>"]
        n_pass = int(cells["qc_pass"].fillna(False).astype(bool).sum())
        items = [("cells passed QC", n_pass), ("cells failed QC", len(cells) - n_pass)]
        if sweeps is not None and "qc_pass" in sweeps.columns:
            s_pass = int(sweeps["qc_pass"].fillna(False).astype(bool).sum())
            items += [("sweeps passed QC", s_pass), ("sweeps failed QC", len(sweeps) - s_pass)]
        parts.append(cards_html(items))
        failed = cells[~cells["qc_pass"].fillna(False).astype(bool)]
        if len(failed):
            cols = [c for c in ("file", "cell_id", "mouse_id", "qc_reasons") if c in failed]
            parts.append(self.table("ephys_qc_failed_cells", failed[cols].reset_index(drop=True)))
            if "qc_reasons" in failed:
                reasons = (
                    failed["qc_reasons"]
                    .fillna("")
                    .str.split(";")
                    .explode()
                    .str.strip()
                    .loc[lambda s: s != ""]
                )
                if len(reasons):
                    freq = reasons.value_counts().rename_axis("reason").reset_index(name="cells")
                    parts.append(self.table("ephys_qc_reasons", freq))
        return "".join(parts)

    def modality(self, key: str, title: str, folder: str, prefixes: tuple[str, ...]) -> str:
        names = self.modality_tables(prefixes)
        gallery = self.figure_gallery(folder)
        if not names and not gallery:
            return section_html(key, title, not_analysed(title))
        parts = []
        for name in names:
            parts.append(f"<h3>{esc(name)}</h3>" + self.table(name, self.data.tables[name]))
        parts.append(gallery)
        return section_html(key, title, "".join(parts))

    def statistics(self) -> str:
        known = tuple(p for m in MODALITIES for p in m[4])
        other = sorted(
            n
            for n in self.data.tables
            if n not in SPECIAL_TABLES and not n.startswith(known) and not n.endswith("_errors")
        )
        parts = []
        stats = self.data.table("compare_stats")
        if stats is not None and len(stats):
            parts.append(
                '<p>Group comparisons: see <a href="#overview">compare_stats</a> in the overview.'
                "</p>"
            )
        for name in other:
            parts.append(f"<h3>{esc(name)}</h3>" + self.table(name, self.data.tables[name]))
        for folder in STATS_FOLDERS:
            gallery = self.figure_gallery(folder)
            if gallery:
                parts.append(f"<h3>results/{esc(folder)}/</h3>" + gallery)
        if not parts:
            parts.append(not_analysed("Statistics (fmslab compare, fmslab figures)"))
        return section_html("statistics", "Statistics and figures", "".join(parts))

    def provenance(self, report_run: dict[str, Any]) -> str:
        d = self.data
        parts = []
        runs = d.table("runs")
        parts.append("<h3>Runs</h3>")
        if runs is not None and len(runs):
            runs = runs.sort_values("started_at").reset_index(drop=True)
            cols = [c for c in RUN_COLUMNS if c in runs.columns]
            parts.append(self.table("runs", runs[cols]))
        else:
            parts.append('<p class="na">No runs recorded.</p>')
        parts.append("<h3>Inputs</h3>")
        inputs = d.table("inputs")
        if inputs is not None and len(inputs):
            shown = inputs.copy()
            root = str(d.root.resolve())
            shown["path"] = [
                p[len(root) + 1 :] if isinstance(p, str) and p.startswith(root + "/") else p
                for p in shown["path"]
            ]
            cols = [c for c in ("run_id", "path", "size_bytes", "sha256") if c in shown]
            parts.append(
                self.table(
                    "inputs",
                    shown[cols],
                    caption="Paths relative to the study folder when inside it.",
                )
            )
        else:
            parts.append('<p class="na">No inputs recorded.</p>')
        parts.append("<h3>This report</h3>")
        parts.append(
            kv_html(
                [
                    ("Command", report_run["command"]),
                    ("Run id", report_run["run_id"]),
                    ("Generated", report_run["started_at"]),
                    ("Parameters", json.dumps(report_run["parameters"], sort_keys=True)),
                    ("Platform", report_run["platform"]),
                    ("Catalog sha256", report_run.get("catalog_sha256", "")),
                ]
            )
        )
        versions = pd.DataFrame(
            sorted(report_run["versions"].items()), columns=["package", "version"]
        )
        parts.append(self.table("report_versions", versions))
        return section_html("provenance", "Provenance", "".join(parts))


def render(
    data: ReportData, report_run: dict[str, Any], opts: RenderOptions | None = None
) -> Rendered:
    """Build the whole page.

    Parameters
    ----------
    data
        What :func:`~fmslab.report.collect.collect` read.
    report_run
        The report's own run record (``RunRecord.to_dict()`` plus ``catalog_sha256``), shown in the
        provenance section.
    opts
        Row and figure limits.
    """
    opts = opts or RenderOptions()
    b = _Builder(data, opts)
    sections = [b.overview(), b.qc()]
    nav = [("overview", "Overview"), ("qc", "QC")]
    for key, title, folder, _modality, prefixes in MODALITIES:
        sections.append(b.modality(key, title, folder, prefixes))
        nav.append((key, title))
    sections.append(b.statistics())
    sections.append(b.provenance(report_run))
    nav += [("statistics", "Statistics"), ("provenance", "Provenance")]
    footer = (
        f"Generated by fmslab {esc(report_run['versions'].get('fmslab', ''))} "
        f"(run {esc(report_run['run_id'])}) at {esc(report_run['started_at'])}. "
        "Self-contained: no network access needed."
    )
    page = page_html(
        title=data.name,
        subtitle="fmslab study report",
        nav=nav,
        body="".join(sections),
        footer=footer,
        css=assets.CSS,
        js=assets.JS,
    )
    return Rendered(html=page, tables=b.used_tables, figures=b.figures)
