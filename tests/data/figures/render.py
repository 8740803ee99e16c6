"""Seeded tables and the renderings compared against the baselines (tests and make_baselines)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from fmslab.figures import estimation_plot, superplot, time_course  # noqa: E402
from fmslab.figures import style as fstyle  # noqa: E402
from fmslab.figures.compose import build_figure, load_spec  # noqa: E402
from fmslab.figures.export import save_figure  # noqa: E402


def cells() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    rows = []
    for g in ("HC", "FMS"):
        for d in range(4):
            u = rng.normal()
            for m in range(3):
                v = u + 0.5 * rng.normal()
                for c in range(6):
                    y = 50 + 10 * (v + rng.normal() - (g == "FMS"))
                    rows.append((g, f"{g}{d}", f"{g}{d}m{m}", f"{g}{d}m{m}c{c}", y))
    return pd.DataFrame(rows, columns=["group", "donor_id", "mouse_id", "cell_id", "rheobase_pA"])


def behaviour() -> pd.DataFrame:
    rng = np.random.default_rng(43)
    rows = []
    for g in ("HC", "FMS"):
        for m in range(6):
            for day in (0, 1, 3, 5, 7):
                drop = 0.4 if (g == "FMS" and day > 0) else 0.0
                rows.append((g, f"{g}m{m}", day, 1.0 - drop + 0.15 * rng.normal()))
    return pd.DataFrame(rows, columns=["group", "mouse_id", "day", "threshold_g"])


def fi() -> pd.DataFrame:
    rng = np.random.default_rng(44)
    rows = []
    for r in cells().itertuples():
        for current in range(0, 301, 50):
            rows.append(
                (
                    r.group,
                    r.cell_id,
                    current,
                    max(0.0, (current - r.rheobase_pA) * 0.12 + 0.5 * rng.normal()),
                )
            )
    return pd.DataFrame(rows, columns=["group", "cell_id", "stim_pA", "firing_rate_hz"])


SPEC = """figures:
  - name: composed
    width: double
    height_mm: 70
    layout: ["abc"]
    shared_legend: true
    panels:
      a: {type: superplot, table: cells.csv, value: rheobase_pA, order: [HC, FMS]}
      b: {type: time_course, table: behaviour.csv, x: day, value: threshold_g, order: [HC, FMS]}
      c: {type: fi_curve, table: fi.csv, order: [HC, FMS]}
  - name: composed_b
    width: double
    height_mm: 100
    layout: ["abc", "dee"]
    letters: upper
    panels:
      a: {type: volcano, table: de.csv, n_labels: 3}
      b: {type: stimulus_response, table: sr.csv, stimulus: force_mn, response: spikes, log_x: true,
          unit: unit_id, order: [HC, FMS]}
      c: {type: example_traces, table: traces.csv, scalebar: [50, 20]}
      d: {type: estimation, table: cells.csv, value: rheobase_pA, reference: HC, n_resamples: 300}
      e: {type: heatmap, table: z.csv, index: gene, center: 0, colorbar_label: z-score,
          col_noun: samples}
"""


def de() -> pd.DataFrame:
    rng = np.random.default_rng(45)
    n = 200
    return pd.DataFrame(
        {
            "gene": [f"g{i}" for i in range(n)],
            "log2FoldChange": rng.normal(size=n) * 1.2,
            "padj": rng.uniform(size=n) ** 3,
        }
    )


def zscores() -> pd.DataFrame:
    rng = np.random.default_rng(46)
    m = pd.DataFrame(rng.normal(size=(6, 5)), columns=[f"S{i}" for i in range(5)])
    return m.assign(gene=[f"Scn{i}a" for i in range(6)])


def stim_response() -> pd.DataFrame:
    rng = np.random.default_rng(47)
    rows = []
    for g, slope in (("HC", 2.0), ("FMS", 3.0)):
        for u in range(6):
            for f in (1, 2, 4, 8, 16, 32):
                rows.append((g, f"{g}u{u}", f, max(0.0, np.log2(f) * slope + rng.normal())))
    return pd.DataFrame(rows, columns=["group", "unit_id", "force_mn", "spikes"])


def traces() -> pd.DataFrame:
    t = np.arange(0, 300, 0.5)
    rows = []
    for sweep, amp in enumerate((0.0, 10.0, 20.0)):
        v = -65 + amp * ((t > 50) & (t < 250))
        v = v + 80 * ((t > 50) & (t < 250) & (np.mod(t, 40) < 1) & (amp > 15))
        rows.append(pd.DataFrame({"sweep": sweep, "time_ms": t, "vm_mv": v}))
    return pd.concat(rows, ignore_index=True)


def write_inputs(folder, table) -> None:
    """The tables and spec used by the composed-figure image test."""
    (cells() if table is None else table).to_csv(folder / "cells.csv", index=False)
    behaviour().to_csv(folder / "behaviour.csv", index=False)
    fi().to_csv(folder / "fi.csv", index=False)
    de().to_csv(folder / "de.csv", index=False)
    zscores().to_csv(folder / "z.csv", index=False)
    stim_response().to_csv(folder / "sr.csv", index=False)
    traces().to_csv(folder / "traces.csv", index=False)
    (folder / "figures.yaml").write_text(SPEC)


DPI = 100  # small baselines; the 300-dpi export is tested separately


def render_all(folder: Path, *, cell_table=None) -> dict[str, Path]:
    """Render each test figure to ``folder/NAME.png`` with the bundled DejaVu Sans font."""
    old = fstyle.FONTS
    fstyle.FONTS = ["DejaVu Sans"]
    try:
        table = cells() if cell_table is None else cell_table
        figs = {
            "superplot": superplot(table, value="rheobase_pA", order=["HC", "FMS"]),
            "estimation": estimation_plot(
                table, value="rheobase_pA", reference="HC", n_resamples=500
            ),
            "time_course": time_course(
                behaviour(), x="day", value="threshold_g", order=["HC", "FMS"]
            ),
        }
        write_inputs(folder, table)
        spec = load_spec(folder / "figures.yaml")
        figs["composed_b"], _ = build_figure(spec["figures"][1], lambda n: pd.read_csv(folder / n))
        figs["composed"], _ = build_figure(spec["figures"][0], lambda n: pd.read_csv(folder / n))
        out = {}
        for name, fig in figs.items():
            out[name] = save_figure(fig, folder / name, formats=("png",), dpi=DPI)[0]
            plt.close(fig)
        return out
    finally:
        fstyle.FONTS = old
