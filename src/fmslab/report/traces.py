"""Data for the report's per-cell and per-unit panels ("look at the data").

Per cell: the sweeps at rheobase and at ~2x rheobase (ramp cells: the first sweep that fires),
read again from the raw file and decimated (min/max per bin, so spikes keep their peaks), with the
detected spikes (threshold and peak from ``ephys_spikes``), the analysed window (stimulus on/off
from ``ephys_sweeps``), the F-I points and the QC verdict with its reasons and any reviewer
decision. Per skin-nerve unit: its spike times and those of the other units of the recording (a
raster), its mechanical responses and its waveform figure.

Everything is plain numbers (JSON-ready); the page draws them with its own small viewer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmslab.errors import FmslabError
from fmslab.study.overrides import exclusion_mask

log = logging.getLogger(__name__)

#: Points per decimated trace (pairs of min/max per bin).
MAX_POINTS = 3000


def decimate_minmax(t: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple:
    """Keep the minimum and maximum of each bin (in time order): peaks survive decimation."""
    n = y.size
    if n <= max_points:
        return t, y
    bins = max_points // 2
    edges = np.linspace(0, n, bins + 1).astype(int)
    ts, ys = [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        seg = y[a:b]
        i, j = int(np.argmin(seg)), int(np.argmax(seg))
        for k in sorted((i, j)):
            ts.append(t[a + k])
            ys.append(seg[k])
    return np.asarray(ts), np.asarray(ys)


def _r(a: np.ndarray | list, nd: int) -> list[float]:
    return [round(float(v), nd) for v in a]


def _decision(overrides: pd.DataFrame | None, row: dict[str, Any]) -> dict[str, str] | None:
    if overrides is None or not len(overrides):
        return None
    one = pd.DataFrame([row])
    for d in overrides.itertuples(index=False):
        if exclusion_mask(one, d).iloc[0]:
            return {k: str(getattr(d, k)) for k in ("level", "reason", "reviewer", "date")}
    return None


def _recording_paths(root: Path, recordings: pd.DataFrame | None) -> dict[str, Path]:
    if recordings is None or "path" not in recordings:
        return {}
    return {Path(str(p)).name: (root / str(p)) for p in recordings["path"].dropna()}


def _picks(cell: dict[str, Any], sweeps: pd.DataFrame) -> list[tuple[str, int]]:
    steps = sweeps[sweeps["stim_kind"] == "step"]
    picks: list[tuple[str, int]] = []
    rheo, two = cell.get("rheobase_pA"), cell.get("stim_2x_rheobase_pA")
    for label, amp in (("rheobase", rheo), ("~2x rheobase", two)):
        if amp is not None and pd.notna(amp):
            hit = steps[steps["stim_pA"] == amp]
            if len(hit):
                picks.append((f"{label}: {amp:g} pA", int(hit["sweep"].iloc[0])))
    if not picks:
        ramps = sweeps[(sweeps["stim_kind"] == "ramp") & (sweeps["n_spikes_stim"] > 0)]
        if len(ramps):
            r = ramps.iloc[0]
            picks.append((f"first ramp that fires (to {r['stim_pA']:g} pA)", int(r["sweep"])))
    if not picks and len(sweeps):
        j = sweeps["n_spikes_total"].fillna(0).idxmax()
        picks.append(
            (f"sweep {int(sweeps.loc[j, 'sweep'])} (most spikes)", int(sweeps.loc[j, "sweep"]))
        )
    return picks


def cell_views(
    tables: dict[str, pd.DataFrame],
    root: Path,
    *,
    overrides: pd.DataFrame | None,
    groups: dict[str, str],
    max_cells: int = 200,
) -> list[dict[str, Any]]:
    """One JSON-ready view per analysed cell (see the module docstring)."""
    from fmslab.ephys.io import open_recording

    cells, sweeps = tables.get("ephys_cells"), tables.get("ephys_sweeps")
    if cells is None or sweeps is None or not len(cells):
        return []
    spikes = tables.get("ephys_spikes")
    paths = _recording_paths(root, tables.get("recordings"))
    views = []
    for _, c in cells.head(max_cells).iterrows():
        cell = {k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in c.items()}
        file = str(cell["file"])
        sw = sweeps[sweeps["file"] == file]
        view: dict[str, Any] = {
            "id": str(cell.get("cell_id") or file),
            "file": file,
            "mouse": str(cell.get("mouse_id") or ""),
            "group": groups.get(str(cell.get("mouse_id")), ""),
            "qc_pass": bool(cell.get("qc_pass")),
            "qc_reasons": [
                r.strip() for r in str(cell.get("qc_reasons") or "").split(";") if r.strip()
            ],
            "override": _decision(overrides, cell),
            "rheobase_pA": cell.get("rheobase_pA"),
            "protocol": str(cell.get("protocol") or ""),
            "traces": [],
            "fi": {},
        }
        steps = sw[sw["stim_kind"] == "step"].dropna(subset=["stim_pA", "firing_rate_hz"])
        steps = steps.sort_values("stim_pA")
        view["fi"] = {"x": _r(steps["stim_pA"], 2), "y": _r(steps["firing_rate_hz"], 3)}
        path = paths.get(file)
        if path is None or not path.is_file():
            view["error"] = "raw file not found beside the study; traces not shown"
            views.append(view)
            continue
        try:
            reader = open_recording(path)
            for label, s in _picks(cell, sw):
                sweep = reader.sweep(s)
                t, v = decimate_minmax(sweep.t_s, sweep.v_mV)
                row = sw[sw["sweep"] == s].iloc[0]
                sp = (
                    spikes[(spikes["file"] == file) & (spikes["sweep"] == s)]
                    if spikes is not None
                    else pd.DataFrame(
                        columns=["threshold_t_s", "threshold_mV", "peak_t_s", "peak_mV"]
                    )
                )
                view["traces"].append(
                    {
                        "label": label,
                        "sweep": s,
                        "t": _r(t * 1e3, 3),
                        "v": _r(v, 2),
                        "window": [_ms(row.get("stim_start_s")), _ms(row.get("stim_end_s"))],
                        "thr_t": _r(sp["threshold_t_s"] * 1e3, 3),
                        "thr_v": _r(sp["threshold_mV"], 2),
                        "peak_t": _r(sp["peak_t_s"] * 1e3, 3),
                        "peak_v": _r(sp["peak_mV"], 2),
                        "n_spikes": int(len(sp)),
                    }
                )
        except (FmslabError, OSError, ValueError) as exc:
            view["error"] = f"traces not shown: {exc}"
        views.append(view)
    return views


def _ms(x: Any) -> float | None:
    return round(float(x) * 1e3, 3) if x is not None and pd.notna(x) else None


def unit_views(
    tables: dict[str, pd.DataFrame],
    results: Path,
    *,
    overrides: pd.DataFrame | None,
    groups: dict[str, str],
    max_units: int = 200,
    max_spikes: int = 20000,
) -> list[dict[str, Any]]:
    """One JSON-ready view per skin-nerve unit (see the module docstring)."""
    units = tables.get("skinnerve_units")
    if units is None or not len(units):
        return []
    spikes = tables.get("skinnerve_spikes")
    resp = tables.get("skinnerve_responses")
    views = []
    for _, u in units.head(max_units).iterrows():
        unit = {k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in u.items()}
        file, uid = str(unit["file"]), unit["unit_id"]
        view: dict[str, Any] = {
            "id": f"{file}#{uid}",
            "file": file,
            "unit": str(uid),
            "mouse": str(unit.get("mouse_id") or ""),
            "group": groups.get(str(unit.get("mouse_id")), ""),
            "type": str(unit.get("receptor_type") or ""),
            "fibre": str(unit.get("fibre_class") or ""),
            "cv_m_s": unit.get("cv_m_s"),
            "snr": unit.get("snr"),
            "n_spikes": unit.get("n_spikes"),
            "under_study": bool(unit.get("is_unit_under_study")),
            "override": _decision(overrides, unit),
            "rows": [],
            "resp": {},
        }
        if spikes is not None and len(spikes):
            s = spikes[spikes["file"] == file]
            mine = s[s["unit_id"] == uid]["time_s"].head(max_spikes)
            others = s[s["unit_id"] != uid]
            view["rows"] = [{"label": f"unit {uid}", "t": _r(mine, 4)}] + [
                {"label": f"unit {k}", "t": _r(g["time_s"].head(max_spikes), 4)}
                for k, g in others.groupby("unit_id")
            ]
        if resp is not None and len(resp):
            m = resp[
                (resp["file"] == file)
                & (resp["unit_id"] == uid)
                & (resp["stimulus"] == "mechanical")
            ]
            m = m.dropna(subset=["amplitude", "total_spikes"]).sort_values("amplitude")
            view["resp"] = {
                "x": _r(m["amplitude"], 4),
                "y": _r(m["total_spikes"], 3),
                "unit": str(m["amplitude_unit"].dropna().iloc[0])
                if "amplitude_unit" in m and m["amplitude_unit"].notna().any()
                else "",
            }
        fig = unit.get("figure")
        if fig:
            p = Path(str(fig))
            p = p if p.is_absolute() else results / "skinnerve" / p
            if not p.is_file():
                p = results / "skinnerve" / "figures" / Path(str(fig)).name
            view["figure_path"] = str(p) if p.is_file() else None
        views.append(view)
    return views
