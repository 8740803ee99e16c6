"""Channel maps: which recorded channel plays which role, in which unit.

A channel map is a YAML file, either beside the recording (``RECORDING.yaml`` for ``RECORDING.smr``)
or given for a whole day with ``--channels FILE``::

    channels:            # role -> channel name in the file
      nerve: nerve_uV
      force: force_mN
      temperature: temp_C
      stimulus: stim_V
    units:               # optional: channel name -> unit, when the file does not say it
      nerve_uV: uV
    conduction_distance_mm: 12.5
    sampling_rate_hz: 20000          # optional: checked against the file
    recordings:                      # optional, day files: per-recording overrides by file name
      unit03.smr: {conduction_distance_mm: 9.0}

Roles: ``nerve`` (required), ``force``, ``displacement``, ``pressure``, ``temperature``,
``stimulus``. Units are taken, in order, from the ``units:`` map, from the file's own metadata, or
from a suffix of the channel name (``force_mN``, ``temp (degC)``, ``stim[V]``). Values are
converted to canonical units: nerve uV, force mN, displacement um, pressure mmHg, temperature
degC, stimulus V.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from fmslab.errors import InputError

ROLES = ("nerve", "force", "displacement", "pressure", "temperature", "stimulus")
MECHANICAL_ROLES = ("force", "displacement", "pressure")

#: force units (not in :mod:`fmslab.units`, which holds every other unit): spelling -> mN
FORCE_FACTORS: dict[str, float] = {
    "mn": 1.0,
    "n": 1e3,
    "g": 9.80665,
    "mg": 9.80665e-3,
    "un": 1e-3,
    "µn": 1e-3,
}
CANONICAL_UNIT = {
    "nerve": "uV",
    "force": "mN",
    "displacement": "um",
    "pressure": "mmHg",
    "temperature": "degC",
    "stimulus": "V",
}

_SUFFIX = re.compile(r"(?:[_\s]|\(|\[)\s*([A-Za-zµ°]+)\s*[\)\]]?\s*$")


def unit_from_name(name: str) -> str | None:
    """The unit written at the end of a channel name (``force_mN``, ``temp (degC)``), or None."""
    m = _SUFFIX.search(name)
    if not m:
        return None
    from fmslab.units import try_parse_unit

    unit = m.group(1)
    known = unit.lower() in FORCE_FACTORS or try_parse_unit(unit) is not None
    return unit if known else None


#: role -> (quantity in fmslab.units, factor from that quantity's canonical unit to the role's)
_ROLE_QUANTITY: dict[str, dict[str, float]] = {
    "nerve": {"voltage": 1e3, "current": 1.0},  # mV -> uV; pA taken as is (detection is scale-free)
    "stimulus": {"voltage": 1e-3},  # mV -> V
    "displacement": {"length": 1.0},
    "pressure": {"pressure": 1.0},
    "temperature": {"temperature": 1.0},
}


def unit_factor(role: str, unit: str | None, *, file: str | Path | None, channel: str) -> float:
    """Factor converting ``unit`` to the canonical unit of ``role``; InputError if unknown.

    Unit strings are parsed by :mod:`fmslab.units` (the package's one unit table: ``' Volt'``,
    ``'mV'``, ``'µV'``/``'μV'``, ``'mmHg'``, ``'um'``, ``'degC'``, ...); force units (mN, N, g),
    which that table does not hold, by :data:`FORCE_FACTORS`. An empty unit is taken as uV for the
    nerve and V for the stimulus.
    """
    from fmslab.units import try_parse_unit

    text = (unit or "").replace("\x00", "").strip()
    if role == "force":
        key = text.lower().replace("μ", "µ")
        if key in FORCE_FACTORS:
            return FORCE_FACTORS[key]
    elif not text and role in ("nerve", "stimulus"):
        return 1.0  # unitless nerve signals are taken as uV; spike detection is scale-free
    else:
        parsed = try_parse_unit(text)
        allowed = _ROLE_QUANTITY[role]
        if parsed is not None and parsed.quantity in allowed:
            return parsed.scale * allowed[parsed.quantity]
    raise InputError(
        f"unit '{unit}' of the {role} channel is not a unit of "
        f"{'force (mN, N, g, mg, uN)' if role == 'force' else ' or '.join(_ROLE_QUANTITY[role])} "
        f"(canonical {CANONICAL_UNIT[role]}); give it in the channel map's units: section",
        file=file,
        column=channel,
    )


@dataclass(frozen=True)
class ChannelMap:
    """Roles -> channel names, units and the conduction distance for one recording."""

    roles: dict[str, str]
    units: dict[str, str] = field(default_factory=dict)
    conduction_distance_mm: float | None = None
    sampling_rate_hz: float | None = None
    source: str | None = None

    def with_overrides(self, overrides: dict[str, Any]) -> ChannelMap:
        roles = {**self.roles, **(overrides.get("channels") or {})}
        units = {**self.units, **(overrides.get("units") or {})}
        cd = overrides.get("conduction_distance_mm", self.conduction_distance_mm)
        fs = overrides.get("sampling_rate_hz", self.sampling_rate_hz)
        return replace(
            self,
            roles=roles,
            units=units,
            conduction_distance_mm=None if cd is None else float(cd),
            sampling_rate_hz=None if fs is None else float(fs),
        )


def parse_channel_map(data: Any, *, source: str | Path) -> tuple[ChannelMap, dict[str, Any]]:
    """Check a loaded YAML mapping; returns the map and its per-recording overrides."""
    if not isinstance(data, dict) or not isinstance(data.get("channels"), dict):
        raise InputError("channel map must be a mapping with a 'channels:' mapping", file=source)
    roles = {str(k): str(v) for k, v in data["channels"].items()}
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise InputError(f"unknown channel role(s) {unknown}; roles are {list(ROLES)}", file=source)
    if "nerve" not in roles:
        raise InputError("channels: has no 'nerve' role (the extracellular recording)", file=source)
    units = {str(k): str(v) for k, v in (data.get("units") or {}).items()}
    cd = data.get("conduction_distance_mm")
    if cd is not None:
        try:
            cd = float(cd)
        except (TypeError, ValueError):
            raise InputError(
                f"conduction_distance_mm '{cd}' is not a number", file=source
            ) from None
        if not cd > 0:
            raise InputError(f"conduction_distance_mm must be > 0, got {cd}", file=source)
    fs = data.get("sampling_rate_hz")
    overrides = data.get("recordings") or {}
    if not isinstance(overrides, dict):
        raise InputError("'recordings:' must map file names to overrides", file=source)
    cmap = ChannelMap(
        roles=roles,
        units=units,
        conduction_distance_mm=cd,
        sampling_rate_hz=None if fs is None else float(fs),
        source=str(source),
    )
    return cmap, overrides


def load_channel_map(path: str | Path) -> tuple[ChannelMap, dict[str, Any]]:
    """Read a channel-map YAML file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError("channel map file not found", file=path) from None
    except yaml.YAMLError as exc:
        raise InputError(f"channel map is not valid YAML: {exc}", file=path) from None
    return parse_channel_map(data, source=path)


def channel_map_for(
    recording: str | Path, channels_file: str | Path | None = None
) -> ChannelMap | None:
    """The channel map of one recording: ``--channels`` file (with overrides) or ``RECORDING.yaml``.

    Returns None when neither exists (roles are then guessed from names and units).
    """
    recording = Path(recording)
    beside = recording.with_suffix(".yaml")
    if beside.is_file():
        cmap, overrides = load_channel_map(beside)
    elif channels_file is not None:
        cmap, overrides = load_channel_map(channels_file)
    else:
        return None
    for key in (recording.name, recording.stem):
        if key in overrides:
            cmap = cmap.with_overrides(overrides[key] or {})
            break
    return cmap


_GUESS = [
    ("stimulus", re.compile(r"stim|trig|ttl|elec", re.I), {"v", "mv"}),
    ("force", re.compile(r"force|mn\b", re.I), {"mn", "n", "g"}),
    ("displacement", re.compile(r"piez|displ|position|pos\b", re.I), {"um", "µm", "mm"}),
    ("pressure", re.compile(r"press|^p_", re.I), {"mmhg", "kpa"}),
    ("temperature", re.compile(r"temp|therm", re.I), {"degc", "c", "°c"}),
]


def guess_roles(names: list[str], units: list[str]) -> dict[str, str]:
    """Roles from channel names and units, for files without a channel map.

    A channel gets a stimulus role when its name says so (``stim``, ``trig``, ``piezo``, ``press``,
    ``temp``, ``force``) or, failing that, when its unit is specific to the role (mN, um, mmHg,
    degC).
    The nerve is the first remaining channel that is not a command channel.
    """
    roles: dict[str, str] = {}
    taken: set[str] = set()
    for by_unit in (False, True):
        for role, pattern, role_units in _GUESS:
            if role in roles:
                continue
            for name, unit in zip(names, units, strict=True):
                if name in taken:
                    continue
                u = (unit or "").strip().lower()
                hit = (u in role_units) if by_unit else bool(pattern.search(name))
                if by_unit and role == "stimulus":
                    hit = False  # V is too common a unit to mean "stimulus" on its own
                if hit:
                    roles[role] = name
                    taken.add(name)
                    break
    for name in names:
        if name not in taken and not re.search(r"command|cmd", name, re.I):
            roles["nerve"] = name
            break
    return roles
