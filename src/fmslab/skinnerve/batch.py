"""Per-file skin-nerve analysis for batches: one picklable worker that analyses a recording,
saves its figures and returns its tables, reusing cached results for unchanged files.

Used by ``fmslab skinnerve analyze`` and by the demo study.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from fmslab.errors import InputError

log = logging.getLogger(__name__)

TABLES = ("units", "responses", "spikes", "artefacts", "warnings")
#: the tables stored in the study catalog (artefacts and warnings stay in their CSV files)
CATALOG_TABLES = ("units", "responses", "spikes")
STEP = "skinnerve.analyze"


def analyze_item(item: tuple[str, str | None, dict[str, Any], str, str]) -> dict[str, pd.DataFrame]:
    """Worker: analyse one file, save its figures, return its tables (module-level: picklable)."""
    import matplotlib

    matplotlib.use("Agg")
    from fmslab.atomic import write_with
    from fmslab.cache import ResultCache, cache_key
    from fmslab.provenance import sha256_file, sha256_json
    from fmslab.skinnerve.analysis import analyze_file
    from fmslab.skinnerve.channels import channel_map_for
    from fmslab.skinnerve.params import Params
    from fmslab.skinnerve.plots import stimulus_figure, unit_figure

    path_s, channels_file, params_d, out_s, label = item
    path, out = Path(path_s), Path(out_s)
    if not path.is_file():
        raise InputError("file not found", file=path)
    params = Params.from_dict(params_d)
    cmap = channel_map_for(path, channels_file)
    fig_dir = out / "figures"
    key = cache_key(
        input_sha256=sha256_file(path),
        parameters={
            "params": params.to_dict(),
            "channels": sha256_json(cmap.__dict__ if cmap else None),
            "label": label,
        },
        step=STEP,
    )
    cache = ResultCache(out / ".cache")
    hit = cache.get(STEP, key)
    if hit is not None and all((fig_dir / f).is_file() for f in hit["units"].get("figure", [])):
        log.info("%s: unchanged, results reused", path)
        return hit
    fr = analyze_file(path, cmap, params)
    stem = path.stem
    figs = []
    for k in fr.units["unit_id"] if len(fr.units) else []:
        fig = unit_figure(fr, int(k))
        name = f"{stem}_unit{int(k)}.png"
        write_with(fig_dir / name, lambda p, fig=fig: fig.savefig(p, format="png", dpi=90))
        del fig  # a Figure outside pyplot is not kept by matplotlib: collected below
        figs.append(name)
    fig = stimulus_figure(fr)
    write_with(
        fig_dir / f"{stem}_stimuli.png", lambda p, fig=fig: fig.savefig(p, format="png", dpi=90)
    )
    del fig
    # one collection for all figures (Figure.clear() rebuilt every axis' ticks: ~0.2 s each)
    gc.collect()
    tables = {
        "units": fr.units,
        "responses": fr.responses,
        "spikes": fr.spikes,
        "artefacts": fr.artefacts,
        "warnings": pd.DataFrame({"file": label, "warning": fr.warnings}),
    }
    for df in tables.values():
        if len(df) or "file" in df.columns:
            df["file"] = label
    if len(fr.units):
        fr.units["figure"] = figs
    cache.put(STEP, key, tables)
    return tables
