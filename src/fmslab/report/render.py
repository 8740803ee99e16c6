"""Turning :class:`~fmslab.report.collect.ReportData` into the report's HTML.

Order of the page: findings (what was found, in words, from the statistics), figures (paper
figures with their source data, per-modality summaries), the data to look at (per-cell and per-unit
panels), QC (validation, failures, reviewers' decisions), the modalities' tables and figures,
statistics, provenance (runs, inputs with hashes, the sheets).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fmslab.figures.groups import study_group_style
from fmslab.report import assets
from fmslab.report.blinding import blinding_statement
from fmslab.report.collect import MODALITIES, ReportData, read_errors_file
from fmslab.report.columns import subsets
from fmslab.report.findings import findings, is_blinded
from fmslab.report.forest import forest_svg
from fmslab.report.html import (
    cards_html,
    esc,
    image_html,
    kv_html,
    not_analysed,
    page_html,
    section_html,
    table_block,
)
from fmslab.report.summaries import Grouping, Summary, build_summaries
from fmslab.report.traces import cell_views, unit_views

log = logging.getLogger(__name__)

#: Sheets and system tables handled by their own sections.
SPECIAL_TABLES = ("donors", "mice", "recordings", "validation", "runs", "inputs", "compare_stats",
                  "qc_overrides", "donor_effects", "donor_predictions", "donor_clinical_lmm",
                  "donor_time_course")  # fmt: skip
#: Columns of ``donor_clinical_lmm`` shown in the Donors section.
COVARIATE_COLUMNS = ("outcome", "score", "n_donors", "n_mice", "slope", "slope_low", "slope_high",
                     "slope_df", "p", "warnings")  # fmt: skip
#: Columns of ``donor_effects`` (fmslab donors) shown in the Donors section.
DONOR_COLUMNS = ("outcome", "donor_id", "group", "n_mice", "n_obs", "effect_shrunken", "pred_low",
                 "pred_high", "effect_raw", "boot_low", "boot_high", "p_transfer", "call", "rule",
                 "warnings")  # fmt: skip
#: Columns holding long text that should wrap.
WRAP_COLUMNS = ("message", "reason", "qc_reasons", "description", "platform", "warnings")
#: Columns holding JSON shown collapsed.
JSON_COLUMNS = ("parameters", "versions")
#: Run columns shown in the provenance section, in order.
RUN_COLUMNS = ("run_id", "command", "status", "started_at", "finished_at", "parameters", "versions",
               "platform", "message")  # fmt: skip
#: Columns of a finding's primary-row table.
#: (the counts are in the sentence; the whole row is in Statistics)
FINDING_COLUMNS = ("outcome", "model", "contrast", "day", "treatment", "reference", "estimate_type",
                   "estimate", "ci_low", "ci_high", "df", "p", "p_adj", "q")  # fmt: skip
#: Which analyses honour the qc_overrides sheet (shown in the QC section).
HONOURED_BY = (
    "fmslab ephys / skinnerve / behaviour analyze --study (rows kept, marked excluded with the "
    "reason; behaviour statistics and figures leave them out)",
    "fmslab compare (excluded rows are left out before any statistic and listed in its output)",
    "fmslab figures build --study (every table a panel draws)",
    "this report (summary plots and per-cell/per-unit panels)",
)


@dataclass
class RenderOptions:
    """Limits of the page: rows per table and figures per results folder."""

    max_rows: int = 200
    max_figures: int = 60


@dataclass
class Rendered:
    """The page and what it used: tables (written beside it as CSV), figures embedded, and
    source-data files to copy beside it (name -> DataFrame or existing file)."""

    html: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    source_data: dict[str, pd.DataFrame | Path] = field(default_factory=dict)


def unblinded_tables(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Tables (other than the sheets) holding group labels from the key (see report.blinding)."""
    from fmslab.report.blinding import label_columns

    return sorted(label_columns(tables))


def _json_attr(obj: Any) -> str:
    return esc(json.dumps(obj, allow_nan=False, default=_jsonable))


def _jsonable(x: Any) -> Any:
    try:
        return float(x)
    except (TypeError, ValueError):
        return str(x)


def _clean(obj: Any) -> Any:
    """NaN -> None (JSON has no NaN)."""
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    return obj


class _Builder:
    def __init__(self, data: ReportData, opts: RenderOptions) -> None:
        self.data = data
        self.opts = opts
        self.used_tables: dict[str, pd.DataFrame] = {}
        self.figures: list[Path] = []
        self.source_data: dict[str, pd.DataFrame | Path] = {}
        self.results = data.root / "results"
        self.style = study_group_style(data.root)
        self.stats = data.table("compare_stats")
        self.blinded = is_blinded(self.stats)
        try:
            self.summaries, self.grouping = build_summaries(data.tables, self.results, self.style)
        except Exception as exc:  # never let a plot stop the report; said on the page
            log.warning("report: summary plots skipped (%s: %s)", type(exc).__name__, exc)
            self.summaries, self.grouping = [], Grouping({}, "none")

    # -- pieces -------------------------------------------------------------------------------
    def table(self, name: str, df: pd.DataFrame, *, title: str | None = None,
              caption: str | None = None) -> str:  # fmt: skip
        """A catalog (or derived) table; its full CSV is written to ``tables/NAME.csv``."""
        self.used_tables[name] = df
        return table_block(
            df,
            table_id=f"tbl-{name}",
            title=title or name,
            subsets=subsets(name, list(map(str, df.columns))),
            max_rows=self.opts.max_rows,
            csv_href=f"tables/{name}.csv",
            wrap_columns=WRAP_COLUMNS,
            pre_columns=JSON_COLUMNS,
            caption=caption,
        )

    def _image(self, path: Path, *, links=(), wide: bool = False) -> str:
        self.figures.append(path)
        rel = str(path.relative_to(self.results))
        return image_html(path.read_bytes(), path.suffix, rel, links=links, wide=wide)

    def _displayed_figures(self, folder: str) -> list[Path]:
        """PNG files, and SVG files only when no PNG of the same name exists (no duplicates)."""
        paths = self.data.figures.get(folder, [])
        pngs = {p.with_suffix("") for p in paths if p.suffix.lower() == ".png"}
        return [p for p in paths if p.suffix.lower() == ".png" or p.with_suffix("") not in pngs]

    def figure_gallery(self, folder: str, *, title: str = "Figures") -> str:
        shown_before = set(self.figures)  # e.g. unit figures already in the per-unit panels
        paths = [p for p in self._displayed_figures(folder) if p not in shown_before]
        if not paths:
            return ""
        shown = paths[: self.opts.max_figures]
        items = [self._image(p) for p in shown]
        note = f"{len(paths)} figure{'s' if len(paths) != 1 else ''} in results/{folder}/"
        if len(paths) > len(shown):
            note += f"; the first {len(shown)} are shown, the rest are in that folder"
        return (
            f'<details class="gallery"><summary><b>{esc(title)}</b> '
            f'<span class="muted">{esc(note)}</span></summary>'
            f'<div class="figs">{"".join(items)}</div></details>'
        )

    def modality_tables(self, prefixes: tuple[str, ...]) -> list[str]:
        return sorted(
            n
            for n in self.data.tables
            if n.startswith(prefixes) and n not in SPECIAL_TABLES and not n.endswith("_errors")
        )

    def summary_figure(self, s: Summary) -> str:
        name = f"summary_{s.key}.csv"
        self.source_data[name] = s.source
        return (
            image_html(
                s.png,
                ".png",
                s.title,
                alt=s.title,
                links=[("source data (CSV)", f"source_data/{name}")],
            )
            + f'<p class="note">{esc(s.caption)}</p>'
        )

    # -- sections ------------------------------------------------------------------------------
    def findings_section(self) -> str:
        d = self.data
        parts = []
        if d.description:
            parts.append(f'<p class="muted">{esc(d.description)}</p>')
        statement, _ = blinding_statement(d.tables)
        found = findings(self.stats)
        if self.blinded or not found:
            codes = (
                self.grouping.by_mouse.values() if self.grouping.kind == "treatment code" else []
            )
            n_codes = len(set(codes))
            parts.append(
                '<div class="finding blinded" id="finding-blinded"><p class="sentence"><b>Blinded.'
                "</b> No group comparison has been run, so no finding is stated. "
                + (f"The {n_codes} treatment codes are shown as they are: " if n_codes else "")
                + "quality control and distributions by treatment code follow.</p></div>"
            )
        else:
            parts.append(
                f'<p class="note">{len(found)} planned comparison{"s" if len(found) != 1 else ""}'
                " (the primary model of each outcome; every model is in Statistics).</p>"
            )
            for i, f in enumerate(found):
                row = pd.DataFrame([{c: f.row.get(c) for c in FINDING_COLUMNS if c in f.row}])
                row = row.dropna(axis=1, how="all")  # e.g. donor counts of a mouse-level model
                warn = "".join(f"<li>{esc(w)}</li>" for w in f.warnings)
                raw = (
                    f"<details><summary>model messages</summary><pre>{esc(f.raw_warnings)}</pre>"
                    "</details>"
                    if f.raw_warnings
                    else ""
                )
                self.used_tables[f"finding_{i}"] = row
                from fmslab.report.html import table_html

                parts.append(
                    f'<div class="finding" id="finding-{i}" data-key="{esc(f.key)}" '
                    f'data-outcome="{esc(f.outcome)}" data-source="{esc(f.source)}">'
                    f'<p class="sentence">{esc(f.sentence)}</p>'
                    f'<p class="note">Compared table: {esc(f.source.removeprefix("catalog:"))}</p>'
                    + (f'<ul class="warnings">{warn}</ul>' if warn else "")
                    + table_html(
                        row, table_id=f"tbl-finding_{i}", max_rows=1, csv_href=None, wrap_columns=()
                    )  # fmt: skip
                    + raw
                    + "</div>"
                )
            forest = forest_svg(self.stats)
            if forest:
                parts.append(
                    "<h3>All outcomes on one scale</h3>"
                    f'<div class="forestwrap">{forest}</div><p class="note">Standardised mean '
                    "difference (Hedges' g) with its hierarchical-bootstrap 95% interval; the "
                    "dashed line is no difference.</p>"
                )
        parts.append(f'<p class="note blinding" id="blinding-statement">{esc(statement)} This report'
                     " never reads the unblinding key.</p>")  # fmt: skip
        return section_html("findings", "Findings", "".join(parts))

    def figures_section(self) -> str:
        parts = []
        paper = self._displayed_figures("figures")
        if paper:
            items = []
            for p in paper[: self.opts.max_figures]:
                links = []
                for csv in sorted(p.parent.glob(f"{p.stem}_panel_*.csv")):
                    self.source_data[csv.name] = csv
                    letter = csv.stem.rsplit("_", 1)[-1]
                    links.append((f"panel {letter} source data", f"source_data/{csv.name}"))
                items.append(self._image(p, links=links, wide=True))
            parts.append("<h3>Paper figures</h3>" + f'<div class="figs">{"".join(items)}</div>')
        if self.summaries:
            by_mod = {m[0]: m[1] for m in MODALITIES}
            items = [
                f'<div class="summary" data-modality="{esc(s.modality)}"><h4>'
                f"{esc(by_mod.get(s.modality, s.modality))}</h4>{self.summary_figure(s)}</div>"
                for s in self.summaries
            ]
            parts.append(
                "<h3>Summaries by modality</h3>"
                + (
                    '<p class="note">By treatment code (blinded).</p>'
                    if self.grouping.kind == "treatment code"
                    else ""
                )
                + f'<div class="figs">{"".join(items)}</div>'
            )
        if not parts:
            parts.append(not_analysed("Figures (fmslab figures build, analyses)"))
        return section_html("figures", "Figures", "".join(parts))

    def data_section(self) -> str:
        d = self.data
        overrides = d.table("qc_overrides")
        parts = []
        try:
            cells = cell_views(d.tables, d.root, overrides=overrides, groups=self.grouping.by_mouse)
        except Exception as exc:  # a broken panel must not stop the report; said on the page
            log.warning("report: cell panels skipped (%s: %s)", type(exc).__name__, exc)
            cells = []
            parts.append(f'<p class="fail">Cell panels not built: {esc(exc)}</p>')
        if cells:
            parts.append("<h3>Cells (current clamp)</h3>" + self._cells_html(cells))
        try:
            units = unit_views(
                d.tables, self.results, overrides=overrides, groups=self.grouping.by_mouse
            )
        except Exception as exc:  # as for cells: said on the page, the report goes on
            log.warning("report: unit panels skipped (%s: %s)", type(exc).__name__, exc)
            units = []
            parts.append(f'<p class="fail">Unit panels not built: {esc(exc)}</p>')
        if units:
            parts.append("<h3>Units (skin-nerve)</h3>" + self._units_html(units))
        if not parts:
            parts.append(not_analysed("Per-cell and per-unit panels"))
        parts.insert(
            0,
            '<p class="note">Pick a cell or a unit. Charts: mouse wheel zooms the time axis, drag '
            "selects a range, double click (or Reset zoom) shows all.</p>",
        )
        return section_html("data", "Look at the data", "".join(parts))

    def _verdict(self, v: dict[str, Any]) -> str:
        out = []
        if v.get("override"):
            o = v["override"]
            out.append(
                f'<p class="fail override">Excluded by {esc(o["reviewer"])} on {esc(o["date"])}: '
                f"{esc(o['reason'])} (qc_overrides, {esc(o['level'])} level).</p>"
            )
        if "qc_pass" in v:
            reasons = v.get("qc_reasons") or []
            cls = "pass" if v["qc_pass"] else "fail"
            text = "QC passed" if v["qc_pass"] else "QC failed"
            out.append(
                f'<p class="{cls} verdict">{text}'
                + (": " + "; ".join(esc(r) for r in reasons) if reasons else "")
                + "</p>"
            )
        return "".join(out)

    def _cells_html(self, views: list[dict[str, Any]]) -> str:
        options, panels = [], []
        for i, v in enumerate(views):
            pid = f"cell-{i}"
            state = "excluded" if v.get("override") else ("pass" if v["qc_pass"] else "fail")
            label = f"{v['id']} ({v['file']}, mouse {v['mouse']}{', ' + v['group'] if v['group'] else ''}) - {state}"
            options.append(f'<option value="{pid}">{esc(label)}</option>')
            charts = []
            for k, t in enumerate(v.get("traces", [])):
                series = []
                if t["window"][0] is not None and t["window"][1] is not None:
                    series.append({"type": "span", "x0": t["window"][0], "x1": t["window"][1],
                                   "color": "#2e5d9f"})  # fmt: skip
                series.append({"type": "line", "x": t["t"], "y": t["v"], "color": "#1d2330"})
                series.append({"type": "points", "x": t["thr_t"], "y": t["thr_v"],
                               "color": "#D55E00"})  # fmt: skip
                series.append({"type": "points", "x": t["peak_t"], "y": t["peak_v"],
                               "color": "#0072B2", "marker": "triangle"})  # fmt: skip
                spec = {
                    "xlabel": "Time (ms)",
                    "ylabel": "Membrane potential (mV)",
                    "series": series,
                }
                charts.append(
                    f'<div class="chartbox"><p class="charttitle">Sweep {t["sweep"]}, '
                    f"{esc(t['label'])}: {t['n_spikes']} spikes detected. "
                    '<span class="key thr">\u25cf threshold</span> <span class="key pk">\u25b2 peak'
                    '</span> <span class="key win">\u25ae analysed window</span></p>'
                    f'<div class="chart trace" id="{pid}-trace-{k}" data-spec="{_json_attr(_clean(spec))}">'
                    "</div></div>"
                )
            if v.get("fi", {}).get("x"):
                spec = {"xlabel": "Step current (pA)", "ylabel": "Firing rate (Hz)", "height": 200, "xpad": 0.04,
                        "series": [{"type": "line", "x": v["fi"]["x"], "y": v["fi"]["y"],
                                    "markers": True, "color": "#0072B2"}]}  # fmt: skip
                charts.append(
                    '<div class="chartbox"><p class="charttitle">F-I curve (step sweeps)</p>'
                    f'<div class="chart fi" id="{pid}-fi" data-spec="{_json_attr(_clean(spec))}">'
                    "</div></div>"
                )
            err = f'<p class="na">{esc(v["error"])}</p>' if v.get("error") else ""
            rheo = v.get("rheobase_pA")
            facts = kv_html(
                [("File", v["file"]), ("Mouse", v["mouse"]), ("Group" if self.grouping.kind == "group"
                 else "Treatment code", v["group"] or "-"),
                 ("Rheobase", f"{rheo:g} pA" if isinstance(rheo, float) and rheo == rheo else "none (step)"),
                 ("Protocol", v["protocol"] or "-")]
            )  # fmt: skip
            panels.append(
                f'<div class="view" id="{pid}" data-cell="{esc(v["id"])}" hidden>'
                f"{self._verdict(v)}{facts}{err}{''.join(charts)}</div>"
            )
        return (
            '<label>Cell <select class="viewpick" data-views="cell-views" id="cell-pick">'
            f'{"".join(options)}</select></label><div id="cell-views">{"".join(panels)}</div>'
        )

    def _units_html(self, views: list[dict[str, Any]]) -> str:
        options, panels = [], []
        for i, v in enumerate(views):
            pid = f"unit-{i}"
            state = "excluded" if v.get("override") else v["type"] or "unit"
            options.append(
                f'<option value="{pid}">{esc(v["file"])} unit {esc(v["unit"])} ({esc(state)})</option>'
            )
            charts = []
            rows = v.get("rows") or []
            if rows:
                series = [
                    {"type": "ticks", "x": r["t"], "row": len(rows) - j, "label": r["label"],
                     "color": "#D55E00" if j == 0 else "#8a93a3"}
                    for j, r in enumerate(rows)
                ]  # fmt: skip
                spec = {
                    "xlabel": "Time (s)",
                    "rows": len(rows),
                    "series": series,
                    "height": 60 + 30 * len(rows),
                }
                charts.append(
                    '<div class="chartbox"><p class="charttitle">Spike raster: this unit (top, '
                    "vermillion) and the other units of the recording</p>"
                    f'<div class="chart raster" id="{pid}-raster" data-spec="{_json_attr(_clean(spec))}">'
                    "</div></div>"
                )
            if v.get("resp", {}).get("x"):
                unit = v["resp"].get("unit") or ""
                spec = {"xlabel": f"Step amplitude ({unit})" if unit else "Step amplitude",
                        "ylabel": "Spikes per step", "height": 200, "xpad": 0.04,
                        "series": [{"type": "line", "x": v["resp"]["x"], "y": v["resp"]["y"],
                                    "markers": True, "color": "#0072B2"}]}  # fmt: skip
                charts.append(
                    '<div class="chartbox"><p class="charttitle">Mechanical responses</p>'
                    f'<div class="chart resp" id="{pid}-resp" data-spec="{_json_attr(_clean(spec))}">'
                    "</div></div>"
                )
            fig = ""
            if v.get("figure_path"):
                fig = self._image(Path(v["figure_path"]), wide=True)
            facts = kv_html(
                [("Receptor type", v["type"] or "-"), ("Fibre class", v["fibre"] or "-"),
                 ("Conduction velocity", _num(v["cv_m_s"], "m/s")), ("SNR", _num(v["snr"], "")),
                 ("Spikes", _num(v["n_spikes"], "")), ("Unit under study", "yes" if v["under_study"] else "no"),
                 ("Mouse", v["mouse"])]
            )  # fmt: skip
            panels.append(
                f'<div class="view" id="{pid}" hidden>{self._verdict(v)}{facts}{"".join(charts)}'
                f'<p class="charttitle">Waveform, trace, raster per step, responses</p>{fig}</div>'
            )
        return (
            '<label>Unit <select class="viewpick" data-views="unit-views" id="unit-pick">'
            f'{"".join(options)}</select></label><div id="unit-views">{"".join(panels)}</div>'
        )

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
        parts.append(self.overrides_html())
        parts.append("<h3>Failed files</h3>")
        error_tables = sorted(n for n in d.tables if n.endswith("_errors"))
        covered = {n.removesuffix("_errors") for n in error_tables}
        summary_rows = []
        detail = []
        for name in error_tables:
            df = d.tables[name]
            summary_rows.append({"source": f"catalog: {name}", "failures": len(df)})
            if len(df):
                detail.append(self.table(name, df))
        for folder, path in sorted(d.error_files.items()):
            if folder in covered:
                continue
            df = read_errors_file(path)
            rel = str(path.relative_to(d.root))
            summary_rows.append({"source": rel, "failures": len(df)})
            if len(df):
                detail.append(self.table(f"{folder}_errors_csv", df, title=rel))
        if summary_rows:
            summary = pd.DataFrame(summary_rows)
            total = int(summary["failures"].sum())
            cls = "fail" if total else "pass"
            parts.append(
                f'<p class="{cls}">{total} failure(s) recorded by the analyses (failed files or rows).</p>'
            )
            parts.append(self.table("errors_summary", summary, title="failures per source"))
            parts.extend(detail)
        else:
            parts.append('<p class="na">No analysis has recorded failures (nothing analysed).</p>')
        parts.append(self.ephys_qc())
        return section_html("qc", "Quality control", "".join(parts))

    def overrides_html(self) -> str:
        ov = self.data.table("qc_overrides")
        head = "<h3>Reviewers' QC decisions (qc_overrides)</h3>"
        honour = '<p class="note">Honoured by: ' + "; ".join(esc(h) for h in HONOURED_BY) + ".</p>"
        if ov is None:
            return head + '<p class="na">No qc_overrides sheet in the catalog.</p>' + honour
        if not len(ov):
            return (
                head + '<p class="na">No reviewer has excluded anything (0 decisions).</p>' + honour
            )
        cols = [c for c in ("level", "id", "file", "action", "reason", "reviewer", "date", "run_id")
                if c in ov.columns]  # fmt: skip
        return (
            head
            + f'<p class="fail">{len(ov)} exclusion(s) decided by reviewers.</p>'
            + self.table("qc_overrides", ov[cols].reset_index(drop=True), title="qc_overrides")
            + honour
        )

    def ephys_qc(self) -> str:
        cells = self.data.table("ephys_cells")
        sweeps = self.data.table("ephys_sweeps")
        if cells is None or "qc_pass" not in cells.columns:
            return "<h3>Current-clamp QC</h3>" + not_analysed("Current-clamp QC")
        parts = ["<h3>Current-clamp QC</h3>"]
        n_pass = int(cells["qc_pass"].fillna(False).astype(bool).sum())
        items = [("cells passed QC", n_pass), ("cells failed QC", len(cells) - n_pass)]
        if "excluded" in cells.columns:  # marked by ephys analyze from the qc_overrides sheet
            items.append(("cells excluded by reviewers",
                          int(cells["excluded"].fillna(False).astype(bool).sum())))  # fmt: skip
        if sweeps is not None and "qc_pass" in sweeps.columns:
            s_pass = int(sweeps["qc_pass"].fillna(False).astype(bool).sum())
            items += [("sweeps passed QC", s_pass), ("sweeps failed QC", len(sweeps) - s_pass)]
        parts.append(cards_html(items))
        failed = cells[~cells["qc_pass"].fillna(False).astype(bool)]
        if len(failed):
            cols = [c for c in ("file", "cell_id", "mouse_id", "qc_reasons") if c in failed]
            parts.append(self.table("ephys_qc_failed_cells", failed[cols].reset_index(drop=True),
                                    title="cells that failed QC"))  # fmt: skip
            if "qc_reasons" in failed:
                reasons = (
                    failed["qc_reasons"].fillna("").str.split(";").explode().str.strip()
                    .loc[lambda s: s != ""]
                )  # fmt: skip
                if len(reasons):
                    freq = reasons.value_counts().rename_axis("reason").reset_index(name="cells")
                    parts.append(self.table("ephys_qc_reasons", freq, title="QC reasons"))
        return "".join(parts)

    def modality(self, key: str, title: str, folder: str, prefixes: tuple[str, ...]) -> str:
        names = self.modality_tables(prefixes)
        gallery = self.figure_gallery(folder, title=f"Analysis figures ({folder})")
        if not names and not gallery:
            return section_html(key, title, not_analysed(title))
        parts = []
        for name in names:
            caption = None
            if name == "behaviour_stats" and self.blinded:
                caption = "Contrasts between treatment codes (blinded): not a group comparison."
            parts.append(self.table(name, self.data.tables[name], caption=caption))
        parts.append(gallery)
        return section_html(key, title, "".join(parts))

    def donors_section(self) -> str:
        """Per-donor effects and responder calls (``fmslab donors``), when run."""
        eff = self.data.table("donor_effects")
        if eff is None or not len(eff):
            return section_html(
                "donors", "Donors", not_analysed("Per-donor effects (fmslab donors)")
            )
        cols = [c for c in DONOR_COLUMNS if c in eff.columns]
        caption = (
            "Each donor's effect relative to the control donors: shrunken (mixed model, with "
            "prediction interval) and raw (donor mean difference, hierarchical-bootstrap CI); "
            "the call follows the stated rule, with its probability (see docs/donors.md)."
        )
        parts = [self.table("donor_effects", eff[cols], caption=caption)]
        parts += self._donor_covariates()
        parts += self._donor_calibration()
        return section_html("donors", "Donors", "".join(parts))

    def _donor_covariates(self) -> list[str]:
        """The mixed models with a clinical score as a donor-level covariate, when fitted."""
        lmm = self.data.table("donor_clinical_lmm")
        if lmm is None or not len(lmm):
            return []
        cols = [c for c in COVARIATE_COLUMNS if c in lmm.columns]
        caption = (
            "Each clinical score as a donor-level covariate over the patient donors: "
            "y ~ score + (1 | donor) + (1 | donor:mouse), REML; slope per unit of the score "
            "(in the outcome's unit), Satterthwaite df (docs/donors.md)."
        )
        return [self.table("donor_clinical_lmm", lmm[cols], caption=caption)]

    def _donor_calibration(self) -> list[str]:
        """Calibration plot of the leave-one-donor-out transfer predictions, per outcome."""
        from fmslab.donors.calibration import calibration_figures
        from fmslab.report.summaries import _png

        loo = self.data.table("donor_predictions")
        if loo is None or not len(loo):
            return []
        out = []
        for outcome, fig in calibration_figures(loo):
            out.append(
                image_html(
                    _png(fig), ".png",
                    f"{outcome}: predicted (leave-one-donor-out, from the clinical scores) vs "
                    "observed transfer; binned, Wilson 95% intervals; ticks: single donors",
                    alt=f"calibration plot {outcome}",
                )
            )  # fmt: skip
        return out

    def statistics(self) -> str:
        known = tuple(p for m in MODALITIES for p in m[4])
        other = sorted(
            n
            for n in self.data.tables
            if n not in SPECIAL_TABLES and not n.startswith(known) and not n.endswith("_errors")
        )
        parts = []
        stats = self.stats
        if stats is not None and len(stats):
            parts.append(self.table("compare_stats", stats, title="compare_stats (every model)"))
        else:
            parts.append(
                '<p class="na">No comparisons have been run (fmslab compare); groups stay blinded.'
                "</p>"
            )
        for name in other:
            parts.append(self.table(name, self.data.tables[name]))
        gallery = self.figure_gallery("compare", title="Comparison figures (compare)")
        if gallery:
            parts.append(gallery)
        return section_html("statistics", "Statistics", "".join(parts))

    def provenance(self, report_run: dict[str, Any]) -> str:
        d = self.data
        parts = []
        recordings = d.table("recordings")
        counts: list[tuple[str, Any]] = []
        for sheet in ("donors", "mice", "recordings"):
            df = d.table(sheet)
            counts.append((sheet, len(df) if df is not None else "not catalogued"))
        parts.append(kv_html([("Study folder", str(d.root.resolve())),
                              ("Catalog", str(d.catalog_path.resolve()))]))  # fmt: skip
        parts.append("<h3>Sheets</h3>" + cards_html(counts))
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
            parts.append(
                self.table("recordings_per_modality", by_mod, title="recordings per modality")
            )
        parts.append(
            '<p class="note">The donor sheet is counted but not listed (its clinical columns could '
            "unblind).</p>"
        )
        mice = d.table("mice")
        if mice is not None:
            parts.append(self.table("mice", mice, title="mice sheet"))
        if recordings is not None:
            parts.append(
                self.table("recordings", recordings, title="recordings sheet (with sha256)")
            )
        runs = d.table("runs")
        parts.append("<h3>Runs</h3>")
        if runs is not None and len(runs):
            runs = runs.sort_values("started_at").reset_index(drop=True)
            cols = [c for c in RUN_COLUMNS if c in runs.columns]
            parts.append(self.table("runs", runs[cols], title="runs"))
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
                self.table("inputs", shown[cols], title="inputs (sha256)",
                           caption="Paths relative to the study folder when inside it.")
            )  # fmt: skip
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
        parts.append(self.table("report_versions", versions, title="package versions"))
        return section_html("provenance", "Provenance", "".join(parts))


def _num(x: Any, unit: str) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    if v != v:
        return "-"
    return f"{v:.3g} {unit}".strip()


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
    sections = [b.findings_section(), b.figures_section(), b.data_section(), b.qc()]
    nav = [("findings", "Findings"), ("figures", "Figures"), ("data", "Look at the data"),
           ("qc", "QC")]  # fmt: skip
    for key, title, folder, _modality, prefixes in MODALITIES:
        sections.append(b.modality(key, title, folder, prefixes))
        nav.append((key, title))
    sections.append(b.donors_section())
    sections.append(b.statistics())
    sections.append(b.provenance(report_run))
    nav += [("donors", "Donors"), ("statistics", "Statistics"), ("provenance", "Provenance")]
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
    return Rendered(html=page, tables=b.used_tables, figures=b.figures, source_data=b.source_data)
