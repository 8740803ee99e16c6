"""The donor-level flow behind ``fmslab donors STUDY --out DIR``.

Each outcome table of the study catalog (written by the modality analyses, blinded) is read and
unblinded by :func:`fmslab.compare.load_comparison_data` (the same reading step as
``fmslab compare``: the study's unblinding key and its ``qc_overrides``), the per-donor effects
(:mod:`fmslab.donors.effects`) and responder calls (:mod:`fmslab.donors.responders`) are computed
for every outcome, and the donor profile and concordance (:mod:`fmslab.donors.profile`) joined.
Tables go to ``out`` (written atomically, with ``provenance.json``) and ``donor_effects`` to the
study catalog. Donor ids are the study's pseudonymised ``donor_id`` (never names).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fmslab.errors import FmslabError, InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutcomeSet:
    """Outcomes of one catalog table for the donor analysis: ``mouse`` the level below the donor
    (None: one row per donor), ``where`` a row filter (pandas query; None: every row)."""

    table: str
    outcomes: tuple[str, ...]
    mouse: str | None = None
    where: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "outcomes": list(self.outcomes)}


#: The outcomes the comparisons use.
DEFAULT_JOBS: tuple[OutcomeSet, ...] = (
    OutcomeSet("ephys_cells", ("rheobase_pA", "rmp_mV"), "mouse_id", "qc_pass == True"),
    OutcomeSet(
        "skinnerve_units",
        ("mech_threshold", "sr_slope_spikes_per_unit", "spont_rate_hz"),
        "mouse_id",
        "is_unit_under_study == True",
    ),
    OutcomeSet("behaviour_mouse", ("mean_post_pct",), None, "assay == 'vonfrey'"),
)


@dataclass(frozen=True)
class DonorsRun:
    """What :func:`run` produced: per-donor effects with calls, the profile, the concordance,
    the tables or outcomes skipped (with the reason) and the output folder."""

    effects: pd.DataFrame
    profile: pd.DataFrame
    concordance: pd.DataFrame
    clinical: pd.DataFrame
    prediction: pd.DataFrame
    skipped: list[str]
    out: Path


def run(
    study: str | Path,
    *,
    out: str | Path,
    jobs: Sequence[OutcomeSet] | None = None,
    unblinding: str | Path | None = None,
    reference: str | None = None,
    confidence: float = 0.95,
    alpha: float = 0.05,
    mic: dict[str, float] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    figure: bool = True,
) -> DonorsRun:
    """Per-donor effects, responder calls and the donor profile of a study.

    Parameters
    ----------
    study
        Study folder (catalog tables from the analyses, unblinding key, mice sheet).
    out
        Output folder: ``donor_effects.csv``, ``donor_profile.csv``, ``donor_concordance.csv``,
        ``donor_clinical.csv``, ``donor_prediction.csv``, ``donor_heatmap.png``,
        ``donor_cards/DONOR.png`` (one page per donor) and ``provenance.json``.
    jobs
        The tables and outcomes (:class:`OutcomeSet`); default :data:`DEFAULT_JOBS`.
        A table absent from the catalog is skipped with a warning.
    unblinding
        Unblinding key (default: the study's).
    reference
        Control-IgG group (default: HC/control/vehicle... as ``compare`` chooses).
    confidence
        Level of the prediction intervals and bootstrap CIs.
    alpha, mic
        Responder rule (:func:`fmslab.donors.responders.call_responders`).
    n_boot, seed
        Hierarchical bootstrap of the unshrunken effects.
    figure
        Write the donors x outcomes heat map and one card per donor.

    Returns
    -------
    DonorsRun
    """
    from fmslab.atomic import write_json, write_table
    from fmslab.compare import load_comparison_data
    from fmslab.compare.design import default_reference
    from fmslab.compare.io import file_hashes
    from fmslab.donors.effects import donor_effects
    from fmslab.donors.profile import concordance, donor_profile
    from fmslab.donors.responders import call_responders
    from fmslab.figures.vocabulary import unit_of
    from fmslab.provenance import RunRecord

    study = Path(study)
    out = Path(out)
    parts, skipped, inputs = [], [], []
    catalog_path = None
    for job in jobs or DEFAULT_JOBS:
        table, outcomes, mouse, where = job.table, job.outcomes, job.mouse, job.where
        levels = ["donor_id"] + ([mouse] if mouse else [])
        try:
            prepared = load_comparison_data(
                table, study=study, unblinding=unblinding, levels=levels, where=where
            )
        except FmslabError as exc:
            skipped.append(f"{table}: {exc}")
            log.warning("donors: %s skipped: %s", table, exc)
            continue
        catalog_path = prepared.catalog_path or catalog_path
        inputs += [p for p in prepared.input_files if p not in inputs]
        data = prepared.data
        ref = reference or default_reference(sorted(data["group"].dropna().astype(str).unique()))
        for outcome in outcomes:
            if outcome not in data.columns:
                skipped.append(f"{table}.{outcome}: not a column")
                continue
            try:
                eff = donor_effects(
                    data,
                    outcome,
                    reference=ref,
                    mouse=mouse,
                    confidence=confidence,
                    n_boot=n_boot,
                    seed=seed,
                )
            except InputError as exc:
                skipped.append(f"{table}.{outcome}: {exc}")
                log.warning("donors: %s.%s skipped: %s", table, outcome, exc)
                continue
            parts.append(eff.assign(source_table=table, unit=unit_of(outcome)))
    if not parts:
        raise InputError(
            "no outcome could be analysed per donor: " + "; ".join(skipped), file=study
        )
    effects = call_responders(pd.concat(parts, ignore_index=True), alpha=alpha, mic=mic)
    profile = donor_profile(effects)
    conc = concordance(effects)
    clinical, prediction = _clinical(study, effects, seed)
    out.mkdir(parents=True, exist_ok=True)
    write_table(clinical, out / "donor_clinical.csv")
    write_table(prediction, out / "donor_prediction.csv")
    write_table(effects, out / "donor_effects.csv")
    write_table(profile, out / "donor_profile.csv")
    write_table(conc, out / "donor_concordance.csv")
    outputs = ["donor_effects.csv", "donor_profile.csv", "donor_concordance.csv"]
    outputs += ["donor_clinical.csv", "donor_prediction.csv"]
    if figure:
        import matplotlib.pyplot as plt

        from fmslab.donors.profile import plot_donor_card, plot_profile_heatmap
        from fmslab.figures.export import save_figure

        fig = plot_profile_heatmap(effects)
        save_figure(fig, out / "donor_heatmap", formats=("png",))
        plt.close(fig)
        outputs.append("donor_heatmap.png")
        for donor in sorted(effects["donor_id"].unique()):
            fig = plot_donor_card(effects, donor)
            save_figure(fig, out / "donor_cards" / donor, formats=("png",))
            plt.close(fig)
            outputs.append(f"donor_cards/{donor}.png")
    parameters: dict[str, Any] = {
        "study": str(study),
        "jobs": [j.to_dict() for j in (jobs or DEFAULT_JOBS)],
        "unblinding": str(unblinding) if unblinding else None,
        "reference": reference,
        "confidence": confidence,
        "alpha": alpha,
        "mic": dict(mic or {}),
        "n_boot": n_boot,
        "seed": seed,
    }
    record = RunRecord(command="donors", parameters=parameters)
    if catalog_path is not None:
        from fmslab.catalog import open_session

        with open_session(catalog_path, command="donors", parameters=parameters) as cat:
            if inputs:
                cat.record_inputs(inputs)
            cat.write_table("donor_effects", effects, replace_on=["source_table", "outcome"])
            record = cat.run
    record.finish("ok")
    write_json(
        out / "provenance.json",
        {
            **record.to_dict(),
            "inputs_sha256": file_hashes(inputs),
            "catalog": str(catalog_path) if catalog_path else None,
            "skipped": skipped,
            "outputs": outputs,
        },
    )
    return DonorsRun(effects, profile, conc, clinical, prediction, skipped, out)


def _clinical(study: Path, effects: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clinical association and cross-validated prediction with the study's donors sheet.

    Prediction, per outcome: the label is the responder call of the patient donors, the
    predictors every clinical score of the sheet (:func:`fmslab.donors.predict.predict_transfer`).
    """
    from fmslab.donors.clinical import clinical_association, score_columns
    from fmslab.donors.predict import predict_transfer
    from fmslab.study import load_study

    try:
        donors = load_study(study).donors
    except FmslabError as exc:
        log.warning("donors: no clinical association (donors sheet: %s)", exc)
        donors = pd.DataFrame({"donor_id": []})
    assoc = clinical_association(effects, donors, seed=seed)
    scores = score_columns(donors)
    rows = []
    patients = effects[effects["group"] != effects["reference"]]
    for outcome, sub in patients.groupby("outcome", sort=False):
        if not scores:
            rows.append(pd.DataFrame([{"outcome": outcome, "warnings": "no clinical scores"}]))
            continue
        labels = (sub.set_index("donor_id")["call"] == "transferrer").astype(int)
        res = predict_transfer(labels, donors, scores, seed=seed)
        rows.append(res.to_frame().assign(outcome=outcome))
    prediction = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame({"outcome": []})
    prediction = prediction[["outcome"] + [c for c in prediction.columns if c != "outcome"]]
    return assoc, prediction
