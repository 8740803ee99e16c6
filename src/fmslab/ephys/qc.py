"""Quality control of sweeps and cells against criteria in a YAML data file (units in every key).

The default criteria ship as package data (``fmslab/data/ephys_qc.yaml``); ``--qc FILE``
replaces them.
Each sweep and cell gets ``qc_pass`` and ``qc_reasons`` (``;``-separated, empty when it passes).
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from fmslab.errors import InputError

SWEEP_KEYS = {"baseline_sd_max_mV", "baseline_drift_max_mV"}
CELL_KEYS = {
    "rmp_max_mV",
    "ap_peak_min_mV",
    "rin_min_MOhm",
    "rin_max_MOhm",
    "failed_sweep_fraction_max",
    "baseline_change_max_mV",
}

#: Sweeps at each end of a recording whose baselines are compared for ``baseline_change_max_mV``.
N_END_SWEEPS = 3


def load_qc(path: str | Path | None = None) -> dict[str, dict[str, float]]:
    """Read QC criteria (the packaged defaults when ``path`` is None) and check their keys."""
    if path is None:
        text = resources.files("fmslab").joinpath("data/ephys_qc.yaml").read_text()
        name = "ephys_qc.yaml"
    else:
        text = Path(path).read_text()
        name = str(path)
    cfg: Any = yaml.safe_load(text) or {}
    for section, allowed in (("sweep", SWEEP_KEYS), ("cell", CELL_KEYS)):
        got = cfg.get(section) or {}
        unknown = set(got) - allowed
        if unknown:
            raise InputError(f"unknown QC keys in [{section}]: {sorted(unknown)}", file=name)
        for k, v in got.items():
            if not isinstance(v, int | float):
                raise InputError(f"QC key {section}.{k} must be a number, got {v!r}", file=name)
    return {"sweep": dict(cfg.get("sweep") or {}), "cell": dict(cfg.get("cell") or {})}


def _values(sweeps: pd.DataFrame, name: str, default: Any) -> list[Any]:
    """A column as Python values (``default`` for every row when the table lacks it)."""
    return sweeps[name].tolist() if name in sweeps else [default] * len(sweeps)


def sweep_qc(sweeps: pd.DataFrame, rmp_mV: float, cfg: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Add ``qc_pass`` and ``qc_reasons`` to a per-sweep table of one cell."""
    from fmslab.ephys.cell import _responds

    c = cfg["sweep"]
    reasons: list[str] = []
    follows = [True] * len(sweeps)
    if "stim_kind" in sweeps:
        rows = np.flatnonzero(sweeps["stim_kind"].to_numpy(object) == "step")
        if rows.size:
            ok = _responds(
                sweeps["stim_pA"].to_numpy(float)[rows],
                sweeps["n_spikes_stim"].to_numpy()[rows],
                sweeps["deflection_mV"].to_numpy(float)[rows],
            )
            for i, f in zip(rows.tolist(), ok.tolist(), strict=True):
                follows[i] = f
    sds = _values(sweeps, "baseline_sd_mV", math.nan)
    bases = _values(sweeps, "baseline_mV", math.nan)
    pres = _values(sweeps, "pre_stim_pA", 0.0)
    # plain Python values: a Series per row (iterrows) cost more than the checks
    for i, (sd, base, pre) in enumerate(zip(sds, bases, pres, strict=True)):
        r = []
        if "baseline_sd_max_mV" in c and sd > c["baseline_sd_max_mV"]:
            r.append(f"baseline noise {sd:.2f} mV > {c['baseline_sd_max_mV']} mV")
        if not follows[i]:
            r.append(
                f"V does not follow the {sweeps['stim_pA'].iat[i]:g} pA step (deflection "
                f"{sweeps['deflection_mV'].iat[i]:+.2f} mV)"
            )
        drift = abs(base - rmp_mV)
        # only sweeps whose baseline has no injected current (a ramp's later sweeps do)
        at_rest = abs(pre or 0.0) < 1e-9
        if "baseline_drift_max_mV" in c and at_rest and drift > c["baseline_drift_max_mV"]:
            r.append(f"baseline {drift:.1f} mV from RMP > {c['baseline_drift_max_mV']} mV")
        reasons.append("; ".join(r))
    out = sweeps.copy()
    out["qc_reasons"] = reasons
    out["qc_pass"] = [not r for r in reasons]
    return out


def baseline_change_mV(sweeps: pd.DataFrame) -> float:
    """Change of the resting baseline over a recording: median baseline of the last
    ``N_END_SWEEPS`` sweeps without injected baseline current minus that of the first ones.

    A slow drift spreads over many sweeps and so escapes the per-sweep criterion, which compares
    each sweep with the median; this catches it (like IPFX's pre/post Vm check). NaN when fewer
    than ``2 * N_END_SWEEPS`` such sweeps exist.
    """
    if "baseline_mV" not in sweeps.columns:
        return math.nan
    at_rest = sweeps["pre_stim_pA"].fillna(0.0).abs() < 1e-9 if "pre_stim_pA" in sweeps else True
    base = sweeps.loc[at_rest, "baseline_mV"].dropna().to_numpy()
    if len(base) < 2 * N_END_SWEEPS:
        return math.nan
    return float(np.median(base[-N_END_SWEEPS:]) - np.median(base[:N_END_SWEEPS]))


def cell_qc(
    cell: dict[str, Any],
    sweeps: pd.DataFrame,
    cfg: dict[str, dict[str, float]],
    protocol_problems: list[str] | None = None,
) -> dict[str, Any]:
    """``qc_pass`` and ``qc_reasons`` of one cell (its per-sweep table must already have QC).

    ``protocol_problems``: what the reader could not know about the injected current (e.g. an ABF
    stimulus-file waveform); each fails the cell, so a protocol read wrong never passes QC.
    """
    c = cfg["cell"]
    r = list(dict.fromkeys(protocol_problems or []))
    rmp = cell.get("rmp_mV", math.nan)
    if "rmp_max_mV" in c and not rmp < c["rmp_max_mV"]:
        r.append(f"RMP {rmp:.1f} mV not below {c['rmp_max_mV']} mV")
    peak = cell.get("ap_peak_at_rheobase_mV", math.nan)
    if "ap_peak_min_mV" in c and math.isfinite(peak) and peak < c["ap_peak_min_mV"]:
        r.append(f"AP peak {peak:.1f} mV below {c['ap_peak_min_mV']} mV (no overshoot)")
    rin = cell.get("rin_MOhm", math.nan)
    if math.isfinite(rin):
        if "rin_min_MOhm" in c and rin < c["rin_min_MOhm"]:
            r.append(f"Rin {rin:.0f} MOhm < {c['rin_min_MOhm']} MOhm")
        if "rin_max_MOhm" in c and rin > c["rin_max_MOhm"]:
            r.append(f"Rin {rin:.0f} MOhm > {c['rin_max_MOhm']} MOhm")
    change = baseline_change_mV(sweeps)
    if (
        "baseline_change_max_mV" in c
        and math.isfinite(change)
        and abs(change) > c["baseline_change_max_mV"]
    ):
        r.append(
            f"baseline changed {change:+.1f} mV over the recording > {c['baseline_change_max_mV']} mV"
        )
    if len(sweeps) and "failed_sweep_fraction_max" in c:
        frac = 1.0 - float(sweeps["qc_pass"].mean())
        if frac > c["failed_sweep_fraction_max"]:
            r.append(f"{frac:.0%} of sweeps fail QC > {c['failed_sweep_fraction_max']:.0%}")
    return {"qc_pass": not r, "qc_reasons": "; ".join(r)}
