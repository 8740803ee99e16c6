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
import re
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fmslab.ephys import vmgate
from fmslab.ephys.abf_header import check_abf_header
from fmslab.ephys.ibw_header import check_ibw_header
from fmslab.errors import InputError

log = logging.getLogger(__name__)

VOLTAGE_UNITS_TO_MV = {"mv": 1.0, "v": 1000.0, "uv": 1e-3, "µv": 1e-3}
CURRENT_UNITS_TO_PA = {"pa": 1.0, "na": 1000.0, "ua": 1e6, "µa": 1e6, "fa": 1e-3}
#: Channel names of a command, trigger or stimulus monitor rather than the membrane potential.
NON_VM_NAME_HINTS = ("cmd", "command", "stim", "trig", "piezo", "piezzo", "sync", "ao #")
#: ABF2 epoch types (ABFHEADR.H): 1 step, 2 ramp, 3 pulse train, 4 triangle train, 5 cosine train.
EPOCH_STEP, EPOCH_RAMP, EPOCH_PULSE_TRAIN = 1, 2, 3
EPOCH_NAMES = {4: "triangle train", 5: "cosine train", 6: "resistance test", 7: "biexponential"}
#: ABF DAC waveform sources (ABFHEADR.H): 0 disabled, 1 epoch table, 2 stimulus file
WAVEFORM_DISABLED, WAVEFORM_EPOCHS, WAVEFORM_FILE = 0, 1, 2
#: user-list parameters that do not change the injected current: 7 episode start-to-start
#: interval, 9 digital holding, 11-60 digital (parallel) outputs
UL_HARMLESS = {7, 9, *range(11, 61)}
#: ABF2 user-list parameter numbers (ABFHEADR.H, ABF_EPOCHCOUNT = 50): ABF_PARALLELVALUE = 11 is
#: followed by 50 parallel values, so ABF_EPOCHINITLEVEL = 61 + epoch index and
#: ABF_EPOCHINITDURATION = 111 + epoch index. (pyabf's ``names.getUserListParameterName`` is off by
#: one block; the recorded I_Com channel of 2020_03_02_0000.abf confirms this mapping, see tests.)
UL_EPOCH_INIT_LEVEL, UL_EPOCH_INIT_DURATION, ABF_EPOCH_COUNT = 61, 111, 50


@dataclass(frozen=True)
class Stimulus:
    """The injected current of one sweep."""

    #: "step", "ramp", "pulse", "train" (an epoch of repeated pulses), "none" (no injected
    #: current: spontaneous activity) or "unknown" (current injected but not known: analysed as
    #: spontaneous, never as a step protocol, and the cell fails QC with ``reason``)
    kind: str
    stim_pA: float  # test-step amplitude relative to holding (ramp: end level); NaN when unknown
    stim_start_s: float
    stim_end_s: float
    holding_pA: float
    #: "epochs", "user_list", "current_channel", "trigger_channel", "nwb_stimulus",
    #: "stimulus_file", "none"
    source: str
    #: ramp only: slope of the injected current, pA/s, and its value at stim_start_s
    ramp_slope_pA_per_s: float = float("nan")
    ramp_start_pA: float = float("nan")
    #: a fixed prepulse epoch before the test step (for Rin), or NaN
    #: injected current (relative to holding) just before the test epoch (the baseline window)
    pre_stim_pA: float = 0.0
    prepulse_pA: float = float("nan")
    prepulse_start_s: float = float("nan")
    prepulse_end_s: float = float("nan")
    #: why the injected current is unknown (kind "unknown"), or a note on how it was read
    reason: str = ""

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


def _clean(text: object) -> str:
    """A header string without NUL padding and surrounding blanks."""
    return str(text).replace("\x00", "").strip()


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


def _read_bytes_at_once(self, length: int) -> list[int]:
    """``length`` bytes as a list of ints in one read (what pyabf's ``readBytes`` returns)."""
    data = self._fb.read(length)
    if len(data) != length:  # pyabf's byte-by-byte read fails the same way at the end of file
        raise struct.error(f"unpack requires a buffer of {length} bytes, got {len(data)}")
    return list(data)


def speed_up_pyabf() -> None:
    """Make pyabf 2.3's ``AbfReader.readBytes`` read its bytes in one call instead of one
    ``read`` + ``struct.unpack`` per byte: the ABF2 strings section (~4 500 bytes) read that way
    was a third of the time of opening a file. Same values (a list of ints), same error on a
    short read; tests/test_ephys_io.py compares every header of the shared ABF files."""
    from pyabf import abfReader

    cls = abfReader.AbfReader
    if getattr(cls.readBytes, "__name__", "") == "readBytes":  # pyabf's own, not yet replaced
        cls.readBytes = _read_bytes_at_once


class AbfReader:
    """Sweep-by-sweep access to one ABF file; the pyabf cursor never leaves this class."""

    def __init__(self, path: str | Path):
        import pyabf

        speed_up_pyabf()
        self.path = Path(path)
        self.file = self.path.name
        if not self.path.is_file():
            raise InputError("file not found", file=str(self.path))
        check_abf_header(self.path)  # a header claiming more than the file holds: refused
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._abf = pyabf.ABF(str(self.path))
        except Exception as exc:  # noqa: BLE001 - pyabf raises many types on corrupt files
            msg = f"pyabf cannot read it ({type(exc).__name__}: {exc})"
            raise InputError(msg, file=self.file) from exc
        try:
            self._setup()
        except InputError:
            raise
        except (IndexError, ValueError, KeyError, OSError, EOFError) as exc:
            # pyabf parses headers lazily: a truncated/damaged file fails on first access
            raise InputError(
                f"damaged ABF file ({type(exc).__name__} while reading it: {exc})", file=self.file
            ) from exc

    def _setup(self) -> None:
        abf = self._abf
        self.names = [_clean(n) for n in abf.adcNames]
        self.units = [_clean(u) for u in abf.adcUnits]
        self.dac_units = [_clean(u) for u in abf.dacUnits]
        self.n_sweeps = int(abf.sweepCount)
        if self.n_sweeps < 1 or not self.names:
            raise InputError("no sweeps or no channels in the file", file=self.file)
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
        self._gate()

    def _gate(self) -> None:
        """The Vm gate (:mod:`fmslab.ephys.vmgate`) on a few sweeps spread over the file."""
        idx = sorted({int(round(x)) for x in np.linspace(0, self.n_sweeps - 1, 8)})
        vs = {k: self._raw(k, self.vm_channel) * self.vm_scale for k in idx}
        v_list = [vs.get(k, np.empty(0)) for k in range(self.n_sweeps)]
        chosen = [v_list[k] for k in idx]
        problem = vmgate.vm_problem(chosen, 1.0 / self.rate_hz, [self._stimuli[k] for k in idx])
        if problem is not None:
            raise refuse_not_vm(
                self.file, self.names[self.vm_channel], self.units[self.vm_channel], problem
            )

    # -- channels -------------------------------------------------------------------------
    def _raw(self, sweep: int, channel: int) -> np.ndarray:
        """The scaled samples of one sweep and channel (a copy).

        Fixed-length sweeps are sliced from pyabf's scaled data array directly: ``setSweep``
        would also build the sweep's command waveform, which costs more than the slice.
        """
        abf = self._abf
        row = abf.data[channel]
        lengths = self._variable_lengths()
        if lengths is not None:
            # variable-length sweeps: bounds from the synch array, as ``setSweep`` computes them
            # (which would also rebuild the epoch table of every sweep: quadratic in sweeps)
            start = int(lengths[:sweep].sum())
            return np.array(row[start : start + int(lengths[sweep])], dtype=np.float64)
        n = int(abf.sweepPointCount)
        if row.size >= (sweep + 1) * n:
            return np.array(row[sweep * n : (sweep + 1) * n], dtype=np.float64)
        abf.setSweep(sweep, channel=channel)
        return np.array(abf.sweepY, dtype=np.float64)  # a copy: the cursor's buffer is reused

    def _variable_lengths(self) -> np.ndarray | None:
        """Samples per channel of each sweep when the sweeps differ in length (pyabf's rule:
        more than one sweep and more than one length in the synch array), else None."""
        if not hasattr(self, "_var_lengths"):
            abf = self._abf
            synch = getattr(abf, "_synchArraySection", None)
            lengths = list(getattr(synch, "lLength", None) or [])
            self._var_lengths = (
                np.array([x // abf.channelCount for x in lengths], dtype=np.int64)
                if abf.sweepCount > 1 and len(set(lengths)) > 1
                else None
            )
        return self._var_lengths

    def _find_vm(self) -> int:
        try:
            return choose_vm_channel(self.names, self.units, self.file)
        except InputError:
            pass
        chans = ", ".join(
            f"{n or '(unnamed)'!r} ({u})" for n, u in zip(self.names, self.units, strict=True)
        )
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
        if not any(self.dac_units):
            raise InputError(
                f"no channel in mV (channels {chans}) and the command units are not stored (a "
                f"file re-saved by other software?): it cannot be read as current clamp",
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
        """The DAC that injects current (units pA/nA) with its waveform enabled; ABF1: DAC 0.

        Sets ``self.dac_source`` (:data:`WAVEFORM_EPOCHS`, :data:`WAVEFORM_FILE` or
        :data:`WAVEFORM_DISABLED`) and ``self.dac_holding_pA`` (the holding current of the current
        DAC, also when its waveform is disabled).
        """
        self.dac_source = WAVEFORM_DISABLED
        self.dac_holding_pA = 0.0
        if self.is_abf1:
            h = self._abf._headerV1
            ok = bool(self.dac_units) and _norm_units(self.dac_units[0]) in CURRENT_UNITS_TO_PA
            if not ok:
                return None
            scale = CURRENT_UNITS_TO_PA[_norm_units(self.dac_units[0])]
            hold = getattr(h, "fDACHoldingLevel", [0.0])
            self.dac_holding_pA = float(hold[0]) * scale if len(hold) else 0.0
            src = list(getattr(h, "nWaveformSource", [WAVEFORM_EPOCHS]))
            self.dac_source = int(src[0]) if src else WAVEFORM_EPOCHS
            return 0
        dac = self._abf._dacSection
        for i, u in enumerate(self.dac_units):
            if _norm_units(u) not in CURRENT_UNITS_TO_PA:
                continue
            self.dac_holding_pA = (
                float(dac.fDACHoldingLevel[i]) * CURRENT_UNITS_TO_PA[_norm_units(u)]
            )
            if dac.nWaveformEnable[i]:
                self.dac_source = int(dac.nWaveformSource[i])
                return i
        return None

    def _stimulus_file_name(self) -> str:
        """The stimulus file named in the header (a Clampex waveform file), or ''."""
        try:
            text = "".join(self._abf._stringsSection.strings[:1])
        except Exception:  # noqa: BLE001 - ABF1 has no strings section
            return ""
        hits = re.findall(r"[^\x00\\/]+\.(?:abf|atf|dat)(?=\x00)", text)
        return hits[-1] if hits else ""

    def _unknown(self, reason: str) -> list[Stimulus]:
        self.notes.append(reason)
        st = Stimulus(
            "unknown",
            float("nan"),
            float("nan"),
            float("nan"),
            self.dac_holding_pA,
            "none",
            reason=reason,
        )
        return [st] * self.n_sweeps

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
        """ABF1: pyabf's epoch table of DAC 0 (its first entry is the pre-epoch holding).

        The table is built once per file: ``setSweep`` would rebuild it for every sweep (the
        waveforms of all sweeps each time), which is quadratic in the sweep count.
        """
        import pyabf.waveform

        table = getattr(self, "_abf1_epoch_table", None)
        if table is None:
            table = self._abf1_epoch_table = pyabf.waveform.EpochTable(self._abf, 0)
        ep = table.epochWaveformsBySweep[sweep]
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

    def _fallback_stimuli(self, reason: str = "") -> list[Stimulus]:
        """No usable epoch table: a recorded current, else a trigger channel, else ``reason``
        (the current is unknown) or nothing injected."""
        if self.current_channel is not None:
            return [self._stim_from_current(s) for s in range(self.n_sweeps)]
        if reason:
            return self._unknown(reason)
        if self.trigger_channel is not None:
            return [self._stim_from_trigger(s) for s in range(self.n_sweeps)]
        none = Stimulus(
            "none", float("nan"), float("nan"), float("nan"), self.dac_holding_pA, "none"
        )
        return [none] * self.n_sweeps

    def _protocol_problem(self) -> str:
        """Why the epoch table does not describe the injected current, or ''."""
        if self.dac is None:
            return ""
        name = self._abf.dacNames[self.dac] if self.dac < len(self._abf.dacNames) else ""
        dac = f"DAC {self.dac} ({_clean(name)!r})"
        if self.dac_source == WAVEFORM_FILE:
            f = self._stimulus_file_name()
            return (
                f"the injected current is unknown: {dac} plays a stimulus file"
                f"{f' ({f})' if f else ''}, which is not stored in the recording (its epoch table "
                f"is inactive)"
            )
        if self.is_abf1:
            return ""
        d = self._abf._dacSection
        if int(d.nConditEnable[self.dac]):
            return (
                f"the injected current is not fully known: {dac} delivers a conditioning train "
                f"({int(d.lConditNumPulses[self.dac])} pulses) before each sweep"
            )
        ul = self._user_list()
        if ul is not None:
            param = ul[0]
            known = {UL_EPOCH_INIT_LEVEL + k for k in range(ABF_EPOCH_COUNT)} | {
                UL_EPOCH_INIT_DURATION + k for k in range(ABF_EPOCH_COUNT)
            }
            if param not in known and param not in UL_HARMLESS:
                return (
                    f"the injected current is unknown: a user list varies protocol parameter "
                    f"{param}, which fmslab does not model"
                )
        return ""

    def _build_stimuli(self) -> list[Stimulus]:
        problem = self._protocol_problem()
        if problem:
            return self._fallback_stimuli(problem)
        if self.variable_length:
            self.notes.append("variable-length (event-driven) sweeps: no command waveform")
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
        if types[test] not in (EPOCH_STEP, EPOCH_RAMP, EPOCH_PULSE_TRAIN):
            name = EPOCH_NAMES.get(types[test], f"type {types[test]}")
            return self._fallback_stimuli(
                f"the injected current is not modelled: its changing epoch is a {name}"
            )
        kind = {EPOCH_STEP: "step", EPOCH_RAMP: "ramp", EPOCH_PULSE_TRAIN: "train"}[types[test]]
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
        v = self._raw(index, self.vm_channel)  # a fresh copy
        if self.vm_scale != 1.0:  # (x * 1.0 is x: the pass is skipped for channels in mV)
            v *= self.vm_scale
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


def _merge_runs(
    starts: np.ndarray, ends: np.ndarray, sm: np.ndarray, gap_n: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Runs of one sign less than ``gap_n`` samples apart, with the current between them still
    beyond half the threshold (mean), joined: the noise of a current monitor breaks a slow
    ramp's run where it is near the threshold (its pieces, read alone, look like a flat step of
    part of the ramp); a noise blip at the baseline before a step is not joined to it."""
    if starts.size < 2:
        return starts, ends
    sign = np.sign(sm[starts])  # every sample of a run lies beyond the threshold, on one side
    csum = np.r_[0.0, np.cumsum(sm)]
    g0, g1 = ends[:-1], starts[1:]
    gap_mean = (csum[g1] - csum[g0]) / np.maximum(g1 - g0, 1)
    join = (g1 - g0 < gap_n) & (sign[1:] == sign[:-1]) & (sign[1:] * gap_mean > 0.5 * threshold)
    first = np.r_[True, ~join]  # runs that start a joined group
    last = np.r_[~join, True]
    return starts[first], ends[last]


def stimulus_from_current(i_pA: np.ndarray, dt_s: float, min_step_pA: float = 5.0) -> Stimulus:
    """Test step from a recorded current: the longest run > ``min_step_pA`` away from baseline.

    The baseline is the median of the first 5 % of the sweep; the step amplitude is the median of
    the run. Returns kind "none" with the holding current when no step is present, and kind
    a ramp when the current within the run is not flat (the median of one of six equal parts
    differs from the run's by more than 1 pA and a fifth of the amplitude) and one straight line
    fits it (:func:`fmslab.ephys.stimwave.ramp_from_recorded`), and kind "unknown" (with the
    reason) for any other waveform: a current-clamp step is flat, and the medians of sixths of a
    run of tens of ms are far steadier than that on a noisy current monitor.
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
    starts, ends = _merge_runs(
        edges[::2], edges[1::2], sm, max(1, int(round(0.01 / dt_s))), min_step_pA
    )
    j = int(np.argmax(ends - starts))
    a, b = int(starts[j]), int(ends[j])
    amp = float(np.median(i_pA[a:b]) - base)
    if abs(amp) < min_step_pA or b - a < w:
        # the 1-ms average crossed the criterion but the run itself does not lie beyond it, or
        # is shorter than the average: monitor noise, not an injected current
        return Stimulus("none", 0.0, float("nan"), float("nan"), base, "current_channel")
    # flat: the medians of six equal parts of the run all within 1 pA or a fifth of the step of
    # the run's median (a ramp, a triangle or a sine is not; each part's median is far steadier
    # than that on a noisy current monitor)
    parts = np.array_split(i_pA[a:b], 6) if b - a >= 6 else [i_pA[a:b]]
    dev = [float(np.median(p)) - base - amp for p in parts]
    drift = max(dev, key=abs)
    if abs(drift) > max(1.0, 0.2 * abs(amp)):
        # a ramp or another waveform: its median is no step amplitude (a 0-to-X ramp read as a
        # step of X/2 gives a rheobase and a firing pattern that look right and are wrong)
        from fmslab.ephys.stimwave import ramp_from_recorded

        ramp = ramp_from_recorded(i_pA, dt_s, a, b, base, min_step_pA)
        if ramp is not None:
            return ramp
        return Stimulus(
            "unknown", float("nan"), a * dt_s, b * dt_s, base, "current_channel",
            reason=f"the recorded current departs by {drift:.1f} pA from its level within its "
            f"epoch ({a * dt_s:.3f}-{b * dt_s:.3f} s) and is no straight ramp: a waveform, "
            f"not a step",
        )  # fmt: skip
    kind = "step" if (b - a) * dt_s >= 0.02 else "pulse"
    return Stimulus(kind, amp, a * dt_s, b * dt_s, base, "current_channel")


def stimulus_from_command(
    i_pA: np.ndarray, dt_s: float, source: str, tol_pA: float = 0.5
) -> Stimulus | None:
    """Test step of a noise-free command waveform (an NWB stimulus series, a command channel).

    The command is cut into runs of constant level (within ``tol_pA``); the holding current is the
    first run's level, the test step the longest run away from it, and an earlier shorter run
    away from holding is a prepulse. Returns ``None`` when the waveform is not piecewise constant
    with at most 12 levels (a noisy recorded current: use :func:`stimulus_from_current`; a sine or
    a ramp: not a step), and kind "none" when it never leaves holding.
    """
    i = np.asarray(i_pA, dtype=np.float64)
    if i.size < 4 or not np.all(np.isfinite(i)):
        return None
    change = np.flatnonzero(np.abs(np.diff(i)) > tol_pA) + 1
    bounds = np.r_[0, change, i.size]
    if bounds.size - 1 > 12:
        return None
    # 0.01 pA: commands stored as float32 (NWB) carry ~1e-4 relative rounding noise
    levels = [
        round(float(np.median(i[a:b])), 2) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if np.ptp(i[a:b]) > 2 * tol_pA:  # a slow ramp drifts within a "run"
            return None
    hold = levels[0]
    away = [k for k, lv in enumerate(levels) if abs(lv - hold) > tol_pA]
    if not away:
        return Stimulus("none", 0.0, float("nan"), float("nan"), hold, source)
    k = max(away, key=lambda j: bounds[j + 1] - bounds[j])
    a, b = int(bounds[k]), int(bounds[k + 1])
    kind = "step" if (b - a) * dt_s >= 0.02 else "pulse"
    pre_kw: dict[str, float] = {"pre_stim_pA": levels[k - 1] - hold if k > 0 else 0.0}
    earlier = [j for j in away if j < k]
    if earlier:
        j = earlier[-1]
        pre_kw.update(
            prepulse_pA=levels[j] - hold,
            prepulse_start_s=float(bounds[j]) * dt_s,
            prepulse_end_s=float(bounds[j + 1]) * dt_s,
        )
    return Stimulus(kind, levels[k] - hold, a * dt_s, b * dt_s, hold, source, **pre_kw)


def share_step_window(stims: list[Stimulus]) -> list[Stimulus]:
    """A 0-pA sweep of a step family gets the family's step window (kind "step", 0 pA); a flat
    sweep of a ramp family (all ramps in one window) is that family's 0 pA ramp.

    A command read from a waveform cannot tell when a 0 pA "step" starts; when all the other
    step sweeps share one window, the 0 pA sweep is that family's 0 pA step (as in an ABF epoch
    table), so it enters the F-I curve and the Rin fit.
    """
    ramps = [s for s in stims if s.kind == "ramp"]
    r_windows = {(round(s.stim_start_s, 6), round(s.stim_end_s, 6)) for s in ramps}
    if ramps and len(r_windows) == 1 and not any(s.kind == "step" for s in stims):
        # a flat sweep of a ramp family is its 0 pA ramp (an ABF ramp epoch of level 0)
        r0 = ramps[0]
        stims = [
            Stimulus(
                "ramp",
                0.0,
                r0.stim_start_s,
                r0.stim_end_s,
                s.holding_pA,
                s.source,
                ramp_slope_pA_per_s=0.0,
                ramp_start_pA=0.0,
            )  # fmt: skip
            if s.kind == "none" and s.stim_pA == 0.0
            else s
            for s in stims
        ]
    steps = [s for s in stims if s.kind == "step"]
    windows = {(round(s.stim_start_s, 6), round(s.stim_end_s, 6)) for s in steps}
    if len(steps) < 2 or len(windows) != 1:
        return stims
    t0, t1 = steps[0].stim_start_s, steps[0].stim_end_s
    return [
        Stimulus("step", 0.0, t0, t1, s.holding_pA, s.source)
        if s.kind == "none" and s.stim_pA == 0.0
        else s
        for s in stims
    ]


class MemoryReader:
    """Sweeps already read into memory (NWB, neo formats): the common reader interface.

    Parameters
    ----------
    path
        The file (for messages and provenance).
    v_mV
        Membrane potential of each sweep, mV.
    dt_s
        Sampling interval, s.
    stimuli
        The injected current of each sweep.
    i_pA
        The injected current of each sweep as a waveform (recorded or commanded), pA, or None.
    info
        What the reader found (channel names, units, stimulus source, metadata).
    """

    def __init__(
        self,
        path: Path,
        v_mV: list[np.ndarray],
        dt_s: float,
        stimuli: list[Stimulus],
        i_pA: list[np.ndarray | None],
        info: RecordingInfo,
    ):
        self.path, self.file = Path(path), Path(path).name
        self._v, self._i, self._stimuli = v_mV, i_pA, stimuli
        self.dt_s = dt_s
        self.rate_hz = info.sample_rate_hz
        self.n_sweeps = len(v_mV)
        self.vm_channel = info.vm_channel
        self._info = info

    def info(self) -> RecordingInfo:
        return self._info

    def sweep(self, index: int) -> Sweep:
        if not 0 <= index < self.n_sweeps:
            raise InputError(f"no sweep {index} (file has {self.n_sweeps})", file=self.file)
        stim = self._stimuli[index]
        i_pa = self._i[index]
        edges = [stim.stim_start_s, stim.stim_end_s, stim.prepulse_start_s, stim.prepulse_end_s]
        if i_pa is not None:
            edges.extend(current_edges_s(i_pa, self.dt_s, min_jump=50.0))
        e = np.array([x for x in edges if np.isfinite(x)], dtype=float)
        v = self._v[index]
        return Sweep(index, v.copy(), self.dt_s, stim, i_pa, edges_s=np.unique(e))

    def __iter__(self) -> Iterator[Sweep]:
        for s in range(self.n_sweeps):
            yield self.sweep(s)


def refuse_not_vm(file: str, channel: str, units: str, reason: str) -> InputError:
    """The one refusal of a channel that fails the Vm gate (:mod:`fmslab.ephys.vmgate`)."""
    return InputError(
        f"channel {channel!r} ({units}) is not a membrane potential: {reason}", file=file
    )


def stimuli_from_currents(
    i_list: list[np.ndarray | None], dt_s: float, source: str
) -> list[Stimulus]:
    """Per-sweep stimulus from an injected-current waveform.

    Piecewise-constant commands of one family (same length) are read together: the test step is
    the segment whose level changes across sweeps (:func:`fmslab.ephys.stimwave.family_steps`),
    so a 0 pA test step after a fixed prepulse is a 0 pA step, not the prepulse. Otherwise each
    sweep on its own: a clean command's steps (:func:`stimulus_from_command`), a clean command's
    linear ramp (:func:`fmslab.ephys.stimwave.ramp_from_command`), else the longest sustained
    step (or fitted ramp) of the noisy recorded current (:func:`stimulus_from_current`); any
    other waveform is kind "unknown".
    """
    from fmslab.ephys.stimwave import family_steps, ramp_from_command

    out = []
    commands = []
    for i in i_list:
        if i is None:
            out.append(Stimulus("none", float("nan"), float("nan"), float("nan"), 0.0, "none"))
            commands.append(False)
            continue
        st = stimulus_from_command(i, dt_s, source)
        commands.append(st is not None)
        if st is None:
            st = ramp_from_command(i, dt_s, source)
        if st is None:
            st = stimulus_from_current(i, dt_s)
            st = Stimulus(**{**st.__dict__, "source": source})
        out.append(st)
    if all(commands):
        family = family_steps(i_list, dt_s, source)
        if family is not None:
            return family
    return share_step_window(out)


# --------------------------------------------------------------------------- other formats

#: suffixes read by :func:`open_recording`, with the reader used
SUFFIX_READERS = {
    ".abf": "pyabf",
    ".nwb": "pynwb",
    ".ibw": "neo (Igor, igor2)",
    ".pxp": "neo (Igor, igor2)",
    ".axgx": "neo (AxoGraph)",
    ".axgd": "neo (AxoGraph)",
    ".wcp": "neo (WinWCP)",
    ".smr": "neo (Spike2)",
    ".smrx": "neo (Spike2 64-bit, sonpy)",
    ".dat": "refused (HEKA PatchMaster)",
    ".cfs": "refused (CED CFS)",
}

EXPORT_HINT = "export the recording to NWB or ABF and analyse that file"


def refuse_unreadable_format(path: Path) -> None:
    """Raise a specific :class:`InputError` for formats no maintained library reads."""
    suffix = path.suffix.lower()
    try:
        with open(path, "rb") as fh:
            head = fh.read(2048)
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", file=path.name) from exc
    if head[:4] in (b"DAT1", b"DAT2"):
        raise InputError(
            f"a HEKA PatchMaster bundle: no maintained Python library reads PatchMaster files "
            f"(neo 0.14 cannot); {EXPORT_HINT} (PatchMaster exports NWB and ABF)",
            file=path.name,
        )
    if suffix == ".dat":
        raise InputError(
            "a .dat file that is not a HEKA PatchMaster bundle: not a recording format fmslab "
            "reads",
            file=path.name,
        )
    if suffix == ".cfs" or head[:8] == b'CEDFILE"':
        raise InputError(
            f"a CED CFS file (Signal): no maintained Python library reads CFS; {EXPORT_HINT} "
            f"(CED Signal can export its data)",
            file=path.name,
        )
    if suffix == ".wcp":
        text = head.decode("latin-1", "replace")
        nr = [ln.split("=", 1)[1].strip() for ln in text.splitlines() if ln.startswith("NR=")]
        if nr and nr[0] == "0":
            raise InputError("a WinWCP file with no records (its header says NR=0)", file=path.name)


_IGOR_CH = re.compile(r"^(?P<pre>.*_Ch)(?P<ch>\d+)(?P<post>_.*)$")


def igor_partner(path: Path, channel: str) -> Path | None:
    """The wave of channel ``channel`` paired with an Igor ``*_Ch<n>_*.ibw`` wave, if it exists.

    The convention (BluePyEfe's and the acquisition software's that wrote them): one file per
    channel and sweep, named ``<cell>_Ch<n>_<protocol>_<sweep>.ibw``; ``Ch0`` holds the injected
    current and the other channel the membrane potential of the same sweep.
    """
    m = _IGOR_CH.match(path.stem)
    if not m:
        return None
    q = path.with_name(f"{m['pre']}{channel}{m['post']}{path.suffix}")
    return q if q != path and q.is_file() else None


class NeoReader(MemoryReader):
    """Igor, AxoGraph, WinWCP, Spike2 (and any other neo format) through neo.

    Each neo segment is one sweep. Channels are classified by their units
    (:mod:`fmslab.units`): the membrane potential is the first voltage channel, not named like a
    command/trigger/stimulus, that passes the Vm gate (:mod:`fmslab.ephys.vmgate`); the injected
    current is read from a current channel of the file when there is one, else from
    ``stimulus`` (a file with the current of the same sweeps, e.g. an Igor ``*_Ch0_*`` wave), else
    it is unknown and the sweeps are analysed as spontaneous activity.
    """

    def __init__(self, path: str | Path, stimulus: str | Path | None = None):
        path = Path(path)
        file = path.name
        segs = _neo_segments(path)
        chans = _neo_channels(segs, file)
        volt = [c for c in chans if c.quantity == "voltage" and _is_vm_name(c.name)]
        curr = [c for c in chans if c.quantity == "current"]
        if not volt:
            desc = ", ".join(f"{c.name or '(unnamed)'!r} ({c.units})" for c in chans)
            if curr and path.suffix.lower() in (".ibw", ".pxp"):
                partner = igor_partner(path, "3") or _any_igor_voltage_partner(path)
                if partner is not None:
                    raise InputError(
                        f"the injected-current wave ({curr[0].units}) of an Igor pair: it is read "
                        f"as the stimulus of {partner.name}; analyse that file",
                        file=file,
                    )
            raise InputError(
                f"no membrane-potential channel (units V/mV) among channels {desc}: nothing to "
                f"analyse in current clamp",
                file=file,
            )
        n = len(segs)
        dt = volt[0].dt_s
        stim_src = "none"
        i_list: list[np.ndarray | None] = [None] * n
        notes: list[str] = []
        if curr:
            c = curr[0]
            i_list = [c.read(segs, k) for k in range(n)]
            stim_src = "current_channel"
            cur_name, cur_ch = c.name, c.index
        else:
            cur_name, cur_ch = "", None
            partner = Path(stimulus) if stimulus is not None else None
            if partner is None and path.suffix.lower() in (".ibw", ".pxp"):
                partner = igor_partner(path, "0")
            if partner is not None:
                lengths = [volt[0].read(segs, k).size for k in range(n)]
                i_list = _stimulus_file_currents(partner, dt, lengths, file)
                stim_src = "stimulus_file"
                cur_name = partner.name
                notes.append(f"injected current from {partner.name}")
        stims = (
            stimuli_from_currents(i_list, dt, stim_src)
            if stim_src != "none"
            else [Stimulus("none", float("nan"), float("nan"), float("nan"), 0.0, "none")] * n
        )
        reasons = []
        chosen = None
        v_list: list[np.ndarray] = []
        for c in volt:
            v_list = [c.read(segs, k) for k in range(n)]
            problem = vmgate.vm_problem(v_list, c.dt_s, stims if c.dt_s == dt else None)
            if problem is None:
                chosen = c
                break
            reasons.append(f"{c.name or '(unnamed)'!r} ({c.units}): {problem}")
        if chosen is None:
            if len(reasons) == 1:
                raise refuse_not_vm(file, volt[0].name, volt[0].units, reasons[0].split(": ", 1)[1])
            raise InputError("no channel is a membrane potential: " + "; ".join(reasons), file=file)
        if chosen.dt_s != dt:
            stims = [Stimulus("none", float("nan"), float("nan"), float("nan"), 0.0, "none")] * n
            i_list = [None] * n
            stim_src = "none"
            notes.append("current channel sampled at another rate than Vm: not used")
        info = RecordingInfo(
            path=path,
            reader="neo",
            format_version=f"{type(segs[0]).__module__.split('.')[0]} {path.suffix.lower()}",
            n_sweeps=n,
            sample_rate_hz=chosen.rate_hz,
            vm_channel=chosen.index,
            vm_name=chosen.name,
            vm_units=chosen.units,
            current_channel=cur_ch,
            stim_source=stim_src,
            protocol="",
            gap_free=n == 1 and stim_src == "none",
            variable_length=len({v.size for v in v_list}) > 1,
            notes=notes + ([f"current: {cur_name}"] if cur_name else []),
        )
        super().__init__(path, v_list, chosen.dt_s, stims, i_list, info)
        self.names = [c.name for c in chans]
        self.units = [c.units for c in chans]


@dataclass
class _NeoChannel:
    index: int
    name: str
    units: str
    quantity: str | None
    scale: float
    rate_hz: float
    where: tuple[int, int]  # (analog signal index, column)
    file: str | None = None

    @property
    def dt_s(self) -> float:
        return 1.0 / self.rate_hz

    def read(self, segs, k: int) -> np.ndarray:
        si, ci = self.where
        sigs = segs[k].analogsignals
        if si >= len(sigs) or ci >= sigs[si].shape[1]:
            raise InputError(f"lacks channel {self.name!r}", file=self.file, sweep=k)
        values = sigs[si].magnitude[:, ci]
        if values.dtype.kind not in "iuf":  # text or complex waves (a damaged Igor wave type)
            raise InputError(
                f"channel {self.name or '(unnamed)'!r} holds {values.dtype} values, not real "
                f"numbers",
                file=self.file,
                sweep=k,
            )
        return np.asarray(values, dtype=np.float64) * self.scale


def _neo_segments(path: Path):
    import neo

    suffix = path.suffix.lower()
    if suffix == ".ibw":
        check_ibw_header(path)  # a header claiming more than the file holds: refused
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if suffix == ".smrx":
                try:
                    import sonpy  # noqa: F401
                except ImportError as exc:
                    raise InputError(
                        "a 64-bit Spike2 file (.smrx): neo reads it only through CED's sonpy, "
                        "which is not installed (sonpy 1.9.12 on PyPI holds only a Windows "
                        "binary, sonpy.pyd); save it from Spike2 as .smr or export it to NWB",
                        file=path.name,
                    ) from exc
            io = neo.io.get_io(str(path))
            block = io.read_block(lazy=False)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - readers raise many types on files they cannot read
        msg = f"neo cannot read it ({type(exc).__name__}: {str(exc)[:200]})"
        if "igor" in str(exc).lower() or isinstance(exc, ImportError):
            msg += "; Igor files need the igor2 package"
        raise InputError(msg, file=path.name) from exc
    segs = list(block.segments)
    if not segs or not segs[0].analogsignals:
        raise InputError("no analog signals in the file", file=path.name)
    return segs


def _neo_channels(segs, file: str) -> list[_NeoChannel]:
    from fmslab.units import try_parse_unit

    out = []
    for si, sig in enumerate(segs[0].analogsignals):
        names = None
        ann = getattr(sig, "array_annotations", None) or {}
        if "channel_names" in ann:
            names = [str(x) for x in ann["channel_names"]]
        units = sig.units.dimensionality.string
        u = try_parse_unit(units)
        rate = float(sig.sampling_rate.rescale("Hz").magnitude)
        for ci in range(sig.shape[1]):
            nm = names[ci] if names and ci < len(names) else str(sig.name or "")
            out.append(
                _NeoChannel(
                    len(out),
                    nm.strip(),
                    units,
                    u.quantity if u else None,
                    (u.scale if u else 1.0),
                    rate,
                    (si, ci),
                    file,
                )
            )
    return out


def _any_igor_voltage_partner(path: Path) -> Path | None:
    m = _IGOR_CH.match(path.stem)
    if not m:
        return None
    for q in sorted(path.parent.glob(f"{m['pre']}*{m['post']}{path.suffix}")):
        mq = _IGOR_CH.match(q.stem)
        if q != path and mq and mq["ch"] != "0":
            return q
    return None


def _stimulus_file_currents(
    partner: Path, dt_s: float, lengths: list[int], file: str
) -> list[np.ndarray | None]:
    """The injected current (pA) of each sweep, from a separate stimulus file."""
    if not partner.is_file():
        raise InputError(f"stimulus file {partner} not found", file=file)
    segs = _neo_segments(partner)
    chans = [c for c in _neo_channels(segs, partner.name) if c.quantity == "current"]
    if not chans:
        raise InputError(
            f"stimulus file {partner.name} has no channel in current units "
            f"({[c.units for c in _neo_channels(segs, partner.name)]})",
            file=file,
        )
    n = len(lengths)
    if len(segs) != n:
        raise InputError(
            f"stimulus file {partner.name} has {len(segs)} sweeps, the recording {n}", file=file
        )
    c = chans[0]
    out: list[np.ndarray | None] = []
    for k in range(n):
        i = c.read(segs, k)
        if abs(c.dt_s - dt_s) > 1e-9 * dt_s or i.size != lengths[k]:
            raise InputError(
                f"stimulus file {partner.name} does not match sweep {k}: {i.size} samples at "
                f"{1 / c.dt_s:g} Hz",
                file=file,
            )
        out.append(i)
    return out


def check_recording_path(path: str | Path) -> Path:
    """``path`` if it is a readable regular file; else an :class:`InputError` saying what it is
    (a dangling symbolic link, a symbolic-link loop, a directory, missing, unreadable)."""
    p = Path(path)
    try:
        if p.is_symlink():
            try:
                p.resolve(strict=True)
            except RuntimeError as exc:  # Python < 3.13 reports loops as RuntimeError
                raise InputError("symbolic-link loop", file=str(p)) from exc
            except OSError as exc:
                loop = getattr(exc, "errno", None) == 40  # ELOOP
                msg = "symbolic-link loop" if loop else "dangling symbolic link"
                raise InputError(msg, file=str(p)) from exc
        if p.is_dir():
            raise InputError("a directory, not a recording", file=str(p))
        if not p.is_file():
            raise InputError("file not found", file=str(p))
        with open(p, "rb"):
            pass
    except InputError:
        raise
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", file=str(p)) from exc
    return p


def open_recording(
    path: str | Path, stimulus: str | Path | None = None
) -> AbfReader | MemoryReader:
    """A sweep-by-sweep reader for ``path``.

    ABF via pyabf, NWB via pynwb's icephys API, other formats via neo; HEKA PatchMaster and CED
    CFS files are refused with what to do. ``stimulus`` is a file holding the injected current of
    the same sweeps, for formats that store it separately (an Igor ``*_Ch0_*`` wave is found by
    itself).

    Raises
    ------
    InputError
        The file cannot be read with certainty (the message says why).
    """
    p = check_recording_path(path)
    suffix = p.suffix.lower()
    if suffix == ".abf":
        return AbfReader(p)
    refuse_unreadable_format(p)
    if suffix == ".nwb":
        from fmslab.ephys.nwb import NwbReader

        return NwbReader(p)
    return NeoReader(p, stimulus=stimulus)


def iter_sweeps(path: str | Path) -> Iterator[Sweep]:
    """Every sweep of ``path`` in order, each an independent :class:`Sweep`."""
    yield from open_recording(path)
