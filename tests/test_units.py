"""fmslab.units: the spellings acquisition programs write, against the SI definitions."""

from __future__ import annotations

import pytest

from fmslab.units import UnitError, is_quantity, parse_unit, scale_to, try_parse_unit


@pytest.mark.parametrize(
    "text, quantity, scale",
    [
        ("mV", "voltage", 1.0),
        ("mv", "voltage", 1.0),  # Axon headers
        (" Volt", "voltage", 1e3),
        ("volts", "voltage", 1e3),  # NWB
        ("V", "voltage", 1e3),
        ("µV", "voltage", 1e-3),  # micro sign U+00B5
        ("μV", "voltage", 1e-3),  # Greek mu U+03BC
        ("uV", "voltage", 1e-3),
        ("pA", "current", 1.0),
        ("nA", "current", 1e3),
        ("A", "current", 1e12),
        ("amperes", "current", 1e12),
        ("fA", "current", 1e-3),
        ("mmHg", "pressure", 1.0),
        ("kPa", "pressure", 1000 / 133.322387415),  # 1 mmHg = 133.322387415 Pa
        ("um", "length", 1.0),
        ("µm", "length", 1.0),
        ("mm", "length", 1e3),
        ("ms", "time", 1e-3),
        ("deg C", "temperature", 1.0),
        ("mV\x00\x00", "voltage", 1.0),  # NUL-padded header strings
    ],
)
def test_parse(text, quantity, scale):
    u = parse_unit(text)
    assert u.quantity == quantity
    assert u.scale == pytest.approx(scale, rel=1e-12)


@pytest.mark.parametrize("text", ["", "dB", "MV", "PA", "NA", "dimensionless", None, "bpm"])
def test_unknown_is_refused_not_guessed(text):
    assert try_parse_unit(text) is None
    with pytest.raises(UnitError):
        parse_unit(text)


def test_pa_is_a_current_and_Pa_a_pressure():
    assert parse_unit("pA").quantity == "current"
    assert parse_unit("Pa").quantity == "pressure"


def test_scale_to_checks_the_quantity():
    assert scale_to("nA", "current") == 1e3
    with pytest.raises(UnitError, match="is a current, not a voltage"):
        scale_to("pA", "voltage")
    assert is_quantity("mV", "voltage") and not is_quantity("mV", "current")
