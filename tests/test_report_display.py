"""Numbers shown to people (terminal tables, report) carry meaningful digits; tables keep them all."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fmslab.cli.common import print_frame
from fmslab.display import display_cell, format_number


def test_format_number_by_hand() -> None:
    assert format_number(163.67095947265622) == "163.7"
    assert format_number(-72.72033691406250) == "-72.72"
    assert format_number(0.000123456) == "0.0001235"
    assert format_number(70.0) == "70" and format_number(123456.7) == "123457"
    assert display_cell(np.float32(218.00217946370435)) == "218"
    assert display_cell(True) == "True" and display_cell("M01_c1") == "M01_c1"


def test_terminal_table_is_rounded(capsys) -> None:
    # the values the issue found printed unrounded (rin_MOhm of File_axon_5.abf)
    df = pd.DataFrame({"cell_id": ["M01_c1", "M03_c1"], "rin_MOhm": [163.67095947265622, np.nan]})
    print_frame(df)
    out = capsys.readouterr().out
    assert "163.7" in out and "163.67" not in out
