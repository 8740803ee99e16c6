"""Write ``tests/external/registry.csv`` (name, sha256, url, source) from a mirror of the external
test data (a folder laid out like ``shared/data``).

    python tests/external/make_registry.py /path/to/shared/data

The SHA-256 of every file is computed from the mirror; the URL of each file is its public source
as documented in the mirror's README (``shared/README.md``). Files without a public copy of the
same content (tables made for this project, files since removed upstream) get an empty URL: the
tests that need them run only with a mirror (``FMSLAB_TEST_DATA``).
"""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

PYABF = "https://github.com/swharden/pyABF/raw/3ad9cd6f/data/abfs/{name}"
BLUEPYEFE = "https://github.com/BlueBrain/BluePyEfe/raw/9d8780af6c352eba1d7c1ad16f6bb942a442b3b7/tests/exp_data/{sub}/{name}"
SPIKE2PY = "https://github.com/MartinHeroux/spike2py/raw/840c1b5e57ac8c32cd52f92cf5687a6ff7d4eb64/tests/payloads/{name}"
PYTHONCFS = "https://github.com/m0ose01/pythonCFS/raw/d1243ab2e1e703ede11ac17afd141556098a8b97/tests/test_data/{name}"
CARPENTRIES = "https://github.com/carpentries-incubator/bioc-rnaseq/raw/main/episodes/data/{name}"


def source_of(rel: str) -> tuple[str, str]:
    """(url, source) of one file, by its path in the mirror."""
    name = rel.rsplit("/", 1)[-1]
    if rel.startswith(("ephys/abf/", "ephys/abf_more/")):
        return PYABF.format(name=name), "pyABF test data (swharden/pyABF data/abfs, MIT)"
    if rel == "ephys/formats/99111002.nwb":
        return (
            BLUEPYEFE.format(sub="hippocampus-portal", name=name),
            "BluePyEfe tests/exp_data (Hippocampus Hub data, terms in its data-provenance.txt)",
        )
    if rel.startswith("ephys/formats/B6_"):
        return BLUEPYEFE.format(sub="B6", name=name), "BluePyEfe tests/exp_data/B6 (BSD)"
    if rel.endswith(".smr"):
        return SPIKE2PY.format(name=name), "spike2py tests/payloads (GPL-3.0 test payloads)"
    if rel.endswith(".cfs"):
        return PYTHONCFS.format(name=name), "pythonCFS tests/test_data (MIT)"
    if rel.startswith("rnaseq/cerebellum_gse96870/GSE96870_"):
        return CARPENTRIES.format(name=name), "Carpentries bioc-rnaseq episodes/data (CC-BY 4.0)"
    if rel.startswith("rnaseq/cerebellum_gse96870/reference/"):
        return "", "R DESeq2 1.38.3 output on the GSE96870 counts (made for fmslab's tests)"
    if rel.startswith("ephys/reference/"):
        return "", "eFEL 5.7.34 / IPFX 2.1.2 outputs on pyABF files (made for fmslab's tests)"
    if rel.startswith("genesets/"):
        return "", "IUPHAR/BPS Guide to PHARMACOLOGY 2023.1 ion channels (CC-BY-SA 4.0), filtered"
    if rel == "behaviour/dixon_k_table.csv":
        return "", "Dixon (1980) k table, transcribed (shipped as src/fmslab/data/behaviour)"
    if rel.endswith(".axgx"):
        return "", "AxoGraph's sample file via CWRUChielLab/axographio (BSD-3)"
    if rel.endswith(".dat"):
        return "", "easy-electrophysiology/load-heka-python (MIT; removed upstream)"
    if rel.endswith(".wcp"):
        return "", "johndempster/WinWCPXE"
    raise SystemExit(f"no source known for {rel}: add it to {__file__}")


def main(mirror: Path) -> None:
    rows = []
    for path in sorted(p for p in mirror.rglob("*") if p.is_file()):
        rel = path.relative_to(mirror).as_posix()
        if rel == "README.md":
            continue
        url, source = source_of(rel)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        rows.append({"name": rel, "sha256": sha, "url": url, "source": source})
    out = Path(__file__).with_name("registry.csv")
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["name", "sha256", "url", "source"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} files -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
