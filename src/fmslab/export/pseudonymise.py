"""Pseudonymisation of an export: keyed hashes for ids, generalised quasi-identifiers, a report.

A *pseudonym* is ``HMAC-SHA256(key, "<kind>:<id>")`` in hexadecimal, cut to
:data:`PSEUDONYM_HEX` characters and prefixed by the kind's letter (``d`` donor, ``m`` mouse,
``c`` cell, ``u`` unit recording, ``s`` sample): the same id and key always give the same pseudonym,
and without the key (which stays with the lab) the pseudonym cannot be traced back. Quasi-identifiers
are generalised to declared bins (ages to ranges, dates to a month or year), direct identifiers are
dropped, and every change is written to the report (:meth:`Pseudonymiser.report_frame`).

Without a key (:meth:`Pseudonymiser.identity`) ids are kept and dates are exact, but direct
identifiers are still dropped: no export ever carries names or contact details.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from fmslab.errors import InputError

#: Hex characters kept of each HMAC (48 bits: collisions are checked, see :meth:`Pseudonymiser.pid`).
PSEUDONYM_HEX = 12
#: Letter prefixing the pseudonym of each kind of id.
KIND_PREFIX = {"donor": "d", "mouse": "m", "cell": "c", "unit": "u", "sample": "s"}
#: Columns that directly identify a person: never exported. A column is one when its name
#: (lower case, words joined by ``_``) is listed here, contains one of :data:`IDENTIFYING_WORDS`
#: as a word, or is ``<who>_name`` for a person (``first_name``, ``patient_name``, ...). Other
#: columns of the donors sheet not in :data:`DONOR_COLUMNS` are dropped too (an unknown column may
#: identify someone).
DIRECT_IDENTIFIERS = (
    "name", "full_name", "patient_id", "hospital_number", "hospital_id", "date_of_birth",
    "birth_date", "birthdate", "consent_form", "gp", "street", "city", "zip_code", "e_mail",
)  # fmt: skip
IDENTIFYING_WORDS = (
    "email", "e-mail", "phone", "telephone", "mobile", "address", "postcode", "zip", "initials",
    "surname", "mrn", "nhs", "ssn", "dob", "passport",
)  # fmt: skip
PERSON_WORDS = ("first", "last", "given", "family", "full", "patient", "donor", "subject", "person")
#: Donor columns an export may carry. ``group``, ``diagnosis`` and the clinical scores (``FIQR``,
#: ``pain_score``, ``wpi``, ``sss``, ``tender_points``) reveal the group, so they are exported
#: only with ``--unblinded``.
DONOR_COLUMNS = ("donor_id", "igg_batch", "sex", "age")
DONOR_UNBLINDED_COLUMNS = (
    "group",
    "diagnosis",
    "FIQR",
    "pain_score",
    "wpi",
    "sss",
    "tender_points",
)
#: Default bins of the quasi-identifiers (override in ``study.yaml`` ``parameters.export``).
DEFAULT_DONOR_AGE_BINS_Y = (18, 30, 40, 50, 60, 70, 120)
DEFAULT_MOUSE_AGE_BINS_W = (0, 4, 8, 12, 16, 26, 52, 104)
DATE_RESOLUTIONS = ("day", "month", "year")


def read_key(path: str | Path) -> bytes:
    """The lab's secret key: the bytes of ``path`` (whitespace at the ends stripped).

    Raises
    ------
    InputError
        The file is missing or holds fewer than 16 bytes (too short to be a secret).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("pseudonymisation key file not found", file=p)
    key = p.read_bytes().strip()
    if len(key) < 16:
        raise InputError(
            f"the key is {len(key)} bytes; use at least 16 random bytes "
            '(e.g. `python -c "import secrets; print(secrets.token_hex(32))" > KEYFILE`)',
            file=p,
        )
    return key


def is_direct_identifier(column: str) -> bool:
    """Whether ``column`` names a direct identifier (see :data:`DIRECT_IDENTIFIERS`)."""
    c = re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")
    words = c.split("_")
    if c in DIRECT_IDENTIFIERS or any(w in IDENTIFYING_WORDS for w in words):
        return True
    return len(words) == 2 and words[1] == "name" and words[0] in PERSON_WORDS


def bin_label(value: float, edges: tuple[float, ...], unit: str) -> str | None:
    """The bin ``[lo, hi)`` of ``value`` as text, e.g. ``"40-49 y"``; None for a missing value.

    Values outside the edges give ``"<lo"`` or ``">=hi"``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return None
    v = float(value)
    if v < edges[0]:
        return f"<{edges[0]:g} {unit}"
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if lo <= v < hi:
            return f"{lo:g}-{hi:g} {unit}"
    return f">={edges[-1]:g} {unit}"


def bin_bounds(value: float, edges: tuple[float, ...]) -> tuple[float | None, float | None]:
    """Lower and upper edge of the bin of ``value`` (None where open-ended)."""
    v = float(value)
    if v < edges[0]:
        return None, edges[0]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if lo <= v < hi:
            return lo, hi
    return edges[-1], None


@dataclass(frozen=True)
class Bins:
    """Declared generalisation of the quasi-identifiers."""

    donor_age_years: tuple[float, ...] = DEFAULT_DONOR_AGE_BINS_Y
    mouse_age_weeks: tuple[float, ...] = DEFAULT_MOUSE_AGE_BINS_W
    date_resolution: str = "month"

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None, *, file: str | Path | None = None) -> Bins:
        """Bins from ``study.yaml`` ``parameters.export`` (keys ``donor_age_bins_years``,
        ``mouse_age_bins_weeks``, ``date_resolution``); defaults for what is absent."""
        cfg = cfg or {}
        out = {}
        for key, attr in (
            ("donor_age_bins_years", "donor_age_years"),
            ("mouse_age_bins_weeks", "mouse_age_weeks"),
        ):
            if key in cfg:
                edges = cfg[key]
                ok = isinstance(edges, list) and len(edges) >= 2
                vals = [float(e) for e in edges] if ok else []
                if not ok or any(b <= a for a, b in zip(vals[:-1], vals[1:], strict=True)):
                    raise InputError(
                        f"parameters.export.{key} must be a list of increasing numbers", file=file
                    )
                out[attr] = tuple(vals)
        if "date_resolution" in cfg:
            res = str(cfg["date_resolution"])
            if res not in DATE_RESOLUTIONS:
                raise InputError(
                    f"parameters.export.date_resolution must be one of {', '.join(DATE_RESOLUTIONS)}",
                    file=file,
                )
            out["date_resolution"] = res
        return cls(**out)


@dataclass
class Pseudonymiser:
    """Maps ids to pseudonyms and generalises quasi-identifiers; records what it changed."""

    key: bytes | None
    bins: Bins = field(default_factory=Bins)
    _seen: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _rows: list[dict[str, str]] = field(default_factory=list, repr=False)

    @classmethod
    def identity(cls) -> Pseudonymiser:
        """No key: ids unchanged, dates exact; direct identifiers are still dropped."""
        return cls(key=None, bins=Bins(date_resolution="day"))

    @property
    def active(self) -> bool:
        return self.key is not None

    def pid(self, kind: str, value: Any) -> Any:
        """The pseudonym of id ``value`` of ``kind`` (``value`` itself without a key; NA stays NA)."""
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return value
        if not self.active:
            return str(value)
        text = str(value)
        digest = hmac.new(self.key, f"{kind}:{text}".encode(), hashlib.sha256).hexdigest()
        p = KIND_PREFIX[kind] + digest[:PSEUDONYM_HEX]
        prev = self._seen.setdefault((kind, p), text)
        if prev != text:  # 48-bit collision: never merge two subjects silently
            raise InputError(f"pseudonym collision between {kind} ids '{prev}' and '{text}'")
        return p

    def map_ids(self, df: pd.DataFrame, columns: dict[str, str], table: str) -> pd.DataFrame:
        """Replace the id columns ``{column: kind}`` present in ``df`` by their pseudonyms."""
        out = df.copy()
        for col, kind in columns.items():
            if col in out.columns:
                out[col] = out[col].map(lambda v, k=kind: self.pid(k, v)).astype("string")
                if self.active:
                    self.note(table, col, "pseudonymised", f"{kind} id -> HMAC-SHA256 pseudonym")
        return out

    def date(self, value: Any) -> str | None:
        """An ISO date generalised to :attr:`Bins.date_resolution` (``2026-03`` for month)."""
        if value is None or (not isinstance(value, date) and pd.isna(value)) or value == "":
            return None
        d = pd.Timestamp(value)
        res = self.bins.date_resolution
        if res == "year":
            return f"{d.year:04d}"
        if res == "month":
            return f"{d.year:04d}-{d.month:02d}"
        return d.date().isoformat()

    def session_start(self, when: datetime) -> datetime:
        """A session start time generalised like dates (first day of the month/year, 00:00)."""
        res = self.bins.date_resolution
        if res == "day":
            return when
        if res == "month":
            return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return when.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)

    def generalise_dates(self, df: pd.DataFrame, columns: list[str], table: str) -> pd.DataFrame:
        """Dates in ``columns`` generalised (only with a key)."""
        if not self.active:
            return df
        out = df.copy()
        for col in columns:
            if col in out.columns:
                out[col] = out[col].map(self.date).astype("string")
                self.note(table, col, "generalised", f"date -> {self.bins.date_resolution}")
        return out

    def generalise_number(
        self, df: pd.DataFrame, column: str, edges: tuple[float, ...], unit: str, table: str
    ) -> pd.DataFrame:
        """A numeric quasi-identifier replaced by its bin label (only with a key)."""
        if not self.active or column not in df.columns:
            return df
        out = df.copy()
        out[column] = out[column].map(lambda v: bin_label(v, edges, unit)).astype("string")
        edges_txt = ", ".join(f"{e:g}" for e in edges)
        self.note(table, column, "generalised", f"{unit} -> bins with edges {edges_txt}")
        return out

    def drop_direct(self, df: pd.DataFrame, table: str) -> pd.DataFrame:
        """Drop every column that names a direct identifier; each one is noted in the report."""
        cols = [c for c in df.columns if is_direct_identifier(str(c))]
        for c in cols:
            self.note(table, c, "dropped", "direct identifier")
        return df.drop(columns=cols)

    def note(self, table: str, column: str, action: str, detail: str) -> None:
        """Record one change (repeated notes of the same change are kept once)."""
        row = {"table": table, "column": column, "action": action, "detail": detail}
        if row not in self._rows:
            self._rows.append(row)

    def report_frame(self) -> pd.DataFrame:
        """What was dropped, pseudonymised, generalised or withheld: table, column, action, detail."""
        return pd.DataFrame(self._rows, columns=["table", "column", "action", "detail"])
