"""Turn a study into the workflow's work list: one job per recording day, sheet and contrast."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fmslab.errors import InputError
from fmslab.study import load_study

#: wildcard value for recordings whose ``date`` cell is empty
UNDATED = "undated"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(text: str) -> str:
    """A file- and wildcard-safe version of ``text`` (``2026-03-08`` stays ``2026-03-08``)."""
    name = _SAFE.sub("_", str(text).strip()).strip("_")
    return name or UNDATED


@dataclass
class WorkList:
    """What the workflow runs for one study.

    Attributes
    ----------
    study_root, results_dir, catalog_path
        Absolute paths of the study, its results folder and its catalog.
    ephys_days, skinnerve_days
        ``{day: [absolute recording paths]}``, recordings grouped by the sheet's ``date`` column.
    behaviour_sheets
        ``{sheet name (file stem): absolute path}``.
    contrasts
        ``{contrast id: "VAR,TARGET,REF"}`` for ``fmslab rnaseq de``.
    parameters
        The study's ``parameters:`` block of ``study.yaml``.
    """

    study_root: Path
    results_dir: Path
    catalog_path: Path
    unblinding_path: Path | None
    sheets: dict[str, Path]
    ephys_days: dict[str, list[Path]] = field(default_factory=dict)
    skinnerve_days: dict[str, list[Path]] = field(default_factory=dict)
    behaviour_sheets: dict[str, Path] = field(default_factory=dict)
    contrasts: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)

    def study_path(self, relative: str | Path | None) -> Path | None:
        """Resolve a path given relative to the study folder (``None`` stays ``None``)."""
        if relative is None:
            return None
        p = Path(relative)
        return p if p.is_absolute() else (self.study_root / p).resolve()


def _by_day(rows: Any) -> dict[str, list[Path]]:
    days: dict[str, list[Path]] = {}
    for date, path in zip(rows["date"], rows["abs_path"], strict=True):
        key = UNDATED if pd.isna(date) or not str(date).strip() else str(date)
        days.setdefault(safe_name(str(key)), []).append(Path(path))
    return {d: sorted(paths) for d, paths in sorted(days.items())}


def contrast_id(spec: str) -> str:
    """``"group,FMS,HC"`` -> ``"group_FMS_vs_HC"`` (the id ``fmslab rnaseq de`` gives it)."""
    parts = [p.strip() for p in str(spec).split(",")]
    if len(parts) != 3 or not all(parts):
        raise InputError(f"contrast '{spec}' must be VAR,TARGET,REF")
    var, target, ref = parts
    return f"{var}_{target}_vs_{ref}"


def work_list(
    study_root: str | Path,
    *,
    contrasts: list[str] | None = None,
    unblinding: str | Path | None = None,
) -> WorkList:
    """Read a study and list the workflow's jobs.

    Parameters
    ----------
    study_root
        Study folder (with ``study.yaml``).
    contrasts
        RNA-seq contrasts ``VAR,TARGET,REF``; default: ``parameters.rnaseq.contrast`` of the study.
    unblinding
        Unblinding key overriding the study's ``unblinding:``.

    Returns
    -------
    WorkList
        Recording days of ``ephys_cc`` and ``skinnerve`` (by the ``date`` column; rows without a
        date form the day ``undated``), behaviour sheets by file stem, contrasts by id.
    """
    st = load_study(study_root, unblinding=unblinding)
    params = dict(st.config.get("parameters") or {})
    behaviour = {}
    for p in st.recordings_of("behaviour")["abs_path"]:
        name = safe_name(Path(p).stem)
        if name in behaviour:
            raise InputError(
                f"two behaviour sheets share the name '{name}' ({behaviour[name]}, {p}); "
                "the workflow names each sheet's job by its file name",
                file=str(st.sheet_paths.get("recordings", st.root)),
            )
        behaviour[name] = Path(p)
    if contrasts is None:
        rn = params.get("rnaseq") or {}
        given = rn.get("contrasts") or ([rn["contrast"]] if rn.get("contrast") else [])
        contrasts = [",".join(map(str, c)) if isinstance(c, list | tuple) else c for c in given]
    return WorkList(
        study_root=st.root.resolve(),
        results_dir=st.results_dir,
        catalog_path=st.catalog_path,
        unblinding_path=st.unblinding_path,
        sheets={k: Path(v).resolve() for k, v in st.sheet_paths.items()},
        ephys_days=_by_day(st.recordings_of("ephys_cc")),
        skinnerve_days=_by_day(st.recordings_of("skinnerve")),
        behaviour_sheets=dict(sorted(behaviour.items())),
        contrasts={contrast_id(c): c for c in contrasts},
        parameters=params,
    )
