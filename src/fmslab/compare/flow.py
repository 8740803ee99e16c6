"""The whole comparison flow: the one entry point behind ``fmslab compare``, the demo and the
workflow.

An outcome table (a file, or a catalog table of a study) is unblinded here (the only place the key
is joined: :func:`fmslab.compare.hierarchy.prepare_table`), compared patient vs control for each
outcome (:func:`fmslab.compare.engine.compare_outcomes`) and written to ``out`` (``stats.csv``,
``data.csv``, ``provenance.json``); with a study the statistics go to its catalog
(``compare_stats``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fmslab.compare.design import DaySpec
from fmslab.errors import InputError

log = logging.getLogger(__name__)

CI_METHODS = ("bca", "percentile", "basic")
#: identifier columns kept in ``data.csv`` beside the group, levels and outcomes
ID_COLUMNS = ("treatment_code", "cell_id", "unit_id", "sample_id", "day", "file")


@dataclass(frozen=True)
class ComparisonData:
    """An outcome table ready to compare: unblinded, filtered, with its hierarchy.

    Attributes
    ----------
    data
        One row per observation, with the group and every level column.
    levels
        Clustering levels used, top down (after dropping redundant ones, if asked).
    source
        ``catalog:TABLE`` or the table's path.
    input_files
        Files read (table file, unblinding key, study sheets).
    catalog_path
        The study catalog, or ``None``.
    excluded
        Rows left out by the study's ``qc_overrides`` sheet (:mod:`fmslab.study.overrides`).
    """

    data: pd.DataFrame
    levels: tuple[str, ...]
    source: str
    input_files: list[Path]
    catalog_path: Path | None
    excluded: pd.DataFrame


@dataclass(frozen=True)
class CompareRun:
    """What :func:`run` did: the statistics table, the compared data, the rows the study's
    ``qc_overrides`` left out, and where the results went."""

    stats: pd.DataFrame
    data: pd.DataFrame
    excluded: pd.DataFrame
    out: Path
    source: str
    parameters: dict[str, Any]

    @property
    def primary(self) -> pd.DataFrame:
        """The primary row of each outcome."""
        return self.stats[self.stats["primary"]]


def _drop_blind_columns(df: pd.DataFrame, key: pd.DataFrame | None, group: str) -> pd.DataFrame:
    """A table analysed blind carries treatment codes in its group column; with the key at hand
    the true group (and donor) come from the key instead."""
    if key is None or group not in df.columns or "treatment_code" not in df.columns:
        return df
    values = set(df[group].dropna().astype(str))
    codes = set(key["treatment_code"].astype(str))
    if not values or not values <= codes:
        return df
    drop = [group] + (["donor_id"] if "donor_id" in df.columns and "donor_id" in key else [])
    log.info("compare: column '%s' holds treatment codes: groups taken from the key", group)
    return df.drop(columns=drop)


def _distinct_levels(data: pd.DataFrame, levels: Sequence[str]) -> tuple[str, ...]:
    """Drop a level that is one-to-one with the level above (e.g. one mouse per donor): its
    variance cannot be told from the upper one and the mixed model is singular."""
    kept = [levels[0]]
    for lower in levels[1:]:
        if data.groupby(kept[-1])[lower].nunique().max() > 1:
            kept.append(lower)
        else:
            log.info("compare: '%s' is one-to-one with '%s': level dropped", lower, kept[-1])
    return tuple(kept)


def _study_config(study: str | Path | None) -> dict:
    if study is None:
        return {}
    from fmslab.study.model import read_config

    return read_config(Path(study).resolve())


def _group_order(config: dict) -> list[str]:
    """``groups: [A, B]`` or ``groups: {order: [A, B], colors: ...}`` of study.yaml."""
    groups = config.get("groups")
    if isinstance(groups, dict):
        groups = groups.get("order")
    return [str(g) for g in groups] if isinstance(groups, list) else []


def _join_covariates(
    data: pd.DataFrame, covariates: Sequence[str], study: str | Path | None, source: str
) -> pd.DataFrame:
    """Covariate columns missing from the table, from the mice sheet, else the donors sheet."""
    missing = [c for c in covariates if c not in data.columns]
    if not missing:
        return data
    if study is None:
        raise InputError(
            f"covariate(s) {missing} not in the table (give --study to take them from the mice "
            "or donors sheet)",
            file=source,
        )
    from fmslab.study import load_study

    st = load_study(study)
    for cov in missing:
        for sheet, key in ((st.mice, "mouse_id"), (st.donors, "donor_id")):
            if cov in sheet.columns and key in data.columns and key in sheet.columns:
                values = sheet[[key, cov]].drop_duplicates(key).astype({key: str})
                data = data.merge(values, on=key, how="left")
                break
        else:
            raise InputError(
                f"covariate '{cov}' is not a column of the table, the mice or the donors sheet",
                file=source,
            )
    return data


def load_comparison_data(
    table: str | Path,
    *,
    study: str | Path | None = None,
    unblinding: str | Path | None = None,
    group: str = "group",
    levels: Sequence[str] = ("donor", "mouse"),
    where: str | None = None,
    drop_redundant_levels: bool = False,
) -> ComparisonData:
    """Read, filter and unblind an outcome table (see :func:`run` for the parameters)."""
    from fmslab.compare import Hierarchy, prepare_table
    from fmslab.compare.hierarchy import resolve_levels
    from fmslab.compare.io import load_inputs

    inputs = load_inputs(
        str(table),
        study=Path(study) if study is not None else None,
        unblinding=Path(unblinding) if unblinding is not None else None,
    )
    df = inputs.table
    if where:
        try:
            df = df.query(where)
        except Exception as exc:  # pandas raises many types for a bad expression
            raise InputError(
                f"cannot filter with where: {where!r}: {exc}", file=inputs.source
            ) from None
        if df.empty:
            raise InputError(f"no rows where {where!r}", file=inputs.source)
    df = _drop_blind_columns(df, inputs.key, group)
    names = resolve_levels(list(levels), df.columns.tolist() + ["donor_id", "mouse_id"])
    data = prepare_table(
        df,
        hierarchy=Hierarchy(group=group, levels=names),
        mice=inputs.mice,
        key=inputs.key,
        source=inputs.source,
    )
    if drop_redundant_levels and len(names) > 1:
        names = _distinct_levels(data, names)
    return ComparisonData(
        data, names, inputs.source, inputs.input_files, inputs.catalog_path, inputs.excluded
    )


def run(
    table: str | Path,
    outcomes: Sequence[str],
    *,
    out: str | Path,
    study: str | Path | None = None,
    unblinding: str | Path | None = None,
    group: str = "group",
    levels: Sequence[str] = ("donor", "mouse"),
    where: str | None = None,
    reference: str | None = None,
    n_boot: int = 2000,
    ci_method: str = "BCa",
    confidence: float = 0.95,
    seed: int = 0,
    drop_redundant_levels: bool = False,
    contrasts: Sequence[str | dict] | None = None,
    covariates: Sequence[str] = (),
    day: str | None = None,
    day_model: str = "factor",
    spline_df: int = 3,
    adjust: str = "holm",
) -> CompareRun:
    """Compare two groups on one or more outcomes; write ``stats.csv``, ``data.csv`` and
    ``provenance.json`` to ``out`` and, with a study, ``compare_stats`` to its catalog.

    Parameters
    ----------
    table
        ``.csv``/``.parquet`` file, or a catalog table name with ``study``.
    outcomes
        Outcome columns; ``COL=VALUE`` for a binary category.
    out
        Output folder.
    study
        Study folder: mice sheet, unblinding key, catalog.
    unblinding
        Unblinding key (``treatment_code, group[, donor_id]``); default: the study's. A group
        column holding treatment codes (a table analysed blind) is replaced by the key's groups.
    group
        Group column (added from the key if absent).
    levels
        Clustering levels, top down (``donor``, ``mouse`` or column names); the top one is the
        unit of replication.
    where
        pandas query selecting the rows to compare (e.g. ``"qc_pass == True"``).
    reference
        Reference group (default: HC/control/vehicle... if present, else the first sorted).
    n_boot, ci_method, confidence, seed
        Hierarchical bootstrap: replicates, interval (BCa, percentile, basic), level, seed.
    drop_redundant_levels
        Drop a level that is one-to-one with the level above (the mixed model would be singular).
    contrasts
        Planned contrasts (``"RA_FMS - RA_noFMS"``, ``"RA_FMS-RA_noFMS"`` or
        ``{name, target, reference}``); default: the study's ``contrasts:``, else every group
        vs the reference. The group order is the study's ``groups: order``.
    covariates
        Columns adjusted for in the mixed model; a name not in the table is taken from the
        study's mice sheet (by ``mouse_id``), else its donors sheet (by ``donor_id``).
    day, day_model, spline_df
        Repeated measures: the day column, modelled as ``factor``, ``linear`` or ``spline``
        (natural cubic, ``spline_df`` df); adds group x day and per-day contrasts.
    adjust
        Correction across planned contrasts (statsmodels ``multipletests`` method; ``holm``).

    Returns
    -------
    CompareRun
    """
    from fmslab.atomic import write_json, write_table
    from fmslab.compare import Hierarchy, compare_outcomes
    from fmslab.compare.io import file_hashes
    from fmslab.locks import folder_lock
    from fmslab.provenance import RunRecord

    if ci_method.lower() not in CI_METHODS:
        raise InputError(f"--ci-method must be BCa, percentile or basic, not '{ci_method}'")
    outcomes = list(outcomes)
    prepared = load_comparison_data(
        table,
        study=study,
        unblinding=unblinding,
        group=group,
        levels=levels,
        where=where,
        drop_redundant_levels=drop_redundant_levels,
    )
    data, source = prepared.data, prepared.source
    present = {o.split("=")[0] for o in outcomes}
    hierarchy = Hierarchy(group=group, levels=prepared.levels)
    config = _study_config(study)
    planned = list(contrasts) if contrasts else list(config.get("contrasts") or [])
    order = _group_order(config)
    covariates = list(covariates)
    data = _join_covariates(data, covariates, study, source)
    day_spec = DaySpec(day, day_model, spline_df) if day else None
    stats = compare_outcomes(
        data,
        outcomes,
        hierarchy=hierarchy,
        reference=reference,
        contrasts=planned or None,
        covariates=covariates,
        day=day_spec,
        groups=order or None,
        adjust=adjust,
        n_resamples=n_boot,
        confidence=confidence,
        bootstrap_method=ci_method,
        seed=seed,
        source=source,
    )
    stats.insert(0, "source", source)
    parameters = {
        "table": str(table),
        "outcomes": outcomes,
        "group": group,
        "levels": list(prepared.levels),
        "where": where,
        "reference": reference,
        "n_boot": n_boot,
        "ci_method": ci_method,
        "confidence": confidence,
        "seed": seed,
        "contrasts": [c if isinstance(c, str) else dict(c) for c in planned],
        "covariates": covariates,
        "day": day,
        "day_model": day_model if day else None,
        "spline_df": spline_df if day and day_model == "spline" else None,
        "adjust": adjust,
        "study": str(study) if study else None,
        "unblinding": str(unblinding) if unblinding else None,
    }
    record = RunRecord(command="compare", parameters=parameters)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    all_levels = [c for c in data.columns if c in {*prepared.levels, "donor_id", "mouse_id"}]
    cols = [c for c in (group, *prepared.levels, *all_levels, *ID_COLUMNS) if c in data.columns]
    cols = list(dict.fromkeys(cols))
    cols += [c for c in covariates if c in data.columns and c not in cols]
    cols += [c for c in data.columns if c not in cols and c.split("=")[0] in present]
    with folder_lock(out, command="compare"):  # one run at a time writes a folder
        write_table(data[cols], out / "data.csv")
        write_table(stats, out / "stats.csv")
        excluded = prepared.excluded.assign(source=source) if len(prepared.excluded) else None
        if excluded is not None:  # what the reviewers' qc_overrides left out, and why
            write_table(excluded, out / "excluded.csv")
        else:
            (out / "excluded.csv").unlink(missing_ok=True)  # nothing left out by this run
        if prepared.catalog_path is not None:
            from fmslab.catalog import open_session

            with open_session(
                prepared.catalog_path, command="compare", parameters=parameters
            ) as cat:
                if prepared.input_files:
                    cat.record_inputs(prepared.input_files)
                cat.write_table("compare_stats", stats, replace_on=["source", "outcome"])
                record = cat.run
        record.finish("ok")
        write_json(
            out / "provenance.json",
            {
                **record.to_dict(),
                "inputs_sha256": file_hashes(prepared.input_files),
                "source": source,
                "catalog": str(prepared.catalog_path) if prepared.catalog_path else None,
                "outputs": ["stats.csv", "data.csv"]
                + (["excluded.csv"] if excluded is not None else []),
            },
        )
    return CompareRun(
        stats=stats,
        data=data,
        excluded=prepared.excluded,
        out=out,
        source=source,
        parameters=parameters,
    )
