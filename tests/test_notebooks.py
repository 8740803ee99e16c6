"""Execute each notebook top to bottom (nbclient) and check numbers it computes.

Each notebook runs in a fresh kernel in a temporary working directory, within a time budget of its
own; a failing cell fails the test with the notebook's name, the cell's number, its error and its
source. After the last cell a probe cell, run in the same kernel, reports the notebook's results as
JSON; the test compares them with values it derives independently (from the raw ABF files with
pyabf, from the demo's count matrix and ground truth, from the key and mice sheets by hand).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pyabf
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from conftest import REPO, SAMPLE_STUDY

pytestmark = pytest.mark.slow  # each executes a whole notebook (15-60 s on a loaded machine)

NOTEBOOKS = REPO / "notebooks"
# Wall-clock budgets per notebook. On one idle core they take about 10 s, 30 s and 25 s; the
# budgets leave room for a loaded 2-core CI machine (kernel start-up included).
BUDGET_S = {"01_recording_day": 180, "02_de_channels": 300, "03_figures": 300}


def run_notebook(name: str, workdir: Path, probe: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Execute ``notebooks/NAME.ipynb`` in ``workdir``; return the JSON the probe code prints."""
    monkeypatch.setenv("FMSLAB_REPO", str(REPO))
    monkeypatch.delenv("FMSLAB_DEMO_DIR", raising=False)  # each notebook makes its own demo
    monkeypatch.setenv("TMPDIR", str(workdir))  # the notebooks' scratch folders, cleaned by pytest
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{name}.ipynb is stored with outputs: clear them"
    client = NotebookClient(nb, kernel_name="python3", timeout=BUDGET_S[name])
    deadline = time.monotonic() + BUDGET_S[name]
    probe_cell = nbformat.v4.new_code_cell(probe)
    nb.cells.append(probe_cell)
    with client.setup_kernel(cwd=str(workdir)):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"{name}.ipynb: over its {BUDGET_S[name]} s budget at cell {index}")
            client.timeout = max(int(remaining), 1)
            where = "probe" if cell is probe_cell else f"cell {index}"
            failure = None
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:
                failure = f"over the notebook's {BUDGET_S[name]} s budget"
            except CellExecutionError as exc:
                plain = re.sub(r"\x1b\[[0-9;]*m", "", exc.traceback)  # drop ANSI colours
                failure = f"failed: {exc.ename}: {exc.evalue}\n--- traceback:\n{plain[-3000:]}"
            if failure:  # outside the except block: no chained traceback in the report
                pytest.fail(
                    f"{name}.ipynb {where} {failure}\n--- source of {where}:\n{cell.source}",
                    pytrace=False,
                )
    text = "".join(
        o.get("text", "")
        for o in probe_cell.outputs
        if o.output_type == "stream" and o.get("name") == "stdout"
    )
    return json.loads(text.strip().splitlines()[-1])


# ---------------------------------------------------------------- 01: a recording day


def _rheobase_by_hand(path: Path) -> float:
    """First step amplitude (epoch table) whose sweep crosses 0 mV upwards during the step.

    Independent of fmslab's reader and spike detector: pyabf's epoch table gives the test epoch
    (the first epoch whose level changes across sweeps) and a 0 mV upward crossing is an AP with
    overshoot (these cells overshoot: their AP peaks are > +40 mV in the per-sweep table).
    """
    abf = pyabf.ABF(str(path))
    levels, bounds = [], []
    for s in abf.sweepList:
        abf.setSweep(s)
        ep = abf.sweepEpochs
        levels.append(list(ep.levels))
        bounds.append(list(zip(ep.p1s, ep.p2s, strict=True)))
    levels_arr = np.array(levels, dtype=float)
    k = int(np.flatnonzero(np.ptp(levels_arr, axis=0) > 0)[0])
    for s in abf.sweepList:
        abf.setSweep(s)
        p1, p2 = bounds[s][k]
        v = abf.sweepY[p1:p2]
        if np.any((v[:-1] < 0) & (v[1:] >= 0)):
            return float(levels_arr[s, k] - levels_arr[s, 0])
    return float("nan")


def _tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file below ``root``."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_01_recording_day(tmp_path, monkeypatch):
    probe = """
import json
rheo = {f: (None if pd.isna(r) else float(r)) for f, r in zip(cells["file"], cells["rheobase_pA"])}
print(json.dumps({
    "n_cells": len(cells), "cell_files": sorted(cells["file"]),
    "error_files": list(res.errors["file"]), "rheobase_pA": rheo,
    "n_sql_rows": len(per_cell_sql), "sql_cells": sorted(per_cell_sql["cell_id"]),
    "study": str(STUDY), "n_figures": len(list((OUT / "figures").glob("*.png"))),
}))
"""
    before = _tree_state(SAMPLE_STUDY)
    got = run_notebook("01_recording_day", tmp_path, probe, monkeypatch)
    abfs = sorted(p.name for p in (SAMPLE_STUDY / "ephys").glob("*.abf"))
    sheet = pd.read_csv(SAMPLE_STUDY / "recordings.csv")
    # one row per ABF file of the study (every one is a readable current-clamp cell) ...
    assert got["n_cells"] == len(abfs) == 4
    assert got["cell_files"] == abfs
    assert got["n_figures"] == len(abfs)
    # ... and the damaged copy the notebook adds is the one failure
    assert got["error_files"] == ["File_axon_5_truncated.abf"]
    # the SQL query returns every cell of the sheet once
    assert got["n_sql_rows"] == len(sheet)
    assert got["sql_cells"] == sorted(sheet["cell_id"])
    # rheobase of the step-protocol cells equals the hand-made estimate from the raw file
    # (exact: both are protocol step levels)
    for name in ("File_axon_5.abf", "18711001.abf"):
        assert got["rheobase_pA"][name] == _rheobase_by_hand(SAMPLE_STUDY / "ephys" / name), name
    # the repository copy was never written (it may hold results from the README's main command,
    # so compare its state before and after rather than expect an empty folder)
    assert _tree_state(SAMPLE_STUDY) == before
    assert not (SAMPLE_STUDY / "ephys" / "File_axon_5_truncated.abf").exists()
    assert not Path(got["study"]).resolve().is_relative_to(REPO.resolve())


# ---------------------------------------------------------------- 02: DE and channels


def test_02_de_channels(tmp_path, monkeypatch):
    probe = """
import json
print(json.dumps({
    "truth": str(layout.truth), "key": str(layout.key),
    "counts": str(study.resolve(rna_params["counts"])),
    "samples": str(study.resolve(rna_params["samples"])),
    "top5": list(ranking.index[:5]),
    "ranked": list(ranking.index),
    "lfc": {g: float(results.loc[g, "log2FoldChange"]) for g in results.index},
    "se": {g: float(results.loc[g, "lfcSE"]) for g in results.index},
    "de_csv": str(RNA_OUT / f"de_{contrast.id}.csv"),
}))
"""
    got = run_notebook("02_de_channels", tmp_path, probe, monkeypatch)
    truth = Path(got["truth"])
    planted = pd.read_csv(truth / "rnaseq_planted_de.csv")
    channel = planted.loc[planted["is_ion_channel"].astype(bool), "gene"]
    assert len(channel) == 1
    gene = channel.iloc[0]
    true_lfc = float(planted.set_index("gene").loc[gene, "log2fc_patient_vs_control_true"])
    # the planted channel heads the candidate ranking
    assert got["ranked"][0] == gene, got["top5"]
    # the ranking holds only ion-channel genes (the demo's truth marks them independently)
    genes = pd.read_csv(truth / "rnaseq_genes.csv").set_index("gene")
    assert genes.loc[got["ranked"], "is_ion_channel"].astype(bool).all()
    # the estimate covers the truth (95 % Wald interval)
    lfc, se = got["lfc"][gene], got["se"][gene]
    assert abs(lfc - true_lfc) < 1.96 * se
    # independent estimate by hand: median-of-ratios size factors, then the log2 ratio of group
    # means of normalised counts (key joined here from the files). With batch balanced across the
    # groups (3 + 3 per batch) the GLM coefficient and this moment estimate differ only by the
    # GLM's weighting (0.002 at seed 1); 0.05 is under half the Wald SE (0.11 with 12 samples).
    counts = pd.read_csv(got["counts"], index_col=0)
    samples = pd.read_csv(got["samples"]).merge(pd.read_csv(got["key"]), on="treatment_code")
    logc = np.log(counts.where(counts > 0))
    ref = logc.mean(axis=1)
    sf = np.exp((logc.sub(ref, axis=0)).dropna().median())
    norm = counts / sf
    grp = samples.set_index("sample_id")["group"]
    ratio = np.log2(norm.loc[gene, grp[grp == "FMS"].index].mean()) - np.log2(
        norm.loc[gene, grp[grp == "HC"].index].mean()
    )
    assert abs(lfc - ratio) < 0.05, (lfc, ratio)
    # the DE table written by the notebook has one row per gene of the matrix
    assert len(pd.read_csv(got["de_csv"])) == len(counts)


# ---------------------------------------------------------------- 03: comparison and figures


def test_03_figures(tmp_path, monkeypatch):
    probe = """
import json
print(json.dumps({
    "key": str(layout.key), "mice": str(study.sheet_paths["mice"]),
    "cells_csv": str(study.results_dir / "ephys" / "cells.csv"),
    "data_csv": str(CMP_OUT / "data.csv"), "stats_csv": str(CMP_OUT / "stats.csv"),
    "figure": str(FIG_OUT / "figure_rheobase"), "value": VALUE, "reference": REFERENCE,
}))
"""
    got = run_notebook("03_figures", tmp_path, probe, monkeypatch)
    value = got["value"]
    data = pd.read_csv(got["data_csv"], dtype={"mouse_id": str, "donor_id": str})
    cells = pd.read_csv(got["cells_csv"])
    # compared = exactly the cells that passed QC
    assert sorted(data["file"]) == sorted(cells.loc[cells["qc_pass"].astype(bool), "file"])
    # the groups come from the key via the mice sheet (joined here by hand)
    mice = pd.read_csv(got["mice"], dtype=str)
    key = pd.read_csv(got["key"], dtype=str)
    expect = data[["mouse_id"]].merge(mice, on="mouse_id").merge(key, on="treatment_code")
    assert list(expect["group"]) == list(data["group"])
    assert list(expect["donor_id"]) == list(data["donor_id"])
    # difference of donor means (mouse means first), by hand, equals the donor-level estimates
    d = data.dropna(subset=[value])
    mouse = d.groupby(["group", "donor_id", "mouse_id"])[value].mean()
    donor = mouse.groupby(level=["group", "donor_id"]).mean()
    by_group = donor.groupby(level="group").mean()
    trt = next(g for g in by_group.index if g != got["reference"])
    diff = by_group[trt] - by_group[got["reference"]]
    stats = pd.read_csv(got["stats_csv"]).query("outcome == @value").set_index("model")
    for model in ("welch_donor_means", "bootstrap_mean_difference"):
        assert stats.loc[model, "estimate"] == pytest.approx(diff, abs=1e-9), model
    assert stats.loc["lmm", "n_donors_ref"] + stats.loc["lmm", "n_donors_trt"] == len(donor)
    # the figure in the three formats, and the source data of each panel
    stem = Path(got["figure"])
    assert stem.with_name(stem.name + ".pdf").read_bytes()[:5] == b"%PDF-"
    assert stem.with_name(stem.name + ".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in stem.with_name(stem.name + ".svg").read_text()[:2000]
    panel_a = pd.read_csv(stem.with_name(stem.name + "_panel_a.csv"))
    panel_b = pd.read_csv(stem.with_name(stem.name + "_panel_b.csv"))
    assert (panel_a["level"] == "cell").sum() == len(d)
    donors_b = panel_b[panel_b["level"] == "donor_id_mean"].set_index("donor_id")[value]
    assert donors_b.sort_index().to_numpy() == pytest.approx(
        donor.droplevel("group").sort_index().to_numpy(), abs=1e-9
    )
