"""Write the eFEL reference values the ephys tests read that ../shared/data/ephys/reference lacks.

Run (a venv with efel 5.7.34; tests never import efel)::

    PYTHONPATH=src python benchmarks/ephys_reference.py

Writes ``tests/data/ephys_efel_prepulse_tau.csv``: eFEL's ``time_constant`` of the -100 pA
prepulse of every sweep of 18711001.abf (stim_start/stim_end = the prepulse epoch, read from the
ABF epoch table by pyabf-independent means: fmslab's reader, checked against pyabf's sweepC).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
SHARED = HERE.parents[2] / "shared" / "data" / "ephys"
OUT = HERE.parents[1] / "tests" / "data" / "ephys_efel_prepulse_tau.csv"


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
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"{OUT}: {len(rows)} rows, efel {efel.__version__}")


if __name__ == "__main__":
    main()
