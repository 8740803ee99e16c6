"""Group order and colours: one definition for every figure of a study.

A study fixes them in ``study.yaml``::

    groups:
      order: [HC, FMS]                           # reference first
      colors: {HC: "#0072B2", FMS: "#D55E00"}    # optional

Without that, the order is control-like names first (HC, control, vehicle, ...), then the rest
sorted, and colours come from :data:`GROUP_PALETTE` by position in that order; the same groups get
the same colours in every figure either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fmslab.errors import InputError

#: Okabe-Ito colours for groups, in order of use (blue for the reference, vermillion next).
GROUP_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: Group names put first when no order is given (case-insensitive).
CONTROL_NAMES = ("hc", "control", "ctrl", "healthy", "healthy control", "vehicle", "saline")


def default_order(groups: Iterable[str]) -> list[str]:
    """Control-like names first, then the rest in sorted order."""
    names = sorted({str(g) for g in groups})
    return [g for g in names if g.lower() in CONTROL_NAMES] + [
        g for g in names if g.lower() not in CONTROL_NAMES
    ]


@dataclass(frozen=True)
class GroupStyle:
    """Order and colours of the groups of a study.

    Attributes
    ----------
    order
        Groups in display order (reference first); groups not listed follow in default order.
    colors
        Colour per group; groups without one get :data:`GROUP_PALETTE` colours by position.
    """

    order: tuple[str, ...] = ()
    colors: Mapping[str, str] = field(default_factory=dict)

    def arrange(self, present: Iterable[str]) -> list[str]:
        """The groups of ``present`` in display order."""
        present = {str(g) for g in present}
        known = [g for g in self.order if g in present]
        return known + [g for g in default_order(present) if g not in known]

    def palette(self, present: Iterable[str]) -> dict[str, str]:
        """Colour of each present group (stable: a group's colour does not depend on the others
        when the study fixes the order)."""
        ordered = self.arrange(present)
        universe = list(self.order) + [g for g in ordered if g not in self.order]
        used = {c.lower() for c in self.colors.values()}
        free = [c for c in GROUP_PALETTE if c.lower() not in used]
        out = {}
        k = 0
        for g in universe:
            if g in self.colors:
                out[g] = self.colors[g]
            else:
                out[g] = free[k % len(free)] if free else GROUP_PALETTE[k % len(GROUP_PALETTE)]
                k += 1
        return {g: out[g] for g in ordered}


def group_style_from_config(config: Mapping[str, Any] | None) -> GroupStyle:
    """The style from a ``study.yaml`` mapping (its ``groups:`` entry; a list is the order).

    Raises
    ------
    InputError
        When ``groups:`` is not a list or a mapping with ``order``/``colors``.
    """
    spec = (config or {}).get("groups")
    if spec is None:
        return GroupStyle()
    if isinstance(spec, list):
        return GroupStyle(order=tuple(str(g) for g in spec))
    if not isinstance(spec, dict) or set(spec) - {"order", "colors"}:
        raise InputError(
            "study.yaml 'groups:' must be a list of groups or a mapping with 'order' and 'colors'"
        )
    order = spec.get("order") or []
    colors = spec.get("colors") or {}
    if not isinstance(order, list) or not isinstance(colors, dict):
        raise InputError("study.yaml 'groups:': 'order' must be a list, 'colors' a mapping")
    return GroupStyle(
        order=tuple(str(g) for g in order), colors={str(k): str(v) for k, v in colors.items()}
    )


def study_group_style(study: str | Path | None) -> GroupStyle:
    """The group style of a study folder (default style when it declares none)."""
    if study is None:
        return GroupStyle()
    path = Path(study) / "study.yaml"
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return GroupStyle()
    return group_style_from_config(config if isinstance(config, dict) else {})
