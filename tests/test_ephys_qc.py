"""QC criteria file and pass/fail reasons."""

from __future__ import annotations

import re

import pytest

from fmslab.ephys.analysis import analyze_file
from fmslab.ephys.qc import load_qc
from fmslab.errors import InputError


def test_default_criteria_have_units_in_every_key():
    cfg = load_qc()
    keys = [k for section in cfg.values() for k in section]
    assert keys
    unit = re.compile(r"_(mV|MOhm|pA|ms|s|Hz|V_per_s)$|_fraction_")
    assert all(unit.search(k) for k in keys), keys


def test_bad_criteria_file(tmp_path):
    p = tmp_path / "qc.yaml"
    p.write_text("cell:\n  rmp_max: -40\n")
    with pytest.raises(InputError, match="unknown QC keys"):
        load_qc(p)
    p.write_text("cell:\n  rmp_max_mV: minus forty\n")
    with pytest.raises(InputError, match="must be a number"):
        load_qc(p)


def test_cell_and_sweep_reasons(abf_dir, tmp_path):
    # 2020_03_02_0000 rests at -3 mV (a passive cell): fails the RMP criterion, with the reason
    _, cells = analyze_file(abf_dir / "2020_03_02_0000.abf")
    assert not cells["qc_pass"].iloc[0]
    assert "RMP -3.4 mV not below -40.0 mV" in cells["qc_reasons"].iloc[0]
    # the clean reference cell passes
    sweeps, cells = analyze_file(abf_dir / "171116sh_0018.abf")
    assert cells["qc_pass"].iloc[0] and sweeps["qc_pass"].all()
    # a stricter noise criterion fails every sweep and says why
    p = tmp_path / "strict.yaml"
    p.write_text("sweep:\n  baseline_sd_max_mV: 0.001\n")
    sweeps, cells = analyze_file(abf_dir / "171116sh_0018.abf", qc=load_qc(p))
    assert not sweeps["qc_pass"].any()
    assert sweeps["qc_reasons"].str.contains("baseline noise").all()
    assert "sweeps fail QC" not in cells["qc_reasons"].iloc[0]  # no cell criteria in that file
