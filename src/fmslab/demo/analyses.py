"""The full analysis of a demo study: every modality, the comparisons, the figures, the report.

Each step is a plain function ``step(ctx) -> str`` (a one-line summary) that calls the modality's
Python API, writes its outputs to ``STUDY/results/<modality>/`` and its tables to the study
catalog (``STUDY/results/fmslab.duckdb``), as the modality's own ``--study`` command does.
:func:`run_steps` runs them in order; a failing step is logged with its traceback, recorded in
``STUDY/results/demo_steps.csv`` and ``demo_steps.json``, and the next steps still run.

Blinding: the modality steps see only treatment codes (behaviour is run without the key); the
unblinding key (``OUT/keys/unblinding.csv``) is joined in the ``compare`` step (and for the
RNA-seq design, whose contrast is patient vs control: :func:`unblinded_sample_sheet`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fmslab.errors import FmslabError, InputError

log = logging.getLogger(__name__)

#: Figures spec written to ``STUDY/results/figures/figures.yaml`` when none exists there.
DEFAULT_FIGURES_YAML = """\
# Default figures of the fmslab demo study (see docs/figures.md). Tables are paths relative to
# this file (the compare step's unblinded data.csv) or catalog table names.
figures:
  - name: figure_ephys
    width: double
    height_mm: 70
    layout: ["ab"]
    shared_legend: true
    panels:
      a: {type: superplot, table: ../compare/ephys_cells/data.csv, value: rheobase_pA,
          order: [HC, FMS]}
      b: {type: estimation, table: ../compare/ephys_cells/data.csv, value: rheobase_pA,
          reference: HC}
  - name: figure_behaviour_rnaseq
    width: double
    height_mm: 70
    layout: ["ab"]
    panels:
      a: {type: time_course, table: ../compare/behaviour_time_course.csv, x: day,
          value: value}
      b: {type: volcano, table: ../rnaseq/de_results.csv, label: gene}
"""


@dataclass
class StepContext:
    """What a step needs: the demo layout, the loaded study and whether to show progress bars."""

    layout: Any  # fmslab.demo.generate.DemoLayout (not imported: generate imports this module)
    progress: bool = False
    n_jobs: int | None = None

    @property
    def study_root(self) -> Path:
        return Path(self.layout.study)

    def study(self):
        from fmslab.study import load_study

        return load_study(self.study_root)

    def results(self, name: str) -> Path:
        return self.study().results_dir / name


@dataclass
class StepOutcome:
    name: str
    ok: bool
    seconds: float
    summary: str = ""
    error: str = ""
    details: list[str] = field(default_factory=list)


class StepFailed(FmslabError):
    """A step finished part of its work; ``str`` lists what failed."""


# --------------------------------------------------------------------------------------------
# 1. current clamp
# --------------------------------------------------------------------------------------------


def step_ephys(ctx: StepContext) -> str:
    """``fmslab ephys analyze --study``: the study's ephys_cc recordings."""
    from fmslab.ephys.batch import analyze_paths, store_in_catalog
    from fmslab.ephys.qc import load_qc

    st = ctx.study()
    recs = st.recordings_of("ephys_cc")
    files = [Path(p) for p in recs["abs_path"]]
    if not files:
        raise InputError("the study lists no ephys_cc recordings", file=st.root)
    sheet = recs.assign(file=[p.name for p in files])
    keep = [c for c in ("file", "cell_id", "mouse_id", "date", "protocol") if c in sheet.columns]
    sheet = sheet[keep].rename(columns={"protocol": "protocol_sheet"})
    out = st.results_dir / "ephys"
    res = analyze_paths(
        files, out, sheet=sheet, qc=load_qc(), n_jobs=ctx.n_jobs, progress=ctx.progress
    )
    store_in_catalog(
        res,
        st.catalog_path,
        files,
        parameters={"out": str(out), "files": [str(f) for f in files], "via": "fmslab demo"},
    )
    n_pass = int(res.cells["qc_pass"].astype(bool).sum()) if "qc_pass" in res.cells else 0
    return (
        f"{len(files)} files: {len(res.cells)} cells ({n_pass} pass QC), "
        f"{len(res.errors)} refused (errors.csv)"
    )


# --------------------------------------------------------------------------------------------
# 2. behaviour
# --------------------------------------------------------------------------------------------


def step_behaviour(ctx: StepContext) -> str:
    """``fmslab behaviour analyze --study`` with the study's filaments file, run blind (codes)."""
    from fmslab.behaviour.pipeline import analyze_sheets, store_in_catalog, write_outputs

    st = ctx.study()
    blind = dataclasses.replace(st, unblinding_path=None)  # groups are joined in `compare`
    sheets = [Path(p) for p in st.recordings_of("behaviour")["abs_path"]]
    if not sheets:
        raise InputError("the study lists no behaviour recordings", file=st.root)
    bparams = (st.config.get("parameters") or {}).get("behaviour") or {}
    filaments = st.resolve(bparams["filaments"]) if bparams.get("filaments") else None
    baseline = float(bparams.get("baseline_day", 0))
    params = {
        "sheets": [str(s) for s in sheets],
        "filaments": str(filaments) if filaments else None,
        "study": str(st.root),
        "unblinding": None,
        "baseline_max_day": baseline,
        "via": "fmslab demo (blind: groups are treatment codes)",
    }
    result = analyze_sheets(
        list(sheets),
        filaments=filaments,
        study=blind,
        baseline_max_day=baseline,
        progress=ctx.progress,
    )
    inputs = [*sheets, *([filaments] if filaments else [])]
    out = st.results_dir / "behaviour"
    write_outputs(result, out, inputs=inputs, parameters=params)
    store_in_catalog(result, blind, inputs=inputs, parameters=params)
    return (
        f"{len(result.trials)} trials, {len(result.vonfrey)} von Frey tests, "
        f"{result.mice['mouse_id'].nunique()} mice; {len(result.errors)} problem(s)"
    )


# --------------------------------------------------------------------------------------------
# 3. skin-nerve
# --------------------------------------------------------------------------------------------


def step_skinnerve(ctx: StepContext) -> str:
    """``fmslab skinnerve analyze --study``: each recording with the channel map beside it."""
    from fmslab.atomic import write_json, write_table
    from fmslab.batch import run_batch
    from fmslab.catalog import open_session
    from fmslab.provenance import RunRecord, sha256_file
    from fmslab.skinnerve.batch import TABLES, analyze_item
    from fmslab.skinnerve.params import Params

    st = ctx.study()
    params = Params.from_dict((st.config.get("parameters") or {}).get("skinnerve") or {})
    rows = st.recordings_of("skinnerve")
    paths = [Path(p) for p in rows["abs_path"]]
    if not paths:
        raise InputError("the study lists no skinnerve recordings", file=st.root)
    meta = rows.drop(columns=["abs_path"]).assign(file=[p.name for p in paths])
    out = st.results_dir / "skinnerve"
    out.mkdir(parents=True, exist_ok=True)
    items = [(str(p), None, params.to_dict(), str(out), p.name) for p in paths]
    run = RunRecord(
        command="skinnerve analyze",
        parameters={"params": params.to_dict(), "channels": "RECORDING.yaml beside each file"},
    )
    outcome = run_batch(
        analyze_item,
        items,
        n_jobs=ctx.n_jobs,
        description="skin-nerve",
        progress=ctx.progress,
        label=lambda it: it[0],
    )
    frames: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        parts = [res[name] for _lbl, res in outcome.results if len(res[name])]
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["file"])
        if len(df):
            df = df.merge(
                meta.rename(columns={"unit_id": "recording_unit_id"}), on="file", how="left"
            )
        frames[name] = df
        write_table(df, out / f"{name}.csv")
    errors = outcome.failures_frame("file")
    write_table(errors, out / "errors.csv")
    run.finish("ok" if not len(errors) else "partial")
    write_json(
        out / "provenance.json",
        {
            **run.to_dict(),
            "inputs": [{"path": str(p), "sha256": sha256_file(p)} for p in paths if p.is_file()],
            "outputs": [f"{n}.csv" for n in TABLES] + ["errors.csv", "figures/"],
        },
    )
    with open_session(st.catalog_path, command="skinnerve analyze", parameters=run.parameters) as s:
        s.record_inputs([p for p in paths if p.is_file()])
        for name in TABLES:
            if len(frames[name]):
                s.write_table(f"skinnerve_{name}", frames[name], replace_on=["file"])
    if len(errors):
        raise StepFailed(f"{len(errors)} of {len(paths)} skin-nerve file(s) failed (errors.csv)")
    return f"{len(paths)} recordings, {len(frames['units'])} units"


# --------------------------------------------------------------------------------------------
# 4. RNA-seq
# --------------------------------------------------------------------------------------------


def step_rnaseq(ctx: StepContext) -> str:
    """``fmslab rnaseq de`` with the design/contrast of study.yaml, then ``rnaseq channels``."""
    from fmslab.atomic import write_table, write_with
    from fmslab.catalog import open_session
    from fmslab.provenance import package_versions, sha256_file
    from fmslab.rnaseq import plots
    from fmslab.rnaseq.channels import rank_channels
    from fmslab.rnaseq.de import run_de
    from fmslab.rnaseq.io import Contrast, match_samples, read_counts
    from fmslab.rnaseq.outputs import long_results, write_de_outputs

    st = ctx.study()
    rp = (st.config.get("parameters") or {}).get("rnaseq") or {}
    for k in ("counts", "samples", "design", "contrast"):
        if k not in rp:
            raise InputError(f"study.yaml parameters.rnaseq lacks '{k}'", file=st.root)
    counts_path = st.resolve(rp["counts"])
    counts, _gene_info = read_counts(counts_path)
    samples = unblinded_sample_sheet(ctx.layout).set_index("sample_id")
    counts, samples = match_samples(counts, samples, counts_file=counts_path)
    var, target, ref = rp["contrast"]
    contrast = Contrast(id=f"{var}_{target}_vs_{ref}", variable=var, reference=ref, target=target)
    n_cpus = ctx.n_jobs or os.cpu_count() or 1
    params = {
        "design": rp["design"],
        "contrasts": [contrast.__dict__],
        "engine": "r",
        "shrink": True,
        "alpha": 0.05,
        "n_cpus": n_cpus,
        "via": "fmslab demo (sample sheet unblinded with the key for the contrast)",
    }
    inputs = [counts_path, st.resolve(rp["samples"]), Path(ctx.layout.key)]
    result = run_de(counts, samples, rp["design"], [contrast], shrink=True, n_cpus=n_cpus)
    out = st.results_dir / "rnaseq"
    prov = {
        "command": "rnaseq de",
        "parameters": params,
        "inputs": {str(p): sha256_file(p) for p in inputs},
        "versions": package_versions(),
    }
    write_de_outputs(result, counts, samples, out, provenance=prov, color_by="group")
    table = result.results[contrast.id]
    ranked = rank_channels(table)
    write_table(ranked, out / "channels.csv")
    label = pd.Series(ranked["symbol"].to_numpy(), index=ranked["gene"].to_numpy())
    fig = plots.volcano(table, highlight=label)
    write_with(out / "volcano_channels.pdf", lambda p: fig.savefig(p, format="pdf"))
    with open_session(st.catalog_path, command="rnaseq de", parameters=params) as ses:
        ses.record_inputs(inputs)
        ses.write_table("rnaseq_de_results", long_results(result), replace_on=["contrast"])
        ses.write_table(
            "rnaseq_channels", ranked.assign(contrast=contrast.id), replace_on=["contrast"]
        )
    n_sig = int((table["padj"] < 0.05).sum())
    top = ranked.iloc[0] if len(ranked) else None
    top_txt = f"; top channel {top['symbol']} (padj {top['padj']:.2g})" if top is not None else ""
    return f"{len(counts)} genes, {len(samples)} samples, {n_sig} at padj < 0.05{top_txt}"


def unblinded_sample_sheet(layout) -> pd.DataFrame:
    """RNA-seq sample sheet with the true ``group`` joined from the key (the contrast needs it)."""
    from fmslab.study import unblind
    from fmslab.study.blinding import read_unblinding

    sheet = pd.read_csv(layout.study / "rnaseq" / "samples.csv")
    return unblind(sheet, read_unblinding(layout.key))


# --------------------------------------------------------------------------------------------
# 5. comparisons (the only place the key is joined to the catalog tables)
# --------------------------------------------------------------------------------------------

#: (catalog table, outcomes, levels top down, row filter) compared patient vs control.
COMPARISONS: list[tuple[str, list[str], list[str], str | None]] = [
    (
        "ephys_cells",
        ["rheobase_pA", "rmp_mV", "firing_pattern=tonic"],
        ["donor_id", "mouse_id"],
        "qc_pass == True",
    ),
    # the unit under study of each recording (the background unit is always the same class);
    # planted: nociceptors more sensitive (lower threshold, steeper stimulus-response); CV not
    (
        "skinnerve_units",
        ["mech_threshold", "sr_slope_spikes_per_unit", "spont_rate_hz", "cv_m_s"],
        ["donor_id", "mouse_id"],
        "is_unit_under_study == True",
    ),
    # von Frey per mouse: mean post-baseline threshold, % of the mouse's baseline
    ("behaviour_mouse", ["mean_post_pct"], ["donor_id"], "assay == 'vonfrey'"),
]
#: The von Frey time course at the peak of the planted effect (day 5), one row per mouse.
PEAK_DAY_COMPARISON = ("behaviour_mouse_day", ["value"], ["donor_id"], "assay == 'vonfrey'")


def unblind_table(
    ctx: StepContext, table: str, levels: list[str], where: str | None
) -> pd.DataFrame:
    """A catalog table with the true group (key joined on the treatment code) and hierarchy."""
    from fmslab.catalog import connect, read_table
    from fmslab.compare import Hierarchy, prepare_table
    from fmslab.study.blinding import read_unblinding

    st = ctx.study()
    with connect(st.catalog_path, read_only=True) as con:
        df = read_table(con, table)
    if where:
        df = df.query(where)
    # a blind analysis may carry codes in a `group` column: the key gives the true group here
    df = df.drop(columns=[c for c in ("group", "donor_id") if c in df.columns])
    hierarchy = Hierarchy(group="group", levels=tuple(levels))
    key = read_unblinding(ctx.layout.key)
    return prepare_table(df, hierarchy=hierarchy, mice=st.mice, key=key, source=f"catalog:{table}")


def _distinct_levels(data: pd.DataFrame, levels: list[str]) -> list[str]:
    """Drop a level that is one-to-one with the level above (e.g. one mouse per donor in the
    small demo): its variance cannot be told from the upper one and the mixed model is singular.
    """
    kept = [levels[0]]
    for lower in levels[1:]:
        if data.groupby(kept[-1])[lower].nunique().max() > 1:
            kept.append(lower)
        else:
            log.info("compare: '%s' is one-to-one with '%s': level dropped", lower, kept[-1])
    return kept


def compare_table(
    ctx: StepContext,
    table: str,
    outcomes: list[str],
    levels: list[str],
    where: str | None,
    *,
    n_boot: int = 1000,
    name: str | None = None,
) -> pd.DataFrame:
    """``fmslab compare TABLE --study``: unblind one catalog table and compare FMS vs HC."""
    from fmslab.atomic import write_json, write_table
    from fmslab.catalog import open_session
    from fmslab.compare import Hierarchy, compare_outcomes
    from fmslab.compare.io import file_hashes
    from fmslab.provenance import RunRecord

    st = ctx.study()
    data = unblind_table(ctx, table, levels, where)
    all_levels, levels = levels, _distinct_levels(data, levels)
    present = {o.split("=")[0] for o in outcomes}
    missing = sorted(present - set(data.columns))
    if missing:
        raise InputError(f"catalog table {table} has no column(s) {missing}")
    hierarchy = Hierarchy(group="group", levels=tuple(levels))
    stats = compare_outcomes(
        data, outcomes, hierarchy=hierarchy, reference="HC", n_resamples=n_boot, seed=0,
        source=f"catalog:{table}",
    )  # fmt: skip
    stats.insert(0, "source", f"catalog:{table}")
    out = st.results_dir / "compare" / (name or table)
    ids = ("treatment_code", "cell_id", "unit_id", "sample_id", "day", "file")
    cols = [c for c in ("group", *all_levels, *ids) if c in data.columns]
    cols += [c for c in data.columns if c not in cols and c.split("=")[0] in present]
    write_table(data[cols], out / "data.csv")
    write_table(stats, out / "stats.csv")
    params = {"table": table, "outcomes": outcomes, "levels": levels, "where": where,
              "n_boot": n_boot, "reference": "HC", "via": "fmslab demo"}  # fmt: skip
    run = RunRecord(command="compare", parameters=params)
    inputs = [Path(ctx.layout.key), *[p for p in st.sheet_paths.values() if p.is_file()]]
    with open_session(st.catalog_path, command="compare", parameters=params) as cat:
        cat.record_inputs(inputs)
        cat.write_table("compare_stats", stats, replace_on=["source", "outcome"])
        run = cat.run
    run.finish("ok")
    write_json(
        out / "provenance.json",
        {**run.to_dict(), "inputs_sha256": file_hashes(inputs), "source": f"catalog:{table}"},
    )
    return stats


def step_compare(ctx: StepContext) -> str:
    """Patient vs control on every analysed table; a table that fails does not stop the others."""
    from fmslab.atomic import write_table

    jobs = [(t, o, lv, w, None) for t, o, lv, w in COMPARISONS]
    for day in (5,):
        t, o, lv, w = PEAK_DAY_COMPARISON
        jobs.append((t, o, lv, f"{w} and day == {day}", f"behaviour_vonfrey_day{day}"))
    done, failed = [], []
    for table, outcomes, levels, where, name in jobs:
        try:
            stats = compare_table(ctx, table, outcomes, levels, where, name=name)
        except Exception as exc:  # noqa: BLE001 - reported per table, the others still run
            log.error("compare %s failed: %s", name or table, exc)
            log.debug("%s", traceback.format_exc())
            failed.append(f"{name or table}: {type(exc).__name__}: {exc}")
            continue
        for row in stats[stats["primary"]].itertuples():
            done.append(f"{row.outcome} {row.estimate:+.3g} (p={row.p:.2g})")
    try:  # the unblinded von Frey time course, for the figure
        t, _o, lv, w = PEAK_DAY_COMPARISON
        course = unblind_table(ctx, t, lv + ["mouse_id"], w)
        write_table(course, ctx.study().results_dir / "compare" / "behaviour_time_course.csv")
    except Exception as exc:  # noqa: BLE001
        failed.append(f"behaviour time course: {type(exc).__name__}: {exc}")
    if failed:
        raise StepFailed("; ".join(failed) + (f" [done: {', '.join(done)}]" if done else ""))
    return "; ".join(done)


# --------------------------------------------------------------------------------------------
# 6. figures
# --------------------------------------------------------------------------------------------


def step_figures(ctx: StepContext) -> str:
    """``fmslab figures build`` of the demo's figures.yaml into STUDY/results/figures/."""
    from fmslab.atomic import write_text
    from fmslab.figures.build import build_figures

    fig_dir = ctx.study().results_dir / "figures"
    spec = fig_dir / "figures.yaml"
    if not spec.is_file():
        write_text(spec, DEFAULT_FIGURES_YAML)
    build_figures(spec, out=fig_dir, study=ctx.study_root)
    return f"{spec} -> {len(list(fig_dir.glob('*.pdf')))} PDF figure(s)"


# --------------------------------------------------------------------------------------------
# 7. report
# --------------------------------------------------------------------------------------------


def step_report(ctx: StepContext) -> str:
    """``fmslab report STUDY``: the static HTML report of everything above."""
    from fmslab.report import build_report

    res = build_report(ctx.study_root)
    page = getattr(res, "index", None) or ctx.study().results_dir / "report" / "index.html"
    return str(page)


STEPS: list[tuple[str, Callable[[StepContext], str]]] = [
    ("ephys", step_ephys),
    ("behaviour", step_behaviour),
    ("skinnerve", step_skinnerve),
    ("rnaseq", step_rnaseq),
    ("compare", step_compare),
    ("figures", step_figures),
    ("report", step_report),
]


def run_steps(
    steps: list[tuple[str, Callable[[StepContext], str]]],
    ctx: StepContext,
    *,
    announce: Callable[[str], None] | None = None,
) -> list[StepOutcome]:
    """Run ``steps`` in order; record each outcome (never stop at a failure); return them."""
    from fmslab.atomic import write_json, write_table

    say = announce or log.info
    outcomes: list[StepOutcome] = []
    for i, (name, func) in enumerate(steps, 1):
        say(f"[{i}/{len(steps)}] {name} ...")
        t0 = time.perf_counter()
        try:
            summary = func(ctx)
            oc = StepOutcome(name, True, time.perf_counter() - t0, summary=summary or "")
            say(f"[{i}/{len(steps)}] {name}: ok in {oc.seconds:.1f} s - {oc.summary}")
        except Exception as exc:  # noqa: BLE001 - a failed step is reported, the demo goes on
            log.debug("%s", traceback.format_exc())
            oc = StepOutcome(
                name, False, time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}"
            )
            say(f"[{i}/{len(steps)}] {name}: FAILED after {oc.seconds:.1f} s - {oc.error}")
        outcomes.append(oc)
        # recorded after every step, so the record survives a crash of a later one
        rows = pd.DataFrame([dataclasses.asdict(o) for o in outcomes]).drop(columns="details")
        results = ctx.study_root / "results"
        write_table(rows, results / "demo_steps.csv")
        write_json(results / "demo_steps.json", {"steps": rows.to_dict(orient="records")})
    return outcomes
