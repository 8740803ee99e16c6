"""Responder ("transferrer") calls from per-donor shrunken effects, with a declared rule.

Rule, for an outcome whose hypersensitive direction is ``s`` (``-1``: lower is more sensitive,
e.g. a withdrawal threshold or rheobase; ``+1``: higher, e.g. firing rate) and a minimal
important change ``mic >= 0`` (outcome units, default 0): the donor is compared with the range of
the control donors, i.e. with a new control donor whose effect is ``u_c ~ N(0, s2_donor)``::

    P_d = P(s * (effect_d - u_c) > mic)
        = F_t((s * effect_shrunken_d - mic) / sqrt(pred_se_d^2 + s2_donor); pred_df)

(the prediction distribution of the donor's effect, :mod:`fmslab.donors.effects`, widened by the
between-control-donor spread). A donor is called a *transferrer* when ``P_d >= 1 - alpha``. A
donor drawn from the control donors' distribution is called with a nominal probability ``alpha``
(one-sided); the table also reports how many control donors are called (an empirical
false-call count). An outcome without a declared direction (``s = 0``) is judged two-sided:
``P_d`` is the larger tail, called at ``1 - alpha / 2``.

When the between-donor variance is estimated at zero (a boundary fit: the data show no donor-to-
donor spread beyond the mice's), the model cannot tell one donor from another: every donor's
shrunken effect is its group's, and the control range has no width, so a call would restate the
group comparison as a claim about each donor (on the demo's skin-nerve thresholds it called 4 of
14 donors without planted potency). Such outcomes get ``call = "undetermined"`` with the reason
in ``rule``; ``p_transfer`` is still reported.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

#: a donor variance below this fraction of a donor's prediction variance counts as zero
ZERO_DONOR_VAR = 1e-6

#: Hypersensitive direction of the outcomes fmslab measures (-1: lower = more sensitive).
DIRECTIONS: dict[str, int] = {
    "mean_post_pct": -1,
    "value": -1,  # von Frey threshold (behaviour_mouse_day)
    "rheobase_pA": -1,
    "mech_threshold": -1,
    "sr_slope_spikes_per_unit": 1,
    "spont_rate_hz": 1,
    "n_spikes_max": 1,
    "rmp_mV": 1,
}


def call_responders(
    effects: pd.DataFrame,
    *,
    alpha: float = 0.05,
    mic: Mapping[str, float] | None = None,
    directions: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Add the responder probability, call and rule to a per-donor effect table.

    Parameters
    ----------
    effects
        Output of :func:`fmslab.donors.effects.donor_effects` (one or more outcomes).
    alpha
        Nominal one-sided false-call rate per donor with no effect beyond ``mic``.
    mic
        Minimal important change per outcome (outcome units, >= 0; default 0).
    directions
        Hypersensitive direction per outcome (``-1``, ``+1`` or ``0`` for two-sided); default
        :data:`DIRECTIONS`, else two-sided.

    Returns
    -------
    pandas.DataFrame
        ``effects`` with ``direction``, ``mic``, ``p_transfer``, ``call``
        (``transferrer`` / ``not shown``), ``rule`` and, per outcome, ``controls_called``
        (control donors called transferrers, out of ``n_controls``).
    """
    if not 0 < alpha < 0.5:
        raise ValueError("alpha must be in (0, 0.5)")
    dirs = {**DIRECTIONS, **(directions or {})}
    mics = dict(mic or {})
    out = effects.copy()
    s = out["outcome"].map(lambda o: int(dirs.get(o, 0))).to_numpy()
    m = out["outcome"].map(lambda o: float(mics.get(o, 0.0))).to_numpy()
    if (m < 0).any():
        raise ValueError("a minimal important change must be >= 0")
    est = out["effect_shrunken"].to_numpy(float)
    spread = out["var_donor"].to_numpy(float) if "var_donor" in out else 0.0
    se = np.sqrt(out["pred_se"].to_numpy(float) ** 2 + spread)
    df = out["pred_df"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = stats.t.cdf((est - m) / se, df)
        down = stats.t.cdf((-est - m) / se, df)
    prob = np.where(s > 0, up, np.where(s < 0, down, np.maximum(up, down)))
    level = np.where(s == 0, 1 - alpha / 2, 1 - alpha)
    out["direction"] = s
    out["mic"] = m
    out["p_transfer"] = prob
    called = prob >= level
    pred_var = out["pred_se"].to_numpy(float) ** 2
    # only a fitted donor variance can be a boundary fit (tables without the column: no spread)
    no_spread = (
        out["var_donor"].to_numpy(float) <= ZERO_DONOR_VAR * pred_var
        if "var_donor" in out
        else np.zeros(len(out), dtype=bool)
    )
    out["call"] = np.where(
        np.isnan(prob) | no_spread,
        "undetermined",
        np.where(called, "transferrer", "not shown"),
    )
    out["rule"] = [
        (
            f"P({'-' if si < 0 else ''}(effect - control donor) > {mi:g}) >= {lv:g}"
            if si != 0
            else f"P(|effect - control donor| > {mi:g}) >= {lv:g} (two-sided, no direction)"
        )
        + f"; nominal false-call rate {alpha:g} per donor like the control donors"
        + (
            "; undetermined: between-donor variance estimated 0 (boundary fit), so donors "
            "cannot be told apart; see the group comparison"
            if ns
            else ""
        )
        for si, mi, lv, ns in zip(s, m, level, no_spread, strict=True)
    ]
    is_control = out["group"] == out["reference"]
    summary = (
        out.assign(_c=is_control & (out["call"] == "transferrer"), _n=is_control)
        .groupby("outcome")[["_c", "_n"]]
        .sum()
    )
    out["controls_called"] = out["outcome"].map(summary["_c"]).astype(int)
    out["n_controls"] = out["outcome"].map(summary["_n"]).astype(int)
    return out
