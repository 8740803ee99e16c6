"""Loading a study's sheets and input hashes into its catalog."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fmslab.catalog import open_session
from fmslab.errors import InputError
from fmslab.study.model import STUDY_FILE, load_study
from fmslab.study.overrides import load_study_overrides
from fmslab.study.validate import is_valid, problems_frame, validate_study

log = logging.getLogger(__name__)

COMMAND = "study catalog"


@dataclass(frozen=True)
class CatalogSummary:
    db_path: Path
    run_id: str
    n_inputs: int
    reused: bool
    tables: dict[str, int]
    warnings: int


def catalog_study(
    root: str | Path,
    *,
    db_path: str | Path | None = None,
    lock_timeout_s: float = 120.0,
    export: bool = True,
    progress: bool = False,
) -> CatalogSummary:
    """Validate a study and store its sheets and input hashes in the catalog.

    When every input (``study.yaml``, sheets, recording files) has the same content hash as in the
    last successful catalog run, the sheet tables are kept as they are (reused) and only a new run is
    recorded. Raises :class:`InputError` when the study is invalid (nothing is written).
    """
    problems = validate_study(root)
    if not is_valid(problems):
        errors = [p for p in problems if p.severity == "error"]
        first = str(errors[0]).removeprefix("error: ")
        raise InputError(
            f"study is invalid ({len(errors)} error(s); 'fmslab study validate' lists them); first: {first}",
            file=root,
        )
    study = load_study(root)
    db_path = Path(db_path) if db_path else study.catalog_path
    inputs = [study.root / STUDY_FILE, *study.sheet_paths.values()]
    inputs += [study.resolve(p) for p in study.recordings["path"]]
    overrides, overrides_file = load_study_overrides(study.root)  # refused before any write
    if overrides_file is not None:
        inputs.append(overrides_file)
    with open_session(db_path, command=COMMAND, parameters={"study": str(study.root)},
                      lock_timeout_s=lock_timeout_s) as cat:  # fmt: skip
        before = cat.previous_inputs(COMMAND)
        recorded = cat.record_inputs(inputs, progress=progress)
        reused = (
            len(before) == len(recorded)
            and set(zip(before["path"], before["sha256"], strict=True))
            == set(zip(recorded["path"], recorded["sha256"], strict=True))
            and all(cat.has_table(t) for t in ("donors", "mice", "recordings"))
        )
        if reused:
            log.info("inputs unchanged since the last catalog run: sheet tables reused")
        else:
            sha = dict(zip(recorded["path"], recorded["sha256"], strict=True))
            recordings = study.recordings.copy()
            recordings["sha256"] = [sha[str(study.resolve(p))] for p in recordings["path"]]
            cat.write_scope(
                "study",
                {
                    "donors": study.donors,
                    "mice": study.mice,
                    "recordings": recordings,
                    "validation": problems_frame(problems),
                    "qc_overrides": overrides,  # reviewers' decisions, kept with the run
                },
                scope=None,
            )
        sheets = ["donors", "mice", "recordings"] + ["qc_overrides"] * (overrides_file is not None)
        tables = {t: len(cat.read_table(t)) for t in sheets}
        if export:
            cat.export(db_path.parent / "tables", sheets)
    return CatalogSummary(
        db_path=db_path, run_id=cat.run.run_id, n_inputs=len(recorded), reused=reused, tables=tables,
        warnings=sum(p.severity == "warning" for p in problems),
    )  # fmt: skip


def sheet_table(study_root: str | Path, name: str) -> pd.DataFrame:
    """One typed sheet of a study (donors, mice or recordings)."""
    return getattr(load_study(study_root), name)
