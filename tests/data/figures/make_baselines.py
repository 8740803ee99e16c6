"""Regenerate the image-test baselines (see README.md). Run from the repository root."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_render():
    spec = importlib.util.spec_from_file_location("fmslab_figures_render", HERE / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    out = HERE / "baseline"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in load_render().render_all(Path(tmp)).items():
            (out / f"{name}.png").write_bytes(path.read_bytes())
            print("wrote", out / f"{name}.png")
