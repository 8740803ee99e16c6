"""Read current-clamp recordings sweep by sweep: membrane potential, injected current, test step.

ABF1/ABF2 files are read with pyabf; other formats neo can read (WinWCP, Igor, NWB, Spike2, ...) go
through neo. The reader

* finds the membrane-potential channel by its units (mV/V) and name, never by position;
* refuses voltage-clamp recordings and mislabelled units with a specific :class:`InputError`;
* reconstructs the injected current of every sweep from the protocol's epoch table, from an Axon
  *user list* (which pyabf's ``sweepC`` ignores), or from a recorded current channel, and records
  which source was used (``stim_source``);
* identifies the *test step*: the step epoch whose amplitude changes across sweeps (a fixed prepulse
  or a repetition of the step later in the sweep is not the test step); a protocol whose only
  changing epoch is a ramp gives a ramp.

pyabf keeps a "current sweep" cursor (``setSweep``); it is confined to :class:`AbfReader` and every
sweep is returned as an independent :class:`Sweep` holding copies of its arrays.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fmslab.errors import InputError

log = logging.getLogger(__name__)

VOLTAGE_UNITS_TO_MV = {"mv": 1.0, "v": 1000.0, "uv": 1e-3, "µv": 1e-3}
CURRENT_UNITS_TO_PA = {"pa": 1.0, "na": 1000.0, "ua": 1e6, "µa": 1e6, "fa": 1e-3}
#: Channel names of a command, trigger or stimulus monitor rather than the membrane potential.
NON_VM_NAME_HINTS = ("cmd", "command", "stim", "trig", "piezo", "piezzo", "sync")
#: ABF2 epoch types (ABFHEADR.H): 1 step, 2 ramp, 3 pulse train, 4 triangle train, 5 cosine train.
EPOCH_STEP, EPOCH_RAMP = 1, 2
#: ABF2 user-list parameter numbers (ABFHEADR.H, ABF_EPOCHCOUNT = 50): ABF_PARALLELVALUE = 11 is
#: followed by 50 parallel values, so ABF_EPOCHINITLEVEL = 61 + epoch index and
#: ABF_EPOCHINITDURATION = 111 + epoch index. (pyabf's ``names.getUserListParameterName`` is off by
#: one block; the recorded I_Com channel of 2020_03_02_0000.abf confirms this mapping, see tests.)
UL_EPOCH_INIT_LEVEL, UL_EPOCH_INIT_DURATION, ABF_EPOCH_COUNT = 61, 111, 50


@dataclass(frozen=True)
class Stimulus:
    """The injected current of one sweep."""

    kind: str  # "step", "ramp", "pulse", "none"
    stim_pA: float  # test-step amplitude relative to holding (ramp: end level); NaN when unknown
    stim_start_s: float
    stim_end_s: float
    holding_pA: float
    source: str  # "epochs", "user_list", "current_channel", "trigger_channel", "none"
    #: ramp only: slope of the injected current, pA/s, and its value at stim_start_s
    ramp_slope_pA_per_s: float = float("nan")
    ramp_start_pA: float = float("nan")
    #: a fixed prepulse epoch before the test step (for Rin), or NaN
    #: injected current (relative to holding) just before the test epoch (the baseline window)
    pre_stim_pA: float = 0.0
    prepulse_pA: float = float("nan")
    prepulse_start_s: float = float("nan")
    prepulse_end_s: float = float("nan")

    def current_at(self, t_s: float) -> float:
        """Injected current (pA, relative to holding) at time ``t_s`` of the sweep."""
        if not (self.stim_start_s <= t_s <= self.stim_end_s):
            return 0.0
        if self.kind == "ramp":
            return self.ramp_start_pA + self.ramp_slope_pA_per_s * (t_s - self.stim_start_s)
        return self.stim_pA


@dataclass(frozen=True)
class Sweep:
    """One sweep: membrane potential (mV) on a regular time base plus its stimulus."""

    index: int
    v_mV: np.ndarray
    dt_s: float
    stimulus: Stimulus
    i_pA: np.ndarray | None = None  # recorded current channel, when present
    t0_s: float = 0.0
    #: times (s) where the injected current changes abruptly (step/pulse on- and offsets, trigger
    #: pulses): a rise of V that starts there is a charging transient, not a spike onset
    edges_s: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def t_s(self) -> np.ndarray:
        return np.arange(self.v_mV.size) * self.dt_s

    @property
    def duration_s(self) -> float:
        return self.v_mV.size * self.dt_s


@dataclass
class RecordingInfo:
    """What the reader found out about a file (one row of provenance per file)."""

    path: Path
    reader: str
    format_version: str
    n_sweeps: int
    sample_rate_hz: float
    vm_channel: int
    vm_name: str
    vm_units: str
    current_channel: int | None
    stim_source: str
    protocol: str
    gap_free: bool
    variable_length: bool
    notes: list[str] = field(default_factory=list)


def _norm_units(units: str) -> str:
    return str(units).strip().replace("μ", "µ").lower()


def _is_vm_name(name: str) -> bool:
    low = name.lower()
    return not any(h in low for h in NON_VM_NAME_HINTS)


def choose_vm_channel(names: list[str], units: list[str], file: str) -> int:
    """Index of the membrane-potential channel, by units (mV/V) and name.

    Raises
    ------
    InputError
        No channel is in voltage units (the caller then checks for voltage clamp/mislabelled units).
    """
    candidates = [
        i
        for i, (n, u) in enumerate(zip(names, units, strict=True))
        if _norm_units(u) in VOLTAGE_UNITS_TO_MV and _is_vm_name(n)
    ]
    if not candidates:
        raise InputError(
            f"no membrane-potential channel (units mV or V) among channels "
            f"{[f'{n} ({u})' for n, u in zip(names, units, strict=True)]}",
            file=file,
        )
    preferred = [i for i in candidates if any(k in names[i].lower() for k in ("vm", "mem", "pot"))]
    return (preferred or candidates)[0]


def _spiky(y: np.ndarray) -> bool:
    """True when a signal has brief large upward excursions from a steady baseline (APs)."""
    med = float(np.median(y))
    spread = float(np.percentile(y, 75) - np.percentile(y, 25)) or 1e-12
    return (float(np.max(y)) - med) > 10 * spread and (med - float(np.min(y))) < (np.max(y) - med)


# --------------------------------------------------------------------------------------- ABF


class AbfReader:
    """Sweep-by-sweep access to one ABF file; the pyabf cursor never leaves this class."""

    def __init__(self, path: str | Path):
        import pyabf

        self.path = Path(path)
        self.file = self.path.name
        if not self.path.is_file():
            raise InputError("file not found", file=str(self.path))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._abf = pyabf.ABF(str(self.path))
        except Exception as exc:  # noqa: BLE001 - pyabf raises many types on corrupt files
            msg = f"pyabf cannot read it ({type(exc).__name__}: {exc})"
            raise InputError(msg, file=self.file) from exc
        abf = self._abf
        self.names = list(abf.adcNames)
        self.units = list(abf.adcUnits)
        self.dac_units = [str(u) for u in abf.dacUnits]
        self.n_sweeps = int(abf.sweepCount)
        self.rate_hz = float(abf.sampleRate)
        self.version = abf.abfVersionString
        self.is_abf1 = abf.abfVersion["major"] == 1
        self.gap_free = int(abf.nOperationMode) == 3
        self.variable_length = int(abf.nOperationMode) == 1
        self.notes: list[str] = []
        self.vm_channel = self._find_vm()
        self.vm_scale = VOLTAGE_UNITS_TO_MV[_norm_units(self.units[self.vm_channel])]
        self._check_vm_range()
        self.current_channel = self._find_current_channel()
        self.trigger_channel = self._find_trigger_channel()
        self.dac = self._find_current_dac()
        self._stimuli = self._build_stimuli()

    # -- channels -------------------------------------------------------------------------
    def _raw(self, sweep: int, channel: int) -> np.ndarray:
        self._abf.setSweep(sweep, channel=channel)
        return np.array(self._abf.sweepY, dtype=np.float64)  # a copy: the cursor's buffer is reused

    def _find_vm(self) -> int:
        try:
            return choose_vm_channel(self.names, self.units, self.file)
        except InputError:
            pass
        chans = ", ".join(f"{n!r} ({u})" for n, u in zip(self.names, self.units, strict=True))
        command_in_current = any(_norm_units(u) in CURRENT_UNITS_TO_PA for u in self.dac_units[:1])
        if command_in_current:
            y = self._raw(0, 0)
            looks = "looks like a membrane potential" if _spiky(y) else "is not a plausible current"
            raise InputError(
                f"wrong units: the command is a current ({self.dac_units[0]}), so this is current "
                f"clamp, but no channel is in mV; channel {self.names[0]!r} is labelled "
                f"{self.units[0]!r} and its signal (median {np.median(y):.1f}, 0.1-99.9 % range "
                f"{np.percentile(y, 0.1):.1f}..{np.percentile(y, 99.9):.1f}) {looks}: fix the "
                f"channel's units/scale factor in the acquisition settings",
                file=self.file,
            )
        raise InputError(
            f"voltage-clamp recording (channels {chans}; command in "
            f"{self.dac_units[0] if self.dac_units else '?'}): current-clamp analysis needs a "
            f"membrane-potential channel in mV",
            file=self.file,
        )

    def _check_vm_range(self) -> None:
        """A membrane potential labelled mV must look like one (median within -150..+100 mV)."""
        v = self._raw(0, self.vm_channel) * self.vm_scale
        med = float(np.median(v))
        if not -150.0 <= med <= 100.0:
            raise InputError(
                f"wrong units: channel {self.names[self.vm_channel]!r} is labelled "
                f"{self.units[self.vm_channel]!r} but its median is {med:.1f} mV, not a membrane "
                f"potential; fix the channel's units/scale factor",
                file=self.file,
                sweep=0,
            )

    def _find_current_channel(self) -> int | None:
        for i, u in enumerate(self.units):
            if i != self.vm_channel and _norm_units(u) in CURRENT_UNITS_TO_PA:
                return i
        return None

    def _find_trigger_channel(self) -> int | None:
        """A stimulus/trigger monitor channel (named stim/trig), e.g. File_axon_3's 'stim' [V]."""
        for i, n in enumerate(self.names):
            if i != self.vm_channel and any(k in n.lower() for k in ("stim", "trig")):
                return i
        return None

    def _find_current_dac(self) -> int | None:
        """The DAC that injects current: units pA/nA and waveform enabled (ABF1: DAC 0)."""
        if self.is_abf1:
            ok = self.dac_units and _norm_units(self.dac_units[0]) in CURRENT_UNITS_TO_PA
            return 0 if ok else None
        dac = self._abf._dacSection
        for i, u in enumerate(self.dac_units):
            if _norm_units(u) in CURRENT_UNITS_TO_PA and dac.nWaveformEnable[i]:
                return i
        return None

    # -- stimulus ---------------------------------------------------------------------------
    def _epochs(self, sweep: int) -> tuple[list[tuple[int, int, float, int]], float]:
        """Epochs of the current DAC for ``sweep``: (start, end, level pA, type) + start level."""
        abf, dac = self._abf, self.dac
        assert dac is not None
        if self.is_abf1:
            return self._epochs_abf1(sweep)
        ep = abf._epochPerDacSection
        scale = CURRENT_UNITS_TO_PA[_norm_units(self.dac_units[dac])]
        ul = self._user_list()
        pos = int(abf.sweepPointCount // 64)  # ABF2 holds for 1/64 of the sweep before epoch A
        out = []
        k = 0
        for j in range(len(ep.nEpochType)):
            if ep.nDACNum[j] != dac or ep.nEpochType[j] == 0:
                continue
            level = ep.fEpochInitLevel[j] + sweep * ep.fEpochLevelInc[j]
            dur = ep.lEpochInitDuration[j] + sweep * ep.lEpochDurationInc[j]
            if ul is not None:
                param, values = ul
                if param == UL_EPOCH_INIT_LEVEL + k:
                    level = values[sweep % len(values)]
                elif param == UL_EPOCH_INIT_DURATION + k:
                    dur = int(values[sweep % len(values)])
            out.append((pos, pos + int(dur), float(level) * scale, int(ep.nEpochType[j])))
            pos += int(dur)
            k += 1
        holding = float(abf._dacSection.fDACHoldingLevel[dac]) * scale
        return out, holding

    def _epochs_abf1(self, sweep: int) -> tuple[list[tuple[int, int, float, int]], float]:
        """ABF1: pyabf's epoch table of DAC 0 (its first entry is the pre-epoch holding)."""
        abf = self._abf
        abf.setSweep(sweep, channel=0)
        ep = abf.sweepEpochs
        scale = CURRENT_UNITS_TO_PA[_norm_units(self.dac_units[0])]
        kinds = {"step": EPOCH_STEP, "ramp": EPOCH_RAMP}
        out = [
            (int(a), int(b), float(lv) * scale, kinds.get(str(t).lower(), 3))
            for a, b, lv, t in zip(ep.p1s[1:], ep.p2s[1:], ep.levels[1:], ep.types[1:], strict=True)
            if b > a
        ]
        return out, float(ep.levels[0]) * scale

    def _user_list(self) -> tuple[int, list[float]] | None:
        abf = self._abf
        enable = getattr(abf, "userListEnable", None) or []
        params = getattr(abf, "userListParamToVary", None) or []
        values = getattr(abf, "userList", None)
        for en, param in zip(enable, params, strict=False):
            if en and param is not None and values:
                return int(param), [float(v) for v in values]
        return None

    def _fallback_stimuli(self) -> list[Stimulus]:
        """No usable epoch table: a recorded current, else a trigger channel, else nothing."""
        if self.current_channel is not None:
            return [self._stim_from_current(s) for s in range(self.n_sweeps)]
        if self.trigger_channel is not None:
            return [self._stim_from_trigger(s) for s in range(self.n_sweeps)]
        return [Stimulus("none", float("nan"), float("nan"), float("nan"), 0.0, "none")] * (
            self.n_sweeps
        )

    def _build_stimuli(self) -> list[Stimulus]:
        stims = self._epoch_stimuli()
        if stims is None or all(s.kind == "none" for s in stims):
            return self._fallback_stimuli()
        return stims

    def _epoch_stimuli(self) -> list[Stimulus] | None:
        dt = 1.0 / self.rate_hz
        none = Stimulus("none", float("nan"), float("nan"), float("nan"), 0.0, "none")
        if self.dac is None or self.gap_free or self.variable_length:
            return None
        per_sweep = [self._epochs(s) for s in range(self.n_sweeps)]
        if not per_sweep or not per_sweep[0][0]:
            return None
        source = "user_list" if self._user_list() is not None else "epochs"
        n_ep = len(per_sweep[0][0])
        levels = np.array([[e[2] for e in eps] for eps, _ in per_sweep])
        types = [e[3] for e in per_sweep[0][0]]
        holding = per_sweep[0][1]
        varying = [j for j in range(n_ep) if np.ptp(levels[:, j]) > 1e-9]
        test = next((j for j in varying if types[j] in (EPOCH_STEP, EPOCH_RAMP)), None)
        if test is None:
            nonzero = [j for j in range(n_ep) if abs(levels[0, j] - holding) > 1e-9]
            if not nonzero:
                return [none] * self.n_sweeps
            test = max(nonzero, key=lambda j: abs(levels[0, j] - holding))
        kind = {EPOCH_STEP: "step", EPOCH_RAMP: "ramp"}.get(types[test], "pulse")
        if kind == "step" and not varying:
            kind = (
                "pulse"
                if (per_sweep[0][0][test][1] - per_sweep[0][0][test][0]) * dt < 0.02
                else "step"
            )
        inter_last = (
            False if self.is_abf1 else bool(self._abf._dacSection.nInterEpisodeLevel[self.dac])
        )
        out = []
        prev_end_level = holding
        for eps, hold in per_sweep:
            p1, p2, level, _ = eps[test]
            base = prev_end_level if inter_last else hold
            before = eps[test - 1][2] if test > 0 else base
            pre = [
                j for j in range(test) if types[j] == EPOCH_STEP and abs(eps[j][2] - hold) > 1e-9
            ]
            pre_kw: dict[str, float] = {"pre_stim_pA": before - hold}
            if pre and pre[-1] not in varying:
                a, b, lv, _ = eps[pre[-1]]
                pre_kw.update(prepulse_pA=lv - hold, prepulse_start_s=a * dt, prepulse_end_s=b * dt)
            if kind == "ramp":
                dur_s = (p2 - p1) * dt
                out.append(
                    Stimulus(
                        "ramp",
                        level - hold,
                        p1 * dt,
                        p2 * dt,
                        hold,
                        source,
                        ramp_slope_pA_per_s=(level - before) / dur_s if dur_s > 0 else float("nan"),
                        ramp_start_pA=before - hold,
                        **pre_kw,
                    )
                )
            else:
                out.append(Stimulus(kind, level - hold, p1 * dt, p2 * dt, hold, source, **pre_kw))
            prev_end_level = eps[-1][2]
        return out

    def _stim_from_trigger(self, sweep: int) -> Stimulus:
        """A stimulus trigger pulse (amplitude unknown in pA): its onset times the response."""
        assert self.trigger_channel is not None
        trig = self._raw(sweep, self.trigger_channel)
        dt = 1.0 / self.rate_hz
        edges = current_edges_s(trig, dt, min_jump=0.5 * float(np.ptp(trig)) or 1.0)
        if not edges.size:
            return Stimulus("none", float("nan"), float("nan"), float("nan"), 0.0, "none")
        return Stimulus(
            "pulse", float("nan"), float(edges[0]), float(edges[-1]), 0.0, "trigger_channel"
        )

    def _stim_from_current(self, sweep: int) -> Stimulus:
        """Largest sustained step in the recorded current channel (median-filtered levels)."""
        assert self.current_channel is not None
        scale = CURRENT_UNITS_TO_PA[_norm_units(self.units[self.current_channel])]
        i = self._raw(sweep, self.current_channel) * scale
        return stimulus_from_current(i, 1.0 / self.rate_hz)

    # -- public -----------------------------------------------------------------------------
    def info(self) -> RecordingInfo:
        srcs = sorted({s.source for s in self._stimuli})
        return RecordingInfo(
            path=self.path,
            reader="pyabf",
            format_version=f"ABF {self.version}",
            n_sweeps=self.n_sweeps,
            sample_rate_hz=self.rate_hz,
            vm_channel=self.vm_channel,
            vm_name=self.names[self.vm_channel],
            vm_units=self.units[self.vm_channel],
            current_channel=self.current_channel,
            stim_source="+".join(srcs),
            protocol=str(getattr(self._abf, "protocol", "")),
            gap_free=self.gap_free,
            variable_length=self.variable_length,
            notes=list(self.notes),
        )

    def sweep(self, index: int) -> Sweep:
        if not 0 <= index < self.n_sweeps:
            raise InputError(f"no sweep {index} (file has {self.n_sweeps})", file=self.file)
        v = self._raw(index, self.vm_channel) * self.vm_scale
        i_pa = None
        if self.current_channel is not None:
            scale = CURRENT_UNITS_TO_PA[_norm_units(self.units[self.current_channel])]
            i_pa = self._raw(index, self.current_channel) * scale
        if not np.all(np.isfinite(v)):
            raise InputError("membrane potential contains NaN/inf", file=self.file, sweep=index)
        dt = 1.0 / self.rate_hz
        stim = self._stimuli[index]
        edges = [stim.stim_start_s, stim.stim_end_s, stim.prepulse_start_s, stim.prepulse_end_s]
        if i_pa is not None:
            edges.extend(current_edges_s(i_pa, dt, min_jump=50.0))
        if self.trigger_channel is not None:
            trig = self._raw(index, self.trigger_channel)
            edges.extend(current_edges_s(trig, dt, min_jump=0.5 * float(np.ptp(trig)) or 1.0))
        e = np.array([x for x in edges if np.isfinite(x)], dtype=float)
        return Sweep(index, v, dt, stim, i_pa, edges_s=np.unique(e))

    def __iter__(self) -> Iterator[Sweep]:
        for s in range(self.n_sweeps):
            yield self.sweep(s)


def current_edges_s(i: np.ndarray, dt_s: float, min_jump: float) -> np.ndarray:
    """Times (s) where a command/monitor signal jumps by more than ``min_jump`` within 0.5 ms."""
    if i.size < 3 or float(np.ptp(i)) < min_jump:
        return np.empty(0)
    lag = max(1, int(round(0.5e-3 / dt_s)))
    jump = np.abs(i[lag:] - i[:-lag]) > min_jump
    starts, ends = np.flatnonzero(np.diff(np.r_[False, jump, False].view(np.int8)) == 1), None
    # the window [k, k + lag] first spans the jump at k = edge - lag: the edge is at k + lag
    del ends
    return (starts + lag) * dt_s


def stimulus_from_current(i_pA: np.ndarray, dt_s: float, min_step_pA: float = 5.0) -> Stimulus:
    """Test step from a recorded current: the longest run > ``min_step_pA`` away from baseline.

    The baseline is the median of the first 5 % of the sweep; the step amplitude is the median of
    the run. Returns kind "none" with the holding current when no step is present.
    """
    n = i_pA.size
    k = max(1, n // 20)
    base = float(np.median(i_pA[:k]))
    # 1 ms median-free smoothing: moving average suppresses the noise of the current monitor
    w = max(1, int(round(1e-3 / dt_s)))
    sm = np.convolve(i_pA - base, np.ones(w) / w, mode="same") if w > 1 else i_pA - base
    away = np.abs(sm) > min_step_pA
    if not away.any():
        return Stimulus("none", 0.0, float("nan"), float("nan"), base, "current_channel")
    edges = np.flatnonzero(np.diff(np.r_[0, away.view(np.int8), 0]))
    starts, ends = edges[::2], edges[1::2]
    j = int(np.argmax(ends - starts))
    a, b = int(starts[j]), int(ends[j])
    amp = float(np.median(i_pA[a:b]) - base)
    kind = "step" if (b - a) * dt_s >= 0.02 else "pulse"
    return Stimulus(kind, amp, a * dt_s, b * dt_s, base, "current_channel")


# --------------------------------------------------------------------------------------- neo


class NeoReader:
    """Other formats through neo: one analog signal in mV per segment = one sweep."""

    def __init__(self, path: str | Path):
        import neo

        self.path = Path(path)
        self.file = self.path.name
        try:
            io = neo.io.get_io(str(self.path))
            block = io.read_block(lazy=False)
        except Exception as exc:  # noqa: BLE001
            msg = f"neo cannot read it ({type(exc).__name__}: {exc})"
            raise InputError(msg, file=self.file) from exc
        self._segments = block.segments
        if not self._segments or not self._segments[0].analogsignals:
            raise InputError("no analog signals in the file", file=self.file)
        sig0 = self._segments[0].analogsignals
        names, units, where = [], [], []
        for si, sig in enumerate(sig0):
            for ci in range(sig.shape[1]):
                nm = (
                    str(sig.array_annotations.get("channel_names", [sig.name] * sig.shape[1])[ci])
                    if hasattr(sig, "array_annotations")
                    else str(sig.name)
                )
                names.append(nm)
                units.append(sig.units.dimensionality.string)
                where.append((si, ci))
        idx = choose_vm_channel(names, units, self.file)
        self._where = where[idx]
        self.names, self.units = names, units
        self.vm_scale = VOLTAGE_UNITS_TO_MV[_norm_units(units[idx])]
        self.vm_channel = idx
        self.n_sweeps = len(self._segments)
        self.rate_hz = float(sig0[self._where[0]].sampling_rate.rescale("Hz").magnitude)

    def info(self) -> RecordingInfo:
        return RecordingInfo(
            path=self.path,
            reader="neo",
            format_version=self.path.suffix,
            n_sweeps=self.n_sweeps,
            sample_rate_hz=self.rate_hz,
            vm_channel=self.vm_channel,
            vm_name=self.names[self.vm_channel],
            vm_units=self.units[self.vm_channel],
            current_channel=None,
            stim_source="none",
            protocol="",
            gap_free=self.n_sweeps == 1,
            variable_length=False,
        )

    def sweep(self, index: int) -> Sweep:
        si, ci = self._where
        sig = self._segments[index].analogsignals[si]
        v = np.asarray(sig.magnitude[:, ci], dtype=np.float64) * self.vm_scale
        stim = Stimulus("none", float("nan"), float("nan"), float("nan"), 0.0, "none")
        return Sweep(index, v, 1.0 / self.rate_hz, stim)

    def __iter__(self) -> Iterator[Sweep]:
        for s in range(self.n_sweeps):
            yield self.sweep(s)


def open_recording(path: str | Path) -> AbfReader | NeoReader:
    """A sweep-by-sweep reader for ``path`` (ABF via pyabf, anything else via neo)."""
    p = Path(path)
    if p.suffix.lower() == ".abf":
        return AbfReader(p)
    return NeoReader(p)


def iter_sweeps(path: str | Path) -> Iterator[Sweep]:
    """Every sweep of ``path`` in order, each an independent :class:`Sweep`."""
    yield from open_recording(path)
