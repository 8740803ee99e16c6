"""The whole behaviour flow of a study or a set of sheets: the one entry point behind
``fmslab behaviour analyze``, the demo and the workflow.

Sheets are scored (:func:`fmslab.behaviour.pipeline.analyze_sheets`), every table, the figures and
``provenance.json`` are written to ``out`` and, for a study, the tables are stored in its catalog.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmslab.behaviour.pipeline import BehaviourResult
from fmslab.behaviour.timecourse import DEFAULT_RESPONDER_CHANGE_PCT
from fmslab.errors import InputError


@dataclass(frozen=True)
class BehaviourRun:
    """What :func:`run` did.

    Attributes
    ----------
    result
        The tables (trials, mouse-day, mouse, von Frey, statistics, donors, errors).
    sheets
        The sheets read.
    out
        Folder holding the tables, figures and ``provenance.json``.
    inputs
        Every file read (sheets, filament sets, unblinding key): hashed in the provenance.
    run_id
        The catalog run id with a study, else ``None``.
    parameters
        The parameters recorded in the provenance and the catalog.
    """

    result: BehaviourResult
    sheets: list[Path]
    out: Path
    inputs: list[Path]
    run_id: str | None
    parameters: dict[str, Any]


def run(
    sheets: list[str | Path] | None = None,
    *,
    out: str | Path | None = None,
    study: str | Path | None = None,
    unblinding: str | Path | None = None,
    blind: bool = False,
    filaments: str | Path | None = None,
    cutoffs: dict[str, float] | None = None,
    baseline_max_day: float | None = None,
    responder_change_pct: float = DEFAULT_RESPONDER_CHANGE_PCT,
    exclude_outliers: bool = False,
    stats_on: str = "value",
    progress: bool = False,
    lock_timeout_s: float = 120.0,
    defer_catalog: bool = False,
) -> BehaviourRun:
    """Score behaviour sheets and, with ``study``, store the tables in its catalog.

    Parameters
    ----------
    sheets
        Behaviour sheets (CSV/TSV/XLSX, long format); default with ``study``: its recordings of
        modality ``behaviour``.
    out
        Output folder; default with ``study``: ``STUDY/results/behaviour``.
    study
        Study folder: mice, donors and treatment codes, ``parameters.behaviour`` of study.yaml
        (``filaments``, ``baseline_day``), catalog, and its ``qc_overrides`` sheet: a mouse a
        reviewer excluded keeps its rows (``excluded`` True, ``exclusion_reason``) but is left
        out of the statistics and the figures; the decisions are recorded with the run.
    unblinding
        Unblinding key; default: the study's.
    blind
        Ignore every unblinding key: groups stay treatment codes (the key is joined later, in the
        comparison step).
    filaments
        Custom filament sets (CSV ``filament_set, force_g``); default: study.yaml's, else none.
    cutoffs
        Cut-off overrides ``{assay: value}``.
    baseline_max_day
        Days up to this are baseline; default: study.yaml's ``baseline_day``, else 0.
    responder_change_pct, exclude_outliers, stats_on
        See :func:`fmslab.behaviour.pipeline.analyze_sheets`.
    progress, lock_timeout_s
        Progress bar; seconds to wait for the catalog lock.

    Returns
    -------
    BehaviourRun
    """
    from fmslab.behaviour.pipeline import analyze_sheets, store_in_catalog, write_outputs
    from fmslab.locks import folder_lock

    st = None
    overrides = overrides_file = None
    bparams: dict[str, Any] = {}
    if study is not None:
        from fmslab.study.validate import load_validated_study

        st = load_validated_study(study, unblinding=None if blind else unblinding)
        if blind:
            st = dataclasses.replace(st, unblinding_path=None)
        bparams = (st.config.get("parameters") or {}).get("behaviour") or {}
        from fmslab.study.overrides import load_study_overrides

        overrides, overrides_file = load_study_overrides(st.root)
        if not sheets:
            sheets = [Path(p) for p in st.recordings_of("behaviour")["abs_path"]]
            if not sheets:
                raise InputError(
                    "the study lists no recordings of modality 'behaviour'", file=st.root
                )
        out = out if out is not None else st.results_dir / "behaviour"
        if filaments is None and bparams.get("filaments"):
            filaments = st.resolve(bparams["filaments"])
    if not sheets:
        raise InputError("give behaviour sheets, or --study to use the study's behaviour rows")
    if out is None:
        raise InputError("an output folder is required without a study")
    if baseline_max_day is None:
        baseline_max_day = float(bparams.get("baseline_day", 0))
    if blind:
        unblinding = None
    sheet_paths = [Path(s) for s in sheets]
    parameters = {
        "sheets": [str(s) for s in sheet_paths],
        "filaments": str(filaments) if filaments else None,
        "study": str(study) if study else None,
        "unblinding": str(unblinding) if unblinding else None,
        "blind": blind,
        "cutoffs": dict(cutoffs or {}),
        "baseline_max_day": baseline_max_day,
        "responder_change_pct": responder_change_pct,
        "exclude_outliers": exclude_outliers,
        "stats_on": stats_on,
    }
    if st is not None:  # the reviewers' decisions honoured, kept with the run
        from fmslab.study.overrides import overrides_record

        parameters["qc_overrides"] = overrides_record(overrides, overrides_file)
    result = analyze_sheets(
        sheet_paths,
        filaments=filaments,
        study=st,
        unblinding=unblinding,
        cutoffs=cutoffs,
        baseline_max_day=baseline_max_day,
        responder_change_pct=responder_change_pct,
        exclude_outliers=exclude_outliers,
        stats_on=stats_on,
        progress=progress,
        overrides=overrides,
    )
    inputs = [*sheet_paths, *([Path(filaments)] if filaments else [])]
    if overrides_file is not None:
        inputs.append(overrides_file)
    key = unblinding or (st.unblinding_path if st is not None else None)
    if key is not None:
        inputs.append(Path(key))
    out = Path(out)
    with folder_lock(out, command="behaviour analyze"):  # one run at a time writes a folder
        write_outputs(result, out, inputs=inputs, parameters=parameters)
        run_id = None
        if st is not None:
            run_id = store_in_catalog(
                result,
                st,
                inputs=inputs,
                parameters=parameters,
                lock_timeout_s=lock_timeout_s,
                defer=defer_catalog,
            )
    return BehaviourRun(
        result=result,
        sheets=sheet_paths,
        out=out,
        inputs=inputs,
        run_id=run_id,
        parameters=parameters,
    )
