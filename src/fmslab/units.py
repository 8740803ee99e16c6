"""One parser for the unit strings that acquisition programs write, and their scale factors.

Readers meet many spellings of the same unit: ``'mV'``, ``' Volt'``, ``'volts'``, ``'µV'`` (micro
sign U+00B5), ``'μV'`` (Greek mu U+03BC), ``'uV'``, ``'pA'``, ``'amperes'``, ``'mmHg'``, ``'um'``.
:func:`parse_unit` turns any of them into a :class:`Unit`: the physical quantity it measures and the
factor that converts a value in that unit to the package's canonical unit of the quantity:

========== ========= ======================================================
quantity   canonical accepted (case-insensitive, surrounding blanks ignored)
========== ========= ======================================================
voltage    mV        V, volt(s), mV, millivolt(s), µV/μV/uV, microvolt(s), nV, kV
current    pA        A, amp(s), ampere(s), mA, µA/uA, nA, pA, fA
pressure   mmHg      mmHg, Pa, kPa, hPa, mbar, bar, psi, cmH2O
length     um        m, mm, µm/um, micron(s), nm
time       s         s, sec, ms, µs/us, min
temperature degC     degC, deg C, °C, C, celsius
========== ========= ======================================================

A prefix letter is case-sensitive where SI makes it so (``'mV'`` millivolt, ``'MV'`` megavolt is
refused rather than guessed); the unit symbol itself is not (``'mv'`` = ``'mV'``, as Axon writes it).
Unknown strings raise :class:`UnitError` (a ``ValueError``) naming the string; use
:func:`try_parse_unit` to get ``None`` instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: canonical unit of each quantity
CANONICAL = {
    "voltage": "mV",
    "current": "pA",
    "pressure": "mmHg",
    "length": "um",
    "time": "s",
    "temperature": "degC",
}

#: SI prefix -> power of ten
_PREFIX = {"": 0, "k": 3, "m": -3, "u": -6, "µ": -6, "n": -9, "p": -12, "f": -15}
#: SI symbol -> (quantity, power of ten from the unprefixed symbol to the canonical unit)
_SYMBOLS = {"v": ("voltage", 3), "a": ("current", 12), "m": ("length", 6), "s": ("time", 0)}
#: pascal, case-sensitive ("pA" is a current)
_PASCAL = {"Pa": 1.0, "hPa": 100.0, "kPa": 1e3}
_MMHG_PER_PA = 1.0 / 133.322387415
#: whole words and non-SI units (after lower-casing, micro signs normalised to "µ")
_WORDS = {
    "volt": ("voltage", 1e3),
    "volts": ("voltage", 1e3),
    "millivolt": ("voltage", 1.0),
    "millivolts": ("voltage", 1.0),
    "microvolt": ("voltage", 1e-3),
    "microvolts": ("voltage", 1e-3),
    "amp": ("current", 1e12),
    "amps": ("current", 1e12),
    "ampere": ("current", 1e12),
    "amperes": ("current", 1e12),
    "picoampere": ("current", 1.0),
    "picoamperes": ("current", 1.0),
    "nanoampere": ("current", 1e3),
    "nanoamperes": ("current", 1e3),
    "mmhg": ("pressure", 1.0),
    "torr": ("pressure", 1.0),
    "mbar": ("pressure", 100.0 / 133.322387415),
    "bar": ("pressure", 1e5 / 133.322387415),
    "psi": ("pressure", 6894.757293168 / 133.322387415),
    "cmh2o": ("pressure", 98.0665 / 133.322387415),
    "kpa": ("pressure", 1e3 / 133.322387415),
    "micron": ("length", 1.0),
    "microns": ("length", 1.0),
    "meter": ("length", 1e6),
    "meters": ("length", 1e6),
    "metre": ("length", 1e6),
    "metres": ("length", 1e6),
    "sec": ("time", 1.0),
    "second": ("time", 1.0),
    "seconds": ("time", 1.0),
    "min": ("time", 60.0),
    "degc": ("temperature", 1.0),
    "deg c": ("temperature", 1.0),
    "°c": ("temperature", 1.0),
    "c": ("temperature", 1.0),
    "celsius": ("temperature", 1.0),
}


class UnitError(ValueError):
    """A unit string that is not one of the accepted spellings."""


@dataclass(frozen=True)
class Unit:
    """A parsed unit: ``value_in_canonical = value * scale``."""

    text: str  #: the string as written in the file
    quantity: str  #: "voltage", "current", "pressure", "length", "time" or "temperature"
    scale: float  #: factor to :data:`CANONICAL` ``[quantity]``

    @property
    def canonical(self) -> str:
        return CANONICAL[self.quantity]


def _normalise(text: str) -> str:
    s = str(text).strip().replace("\x00", "").replace("μ", "µ")  # Greek mu -> micro sign
    return re.sub(r"\s+", " ", s)


def try_parse_unit(text: str | None) -> Unit | None:
    """:func:`parse_unit`, or ``None`` when ``text`` is empty or not an accepted unit."""
    if text is None:
        return None
    s = _normalise(text)
    if not s:
        return None
    low = s.lower()
    if low in _WORDS:
        q, f = _WORDS[low]
        return Unit(str(text), q, f)
    if s in _PASCAL:
        return Unit(str(text), "pressure", _PASCAL[s] * _MMHG_PER_PA)
    # SI: optional prefix (case-sensitive; 'u' and 'µ' are both micro) + symbol (any case)
    sym, prefix = low[-1], s[:-1]
    if sym in _SYMBOLS and prefix in _PREFIX:
        q, e = _SYMBOLS[sym]
        return Unit(str(text), q, 10.0 ** (_PREFIX[prefix] + e))
    return None


def parse_unit(text: str | None) -> Unit:
    """The :class:`Unit` of ``text``.

    Raises
    ------
    UnitError
        ``text`` is empty or not an accepted spelling (the message quotes it).
    """
    u = try_parse_unit(text)
    if u is None:
        raise UnitError(f"unknown unit {text!r}")
    return u


def scale_to(text: str | None, quantity: str) -> float:
    """Factor converting values in unit ``text`` to the canonical unit of ``quantity``.

    Raises
    ------
    UnitError
        ``text`` is not a unit of ``quantity`` (e.g. ``scale_to('pA', 'voltage')``).
    """
    u = parse_unit(text)
    if u.quantity != quantity:
        raise UnitError(f"unit {text!r} is a {u.quantity}, not a {quantity}")
    return u.scale


def is_quantity(text: str | None, quantity: str) -> bool:
    """True when ``text`` parses as a unit of ``quantity``."""
    u = try_parse_unit(text)
    return u is not None and u.quantity == quantity
