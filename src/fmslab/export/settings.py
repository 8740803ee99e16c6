"""Export settings: ``study.yaml`` ``parameters.export``, with defaults.

Example::

    parameters:
      export:
        lab: Pain Research Lab
        institution: Example University
        experimenter: ["Doe, Jane"]
        keywords: [fibromyalgia, IgG passive transfer, DRG]
        licence: CC-BY-4.0
        timezone: Europe/London
        mouse_age: P8W/P12W          # only when mice.csv has no date_of_birth column
        description: Passive transfer of patient IgG to mice   # replaces study.yaml description
        donor_age_bins_years: [18, 30, 40, 50, 60, 70, 120]
        mouse_age_bins_weeks: [0, 4, 8, 12, 16, 26, 52, 104]
        date_resolution: month       # day | month | year (pseudonymised exports)
        icephys: {device: MultiClamp 700B, tissue: dissociated lumbar DRG neurons (L3-L5)}
        skinnerve: {device: extracellular amplifier, tissue: saphenous nerve, skin-nerve preparation}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fmslab.errors import InputError
from fmslab.export.pseudonymise import Bins

#: ISO 8601 duration (as NWB and DANDI use for ages), e.g. P63D, P9W, P2M.
ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?$")
#: SPDX licence identifiers the export knows a URL for.
LICENCES = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC-BY-NC-4.0": "https://creativecommons.org/licenses/by-nc/4.0/",
}
KNOWN_KEYS = {
    "lab", "institution", "experimenter", "keywords", "licence", "timezone", "mouse_age",
    "description", "donor_age_bins_years", "mouse_age_bins_weeks", "date_resolution",
    "icephys", "skinnerve",
}  # fmt: skip


def valid_age(text: str) -> bool:
    """An ISO 8601 duration or a range ``LOW/HIGH`` (either side may be open)."""
    parts = text.split("/")
    if len(parts) == 1:
        return bool(ISO_DURATION.match(text))
    if len(parts) != 2 or parts == ["", ""]:
        return False
    return all(p == "" or ISO_DURATION.match(p) for p in parts)


@dataclass(frozen=True)
class ExportSettings:
    """What the lab declares for its exports (see the module docstring)."""

    lab: str | None = None
    institution: str | None = None
    experimenter: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    licence: str = "CC-BY-4.0"
    timezone: str = "UTC"
    mouse_age: str | None = None
    description: str | None = None
    bins: Bins = field(default_factory=Bins)
    icephys: dict[str, str] = field(default_factory=dict)
    skinnerve: dict[str, str] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def licence_url(self) -> str:
        return LICENCES[self.licence]

    @classmethod
    def from_config(cls, config: dict[str, Any], *, file: Any = None) -> ExportSettings:
        """Parse ``parameters.export`` of a study config; raises :class:`InputError` on bad values."""
        cfg = ((config.get("parameters") or {}).get("export")) or {}
        if not isinstance(cfg, dict):
            raise InputError("parameters.export must be a mapping", file=file)
        unknown = sorted(set(cfg) - KNOWN_KEYS)
        if unknown:
            raise InputError(
                f"parameters.export: unknown key(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(KNOWN_KEYS))}",
                file=file,
            )
        licence = str(cfg.get("licence", "CC-BY-4.0"))
        if licence not in LICENCES:
            raise InputError(
                f"parameters.export.licence '{licence}' is not one of {', '.join(LICENCES)}",
                file=file,
            )
        tz = str(cfg.get("timezone", "UTC"))
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"parameters.export.timezone '{tz}' is not a time zone"
            raise InputError(msg, file=file) from None
        age = cfg.get("mouse_age")
        if age is not None and not valid_age(str(age)):
            raise InputError(
                f"parameters.export.mouse_age '{age}' is not an ISO 8601 duration or range "
                "(e.g. P9W or P8W/P12W)",
                file=file,
            )

        def strings(key: str) -> tuple[str, ...]:
            v = cfg.get(key) or []
            return tuple(str(x) for x in ([v] if isinstance(v, str) else v))

        def mapping(key: str) -> dict[str, str]:
            v = cfg.get(key) or {}
            if not isinstance(v, dict):
                raise InputError(f"parameters.export.{key} must be a mapping", file=file)
            return {str(k): str(x) for k, x in v.items()}

        return cls(
            lab=cfg.get("lab"),
            institution=cfg.get("institution"),
            experimenter=strings("experimenter"),
            keywords=strings("keywords"),
            licence=licence,
            timezone=tz,
            mouse_age=str(age) if age is not None else None,
            description=cfg.get("description"),
            bins=Bins.from_config(cfg, file=file),
            icephys=mapping("icephys"),
            skinnerve=mapping("skinnerve"),
        )
