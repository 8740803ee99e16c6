"""A forest plot across outcomes as inline SVG (standardised effects on one axis).

Outcomes have different units, so the common scale is the standardised mean difference (Hedges'
g, treatment - reference, from the ``bootstrap_hedges_g`` rows of ``compare_stats``, with their
bootstrap interval). Drawn as plain SVG text (escaped), so the page needs no image and the labels
stay searchable.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from fmslab.figures.vocabulary import name_of
from fmslab.report.html import esc

FOREST_MODEL = "bootstrap_hedges_g"
#: Largest |g| on the axis (intervals beyond end in an arrow).
LIMIT = 5.0


def _given(x: object) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and str(x) != ""


def forest_rows(stats: pd.DataFrame | None) -> pd.DataFrame:
    """The rows the forest shows: one standardised effect with a finite CI per outcome."""
    if stats is None or not len(stats) or "model" not in stats.columns:
        return pd.DataFrame()
    rows = stats[stats["model"] == FOREST_MODEL].copy()
    for c in ("estimate", "ci_low", "ci_high"):
        rows[c] = pd.to_numeric(rows[c], errors="coerce")
    rows = rows.dropna(subset=["estimate", "ci_low", "ci_high"])
    return rows.reset_index(drop=True)


def forest_svg(stats: pd.DataFrame | None, *, width: int = 720) -> str:
    """The forest plot, or an empty string when there is no standardised effect to show."""
    rows = forest_rows(stats)
    if not len(rows):
        return ""
    label_w, right_w, row_h, top, bottom = 250, 150, 22, 30, 40
    plot_w = width - label_w - right_w
    height = top + bottom + row_h * len(rows)
    # the axis shows at most |g| <= LIMIT; longer intervals end in an arrow (their numbers are on
    # the right)
    lo = max(-LIMIT, min(-1.0, float(rows["ci_low"].min())))
    hi = min(LIMIT, max(1.0, float(rows["ci_high"].max())))
    span = hi - lo

    def x(v: float) -> float:
        return label_w + (min(max(v, lo), hi) - lo) / span * plot_w

    trt = str(rows["treatment"].iloc[0]) if "treatment" in rows else "treatment"
    ref = str(rows["reference"].iloc[0]) if "reference" in rows else "reference"
    parts = [
        f'<svg class="forest" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Forest plot of standardised effects">',
        f'<line x1="{x(0):.1f}" y1="{top - 6}" x2="{x(0):.1f}" y2="{height - bottom + 4}" '
        'stroke="#888" stroke-dasharray="3,3"/>',
    ]
    for i, r in enumerate(rows.itertuples(index=False)):
        y = top + row_h * i + row_h / 2
        table = Path(str(getattr(r, "source", "")).split(":")[-1]).stem
        label = f"{name_of(str(r.outcome))} ({table})" if table else name_of(str(r.outcome))
        extra = [str(getattr(r, c)) for c in ("contrast", "day") if _given(getattr(r, c, None))]
        if extra:  # several contrasts or days of one outcome: say which row this is
            label += " " + ", ".join(extra)
        label = label if len(label) <= 38 else label[:37] + "\u2026"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="12">'
            f"{esc(label)}</text>"
        )
        parts.append(
            f'<line x1="{x(r.ci_low):.1f}" y1="{y:.1f}" x2="{x(r.ci_high):.1f}" y2="{y:.1f}" '
            'stroke="#1d2330" stroke-width="1.5"/>'
        )
        for end, beyond, sign in ((r.ci_low, r.ci_low < lo, -1), (r.ci_high, r.ci_high > hi, 1)):
            if beyond:  # an arrow head: the interval continues off the axis
                tip = x(end)
                parts.append(
                    f'<path d="M{tip:.1f},{y:.1f} l{-6 * sign},-4 l0,8 z" fill="#1d2330"/>'
                )
        parts.append(
            f'<circle cx="{x(r.estimate):.1f}" cy="{y:.1f}" r="4" fill="#D55E00" '
            f'data-outcome="{esc(r.outcome)}" data-g="{r.estimate!r}"/>'
        )
        parts.append(
            f'<text x="{width - right_w + 8}" y="{y + 4:.1f}" font-size="12">'
            f"{r.estimate:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]</text>"
        )
    axis_y = height - bottom + 8
    step = next(st for st in (0.25, 0.5, 1.0, 2.0, 5.0) if span / st <= 12)
    t = math.ceil(lo / step) * step
    while t <= hi + 1e-9:
        parts.append(
            f'<text x="{x(t):.1f}" y="{axis_y + 10}" text-anchor="middle" font-size="11" '
            f'fill="#5b6475">{t:g}</text>'
        )
        t += step
    axis_title = esc(f"Hedges g, {trt} \u2212 {ref} (95% bootstrap CI)")
    parts.append(
        f'<text x="{label_w + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        f'font-size="12">{axis_title}</text>'
    )
    parts.append(
        f'<text x="{width - right_w + 8}" y="{top - 10}" font-size="11" fill="#5b6475">'
        "g [95% CI]</text></svg>"
    )
    return "".join(parts)
