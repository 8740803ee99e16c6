"""Write the eFEL reference values the ephys tests read that ../shared/data/ephys/reference lacks.

Run (a venv with efel 5.7.34; tests never import efel)::

    PYTHONPATH=src python benchmarks/ephys_reference.py

Writes ``tests/data/ephys_efel_prepulse_tau.csv``: eFEL's ``time_constant`` of the -100 pA
prepulse of every sweep of 18711001.abf (stim_start/stim_end = the prepulse epoch, read from the
ABF epoch table by pyabf-independent means: fmslab's reader, checked against pyabf's sweepC).

Writes ``tests/data/ephys_efel_transient.csv``: on every depolarising step of TRANSIENT_FILES,
eFEL's spike count in the step, peak times and the first spike's ``AP_begin_voltage`` /
``AP_begin_time`` (default 0.1 ms interpolation, Threshold as in TRANSIENT_FILES).

Writes ``tests/data/ephys_efel_ahp.csv``: eFEL's per-spike AHP values on every depolarising step
sweep of the four spiking reference cells (eFEL's default 0.1 ms interpolation, Threshold -20 mV,
stim_start/stim_end = the step): ``AHP_depth_abs`` (eFEL's ``min_AHP_indices``: the first trough
after the peak, 4-9 ms here) and ``AHP_depth_abs_slow`` (the minimum from ``sahp_start`` = 5 ms
after the peak to the next peak; eFEL gives it for the 2nd to the last-but-one spike), with the
peak times to match spikes by.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
SHARED = HERE.parents[2] / "shared" / "data" / "ephys"
OUT = HERE.parents[1] / "tests" / "data" / "ephys_efel_prepulse_tau.csv"
OUT_AHP = HERE.parents[1] / "tests" / "data" / "ephys_efel_ahp.csv"
OUT_TRANSIENT = HERE.parents[1] / "tests" / "data" / "ephys_efel_transient.csv"
#: real cells whose first spike of a depolarising step rises out of the step-onset charging
#: transient (latency 2.5-7 ms): a damaged, depolarised cell at 200-1000 pA (99111002, which
#: also enters depolarisation block at 400 pA) and an IDRest step at 353 pA (B6, 4 kHz)
#: with eFEL's peak threshold (mV) for each: 99111002's must lie above its +10 mV plateau (the
#: default, -20 mV, lies below it and finds no spike) and below every AP peak (>= 60 mV); B6's
#: APs peak at +5..+15 mV: eFEL's default
TRANSIENT_FILES = {"formats/99111002.nwb": 30.0, "formats/B6_Ch3_IDRest_185.ibw": -20.0}
AHP_FILES = ("171116sh_0018", "17o05028_ic_steps", "18711001", "File_axon_5")


def _efel_in_step(efel, sw, threshold_mV: float, feats: list[str]) -> dict:
    """eFEL's ``feats`` for one sweep over its test step (times in ms), with eFEL's spike
    threshold at ``threshold_mV``."""
    st = sw.stimulus
    efel.reset()
    efel.set_setting("Threshold", threshold_mV)
    trace = {
        "T": sw.t_s * 1e3,
        "V": sw.v_mV,
        "stim_start": [st.stim_start_s * 1e3],
        "stim_end": [st.stim_end_s * 1e3],
    }
    return efel.get_feature_values([trace], feats, raise_warnings=False)[0]


def ahp_rows() -> list[dict]:
    """eFEL's fast and slow AHP of every spike of the depolarising steps of AHP_FILES."""
    import efel

    from fmslab.ephys.io import open_recording

    rows = []
    for name in AHP_FILES:
        for sw in open_recording(SHARED / "abf" / f"{name}.abf"):
            st = sw.stimulus
            if st.kind != "step" or st.stim_pA <= 0:
                continue
            feats = ["peak_time", "AHP_depth_abs", "AHP_time_from_peak", "AHP_depth_abs_slow"]
            r = _efel_in_step(efel, sw, -20.0, feats)
            peaks = r["peak_time"]
            if peaks is None or len(peaks) == 0:
                continue
            fast = r["AHP_depth_abs"] if r["AHP_depth_abs"] is not None else []
            t_fast = r["AHP_time_from_peak"] if r["AHP_time_from_peak"] is not None else []
            slow = r["AHP_depth_abs_slow"] if r["AHP_depth_abs_slow"] is not None else []
            # eFEL's slow AHP of spike j (1 <= j <= n-2): check the alignment on the trace itself
            t_i = np.arange(0.0, sw.t_s[-1] * 1e3, 0.1)
            v_i = np.interp(t_i, sw.t_s * 1e3, sw.v_mV)
            for k, val in enumerate(slow):
                j = k + 1
                a, b = np.searchsorted(t_i, [peaks[j] + 5.0, peaks[j + 1]])
                assert abs(float(v_i[a:b].min()) - val) < 0.5, (name, sw.index, j)
            for j, pt in enumerate(peaks):
                rows.append(
                    {
                        "file": name,
                        "sweep": sw.index,
                        "spike": j,
                        "peak_t_ms": float(pt),
                        "next_peak_t_ms": float(peaks[j + 1]) if j + 1 < len(peaks) else "",
                        "AHP_depth_abs": float(fast[j]) if j < len(fast) else "",
                        "AHP_time_from_peak": float(t_fast[j]) if j < len(t_fast) else "",
                        "AHP_depth_abs_slow": float(slow[j - 1]) if 1 <= j <= len(slow) else "",
                    }
                )
    return rows


def transient_rows() -> list[dict]:
    """eFEL's count and first AP onset on the depolarising steps of TRANSIENT_FILES."""
    import efel

    from fmslab.ephys.io import open_recording

    rows = []
    for name, threshold_mV in TRANSIENT_FILES.items():
        for sw in open_recording(SHARED / name):
            st = sw.stimulus
            if st.kind != "step" or not st.stim_pA > 0:
                continue
            feats = ["Spikecount_stimint", "peak_time", "AP_begin_voltage", "AP_begin_time"]
            r = _efel_in_step(efel, sw, threshold_mV, feats)
            peaks = list(r["peak_time"]) if r["peak_time"] is not None else []
            t0, t1 = st.stim_start_s * 1e3, st.stim_end_s * 1e3
            begin_v = r["AP_begin_voltage"] if r["AP_begin_voltage"] is not None else []
            begin_t = r["AP_begin_time"] if r["AP_begin_time"] is not None else []
            first = next((k for k, bt in enumerate(begin_t) if bt >= t0), None)
            rows.append(
                {
                    "file": Path(name).name,
                    "sweep": sw.index,
                    "stim_pA": st.stim_pA,
                    "efel_threshold_mV": threshold_mV,
                    "efel_spikecount_stimint": int(r["Spikecount_stimint"][0]),
                    "efel_peak_times_ms": ";".join(f"{p:.2f}" for p in peaks if t0 <= p <= t1),
                    "efel_first_ap_begin_mV": float(begin_v[first]) if first is not None else "",
                    "efel_first_ap_begin_ms": float(begin_t[first]) if first is not None else "",
                }
            )
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def main() -> None:
    import efel
    import pyabf

    from fmslab.ephys.io import open_recording

    path = SHARED / "abf" / "18711001.abf"
    r = open_recording(path)
    abf = pyabf.ABF(str(path))
    rows = []
    for k in range(r.n_sweeps):
        sw = r.sweep(k)
        st = sw.stimulus
        abf.setSweep(k)
        c = abf.sweepC
        a, b = int(round(st.prepulse_start_s / sw.dt_s)), int(round(st.prepulse_end_s / sw.dt_s))
        assert np.all(c[a:b] == st.prepulse_pA) and c[a - 1] == 0.0  # the window is the prepulse
        efel.reset()
        trace = {
            "T": sw.t_s * 1e3,
            "V": sw.v_mV,
            "stim_start": [st.prepulse_start_s * 1e3],
            "stim_end": [st.prepulse_end_s * 1e3],
            "stimulus_current": [st.prepulse_pA / 1e3],
        }
        val = efel.get_feature_values([trace], ["time_constant"], raise_warnings=False)[0]
        tau = val["time_constant"]
        rows.append(
            {
                "file": path.stem,
                "sweep": k,
                "prepulse_pA": st.prepulse_pA,
                "efel_time_constant_ms": float(tau[0]) if tau is not None and len(tau) else "",
            }
        )
    write_csv(OUT, rows)
    print(f"{OUT}: {len(rows)} rows, efel {efel.__version__}")
    ahp = ahp_rows()
    write_csv(OUT_AHP, ahp)
    print(f"{OUT_AHP}: {len(ahp)} rows")
    tr = transient_rows()
    write_csv(OUT_TRANSIENT, tr)
    print(f"{OUT_TRANSIENT}: {len(tr)} rows")


if __name__ == "__main__":
    main()
