"""Findings in words, generated from the comparison statistics (``compare_stats``).

One :class:`Finding` per planned comparison and outcome: the primary model's row turned into a
sentence ("Rheobase was 49 pA lower with FMS IgG than with HC IgG (95% CI 12 to 86 pA; mixed
model, 3 vs 3 donors, 12 vs 12 mice, 35 cells; p = 0.02)"), and its warnings in plain words.
Numbers are rounded to the digits the interval supports (:func:`meaningful`); the exact values stay
in the statistics table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fmslab.display import MODEL_WORDS, _finite, format_p, meaningful
from fmslab.figures.vocabulary import name_of, unit_of

#: What a row of each source table is.
ROW_NOUNS = {"cells": "cells", "units": "units", "mouse": "mice", "mouse_day": "mouse-days"}
#: Minimum donors per group below which a comparison is flagged as resting on few replicates.
FEW_DONORS = 3


@dataclass
class Finding:
    """One comparison of one outcome, in words.

    Attributes
    ----------
    key
        ``source|outcome`` (plus ``|contrast`` when the statistics table has one).
    outcome, source
        As in ``compare_stats``.
    sentence
        The generated sentence.
    row
        The primary model's row (a dict of the statistics table's columns).
    warnings
        Plain-word warnings; ``raw_warnings`` the model's own messages.
    """

    key: str
    outcome: str
    source: str
    sentence: str
    row: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    raw_warnings: str = ""


def row_noun(source: str) -> str:
    """What one row of the compared table is ("cells" for ``catalog:ephys_cells``)."""
    table = source.split(":", 1)[-1].rsplit("/", 1)[-1].removesuffix(".csv")
    for suffix, noun in sorted(ROW_NOUNS.items(), key=lambda kv: -len(kv[0])):
        if table.endswith(suffix):
            return noun
    return "observations"


def _int(x: Any) -> int | None:
    return int(x) if _finite(x) else None


def _counts(row: dict[str, Any]) -> str:
    parts = []
    for key, noun in (("donors", "donors"), ("mice", "mice")):
        a, b = _int(row.get(f"n_{key}_trt")), _int(row.get(f"n_{key}_ref"))
        if a is not None and b is not None:
            parts.append(f"{a} vs {b} {noun}")
    a, b = _int(row.get("n_obs_trt")), _int(row.get("n_obs_ref"))
    if a is not None and b is not None:
        parts.append(f"{a + b} {row_noun(str(row.get('source', '')))}")
    return ", ".join(parts)


def _p_text(row: dict[str, Any]) -> str:
    """``p = 0.02``, with the planned-contrast adjustment when the table has one."""
    text = format_p(row.get("p"))
    adj, how = row.get("p_adj"), row.get("adjustment")
    if _finite(adj) and how and not str(how).lower().startswith(("none", "nan")):
        text += f", {how}-adjusted {format_p(adj)}"
    return text


def sentence(row: dict[str, Any]) -> str:
    """The sentence for one primary row of ``compare_stats``."""
    outcome = str(row["outcome"])
    name = name_of(outcome)
    if row.get("day") is not None and _finite(row.get("day")):
        name += f" on day {float(row['day']):g}"
    unit = unit_of(outcome)
    trt, ref = str(row["treatment"]), str(row["reference"])
    igg = " IgG" if str(row.get("unit", "")) in ("donor", "donor_id") else ""
    model = MODEL_WORDS.get(str(row.get("model")), str(row.get("model")))
    est, lo, hi = row.get("estimate"), row.get("ci_low"), row.get("ci_high")
    conf = _confidence(str(row.get("ci_method") or ""))
    details = "; ".join(x for x in (model, _counts(row), _p_text(row)) if x)
    if not _finite(est) and _finite(row.get("statistic")) and row.get("test"):
        # an omnibus test (e.g. an F test across groups or days): no single difference to state
        dfs = ", ".join(f"{float(row[k]):g}" for k in ("df_num", "df") if _finite(row.get(k)))
        return (
            f"{name}: {row['test']} {float(row['statistic']):.3g}"
            + (f" (df {dfs})" if dfs else "")
            + f" ({details})."
        )
    if not _finite(est):
        return f"{name}: no estimate for {trt}{igg} vs {ref}{igg} ({details})."
    u = f" {unit}" if unit else ""
    if str(row.get("estimate_type")) == "odds_ratio":
        ci = ""
        if _finite(lo) and _finite(hi):
            ci = f"{conf}% CI {meaningful(lo, lo)} to {meaningful(hi, hi)}; "
        return (
            f"The odds of {name[:1].lower() + name[1:]} were {meaningful(est, est)} times as high "
            f"with {trt}{igg} as with {ref}{igg} ({ci}{details})."
        )
    est = float(est)
    half = (float(hi) - float(lo)) / 2 if _finite(lo) and _finite(hi) else abs(est)
    direction = "higher" if est > 0 else "lower"
    ci = ""
    spans = False
    if _finite(lo) and _finite(hi):
        a, b = (float(lo), float(hi)) if est > 0 else (-float(hi), -float(lo))
        ci = f"{conf}% CI {meaningful(a, half)} to {meaningful(b, half)}{u}; "
        spans = float(lo) <= 0 <= float(hi)
    if meaningful(est, half) == "0":
        text = f"{name} did not differ between {trt}{igg} and {ref}{igg}"
        text += f" (difference {meaningful(est, half)}{u}; {ci}{details})."
        return text
    text = (
        f"{name} was {meaningful(abs(est), half)}{u} {direction} with {trt}{igg} than with "
        f"{ref}{igg} ({ci}{details})."
    )
    if spans:
        text += " The interval includes no difference."
    return text


def _confidence(ci_method: str) -> str:
    m = re.search(r"(\d{2})%", ci_method)
    return m.group(1) if m else "95"


#: Model messages and what they mean for a reader.
_PLAIN = (
    (r"singular fit: '([^']+)' variance estimated at 0",
     "The mixed model found no variation between {0} beyond the residual (singular fit); the "
     "estimate is then close to a test on the means."),
    (r"fit failed: ([^;]+)", "The model could not be fitted ({0}); no p-value from it."),
    (r"did not converge|ConvergenceWarning: Maximum Likelihood",
     "The model fit had convergence problems; compare with the donor-mean tests in the table."),
    (r"no degrees of freedom", "One donor per group: no test of the difference is possible."),
    (r"not estimable", "The odds ratio cannot be estimated (a group has no or only positive rows)."),
)  # fmt: skip


def _plural(noun: str) -> str:
    return {"mouse": "mice", "donor": "donors", "cell": "cells", "unit": "units"}.get(noun, noun)


def plain_warnings(row: dict[str, Any]) -> list[str]:
    """Warnings of one primary row in plain words (few donors first)."""
    out = []
    a, b = _int(row.get("n_donors_trt")), _int(row.get("n_donors_ref"))
    if a is not None and b is not None and min(a, b) < FEW_DONORS:
        out.append(
            f"Few donors: {a} {row.get('treatment')} and {b} {row.get('reference')}. The donor is "
            "the unit of replication, so the interval and p-value rest on "
            f"{a + b} independent samples."
        )
    raw = str(row.get("warnings") or "")
    for pattern, text in _PLAIN:
        m = re.search(pattern, raw)
        if m:
            out.append(text.format(*(_plural(g.removesuffix("_id")) for g in m.groups())))
    return out


def findings(stats: pd.DataFrame | None) -> list[Finding]:
    """One finding per (source, outcome[, contrast]) from the primary rows of ``compare_stats``."""
    if stats is None or not len(stats) or "primary" not in stats.columns:
        return []
    primary = stats[stats["primary"].fillna(False).astype(bool)]
    out = []
    for _, r in primary.iterrows():
        row = {k: (None if (not isinstance(v, str) and pd.isna(v)) else v) for k, v in r.items()}
        parts = [str(row.get("source", "")), str(row["outcome"])]
        if row.get("contrast"):
            parts.append(str(row["contrast"]))
        out.append(
            Finding(
                key="|".join(parts),
                outcome=str(row["outcome"]),
                source=str(row.get("source", "")),
                sentence=sentence(row),
                row=row,
                warnings=plain_warnings(row),
                raw_warnings=str(row.get("warnings") or ""),
            )
        )
    return out


def is_blinded(stats: pd.DataFrame | None) -> bool:
    """True when no comparison with group labels has been run."""
    if stats is None or not len(stats):
        return True
    labels = set(stats.get("reference", pd.Series(dtype=str)).dropna().astype(str))
    labels |= set(stats.get("treatment", pd.Series(dtype=str)).dropna().astype(str))
    return not (labels - {"blinded", ""})
