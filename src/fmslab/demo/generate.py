"""Write a complete demo study folder with its unblinding key and ground truth.

Layout of ``OUT``::

    OUT/study/                 the study (what a lab would have): study.yaml, donors.csv (group
                               'blinded'), mice.csv (blinded treatment_code), recordings.csv,
                               ephys/DATE/*.abf, behaviour/*.csv (+ filaments.csv),
                               skinnerve/DATE/*.csv + *.yaml, rnaseq/counts/*.tsv,
                               rnaseq/counts.csv, rnaseq/samples.csv
    OUT/keys/unblinding.csv    treatment_code -> group, donor_id (outside the study; study.yaml
                               points to it as ../keys/unblinding.csv)
    OUT/ground_truth/          the planted truths (see docs/demo.md)
    OUT/provenance.json        generator parameters, fmslab and package versions, file hashes

Every file is a pure function of the configuration (no clocks, no unseeded randomness), so the
same seed gives byte-identical files.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

import fmslab
from fmslab.atomic import write_bytes, write_json
from fmslab.demo.analyses import STEPS, StepContext, StepOutcome, run_steps
from fmslab.demo.behaviour import FILAMENT_SET, generate_behaviour
from fmslab.demo.clinical import SCORES as CLINICAL_SCORES
from fmslab.demo.clinical import rule_description
from fmslab.demo.design import (
    COMORBID_CONTRASTS,
    DOSE_MG,
    INJECTION_DAYS,
    TISSUE_DAY,
    DemoConfig,
    build_design,
    date_of_birth,
)
from fmslab.demo.ephys import generate_ephys
from fmslab.demo.rnaseq import PLANTED_CHANNEL, generate_rnaseq
from fmslab.demo.skinnerve import generate_skinnerve
from fmslab.errors import InputError
from fmslab.provenance import package_versions, sha256_file

log = logging.getLogger(__name__)

STUDY_DIR, KEYS_DIR, TRUTH_DIR = "study", "keys", "ground_truth"


@dataclass(frozen=True)
class DemoLayout:
    """Where the parts of a generated demo live."""

    out: Path

    @property
    def study(self) -> Path:
        return self.out / STUDY_DIR

    @property
    def key(self) -> Path:
        return self.out / KEYS_DIR / "unblinding.csv"

    @property
    def truth(self) -> Path:
        return self.out / TRUTH_DIR

    @property
    def analysis(self) -> Path:
        """Where :func:`run_demo_analyses` puts per-modality results."""
        return self.out / "analysis"


@dataclass
class DemoResult:
    layout: DemoLayout
    config: DemoConfig
    files: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _csv_bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n", float_format="%.6g")
    return buf.getvalue().encode()


def _prepare_out(out: Path) -> None:
    """Refuse a non-empty folder that is not a demo; clear the parts of an earlier demo."""
    if not out.exists() or not any(out.iterdir()):
        return
    marker = out / "provenance.json"
    try:
        is_demo = json.loads(marker.read_text()).get("generator") == "fmslab demo"
    except (OSError, ValueError):
        is_demo = False
    if not is_demo:
        raise InputError(
            "output folder exists, is not empty and is not an fmslab demo; choose another", file=out
        )
    for part in (STUDY_DIR, KEYS_DIR, TRUTH_DIR):
        if (out / part).exists():
            shutil.rmtree(out / part)


def generate_demo(
    out: str | Path,
    cfg: DemoConfig | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Simulate and write the demo study (see module docstring). Returns what was written.

    Re-running into an existing demo folder replaces its study, key and truth; any other
    non-empty folder is refused (never write over someone's data).
    """
    cfg = cfg or DemoConfig()
    layout = DemoLayout(Path(out).resolve())
    _prepare_out(layout.out)
    say = progress or (lambda msg: log.info(msg))
    result = DemoResult(layout=layout, config=cfg)

    def put(rel_root: Path, rel: str, content: bytes) -> None:
        path = rel_root / rel
        write_bytes(path, content)
        result.files.append(path)

    study = layout.study
    design = build_design(cfg)
    mods = set(cfg.modalities)
    ephys = behaviour = skin = rna = None
    if "ephys" in mods:
        say("current clamp: simulating the conductance model")
        ephys = generate_ephys(design, cfg, sink=lambda rel, content: put(study, rel, content))
    if "behaviour" in mods:
        say("behaviour: walking the up-down rule")
        behaviour = generate_behaviour(design, cfg)
    if "skinnerve" in mods:
        say("skin-nerve: single-afferent recordings")
        skin = generate_skinnerve(design, cfg, sink=lambda rel, content: put(study, rel, content))
    if "rnaseq" in mods:
        say("RNA-seq: negative binomial counts")
        rna = generate_rnaseq(design, cfg)

    if rna is not None:
        for rel, content in rna.files.items():
            put(study, rel, content)
    if behaviour is not None:
        for rel, sheet in behaviour.sheets.items():
            put(study, rel, _csv_bytes(sheet))
        put(study, "behaviour/filaments.csv", _csv_bytes(behaviour.filaments))

    donors = design.donors.assign(group="blinded")[
        ["donor_id", "group", "igg_batch", "sex", "age", *CLINICAL_SCORES]
    ]
    mice = design.mice.assign(
        strain="C57BL/6J",
        dose_mg=DOSE_MG,
        injection_days=INJECTION_DAYS,
        date_of_birth=[date_of_birth(i) for i in range(len(design.mice))],
    )
    mice = mice[
        [
            "mouse_id",
            "sex",
            "strain",
            "treatment_code",
            "dose_mg",
            "injection_days",
            "cohort",
            "date_of_birth",
        ]
    ]
    recordings = pd.concat(
        [m.recordings for m in (ephys, behaviour, skin, rna) if m is not None], ignore_index=True
    )
    recordings = recordings.reindex(
        columns=["path", "modality", "mouse_id", "cell_id", "unit_id", "sample_id", "date",
                 "protocol"]
    )  # fmt: skip
    put(study, "donors.csv", _csv_bytes(donors))
    put(study, "mice.csv", _csv_bytes(mice))
    put(study, "recordings.csv", _csv_bytes(recordings))
    config = {
        "name": f"fmslab demo study (seed {cfg.seed})",
        "description": (
            "SIMULATED passive-transfer study generated by `fmslab demo`: patient (FMS) and "
            "control (HC) IgG donors under blinded treatment codes, behaviour and tissue cohorts "
            "of mice, DRG current clamp (ABF), skin-nerve single afferents (CSV), von Frey and "
            "Hargreaves sheets and DRG RNA-seq counts, with the planted truths in "
            "../ground_truth/. Not real data."
        ),
        "sheets": {"donors": "donors.csv", "mice": "mice.csv", "recordings": "recordings.csv"},
        "unblinding": f"../{KEYS_DIR}/unblinding.csv",
        "parameters": {
            "behaviour": {
                "filaments": "behaviour/filaments.csv",
                "filament_set": FILAMENT_SET,
                "baseline_day": 0,
            },
            "rnaseq": {
                "counts": "rnaseq/counts.csv",
                "samples": "rnaseq/samples.csv",
                "design": "~ batch + sex + group",
                "contrast": ["group", "FMS", "HC"],
            },
            # skin-nerve: no parameters (`fmslab skinnerve analyze --study` validates this block as
            # analysis parameters); the channel map is the <recording>.yaml beside each CSV
            "tissue_day": TISSUE_DAY,
            # `fmslab export` (docs/export.md): the session metadata of the NWB files; a
            # description without group labels (the study's own names them)
            "export": {
                "lab": "fmslab demo (simulated data)",
                "institution": "none (simulated study)",
                "keywords": ["IgG passive transfer", "chronic pain", "simulated data"],
                "description": (
                    "SIMULATED passive-transfer study generated by `fmslab demo`: IgG of donors "
                    "under blinded treatment codes injected into mice; DRG current clamp, "
                    "skin-nerve afferents, behaviour and DRG RNA-seq. Not real data."
                ),
            },
        },
    }
    if cfg.design == "comorbid":  # k groups: their order and the planned contrasts
        config["description"] += (
            " Comorbid design: FMS, RA_FMS (rheumatoid arthritis with FMS) and RA_noFMS (without)"
            " donors besides HC; FMS and RA_FMS IgG carry the planted effects, RA_noFMS IgG not."
        )
        config["groups"] = {"order": list(cfg.groups)}
        config["contrasts"] = [dict(c) for c in COMORBID_CONTRASTS]
    if behaviour is None:
        del config["parameters"]["behaviour"]
    if rna is None:
        del config["parameters"]["rnaseq"]
    put(study, "study.yaml", yaml.safe_dump(config, sort_keys=False).encode())

    key = design.donors[["treatment_code", "group", "donor_id"]].sort_values("treatment_code")
    put(layout.out, f"{KEYS_DIR}/unblinding.csv", _csv_bytes(key))

    truth = layout.out
    t = TRUTH_DIR
    put(truth, f"{t}/donors.csv", _csv_bytes(design.donors))
    put(truth, f"{t}/mice.csv", _csv_bytes(design.mice))
    if ephys is not None:
        put(truth, f"{t}/ephys_cells.csv", _csv_bytes(ephys.cells))
        put(truth, f"{t}/ephys_sweeps.csv", _csv_bytes(ephys.sweeps))
    if behaviour is not None:
        put(truth, f"{t}/behaviour_thresholds.csv", _csv_bytes(behaviour.thresholds))
    if skin is not None:
        put(truth, f"{t}/skinnerve_units.csv", _csv_bytes(skin.units))
        put(truth, f"{t}/skinnerve_spikes.csv", _csv_bytes(skin.spikes))
        put(truth, f"{t}/skinnerve_responses.csv", _csv_bytes(skin.responses))
    if rna is not None:
        put(truth, f"{t}/rnaseq_genes.csv", _csv_bytes(rna.genes))
        put(truth, f"{t}/rnaseq_planted_de.csv", _csv_bytes(rna.genes[rna.genes["planted"]]))
        put(truth, f"{t}/rnaseq_samples.csv", _csv_bytes(rna.samples))
    rule = rule_description(cfg.clinical_signal, cfg.nontransfer_fraction)
    put(truth, f"{t}/clinical_rule.json", (json.dumps(rule, indent=2) + "\n").encode())
    summary = {
        "config": cfg.to_dict(),
        "groups": {"patient": "FMS", "control": "HC"}
        if cfg.design == "two_group"
        else {"all": list(cfg.groups), "transfer": list(cfg.transfer_groups), "control": "HC"},
        "planted": {
            "ephys": "patient IgG scales Kdr and M-type K conductances by exp(-0.35 * donor "
            "potency): lower rheobase",
            "behaviour": "von Frey 50% threshold lowered by 0.45 log10 units * potency at the "
            "peak (day 4), recovering by day 21; Hargreaves: no effect (negative control)",
            "skinnerve": "nociceptors: mechanical gain x(1 + 0.6 potency), lower mechanical "
            "threshold; C-MC: cold threshold +3 degC * potency, cold gain x(1 + 0.5 potency)",
            "rnaseq": f"{PLANTED_CHANNEL} log2FC +1 (2x) in every patient-IgG mouse; "
            "20 filler genes with other fold changes",
        },
        "clinical": "donor clinical scores (FIQR, pain_score, wpi, sss, tender_points) relate "
        f"to the potency with correlation r = {cfg.clinical_signal:g} within the patient donors "
        "(clinical_rule.json); donors.csv `transfers`: the planted transferrers",
    }
    if ephys is not None:
        summary["ephys_mean_true_rheobase_pA"] = (
            ephys.cells[ephys.cells["qc_truth"] == "ok"]
            .groupby("group")["true_rheobase_pA"]
            .mean()
            .round(2)
            .to_dict()
        )
    write_json(layout.truth / "truth.json", summary)
    result.files.append(layout.truth / "truth.json")

    hashes = {str(p.relative_to(layout.out)): sha256_file(p) for p in sorted(result.files)}
    write_json(
        layout.out / "provenance.json",
        {
            "generator": "fmslab demo",
            "fmslab_version": fmslab.__version__,
            "config": cfg.to_dict(),
            "versions": package_versions(),
            "files": hashes,
        },
    )
    result.counts = {
        "ephys_files": len(ephys.recordings) if ephys else 0,
        "behaviour_sheets": len(behaviour.sheets) if behaviour else 0,
        "skinnerve_recordings": len(skin.recordings) if skin else 0,
        "rnaseq_samples": len(rna.recordings) if rna else 0,
        "donors": len(design.donors),
        "mice": len(design.mice),
    }
    return result


# ---------------------------------------------------------------------------------------------
# The full analysis of the generated study (fmslab.demo.analyses)
# ---------------------------------------------------------------------------------------------

#: Analysis steps, run in order by :func:`run_demo_analyses`: ``(name, step(ctx) -> summary)``
#: with ``ctx`` a :class:`fmslab.demo.analyses.StepContext`. ephys, behaviour, skinnerve,
#: rnaseq, compare, figures, report (see docs/demo.md).
ANALYSIS_STEPS: list[tuple[str, Callable[[StepContext], str]]] = list(STEPS)


def run_demo_analyses(
    layout: DemoLayout,
    *,
    progress: bool = False,
    announce: Callable[[str], None] | None = None,
    n_jobs: int | None = None,
    steps: list[str] | None = None,
) -> list[StepOutcome]:
    """Run every analysis step on the generated study; a failing step does not stop the others.

    Returns one :class:`~fmslab.demo.analyses.StepOutcome` per step (``ok``, ``seconds``,
    ``summary`` or ``error``); they are also written to ``STUDY/results/demo_steps.csv``.
    ``steps`` selects steps by name (default: all).
    """
    chosen = [(n, f) for n, f in ANALYSIS_STEPS if steps is None or n in steps]
    ctx = StepContext(layout=layout, progress=progress, n_jobs=n_jobs)
    return run_steps(chosen, ctx, announce=announce)
