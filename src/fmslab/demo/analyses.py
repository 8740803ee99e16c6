"""The full analysis of a demo study: every modality, the comparisons, the figures, the report.

Each step is a plain function ``step(ctx) -> str`` (a one-line summary) that calls the modality's
entry point (``fmslab.<modality>.run``, the same function its ``--study`` command calls), which
writes the outputs to ``STUDY/results/<modality>/`` and the tables to the study catalog
(``STUDY/results/fmslab.duckdb``).
:func:`run_steps` runs them in order; a failing step is logged with its traceback, recorded in
``STUDY/results/demo_steps.csv`` and ``demo_steps.json``, and the next steps still run.

Blinding: the modality steps see only treatment codes (behaviour is run without the key); the
unblinding key (``OUT/keys/unblinding.csv``) is joined in the ``compare`` step (and for the
RNA-seq design, whose contrast is patient vs control: ``STUDY/results/rnaseq/samples_unblinded.csv``).
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
          order: [HC, FMS], stats: ../compare/ephys_cells/stats.csv}
      b: {type: estimation, table: ../compare/ephys_cells/data.csv, value: rheobase_pA,
          reference: HC}
  - name: figure_behaviour_rnaseq
    width: double
    height_mm: 70
    layout: ["ab"]
    panels:
      a: {type: time_course, table: ../compare/behaviour_time_course.csv, x: day,
          value: value}
      b: {type: volcano, table: ../rnaseq/de_results.csv, label: gene,
          highlight_table: ../rnaseq/channels.csv}
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
# 1-4. the modalities: each step is the modality's entry point on the study
# --------------------------------------------------------------------------------------------


def step_ephys(ctx: StepContext) -> str:
    """:func:`fmslab.ephys.run` on the study (``fmslab ephys analyze --study``)."""
    from fmslab.ephys import run

    done = run(study=ctx.study_root, n_jobs=ctx.n_jobs, progress=ctx.progress)
    cells = done.result.cells
    n_pass = int(cells["qc_pass"].astype(bool).sum()) if "qc_pass" in cells else 0
    return (
        f"{len(done.files)} files: {len(cells)} cells ({n_pass} pass QC), "
        f"{len(done.result.errors)} refused (errors.csv)"
    )


def step_behaviour(ctx: StepContext) -> str:
    """:func:`fmslab.behaviour.run` on the study, blind (groups are treatment codes)."""
    from fmslab.behaviour import run

    done = run(study=ctx.study_root, blind=True, progress=ctx.progress)
    result = done.result
    return (
        f"{len(result.trials)} trials, {len(result.vonfrey)} von Frey tests, "
        f"{result.mice['mouse_id'].nunique()} mice; {len(result.errors)} problem(s)"
    )


def step_skinnerve(ctx: StepContext) -> str:
    """:func:`fmslab.skinnerve.run` on the study (channel map beside each recording)."""
    from fmslab.skinnerve import run

    done = run(study=ctx.study_root, n_jobs=ctx.n_jobs, progress=ctx.progress)
    if len(done.errors):
        raise StepFailed(
            f"{len(done.errors)} of {len(done.files)} skin-nerve file(s) failed (errors.csv)"
        )
    return f"{len(done.files)} recordings, {len(done.units)} units"


def step_rnaseq(ctx: StepContext) -> str:
    """:func:`fmslab.rnaseq.run` with the design/contrast of study.yaml (sample sheet unblinded
    for the patient-vs-control contrast), then :func:`fmslab.rnaseq.run_channels`."""
    from fmslab.pipeline.steps import unblinded_samples
    from fmslab.rnaseq import run, run_channels

    st = ctx.study()
    rp = (st.config.get("parameters") or {}).get("rnaseq") or {}
    for k in ("counts", "samples", "design", "contrast"):
        if k not in rp:
            raise InputError(f"study.yaml parameters.rnaseq lacks '{k}'", file=st.root)
    out = st.results_dir / "rnaseq"
    samples = out / "samples_unblinded.csv"
    unblinded_samples(st.resolve(rp["samples"]), ctx.layout.key, samples)
    done = run(
        st.resolve(rp["counts"]),
        samples,
        rp["design"],
        [",".join(map(str, rp["contrast"]))],
        out=out,
        n_cpus=ctx.n_jobs or os.cpu_count() or 1,
        color_by="group",
        study=ctx.study_root,
    )
    ranked = run_channels(out, study=ctx.study_root).ranked
    ((cid, n_sig),) = done.n_significant.items()
    table = done.result.results[cid]
    top = ranked[cid].iloc[0] if len(ranked[cid]) else None
    top_txt = f"; top channel {top['symbol']} (padj {top['padj']:.2g})" if top is not None else ""
    return f"{len(table)} genes, {done.result.size_factors.size} samples, {n_sig} at padj < 0.05{top_txt}"


# --------------------------------------------------------------------------------------------
# 5. comparisons (the only place the key is joined to the catalog tables)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One patient-vs-control comparison of the demo: a catalog table's ``outcomes`` with the
    nesting ``levels`` (top down), a row filter and the output folder's ``name``."""

    table: str
    outcomes: tuple[str, ...]
    levels: tuple[str, ...]
    where: str | None
    name: str


COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "ephys_cells",
        ("rheobase_pA", "rmp_mV", "firing_pattern=tonic"),
        ("donor_id", "mouse_id"),
        "qc_pass == True",
        "ephys_cells",
    ),
    # the unit under study of each recording (the background unit is always the same class);
    # planted: nociceptors more sensitive (lower threshold, steeper stimulus-response); CV not
    Comparison(
        "skinnerve_units",
        ("mech_threshold", "sr_slope_spikes_per_unit", "spont_rate_hz", "cv_m_s"),
        ("donor_id", "mouse_id"),
        "is_unit_under_study == True",
        "skinnerve_units",
    ),
    # von Frey per mouse: mean post-baseline threshold, % of the mouse's baseline
    Comparison(
        "behaviour_mouse", ("mean_post_pct",), ("donor_id",), "assay == 'vonfrey'",
        "behaviour_mouse",
    ),
    # the von Frey time course at the peak of the planted effect (day 5), one row per mouse
    Comparison(
        "behaviour_mouse_day", ("value",), ("donor_id",), "assay == 'vonfrey' and day == 5",
        "behaviour_vonfrey_day5",
    ),
)  # fmt: skip
#: The unblinded von Frey time course (every day, one row per mouse), for the figure.
TIME_COURSE = Comparison(
    "behaviour_mouse_day",
    ("value",),
    ("donor_id", "mouse_id"),
    "assay == 'vonfrey'",
    "behaviour_time_course",
)


def step_compare(ctx: StepContext) -> str:
    """:func:`fmslab.compare.run` on every analysed table (FMS vs HC, key from the demo's keys
    folder); a table that fails does not stop the others."""
    from fmslab.atomic import write_table
    from fmslab.compare import load_comparison_data, run

    results = ctx.study().results_dir / "compare"
    done, failed = [], []
    for job in COMPARISONS:
        try:
            res = run(
                job.table,
                list(job.outcomes),
                out=results / job.name,
                study=ctx.study_root,
                unblinding=ctx.layout.key,
                levels=list(job.levels),
                where=job.where,
                reference="HC",
                n_boot=1000,
                drop_redundant_levels=True,
            )
        except Exception as exc:  # noqa: BLE001 - reported per table, the others still run
            log.error("compare %s failed: %s", job.name, exc)
            log.debug("%s", traceback.format_exc())
            failed.append(f"{job.name}: {type(exc).__name__}: {exc}")
            continue
        for row in res.primary.itertuples():
            done.append(f"{row.outcome} {row.estimate:+.3g} (p={row.p:.2g})")
    try:  # the unblinded von Frey time course, for the figure
        tc = TIME_COURSE
        course = load_comparison_data(
            tc.table,
            study=ctx.study_root,
            unblinding=ctx.layout.key,
            levels=list(tc.levels),
            where=tc.where,
        )
        write_table(course.data, results / f"{tc.name}.csv")
    except Exception as exc:  # noqa: BLE001
        failed.append(f"behaviour time course: {type(exc).__name__}: {exc}")
    if failed:
        raise StepFailed("; ".join(failed) + (f" [done: {', '.join(done)}]" if done else ""))
    return "; ".join(done)


# --------------------------------------------------------------------------------------------
# 6. figures
# --------------------------------------------------------------------------------------------


def _figures_yaml(ctx: StepContext) -> str:
    """The default spec; with more than two groups (``--design comorbid``) the study's group
    order and a forest plot of the planned contrasts replace the two-group estimation plot."""
    groups = ctx.study().config.get("groups") or []
    groups = groups.get("order") or [] if isinstance(groups, dict) else groups
    if len(groups) <= 2:
        return DEFAULT_FIGURES_YAML
    two = """      a: {type: superplot, table: ../compare/ephys_cells/data.csv, value: rheobase_pA,
          order: [HC, FMS], stats: ../compare/ephys_cells/stats.csv}
      b: {type: estimation, table: ../compare/ephys_cells/data.csv, value: rheobase_pA,
          reference: HC}
"""
    k = """      a: {type: superplot, table: ../compare/ephys_cells/data.csv, value: rheobase_pA}
      b: {type: forest, table: ../compare/ephys_cells/stats.csv, outcomes: [rheobase_pA]}
"""
    return DEFAULT_FIGURES_YAML.replace(two, k)


def step_figures(ctx: StepContext) -> str:
    """``fmslab figures build`` of the demo's figures.yaml into STUDY/results/figures/."""
    from fmslab.atomic import write_text
    from fmslab.figures.build import build_figures

    fig_dir = ctx.study().results_dir / "figures"
    spec = fig_dir / "figures.yaml"
    if not spec.is_file():
        write_text(spec, _figures_yaml(ctx))
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
