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


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def decimals_for(scale: float, digits: int = 2) -> int:
    """Decimals that give ``scale`` (e.g. an interval's half-width) ``digits`` significant digits."""
    if not _finite(scale) or scale == 0:
        return 2
    return max(0, digits - 1 - int(math.floor(math.log10(abs(scale)))))


def meaningful(x: float, scale: float, digits: int = 2) -> str:
    """``x`` rounded to the decimals that ``scale`` supports (never in scientific notation)."""
    d = decimals_for(scale, digits)
    text = f"{x:.{d}f}"
    return "0" if float(text) == 0 else text


def format_p(p: Any) -> str:
    """``p = 0.02``, ``p = 0.15``, ``p < 0.001``; ``p not available`` when missing."""
    if not _finite(p):
        return "p not available"
    p = float(p)
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2g}" if p < 0.1 else f"p = {p:.2f}"


#: How each comparison model is named for readers.
MODEL_WORDS = {
    "lmm": "mixed model",
    "lmm_satterthwaite": "mixed model (Satterthwaite df)",
    "gee_logit": "GEE logistic model",
    "welch_donor_means": "Welch t-test on donor means",
    "welch_mouse_means": "Welch t-test on mouse means",
    "mannwhitney_donor_means": "Mann-Whitney test on donor means",
    "bootstrap_mean_difference": "hierarchical bootstrap",
    "bootstrap_hedges_g": "hierarchical bootstrap (Hedges' g)",
    "fisher_rows": "Fisher's exact test on rows",
}


def stat_line(row: dict[str, Any], unit: str = "") -> str:
    """One line for a figure panel: ``mixed model: -131 pA [-383, 121], p = 0.15``."""
    model = MODEL_WORDS.get(str(row.get("model")), str(row.get("model")))
    est, lo, hi = row.get("estimate"), row.get("ci_low"), row.get("ci_high")
    if not _finite(est):
        return f"{model}: no estimate"
    half = (float(hi) - float(lo)) / 2 if _finite(lo) and _finite(hi) else abs(float(est))
    u = f" {unit}" if unit else ""
    ci = f" [{meaningful(lo, half)}, {meaningful(hi, half)}]" if _finite(lo) and _finite(hi) else ""
    return f"{model}: {meaningful(float(est), half)}{u}{ci}, {format_p(row.get('p'))}"
