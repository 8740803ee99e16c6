"""The donor-level flow behind ``fmslab donors STUDY --out DIR``.

Each outcome table of the study catalog (written by the modality analyses, blinded) is read and
unblinded by :func:`fmslab.compare.load_comparison_data` (the same reading step as
``fmslab compare``: the study's unblinding key and its ``qc_overrides``), the per-donor effects
(:mod:`fmslab.donors.effects`) and responder calls (:mod:`fmslab.donors.responders`) are computed
for every outcome, and the donor profile and concordance (:mod:`fmslab.donors.profile`) joined.
Tables go to ``out`` (written atomically, with ``provenance.json``) and ``donor_effects``,
``donor_clinical_lmm`` (family ``donors``, scope ``(source_table, outcome)``), ``donor_time_course``
and ``donor_predictions`` to the study catalog. Donor ids are the study's pseudonymised ``donor_id`` (never names).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
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


#: (table, outcome, row filter) of the repeated outcome whose per-donor time course is drawn:
#: every behaviour assay's ``value`` per mouse and day (von Frey threshold_g, Hargreaves
#: latency_s, ...), the response of the behaviour group x day statistics
#: (:func:`fmslab.behaviour.stats.group_day_contrasts`); one series per ``assay``.
COURSE_JOB: tuple[str, str, str | None] = ("behaviour_mouse_day", "value", None)
#: Column splitting the time course into series, when the table has it.
COURSE_BY = "assay"

#: Columns of ``donor_predictions.csv`` and the catalog table ``donor_predictions``.
LOO_COLUMNS = [
    "outcome", "donor_id", "label", "p_loo", "auc_loo", "auc_low", "auc_high", "p_permutation",
]  # fmt: skip


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
    loo: pd.DataFrame | None = None  # per donor: outcome, donor_id, label, p_loo (+ AUC)
    clinical_lmm: pd.DataFrame | None = None  # score as donor-level covariate, per outcome
    time_course: pd.DataFrame | None = None  # per day and donor (fmslab.donors.timecourse)
    new_donor: pd.DataFrame | None = None  # predicted transfer of a new donor


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
    course: tuple[str, str, str | None] | None = COURSE_JOB,
    new_donor: dict[str, float] | None = None,
    new_donor_outcome: str | None = None,
) -> DonorsRun:
    """Per-donor effects, responder calls and the donor profile of a study.

    Parameters
    ----------
    study
        Study folder (catalog tables from the analyses, unblinding key, mice sheet).
    out
        Output folder: ``donor_effects.csv``, ``donor_profile.csv``, ``donor_concordance.csv``,
        ``donor_clinical.csv``, ``donor_clinical_lmm.csv``, ``donor_prediction.csv``,
        ``donor_predictions.csv``, ``donor_heatmap.png``, ``donor_calibration/OUTCOME.png``,
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
        Write the donors x outcomes heat map, the calibration plots and one page per donor.
    course
        ``(table, outcome, row filter)`` of the repeated outcome whose per-donor time course is
        predicted (:mod:`fmslab.donors.timecourse`; default :data:`COURSE_JOB`, every
        behaviour assay's value per mouse and day); None: no time course. An absent table is skipped.
        A table with an ``assay`` column gives one series per assay (:data:`COURSE_BY`).
    new_donor, new_donor_outcome
        Clinical scores of a new donor (``{score: value}``): its predicted probability of
        transfer, with interval, from the patient donors' calls on ``new_donor_outcome``
        (default: the first outcome with both classes) -> ``donor_new_prediction.csv``.

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
    parts, skipped, inputs, datasets = [], [], [], []
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
            except np.linalg.LinAlgError as exc:  # e.g. an outcome without spread
                skipped.append(f"{table}.{outcome}: mixed model could not be fitted ({exc})")
                log.warning(
                    "donors: %s.%s skipped: mixed model not fitted: %s", table, outcome, exc
                )
                continue
            parts.append(eff.assign(source_table=table, unit=unit_of(outcome)))
            datasets.append((table, outcome, data, ref, mouse))
    tc, observed = _time_course(study, unblinding, reference, course, confidence, skipped)
    if not parts:
        raise InputError(
            "no outcome could be analysed per donor: " + "; ".join(skipped), file=study
        )
    effects = call_responders(pd.concat(parts, ignore_index=True), alpha=alpha, mic=mic)
    profile = donor_profile(effects)
    conc = concordance(effects)
    clinical, prediction, loo, models = _clinical(study, effects, datasets, seed)
    out.mkdir(parents=True, exist_ok=True)
    write_table(clinical, out / "donor_clinical.csv")
    write_table(prediction, out / "donor_prediction.csv")
    write_table(loo, out / "donor_predictions.csv")
    write_table(models, out / "donor_clinical_lmm.csv")
    if tc is not None:
        write_table(tc, out / "donor_time_course.csv")
        outputs_extra = ["donor_time_course.csv"]
    else:
        outputs_extra = []
    new_pred = None
    if new_donor:
        from fmslab.donors.clinical import numeric_scores
        from fmslab.donors.predict import predict_new_from_calls
        from fmslab.study import load_study

        sheet = numeric_scores(load_study(study).donors)
        new_pred = predict_new_from_calls(
            effects, sheet, new_donor, outcome=new_donor_outcome, confidence=confidence,
            seed=seed,
        )  # fmt: skip
        write_table(new_pred, out / "donor_new_prediction.csv")
        outputs_extra.append("donor_new_prediction.csv")
    write_table(effects, out / "donor_effects.csv")
    write_table(profile, out / "donor_profile.csv")
    write_table(conc, out / "donor_concordance.csv")
    outputs = ["donor_effects.csv", "donor_profile.csv", "donor_concordance.csv"]
    outputs += ["donor_clinical.csv", "donor_clinical_lmm.csv", "donor_prediction.csv"]
    outputs += ["donor_predictions.csv", *outputs_extra]
    if figure:
        import matplotlib.pyplot as plt

        from fmslab.donors.calibration import calibration_figures
        from fmslab.donors.profile import plot_profile_heatmap
        from fmslab.donors.timecourse import plot_donor_page
        from fmslab.figures.export import save_figure

        fig = plot_profile_heatmap(effects)
        save_figure(fig, out / "donor_heatmap", formats=("png",))
        plt.close(fig)
        outputs.append("donor_heatmap.png")
        for outcome, fig in calibration_figures(loo):
            save_figure(fig, out / "donor_calibration" / outcome, formats=("png",))
            plt.close(fig)
            outputs.append(f"donor_calibration/{outcome}.png")
        for donor in sorted(effects["donor_id"].unique()):
            fig = plot_donor_page(
                effects, donor, course=tc, observed=observed,
                course_outcome=course[1] if course else "value",
            )  # fmt: skip
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
        "course": list(course) if course else None,
        "new_donor": dict(new_donor or {}),
        "new_donor_outcome": new_donor_outcome,
    }
    record = RunRecord(command="donors", parameters=parameters)
    if catalog_path is not None:
        from fmslab.catalog import open_session

        with open_session(catalog_path, command="donors", parameters=parameters) as cat:
            if inputs:
                cat.record_inputs(inputs)
            pairs = effects[["source_table", "outcome"]].drop_duplicates()
            cat.write_scope(
                "donors", {"donor_effects": effects, "donor_clinical_lmm": models}, scope=pairs
            )
            if tc is not None:
                cat.write_scope(
                    "donor_time_course", {"donor_time_course": tc},
                    scope=tc[["source_table", "outcome"]].drop_duplicates(),
                )  # fmt: skip
            if len(loo):
                cat.write_table("donor_predictions", loo, replace_on=["outcome"])
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
    return DonorsRun(
        effects, profile, conc, clinical, prediction, skipped, out, loo, models, tc, new_pred
    )


def _time_course(
    study: Path,
    unblinding: str | Path | None,
    reference: str | None,
    course: tuple[str, str, str | None] | None,
    confidence: float,
    skipped: list[str],
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The per-donor predicted time course of ``course`` (None when absent or not wanted)."""
    from fmslab.compare import load_comparison_data
    from fmslab.compare.design import default_reference
    from fmslab.donors.timecourse import donor_time_course

    if course is None:
        return None, None
    table, outcome, where = course
    try:
        prepared = load_comparison_data(
            table, study=study, unblinding=unblinding, levels=["donor_id", "mouse_id"], where=where
        )
        data = prepared.data
        ref = reference or default_reference(sorted(data["group"].dropna().astype(str).unique()))
        by = COURSE_BY if COURSE_BY in data.columns else None
        tc = donor_time_course(data, outcome, reference=ref, by=by, confidence=confidence)
        tc.insert(0, "source_table", table)
        tc.insert(1, "outcome", outcome)
    except (FmslabError, np.linalg.LinAlgError) as exc:
        skipped.append(f"time course {table}.{outcome}: {exc}")
        log.warning("donors: time course %s skipped: %s", table, exc)
        return None, None
    if not len(tc):
        skipped.append(f"time course {table}.{outcome}: no day with 2 control donors")
        return None, None
    return tc, data


def _clinical(
    study: Path, effects: pd.DataFrame, datasets: list, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Clinical association and cross-validated prediction with the study's donors sheet.

    Prediction, per outcome: the label is the responder call of the patient donors, the
    predictors every clinical score of the sheet (:func:`fmslab.donors.predict.predict_transfer`).
    Returns the association, the one-row-per-outcome prediction summary, the per-donor
    leave-one-out probabilities (:data:`LOO_COLUMNS`) and the mixed models with each score as a
    donor-level covariate (:mod:`fmslab.donors.covariate`; ``datasets``: ``(outcome, data,
    reference, mouse level)`` per analysed outcome; ``source_table`` first).
    """
    from fmslab.donors.clinical import clinical_association, numeric_scores, score_columns
    from fmslab.donors.covariate import COVARIATE_COLUMNS, score_models
    from fmslab.donors.predict import predict_transfer
    from fmslab.study import load_study

    try:
        donors = numeric_scores(load_study(study).donors)
    except FmslabError as exc:
        log.warning("donors: no clinical association (donors sheet: %s)", exc)
        donors = pd.DataFrame({"donor_id": []})
    assoc = clinical_association(effects, donors, seed=seed)
    scores = score_columns(donors)
    rows, loo = [], []
    patients = effects[effects["group"] != effects["reference"]]
    for outcome, sub in patients.groupby("outcome", sort=False):
        if not scores:
            rows.append(pd.DataFrame([{"outcome": outcome, "warnings": "no clinical scores"}]))
            continue
        labels = (sub.set_index("donor_id")["call"] == "transferrer").astype(int)
        res = predict_transfer(labels, donors, scores, seed=seed)
        rows.append(res.to_frame().assign(outcome=outcome))
        if np.isfinite(res.auc):
            loo.append(
                res.predictions.assign(
                    outcome=outcome, auc_loo=res.auc, auc_low=res.auc_low,
                    auc_high=res.auc_high, p_permutation=res.p_permutation,
                )
            )  # fmt: skip
    prediction = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame({"outcome": []})
    prediction = prediction[["outcome"] + [c for c in prediction.columns if c != "outcome"]]
    loo_df = pd.concat(loo, ignore_index=True) if loo else pd.DataFrame(columns=LOO_COLUMNS)
    loo_df["donor_id"] = loo_df["donor_id"].astype(str)
    models = [
        score_models(data, outcome, donors, scores, reference=ref, mouse=mouse).assign(
            source_table=table
        )
        for table, outcome, data, ref, mouse in datasets
        if scores
    ]
    cols = ["source_table", *COVARIATE_COLUMNS]
    models_df = pd.concat(models, ignore_index=True)[cols] if models else pd.DataFrame(columns=cols)
    return assoc, prediction, loo_df[LOO_COLUMNS], models_df
