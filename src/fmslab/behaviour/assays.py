"""The behavioural assays fmslab knows: what each reads, its unit, default cut-off and direction.

The table is data: a sheet names the assay in its ``assay`` column (aliases allowed) and the
reading in the assay's column (or a generic ``value`` column). ``direction`` says which way
hypersensitivity goes (``decrease``: lower threshold/latency/force; ``increase``: higher score); it
drives the responder rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from fmslab.errors import InputError


@dataclass(frozen=True)
class AssaySpec:
    name: str
    reading: str  # sheet column holding the raw reading
    measure: str  # name of the per-trial value in the outputs
    unit: str
    direction: str  # decrease | increase
    cutoff: float | None = None  # default cut-off in `unit` (None: none)
    updown: str | None = None  # chaplan | sudo for von Frey


ASSAYS: dict[str, AssaySpec] = {
    s.name: s
    for s in (
        AssaySpec("vonfrey", "pattern", "threshold_g", "g", "decrease", updown="chaplan"),
        AssaySpec("vonfrey_sudo", "pattern", "threshold_g", "g", "decrease", updown="sudo"),
        # Hargreaves et al. (1988, Pain 32:77) used a 20 s cut-off to avoid tissue damage.
        AssaySpec("hargreaves", "latency_s", "latency_s", "s", "decrease", cutoff=20.0),
        AssaySpec("cold_plate", "latency_s", "latency_s", "s", "decrease", cutoff=60.0),
        AssaySpec("tail_flick", "latency_s", "latency_s", "s", "decrease", cutoff=10.0),
        AssaySpec("randall_selitto", "force_g", "force_g", "g", "decrease", cutoff=250.0),
        AssaySpec("grip_strength", "force_g", "force_g", "g", "decrease"),
        AssaySpec("acetone", "score", "score", "score", "increase"),
        AssaySpec("locomotor", "distance_cm", "distance_cm", "cm", "decrease"),
    )
}

#: The one alias table: canonical assay -> the other spellings labs use for it. Matching ignores
#: case, blanks, hyphens and underscores (``Von Frey``, ``von-frey``, ``VON_FREY`` are one name),
#: so only spellings that differ in letters are listed. ``docs/behaviour.md`` shows this table.
ALIAS_TABLE: dict[str, tuple[str, ...]] = {
    "vonfrey": (
        "von_frey", "vf", "vonfrey_updown", "von_frey_up_down", "vonfrey_up_down",
        "von_frey_updown", "up_down", "updown", "up_down_von_frey", "vf_updown", "vf_up_down",
        "vonfrey_chaplan", "von_frey_chaplan", "chaplan", "mechanical_threshold",
        "von_frey_filaments", "vonfrey_filaments",
    ),
    "vonfrey_sudo": ("sudo", "von_frey_sudo", "simplified_up_down", "sudo_von_frey", "vf_sudo"),
    "hargreaves": ("plantar", "plantar_test", "radiant_heat", "hargreaves_test"),
    "cold_plate": ("cold", "coldplate", "cold_plate_test"),
    "tail_flick": ("tailflick", "tail_flick_test"),
    "randall_selitto": ("paw_pressure", "randall_sellito", "randall_selito", "paw_pressure_test"),
    "grip_strength": ("grip", "grip_test"),
    "acetone": ("acetone_score", "acetone_test"),
    "locomotor": ("locomotion", "locomotor_activity", "open_field", "open_field_test"),
}  # fmt: skip


def _squash(name: str) -> str:
    return "".join(ch for ch in str(name).strip().lower() if ch not in " -_\t")


#: Every accepted spelling (squashed) -> canonical assay name.
ALIASES: dict[str, str] = {
    _squash(alias): canon for canon, aliases in ALIAS_TABLE.items() for alias in (canon, *aliases)
}


def canonical_assay(name: str) -> str | None:
    """The canonical assay name for ``name`` (case, blanks, hyphens, underscores ignored), or None."""
    return ALIASES.get(_squash(name))


def assay_spec(name: str) -> AssaySpec:
    canon = canonical_assay(name)
    if canon is None:
        raise InputError(f"unknown assay '{name}' (known: {', '.join(ASSAYS)})")
    return ASSAYS[canon]


def parse_cutoffs(items: list[str] | None) -> dict[str, float]:
    """``["hargreaves=15", ...]`` -> ``{"hargreaves": 15.0}`` (CLI ``--cutoff``)."""
    out: dict[str, float] = {}
    for item in items or []:
        name, _, value = item.partition("=")
        spec = assay_spec(name)
        if spec.updown:
            raise InputError(
                f"--cutoff {item}: up-down von Frey has no cut-off (the filament set bounds it)"
            )
        try:
            out[spec.name] = float(value)
        except ValueError:
            raise InputError(f"--cutoff {item}: use ASSAY=NUMBER") from None
        if not out[spec.name] > 0:
            raise InputError(f"--cutoff {item}: the cut-off must be positive")
    return out
