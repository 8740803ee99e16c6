"""Point labels that do not overlap: a greedy placement around each point.

Labels are placed in priority order; each tries offsets around its point (growing rings of eight
directions) and takes the first whose box touches no label placed before it, nor the axes' edges.
A label that finds no free place is left out (and reported), never drawn over another; a thin line
joins a label to its point when it had to move away.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.text import Annotation

#: Offset directions (unit vectors) tried around a point, starting up-right.
_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))


def place_labels(
    ax: Axes,
    xs: Sequence[float],
    ys: Sequence[float],
    texts: Sequence[str],
    *,
    fontsize: float = 5.0,
    rings: Sequence[float] = (3, 8, 14, 22),
    color: str = "black",
) -> list[bool]:
    """Annotate points in the order given (most important first) without overlaps.

    Parameters
    ----------
    ax
        The axes (its figure is drawn once so that the layout, and so the boxes, are final).
    xs, ys, texts
        Points in data coordinates and their labels.
    fontsize
        Label size in points.
    rings
        Offset distances (points) tried in turn.

    Returns
    -------
    list of bool
        Whether each label was placed.
    """
    fig = ax.figure
    fig.draw_without_rendering()  # settle the layout: boxes below are in final display units
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed_boxes: list = []
    placed: list[bool] = []
    for x, y, text in zip(xs, ys, texts, strict=True):
        ok = False
        for r in rings:
            for dx, dy in _DIRECTIONS:
                ox, oy = r * dx, r * dy
                ann: Annotation = ax.annotate(
                    text,
                    (x, y),
                    xytext=(ox, oy),
                    textcoords="offset points",
                    fontsize=fontsize,
                    color=color,
                    ha="left" if dx > 0 else ("right" if dx < 0 else "center"),
                    va="bottom" if dy > 0 else ("top" if dy < 0 else "center"),
                    annotation_clip=False,
                )
                box = ann.get_window_extent(renderer)
                inside = (
                    box.x0 >= frame.x0
                    and box.x1 <= frame.x1
                    and box.y0 >= frame.y0
                    and box.y1 <= frame.y1
                )
                if inside and not any(box.overlaps(b) for b in placed_boxes):
                    if r > rings[0]:
                        ann.arrow_patch = None
                        ax.annotate(
                            "",
                            (x, y),
                            xytext=(ox * 0.85, oy * 0.85),
                            textcoords="offset points",
                            arrowprops={"arrowstyle": "-", "lw": 0.3, "color": "#666666",
                                        "shrinkA": 0, "shrinkB": 1},
                        )  # fmt: skip
                    placed_boxes.append(box)
                    ok = True
                    break
                ann.remove()
            if ok:
                break
        placed.append(ok)
    return placed


def label_boxes_overlap(ax: Axes) -> bool:
    """True when two text annotations of ``ax`` overlap (for tests and checks)."""
    renderer = ax.figure.canvas.get_renderer()
    boxes = [
        t.get_window_extent(renderer)
        for t in ax.texts
        if isinstance(t, Annotation) and t.get_text()
    ]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
