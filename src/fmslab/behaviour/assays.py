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

ALIASES = {
    "von_frey": "vonfrey",
    "vf": "vonfrey",
    "vonfrey_updown": "vonfrey",
    "up_down": "vonfrey",
    "updown": "vonfrey",
    "vonfrey_chaplan": "vonfrey",
    "sudo": "vonfrey_sudo",
    "von_frey_sudo": "vonfrey_sudo",
    "cold": "cold_plate",
    "coldplate": "cold_plate",
    "tailflick": "tail_flick",
    "paw_pressure": "randall_selitto",
    "randall_sellito": "randall_selitto",
    "grip": "grip_strength",
    "acetone_score": "acetone",
    "locomotion": "locomotor",
    "locomotor_activity": "locomotor",
    "open_field": "locomotor",
    "plantar": "hargreaves",
}


def canonical_assay(name: str) -> str | None:
    """The canonical assay name for ``name`` (case, blanks and hyphens ignored), or None."""
    key = "_".join(str(name).strip().lower().replace("-", " ").split())
    key = ALIASES.get(key, key)
    return key if key in ASSAYS else None


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
