"""What the icephys and skin-nerve NWB files share: subject, file metadata, tables, DANDI names.

File names follow DANDI's layout: ``sub-<subject>/sub-<subject>_ses-<session>_<modality>.nwb``,
with ``<subject>`` and ``<session>`` reduced to letters, digits and hyphens (DANDI's entity values).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import fmslab
from fmslab.errors import InputError
from fmslab.export.fields import describe
from fmslab.export.pseudonymise import Pseudonymiser, bin_bounds
from fmslab.export.settings import ExportSettings

#: NWB sex codes from the study's sheet codes.
NWB_SEX = {"F": "F", "M": "M"}
SPECIES = "Mus musculus"
#: Namespace of the deterministic NWB identifiers (uuid5 of study name + file name).
ID_NAMESPACE = uuid.UUID("3f1c2d8e-5b7a-4c1e-9d2f-6a8b0c4e7f10")


def dandi_value(text: str) -> str:
    """An id as a DANDI entity value: letters, digits and hyphens only."""
    v = re.sub(r"[^A-Za-z0-9-]+", "-", str(text)).strip("-")
    if not v:
        raise InputError(f"id '{text}' has no letters or digits to name a DANDI file")
    return v


def dandi_path(subject: str, session: str, modality: str) -> Path:
    """``sub-S/sub-S_ses-X_<modality>.nwb`` (relative)."""
    s, x = dandi_value(subject), dandi_value(session)
    return Path(f"sub-{s}") / f"sub-{s}_ses-{x}_{modality}.nwb"


def nwb_identifier(study_name: str, rel_path: str) -> str:
    """A stable identifier: the same study and file always get the same one."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{study_name}/{rel_path}"))


@dataclass(frozen=True)
class SubjectInfo:
    """What the NWB Subject of one mouse holds (exported ids and generalised values)."""

    subject_id: str
    sex: str
    strain: str | None
    age: str | None
    date_of_birth: datetime | None
    description: str


def _as_date(value: Any) -> date | None:
    if value is None or (not isinstance(value, date) and pd.isna(value)) or value == "":
        return None
    return pd.Timestamp(value).date()


def subject_info(
    mouse: pd.Series,
    session_date: date,
    settings: ExportSettings,
    ps: Pseudonymiser,
    *,
    exported_id: str,
) -> SubjectInfo:
    """Subject of one mouse row of the study's mice sheet at a session.

    Age: from ``date_of_birth`` (exact ``P<days>D`` and the date of birth; with a key, the declared
    week bin as an ISO range such as ``P8W/P12W`` and no date of birth), else the study's declared
    ``parameters.export.mouse_age``; else :class:`InputError` (DANDI requires an age).
    """
    mid = str(mouse["mouse_id"])
    dob = _as_date(mouse.get("date_of_birth"))
    age = None
    dob_dt = None
    if dob is not None:
        days = (session_date - dob).days
        if days < 0:
            raise InputError(
                f"mouse {mid}: date_of_birth {dob} is after the session ({session_date})",
                column="date_of_birth",
            )
        if ps.active:
            lo, hi = bin_bounds(days / 7.0, ps.bins.mouse_age_weeks)
            age = f"{'' if lo is None else f'P{lo:g}W'}/{'' if hi is None else f'P{hi:g}W'}"
        else:
            age = f"P{days}D"
            dob_dt = datetime.combine(dob, time(0, 0), tzinfo=settings.tz)
    elif settings.mouse_age:
        age = settings.mouse_age
    else:
        raise InputError(
            f"mouse {mid}: no age. NWB/DANDI need each subject's age: add a date_of_birth column "
            "to the mice sheet or declare parameters.export.mouse_age (e.g. P8W/P12W) in study.yaml",
            column="date_of_birth",
        )
    sex = NWB_SEX.get(str(mouse.get("sex", "")), "U")
    parts = []
    if pd.notna(mouse.get("treatment_code")):
        parts.append(f"treatment code {mouse['treatment_code']} (blinded IgG)")
    for col, label in (("cohort", "cohort"), ("dose_mg", "dose mg"), ("injection_days", "days")):
        v = mouse.get(col)
        if v is not None and not (isinstance(v, float) and np.isnan(v)) and pd.notna(v):
            parts.append(f"{label} {v:g}" if isinstance(v, float) else f"{label} {v}")
    desc = "Recipient mouse of IgG passive transfer; " + "; ".join(parts)
    strain = mouse.get("strain")
    return SubjectInfo(
        subject_id=exported_id,
        sex=sex,
        strain=str(strain) if strain is not None and pd.notna(strain) else None,
        age=age,
        date_of_birth=dob_dt,
        description=desc,
    )


def make_subject(info: SubjectInfo):
    """The pynwb Subject of :class:`SubjectInfo`."""
    from pynwb.file import Subject

    return Subject(
        subject_id=info.subject_id,
        species=SPECIES,
        sex=info.sex,
        strain=info.strain,
        age=info.age,
        date_of_birth=info.date_of_birth,
        description=info.description,
    )


def make_nwbfile(
    *,
    identifier: str,
    session_id: str,
    session_description: str,
    session_start: datetime,
    settings: ExportSettings,
    experiment_description: str | None,
    subject: SubjectInfo,
    keywords: tuple[str, ...],
):
    """An NWBFile with the lab's metadata and the subject."""
    from pynwb import NWBFile

    kwargs: dict[str, Any] = {}
    if settings.lab:
        kwargs["lab"] = settings.lab
    if settings.institution:
        kwargs["institution"] = settings.institution
    if settings.experimenter:
        kwargs["experimenter"] = list(settings.experimenter)
    if experiment_description:
        kwargs["experiment_description"] = experiment_description
    return NWBFile(
        session_description=session_description,
        identifier=identifier,
        session_start_time=session_start,
        session_id=session_id,
        keywords=list(dict.fromkeys([*settings.keywords, *keywords])),
        source_script=f"fmslab {fmslab.__version__}: fmslab export",
        source_script_file_name="fmslab/export/flow.py",
        subject=make_subject(subject),
        **kwargs,
    )


def frame_to_table(df: pd.DataFrame, *, name: str, table: str, description: str):
    """An hdmf DynamicTable of ``df``, each column described from fields.yaml (with its unit).

    Missing strings become "" and missing integers NaN (HDF5 has no NA); booleans stay booleans.
    """
    from hdmf.common import DynamicTable

    dt = DynamicTable(name=name, description=description, id=list(range(len(df))))
    for col in df.columns:
        s = df[col]
        f = describe(table, str(col), s)
        desc = f.description + (f" [{f.unit}]" if f.unit else "")
        if f.type == "number" or (f.type == "integer" and s.isna().any()):
            data = pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()
        elif f.type == "integer":
            data = s.astype("int64").to_numpy()
        elif f.type == "boolean":
            if s.isna().any():
                data = np.array(["" if pd.isna(v) else str(bool(v)) for v in s], dtype=object)
            else:
                data = s.astype(bool).to_numpy()
        else:
            data = np.array(["" if pd.isna(v) else str(v) for v in s], dtype=object)
        dt.add_column(name=str(col), description=desc, data=list(data))
    return dt


def write_nwb(nwbfile, path: Path) -> Path:
    """Write ``nwbfile`` atomically to ``path`` (a temporary ``.nwb`` beside it, then renamed)."""
    import os
    import tempfile

    from pynwb import NWBHDF5IO

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp.nwb", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()  # h5py creates the file
        with NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwbfile)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def session_start(day: Any, clock: datetime | None, settings: ExportSettings, ps: Pseudonymiser):
    """Session start: the file's own clock when it falls on the sheet's date, else the date at
    00:00, in the declared time zone; generalised with a key."""
    d = _as_date(day)
    if d is None and clock is None:
        raise InputError("no recording date (recordings.csv 'date') for the NWB session start")
    if clock is not None and (d is None or clock.date() == d):
        when = clock.replace(tzinfo=settings.tz) if clock.tzinfo is None else clock
    else:
        when = datetime.combine(d, time(0, 0), tzinfo=settings.tz)
    return ps.session_start(when), (d or when.date())


def write_dandiset_yaml(
    root: Path, title: str, description: str | None, settings: ExportSettings
) -> Path:
    """``dandiset.yaml`` at the root of the NWB folder (what ``dandi validate`` reads)."""
    import yaml

    from fmslab.atomic import write_text

    meta: dict[str, Any] = {
        "identifier": "DANDI:000000",
        "name": title,
        "description": description or title,
        "license": [f"spdx:{settings.licence}"],
    }
    return write_text(root / "dandiset.yaml", yaml.safe_dump(meta, sort_keys=False))
