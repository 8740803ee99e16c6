"""What each sample sheet must contain. The rules are data; ``validate.py`` applies them."""

from __future__ import annotations

from dataclasses import dataclass, field

MODALITIES = ("ephys_cc", "skinnerve", "behaviour", "rnaseq")

#: The id column that a recording row of each modality must fill (None: no id needed).
MODALITY_ID_COLUMN = {
    "ephys_cc": "cell_id",
    "skinnerve": "unit_id",
    "behaviour": None,
    "rnaseq": "sample_id",
}

SEX_VALUES = {"f": "F", "female": "F", "m": "M", "male": "M"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"  # text | number | integer | sex | date | modality | int_list
    required: bool = False  # the column must exist and every cell must be filled
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class SheetSpec:
    name: str
    columns: tuple[Column, ...]
    unique: tuple[tuple[str, ...], ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


DONORS = SheetSpec(
    "donors",
    (
        Column("donor_id", required=True),
        Column("group"),
        Column("igg_batch"),
        Column("sex", "sex"),
        Column("age", "number", minimum=0, maximum=120),
        Column("FIQR", "number", minimum=0, maximum=100),
        Column("pain_score", "number", minimum=0, maximum=100),
        Column("wpi", "number", minimum=0, maximum=19),  # widespread pain index (ACR 2010)
        Column("sss", "number", minimum=0, maximum=12),  # symptom severity scale (ACR 2010)
        Column("tender_points", "number", minimum=0, maximum=18),
        Column("diagnosis"),
    ),
    unique=(("donor_id",),),
)

MICE = SheetSpec(
    "mice",
    (
        Column("mouse_id", required=True),
        Column("sex", "sex", required=True),
        Column("strain"),
        Column("donor_id"),
        Column("treatment_code"),
        Column("dose_mg", "number", minimum=0),
        Column("injection_days", "int_list"),
    ),
    unique=(("mouse_id",),),
)

RECORDINGS = SheetSpec(
    "recordings",
    (
        Column("path", required=True),
        Column("modality", "modality", required=True),
        Column("mouse_id", required=True),
        Column("cell_id"),
        Column("unit_id"),
        Column("sample_id"),
        Column("date", "date"),
    ),
    unique=(("path",),),
)

UNBLINDING = SheetSpec(
    "unblinding",
    (Column("treatment_code", required=True), Column("group", required=True), Column("donor_id")),
    unique=(("treatment_code",),),
)

#: Reviewers' QC decisions (optional sheet; read and checked by ``fmslab.study.overrides``).
QC_OVERRIDES = SheetSpec(
    "qc_overrides",
    (
        Column("level", required=True),  # cell | unit | mouse | sample
        Column("id", required=True),
        Column("file"),
        Column("action"),  # exclude (default)
        Column("reason", required=True),
        Column("reviewer", required=True),
        Column("date", "date", required=True),
    ),
    unique=(("level", "id", "file"),),
)

SPECS = {s.name: s for s in (DONORS, MICE, RECORDINGS, UNBLINDING, QC_OVERRIDES)}
