"""Per-modality summary plots for the report, drawn by :mod:`fmslab.figures.plots`.

F-I curves by group (current clamp), the von Frey time course (behaviour), the volcano with the
candidate channels labelled (RNA-seq) and mechanical stimulus-response curves (skin-nerve). Groups
are the labels written by a comparison run with the key (``results/compare/**/data.csv``) or the
donor sheet; otherwise the mice's treatment codes (blinded). Reviewers' exclusions
(``qc_overrides``) and failed current-clamp QC are left out, as in the statistics.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fmslab.figures.groups import GroupStyle
from fmslab.study.overrides import apply_overrides

log = logging.getLogger(__name__)


@dataclass
class Summary:
    """One summary plot: PNG bytes and the numbers drawn (written as its source-data CSV)."""

    key: str
    modality: str
    title: str
    caption: str
    png: bytes
    source: pd.DataFrame


@dataclass
class Grouping:
    """Mouse -> group (or treatment code) used by the summaries, and what it is."""

    by_mouse: dict[str, str]
    kind: str  # "group" | "treatment code" | "none"


def mouse_grouping(tables: dict[str, pd.DataFrame], results: Path) -> Grouping:
    """Group of each mouse: comparison outputs, else the donor sheet, else the treatment code."""
    found: dict[str, str] = {}
    by_code: dict[str, str] = {}
    compare = results / "compare"
    if compare.is_dir():
        for path in sorted(compare.rglob("*.csv")):
            if path.name == "stats.csv":
                continue
            try:
                df = pd.read_csv(
                    path, usecols=lambda c: c in ("mouse_id", "group", "treatment_code"), dtype=str
                )
            except (OSError, ValueError):
                continue
            if "group" not in df.columns:
                continue
            for key, into in (("mouse_id", found), ("treatment_code", by_code)):
                if key in df.columns:
                    for k, g in zip(df[key], df["group"], strict=True):
                        if isinstance(k, str) and isinstance(g, str):
                            into.setdefault(k, g)
    mice = tables.get("mice")
    if mice is not None and "treatment_code" in mice.columns and by_code:
        # mice a comparison saw only through their treatment code (e.g. per-donor behaviour rows)
        for m, c in zip(mice["mouse_id"].astype(str), mice["treatment_code"], strict=True):
            if isinstance(c, str) and c in by_code:
                found.setdefault(m, by_code[c])
    codes = (
        set(mice["treatment_code"].dropna().astype(str))
        if mice is not None and "treatment_code" in mice
        else set()
    )
    if found and set(found.values()) - codes - {"blinded"}:
        return Grouping(found, "group")
    donors = tables.get("donors")
    if mice is not None and donors is not None and {"donor_id"} <= set(mice.columns):
        if "group" in donors.columns:
            g = dict(zip(donors["donor_id"].astype(str), donors["group"].astype(str), strict=True))
            by = {
                str(m): g.get(str(d), "")
                for m, d in zip(mice["mouse_id"], mice["donor_id"], strict=True)
            }
            if any(v and v != "blinded" for v in by.values()):
                return Grouping({m: v for m, v in by.items() if v}, "group")
    if mice is not None and "treatment_code" in mice.columns:
        by = {
            str(m): str(c)
            for m, c in zip(mice["mouse_id"], mice["treatment_code"], strict=True)
            if pd.notna(c)
        }
        return Grouping(by, "treatment code")
    return Grouping({}, "none")


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    from fmslab.figures.style import house_style

    buf = io.BytesIO()
    with house_style():
        fig.savefig(buf, format="png", dpi=150, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _with_group(df: pd.DataFrame, grouping: Grouping) -> pd.DataFrame:
    out = df.copy()
    out["group"] = out["mouse_id"].astype(str).map(grouping.by_mouse).fillna("unassigned")
    return out


def _drop_overridden(df: pd.DataFrame, overrides: pd.DataFrame | None) -> pd.DataFrame:
    if overrides is None or not len(overrides):
        return df
    return apply_overrides(df, overrides).kept


def fi_summary(tables, grouping, style: GroupStyle, overrides) -> Summary | None:
    """F-I curves by group: step sweeps of cells that passed QC and were not excluded."""
    from fmslab.figures.plots import fi_curve, source_data

    sweeps, cells = tables.get("ephys_sweeps"), tables.get("ephys_cells")
    if sweeps is None or cells is None or not len(sweeps) or "qc_pass" not in cells:
        return None
    ok = cells[cells["qc_pass"].fillna(False).astype(bool)]
    ok = _drop_overridden(ok, overrides)
    steps = sweeps[(sweeps["stim_kind"] == "step") & sweeps["file"].isin(ok["file"])]
    steps = steps.dropna(subset=["stim_pA", "firing_rate_hz"])
    if steps.empty:
        return None
    df = _with_group(steps, grouping)
    fig = fi_curve(df, unit="cell_id", order=list(style.order), colors=dict(style.colors))
    src = source_data(fig.axes[0])
    return Summary(
        "ephys_fi", "ephys", "F-I curves by " + grouping.kind,
        f"Firing rate during the current step, mean \u00b1 SEM across cells per {grouping.kind} "
        f"({ok['file'].nunique()} cells that passed QC and were not excluded by a reviewer).",
        _png(fig), src,
    )  # fmt: skip


def rheobase_summary(tables, grouping, style: GroupStyle, overrides) -> Summary | None:
    """Distribution of rheobase per group (or code): every cell and the mouse means."""
    from fmslab.figures.plots import source_data, superplot

    cells = tables.get("ephys_cells")
    if cells is None or "rheobase_pA" not in cells or "qc_pass" not in cells:
        return None
    ok = cells[cells["qc_pass"].fillna(False).astype(bool)].dropna(subset=["rheobase_pA"])
    ok = _drop_overridden(ok, overrides)
    if ok.empty:
        return None
    df = _with_group(ok, grouping)
    fig = superplot(df, value="rheobase_pA", donor=None, color_by="mouse", order=list(style.order),
                    legend="right")  # fmt: skip
    return Summary(
        "ephys_rheobase", "ephys", f"Rheobase by {grouping.kind}",
        f"Step rheobase of every cell that passed QC and was not excluded, coloured by mouse; "
        f"large dots are mouse means, the bar the mean of mouse means per {grouping.kind}.",
        _png(fig), source_data(fig.axes[0]),
    )  # fmt: skip


def vonfrey_summary(tables, grouping, style: GroupStyle, overrides) -> Summary | None:
    """Von Frey 50% threshold over days by group."""
    from fmslab.figures.plots import source_data, time_course

    md = tables.get("behaviour_mouse_day")
    if md is None or not len(md) or "assay" not in md:
        return None
    vf = md[md["assay"].astype(str).str.startswith("vonfrey")].dropna(subset=["value"])
    vf = _drop_overridden(vf, overrides)
    if vf.empty:
        return None
    df = _with_group(vf, grouping).rename(columns={"value": "threshold_g"})
    fig = time_course(df, value="threshold_g", order=list(style.order), colors=dict(style.colors))
    return Summary(
        "behaviour_vonfrey", "behaviour", f"Von Frey time course by {grouping.kind}",
        f"50% withdrawal threshold (up-down method), mean \u00b1 SEM across mice per "
        f"{grouping.kind}; thin lines are single mice.",
        _png(fig), source_data(fig.axes[0]),
    )  # fmt: skip


def volcano_summary(tables, grouping, style: GroupStyle, overrides) -> Summary | None:
    """Volcano of the first contrast with the ranked candidate channels highlighted."""
    from fmslab.figures.plots import source_data, volcano

    de = tables.get("rnaseq_de_results")
    if de is None or not len(de) or "padj" not in de:
        return None
    contrast = None
    if "contrast" in de.columns:
        contrast = str(de["contrast"].dropna().iloc[0])
        de = de[de["contrast"] == contrast]
    channels = tables.get("rnaseq_channels")
    highlight = None
    if channels is not None and "gene" in channels.columns:
        ch = channels
        if contrast is not None and "contrast" in ch.columns:
            ch = ch[ch["contrast"] == contrast]
        names = ch["symbol"] if "symbol" in ch.columns else ch["gene"]
        highlight = dict(zip(ch["gene"].astype(str), names.fillna(ch["gene"]).astype(str),
                             strict=True))  # fmt: skip
    fig = volcano(de, highlight=highlight, n_labels=12)
    src = source_data(fig.axes[0])
    n_sig = int((src["category"] != "ns").sum())
    return Summary(
        "rnaseq_volcano", "rnaseq", f"Volcano ({contrast or 'DE'})",
        f"{len(src)} genes, {n_sig} at adjusted p < 0.05; candidate ion channels outlined; labels "
        "are the most significant genes, channels first.",
        _png(fig), src,
    )  # fmt: skip


def skinnerve_summary(tables, grouping, style: GroupStyle, overrides) -> Summary | None:
    """Mechanical stimulus-response curves (spikes per step) by group."""
    from fmslab.figures.plots import source_data, stimulus_response

    resp, units = tables.get("skinnerve_responses"), tables.get("skinnerve_units")
    if resp is None or not len(resp) or "stimulus" not in resp:
        return None
    mech = resp[resp["stimulus"] == "mechanical"].dropna(subset=["amplitude", "total_spikes"])
    if units is not None and "is_unit_under_study" in units:
        under = units[units["is_unit_under_study"].fillna(False).astype(bool)]
        keys = set(zip(under["file"], under["unit_id"], strict=True))
        mech = mech[[k in keys for k in zip(mech["file"], mech["unit_id"], strict=True)]]
    mech = _drop_overridden(mech, overrides)
    if mech.empty:
        return None
    df = _with_group(mech, grouping)
    df["unit"] = df["file"].astype(str) + "#" + df["unit_id"].astype(str)
    # steps of nominally equal force differ slightly between units: pooled at 2 significant digits
    df["amplitude"] = [float(f"{a:.2g}") for a in df["amplitude"]]
    unit = str(mech["amplitude_unit"].dropna().iloc[0]) if "amplitude_unit" in mech else ""
    fig = stimulus_response(
        df, stimulus="amplitude", response="total_spikes", unit="unit",
        order=list(style.order), colors=dict(style.colors), log_x=bool((df["amplitude"] > 0).all()),
        xlabel=f"Step amplitude ({unit})" if unit else "Step amplitude",
        ylabel="Spikes per step",
    )  # fmt: skip
    return Summary(
        "skinnerve_sr", "skinnerve", f"Skin-nerve stimulus-response by {grouping.kind}",
        f"Spikes per ramp-and-hold step, mean \u00b1 SEM across units under study per "
        f"{grouping.kind} (step amplitudes pooled at 2 significant digits).",
        _png(fig), source_data(fig.axes[0]),
    )  # fmt: skip


SUMMARIES = (rheobase_summary, fi_summary, vonfrey_summary, volcano_summary, skinnerve_summary)


def build_summaries(
    tables: dict[str, pd.DataFrame], results: Path, style: GroupStyle
) -> tuple[list[Summary], Grouping]:
    """Every summary plot the catalog has data for (a failing one is logged and skipped)."""
    grouping = mouse_grouping(tables, results)
    overrides = tables.get("qc_overrides")
    out = []
    for make in SUMMARIES:
        try:
            s = make(tables, grouping, style, overrides)
        except Exception as exc:  # a summary must never stop the report; the reason is logged
            log.warning("report: summary %s skipped (%s: %s)", make.__name__, type(exc).__name__,
                        exc)  # fmt: skip
            continue
        if s is not None:
            out.append(s)
    return out, grouping
