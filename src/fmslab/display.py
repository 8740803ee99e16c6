"""How numbers are shown to people (report pages and terminal tables): meaningful digits only.

Tables keep the exact values (CSV, Parquet, the catalog, the report's sort keys); what is displayed
is rounded to 4 significant digits, whole numbers and values >= 1e4 without decimals, so that
``163.67095947265622`` reads ``163.7``.
"""

from __future__ import annotations

import math
from typing import Any


def format_number(value: float, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits (no exponent below 1e15 unless tiny)."""
    v = float(value)
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if 1e4 <= abs(v) < 1e15:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def display_cell(value: Any) -> str:
    """Text of one table cell: floats rounded (:func:`format_number`), missing values empty."""
    if value is None:
        return ""
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return ""
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) or type(value).__name__ in ("float32", "float64", "float16"):
        return format_number(float(value))
    return str(value)
