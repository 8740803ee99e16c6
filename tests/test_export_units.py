"""Pieces of `fmslab export` that need no study: bins, identifiers, settings, names, stimulus."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

import numpy as np
import pandas as pd
import pytest

from fmslab.errors import InputError
from fmslab.export.nwb_common import dandi_path, dandi_value, subject_info
from fmslab.export.pseudonymise import (
    Bins,
    Pseudonymiser,
    bin_label,
    is_direct_identifier,
    read_key,
)
from fmslab.export.settings import ExportSettings, valid_age


def test_bin_labels_follow_the_declared_edges():
    edges = (18, 30, 40, 50)
    assert bin_label(29.9, edges, "y") == "18-30 y"
    assert bin_label(30, edges, "y") == "30-40 y"  # bins are [lo, hi)
    assert bin_label(17, edges, "y") == "<18 y"
    assert bin_label(50, edges, "y") == ">=50 y"
    assert bin_label(float("nan"), edges, "y") is None


@pytest.mark.parametrize(
    "column, expected",
    [
        ("name", True),
        ("First Name", True),
        ("patient_name", True),
        ("e-mail", True),
        ("home_phone", True),
        ("postcode", True),
        ("DOB", True),
        ("date_of_birth", True),
        ("vm_channel_name", False),  # an ephys channel's name, not a person's
        ("gene_name", False),
        ("donor_id", False),
        ("age", False),
    ],
)
def test_direct_identifier_columns(column, expected):
    assert is_direct_identifier(column) is expected


def test_pseudonym_is_the_documented_hmac(tmp_path):
    keyfile = tmp_path / "k"
    keyfile.write_text("a-secret-of-at-least-16-bytes\n")
    ps = Pseudonymiser(key=read_key(keyfile))
    want = hmac.new(b"a-secret-of-at-least-16-bytes", b"donor:D01", hashlib.sha256).hexdigest()
    assert ps.pid("donor", "D01") == "d" + want[:12]
    assert ps.pid("mouse", "D01") != ps.pid("donor", "D01")  # the kind is part of the message
    assert pd.isna(ps.pid("mouse", pd.NA))
    short = tmp_path / "short"
    short.write_text("too short")
    with pytest.raises(InputError, match="at least 16"):
        read_key(short)


def test_dates_generalised_to_the_declared_resolution():
    ps = Pseudonymiser(key=b"x" * 16, bins=Bins(date_resolution="month"))
    assert ps.date("2026-03-08") == "2026-03"
    assert (
        Pseudonymiser(key=b"x" * 16, bins=Bins(date_resolution="year")).date("2026-03-08") == "2026"
    )
    assert Pseudonymiser.identity().date("2026-03-08") == "2026-03-08"


def test_settings_refuse_bad_values():
    ok = ExportSettings.from_config({"parameters": {"export": {"mouse_age": "P8W/P12W"}}})
    assert ok.mouse_age == "P8W/P12W" and ok.licence == "CC-BY-4.0"
    for bad, match in [
        ({"licence": "GPL"}, "licence"),
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"mouse_age": "9 weeks"}, "ISO 8601"),
        ({"date_resolution": "week"}, "date_resolution"),
        ({"donor_age_bins_years": [40, 30]}, "increasing"),
        ({"colour": "red"}, "unknown key"),
    ]:
        with pytest.raises(InputError, match=match):
            ExportSettings.from_config({"parameters": {"export": bad}})
    assert valid_age("P63D") and valid_age("P90Y/") and not valid_age("/") and not valid_age("P")


def test_subject_age_from_date_of_birth_or_refused():
    mouse = pd.Series(
        {"mouse_id": "M1", "sex": "F", "strain": "C57BL/6J", "date_of_birth": "2026-01-01"}
    )
    s = ExportSettings()
    exact = subject_info(mouse, date(2026, 3, 5), s, Pseudonymiser.identity(), exported_id="M1")
    assert exact.age == "P63D"  # 31 + 28 + 4 days
    binned = subject_info(mouse, date(2026, 3, 5), s, Pseudonymiser(key=b"k" * 16), exported_id="m")
    assert binned.age == "P8W/P12W" and binned.date_of_birth is None  # 9 weeks, bins 8-12
    with pytest.raises(InputError, match="after the session"):
        subject_info(mouse, date(2025, 12, 1), s, Pseudonymiser.identity(), exported_id="M1")
    no_age = mouse.drop("date_of_birth")
    with pytest.raises(InputError, match="no age"):
        subject_info(no_age, date(2026, 3, 5), s, Pseudonymiser.identity(), exported_id="M1")
    declared = ExportSettings(mouse_age="P8W/P10W")
    assert (
        subject_info(
            no_age, date(2026, 3, 5), declared, Pseudonymiser.identity(), exported_id="M1"
        ).age
        == "P8W/P10W"
    )


def test_dandi_names():
    assert (
        dandi_path("M05", "M05_c1", "icephys").as_posix()
        == "sub-M05/sub-M05_ses-M05-c1_icephys.nwb"
    )
    with pytest.raises(InputError):
        dandi_value("__")


def test_command_waveform_from_the_stimulus():
    from fmslab.ephys.io import Stimulus
    from fmslab.export.nwb_icephys import command_pA

    st = Stimulus(
        "step",
        50.0,
        0.1,
        0.6,
        -10.0,
        "epochs",
        prepulse_pA=-20.0,
        prepulse_start_s=0.02,
        prepulse_end_s=0.05,
    )
    i = command_pA(st, 1000, 0.001)  # 1 kHz, 1 s
    assert i[0] == -10 and i[20] == -30 and i[49] == -30 and i[50] == -10
    assert i[99] == -10 and i[100] == 40 and i[599] == 40 and i[600] == -10
    ramp = Stimulus(
        "ramp", 100.0, 0.1, 0.2, 0.0, "epochs", ramp_slope_pA_per_s=1000.0, ramp_start_pA=0.0
    )
    r = command_pA(ramp, 300, 0.001)
    np.testing.assert_allclose(r[100:200], np.arange(100) * 1.0)  # 1000 pA/s * 1 ms steps
    assert r[99] == 0 and r[200] == 0
