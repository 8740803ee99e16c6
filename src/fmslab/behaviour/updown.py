"""Up-down von Frey thresholds: Chaplan et al. (1994) with Dixon's k table, and SUDO (Bonin 2014).

Both methods walk an ordered filament set: after no withdrawal (``O``) the next stimulus is the
next stronger filament, after a withdrawal (``X``) the next weaker one. Every pattern is first
replayed on the set (:func:`walk`) so that a sequence that cannot have been produced by the rule is
flagged, not scored.

Chaplan (1994)
    Counting of the six critical responses starts at the first change of response: the two
    responses straddling the change are the first two, then four more. The whole sequence up to the
    sixth (including the initial run of like responses, of which Dixon's table distinguishes 1-4)
    is looked up in Dixon's table, and the 50% threshold is ``10**(Xf + k*delta) / 10000`` g with
    ``Xf`` the log unit (log10(10000 g)) of the last filament applied and ``delta`` the mean log
    step of the set.
SUDO (Bonin et al. 2014, Mol Pain 10:26)
    Exactly five stimuli; the threshold, in filament units, is the filament of the fifth stimulus +
    0.5 when it gave no withdrawal and - 0.5 when it gave one. fmslab converts the fractional
    filament to force by linear interpolation of log10(force) between the two neighbouring
    filaments.

Boundary cases are never extrapolated: all withdrawals down to the weakest filament give
``threshold_g`` = the weakest force with ``bound = "upper"`` (the threshold is at most this), no
withdrawal up to the strongest gives the strongest force with ``bound = "lower"``; both are
flagged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd

from fmslab.behaviour.filaments import FilamentSet

#: Responses after the first change that Chaplan's rule needs (the change response + 4 more).
CHAPLAN_AFTER_CHANGE = 5
SUDO_STIMULI = 5
VALID = frozenset("OX")

# Flag codes (a result may carry several, joined by ';').
INVALID_PATTERN = "invalid_pattern"
UNKNOWN_FILAMENT = "unknown_filament"
WALK_OFF_SET = "walk_off_set"
LAST_FILAMENT_MISMATCH = "last_filament_mismatch"
BELOW_RANGE = "below_range"
ABOVE_RANGE = "above_range"
INCOMPLETE = "incomplete"
EXTRA_RESPONSES = "extra_responses_ignored"
LONG_LEAD_IN = "lead_in_over_4"
NOT_IN_TABLE = "pattern_not_in_dixon_table"

#: Flags whose threshold_g is still a usable (bounded) number.
BOUNDED_FLAGS = frozenset({BELOW_RANGE, ABOVE_RANGE})
#: Flags that only note something and keep the threshold.
NOTE_FLAGS = frozenset({EXTRA_RESPONSES, LONG_LEAD_IN})


@lru_cache(maxsize=1)
def dixon_table() -> pd.DataFrame:
    """Dixon's k table shipped with fmslab (see ``fmslab/data/behaviour/README.md``)."""
    path = files("fmslab") / "data" / "behaviour" / "dixon_k_table.csv"
    with path.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype={"pattern": str, "first_run": str, "last_part": str})


@lru_cache(maxsize=1)
def _k_lookup() -> dict[str, float]:
    t = dixon_table()
    return dict(zip(t["pattern"], t["k"].astype(float), strict=True))


def dixon_k(pattern: str) -> float | None:
    """k for a pattern whose initial run is 1-4 long and whose tail is 1-5 long, else None."""
    return _k_lookup().get(pattern)


@dataclass(frozen=True)
class UpDownResult:
    """Outcome of one up-down test. ``threshold_g`` is NaN whenever no number can be given."""

    method: str
    threshold_g: float
    flag: str
    detail: str
    bound: str = ""  # "" | "upper" (threshold <= value) | "lower" (threshold >= value)
    k: float = float("nan")
    xf_log: float = float("nan")
    delta_log: float = float("nan")
    last_filament_g: float = float("nan")
    n_stimuli_used: int = 0
    dixon_pattern: str = ""
    sudo_filament: float = float("nan")  # 1-based fractional filament number (SUDO)

    def as_dict(self) -> dict:
        return asdict(self)


def _fail(method: str, flag: str, detail: str, **kw) -> UpDownResult:
    return UpDownResult(method=method, threshold_g=float("nan"), flag=flag, detail=detail, **kw)


def normalise_pattern(pattern: object) -> str | None:
    """Upper-case O/X string without blanks, or None when it holds anything else."""
    if pattern is None or (isinstance(pattern, float) and np.isnan(pattern)) or pattern is pd.NA:
        return None
    text = "".join(str(pattern).split()).upper()
    if not text or set(text) - VALID:
        return None
    return text


def walk(pattern: str, start_index: int, n_filaments: int) -> tuple[list[int], int | None]:
    """Filament index of every stimulus under the up-down rule.

    Returns
    -------
    indices, off_at
        ``indices[i]`` is the filament of stimulus ``i``; ``off_at`` is the 0-based position of the
        first stimulus the rule would need from outside the set (None if all exist).
    """
    indices = [start_index]
    for resp in pattern[:-1]:
        indices.append(indices[-1] + (1 if resp == "O" else -1))
    off = next((i for i, j in enumerate(indices) if j < 0 or j >= n_filaments), None)
    return indices, off


def _n_used(method: str, pat: str) -> int:
    """How many stimuli of ``pat`` the method uses (the rest are ignored and flagged)."""
    if method == "sudo":
        return min(len(pat), SUDO_STIMULI)
    change = next((i for i, r in enumerate(pat) if r != pat[0]), None)
    return len(pat) if change is None else min(len(pat), change + CHAPLAN_AFTER_CHANGE)


def _replay(
    method: str,
    pattern: object,
    first_filament_g: float | None,
    fset: FilamentSet,
    last_filament_g: float | None,
) -> tuple[str, list[int]] | UpDownResult:
    """Check a pattern against the up-down walk; return it with the filament index of each stimulus.

    The walk starts at ``first_filament_g``; when that is missing it is reconstructed backwards from
    ``last_filament_g`` (the filament of the last stimulus recorded). When both are given they must
    agree with the walk. Only the stimuli the method uses must lie inside the set.
    """
    pat = normalise_pattern(pattern)
    if pat is None:
        return _fail(
            method, INVALID_PATTERN, f"pattern '{pattern}' is not a non-empty string of O and X"
        )
    has_first = first_filament_g is not None and pd.notna(first_filament_g)
    has_last = last_filament_g is not None and pd.notna(last_filament_g)
    forces = ", ".join(f"{f:g}" for f in fset.force_g)
    if not has_first and not has_last:
        return _fail(method, UNKNOWN_FILAMENT, "neither first_filament_g nor last_filament_g given")
    last = fset.index_of(float(last_filament_g)) if has_last else None  # type: ignore[arg-type]
    if has_last and last is None:
        return _fail(
            method,
            UNKNOWN_FILAMENT,
            f"last filament {last_filament_g} g is not in set '{fset.name}' ({forces} g)",
        )
    if has_first:
        start = fset.index_of(float(first_filament_g))  # type: ignore[arg-type]
        if start is None:
            return _fail(
                method,
                UNKNOWN_FILAMENT,
                f"first filament {first_filament_g} g is not in set '{fset.name}' ({forces} g)",
            )
    else:
        assert last is not None
        start = last - sum(1 if r == "O" else -1 for r in pat[:-1])
    n_used = _n_used(method, pat)
    idx, off = walk(pat, start, len(fset))
    if off is not None and off < n_used:
        side = "above the strongest" if idx[off] >= len(fset) else "below the weakest"
        origin = (
            f"from {fset.force_g[start]:g} g"
            if 0 <= start < len(fset)
            else f"ending at {last_filament_g} g"
        )
        return _fail(
            method,
            WALK_OFF_SET,
            f"pattern {pat} {origin} needs stimulus {off + 1} {side} "
            f"filament of set '{fset.name}': not an up-down sequence on this set",
        )
    if has_first and has_last and off is None and last != idx[-1]:
        return _fail(
            method,
            LAST_FILAMENT_MISMATCH,
            f"pattern {pat} from {fset.force_g[start]:g} g ends at "
            f"{fset.force_g[idx[-1]]:g} g, "
            f"but the sheet says the last filament was {last_filament_g} g",
        )
    return pat, idx[:n_used]


def _boundary(method: str, pat: str, idx: list[int], fset: FilamentSet) -> UpDownResult | None:
    """Result for an all-like pattern, or None if the pattern changes response."""
    if len(set(pat)) > 1:
        return None
    n = len(fset)
    if pat[0] == "X" and idx[-1] == 0:
        return UpDownResult(
            method,
            fset.force_g[0],
            BELOW_RANGE,
            f"withdrawal to every filament down to the weakest ({fset.force_g[0]:g} g): "
            "threshold <= weakest filament",
            bound="upper",
            last_filament_g=fset.force_g[0],
            n_stimuli_used=len(pat),
        )
    if pat[0] == "O" and idx[-1] == n - 1:
        return UpDownResult(
            method,
            fset.force_g[-1],
            ABOVE_RANGE,
            f"no withdrawal up to the strongest filament ({fset.force_g[-1]:g} g): "
            "threshold >= strongest filament",
            bound="lower",
            last_filament_g=fset.force_g[-1],
            n_stimuli_used=len(pat),
        )
    return None


def chaplan_threshold(
    pattern: object,
    first_filament_g: float | None,
    fset: FilamentSet,
    *,
    last_filament_g: float | None = None,
) -> UpDownResult:
    """50% withdrawal threshold (g) by Chaplan et al. (1994).

    Parameters
    ----------
    pattern
        Responses in testing order, ``O`` no withdrawal, ``X`` withdrawal.
    first_filament_g
        Nominal force of the first filament applied (must be in ``fset``); None to reconstruct
        the start from ``last_filament_g``.
    fset
        The filament set used.
    last_filament_g
        Force of the last filament the sheet recorded; checked against the walk (or used to
        reconstruct it when ``first_filament_g`` is None).
    """
    method = "chaplan"
    replay = _replay(method, pattern, first_filament_g, fset, last_filament_g)
    if isinstance(replay, UpDownResult):
        return replay
    pat, idx = replay
    bounded = _boundary(method, pat, idx, fset)
    if bounded is not None:
        return bounded
    change = next((i for i, r in enumerate(pat) if r != pat[0]), None)
    if change is None:
        return _fail(
            method,
            INCOMPLETE,
            f"pattern {pat}: no change of response yet and the walk has "
            "not reached the end of the set",
            n_stimuli_used=len(pat),
        )
    needed = change + CHAPLAN_AFTER_CHANGE
    if len(pat) < needed:
        return _fail(
            method,
            INCOMPLETE,
            f"pattern {pat}: only {len(pat) - change + 1} of the 6 responses counted from the "
            f"change (needs {needed} stimuli)",
            n_stimuli_used=len(pat),
        )
    flags = []
    detail = ""
    if len(pat) > needed:
        flags.append(EXTRA_RESPONSES)
        detail = f"{len(pat) - needed} response(s) after the sixth ignored; "
    used = pat[:needed]
    lead = used[:change]
    key = lead[-4:] + used[change:]
    if len(lead) > 4:
        # Dixon tabulates initial runs of 1-4 like responses; a longer run is looked up as 4
        flags.append(LONG_LEAD_IN)
        detail += f"initial run of {len(lead)} like responses looked up as 4; "
    k = dixon_k(key)
    if k is None:  # cannot happen with a complete table; kept so a bad table is never silent
        return _fail(method, NOT_IN_TABLE, f"pattern {key} is not in Dixon's table")
    last = idx[needed - 1]
    xf = float(fset.log_units[last])
    delta = fset.delta
    thr = 10 ** (xf + k * delta) / 10000.0
    bound = ""
    if thr < fset.force_g[0]:
        flags.append(BELOW_RANGE)
        bound, thr = "upper", fset.force_g[0]
        detail += f"estimate below the weakest filament: bounded at {thr:g} g; "
    elif thr > fset.force_g[-1]:
        flags.append(ABOVE_RANGE)
        bound, thr = "lower", fset.force_g[-1]
        detail += f"estimate above the strongest filament: bounded at {thr:g} g; "
    detail += f"Dixon pattern {key}, k={k:+.3f}, Xf={xf:.4f}, delta={delta:.4f}"
    return UpDownResult(
        method,
        float(thr),
        ";".join(flags),
        detail,
        bound=bound,
        k=k,
        xf_log=xf,
        delta_log=delta,
        last_filament_g=fset.force_g[last],
        n_stimuli_used=needed,
        dixon_pattern=key,
    )


def sudo_threshold(
    pattern: object,
    first_filament_g: float | None,
    fset: FilamentSet,
    *,
    last_filament_g: float | None = None,
) -> UpDownResult:
    """Withdrawal threshold (g) by the simplified up-down method (SUDO, Bonin et al. 2014).

    The fifth stimulus's filament number +0.5 (no withdrawal) or -0.5 (withdrawal), converted to
    force by interpolating log10(force) between neighbouring filaments. A result beyond the set
    (no withdrawal at the strongest, withdrawal at the weakest) is bounded at that filament and
    flagged.
    """
    method = "sudo"
    replay = _replay(method, pattern, first_filament_g, fset, last_filament_g)
    if isinstance(replay, UpDownResult):
        return replay
    pat, idx = replay
    if len(pat) < SUDO_STIMULI:
        return _fail(
            method,
            INCOMPLETE,
            f"pattern {pat}: SUDO needs {SUDO_STIMULI} stimuli",
            n_stimuli_used=len(pat),
        )
    flags, detail = [], ""
    if len(pat) > SUDO_STIMULI:
        flags.append(EXTRA_RESPONSES)
        detail = f"{len(pat) - SUDO_STIMULI} stimulus/stimuli after the fifth ignored; "
    i5 = idx[SUDO_STIMULI - 1]
    t = i5 + (0.5 if pat[SUDO_STIMULI - 1] == "O" else -0.5)
    n = len(fset)
    bound = ""
    if t > n - 1:
        flags.append(ABOVE_RANGE)
        bound, thr = "lower", fset.force_g[-1]
        detail += f"no withdrawal at the strongest filament: threshold >= {thr:g} g; "
    elif t < 0:
        flags.append(BELOW_RANGE)
        bound, thr = "upper", fset.force_g[0]
        detail += f"withdrawal at the weakest filament: threshold <= {thr:g} g; "
    else:
        lu = float(np.interp(t, np.arange(n), fset.log_units))
        thr = 10**lu / 10000.0
    detail += f"fifth stimulus at filament {i5 + 1} ({fset.force_g[i5]:g} g), response {pat[4]}"
    return UpDownResult(
        method,
        float(thr),
        ";".join(flags),
        detail,
        bound=bound,
        last_filament_g=fset.force_g[i5],
        n_stimuli_used=SUDO_STIMULI,
        sudo_filament=t + 1,
    )
