"""Readers for count matrices, sample sheets, contrasts and gene annotations.

Every reader returns plain pandas objects and raises :class:`fmslab.errors.InputError` naming the
file (and row/column where it applies) on bad input. Counts are returned genes x samples, integer.

Supported count layouts (detected from the header):

- **table** (``.csv``/``.tsv``/``.txt``): first column gene id, one column per sample;
- **featureCounts**: ``#`` comment line, then ``Geneid Chr Start End Strand Length <samples...>``;
  sample columns are BAM paths, reduced to the file stem (``x/S1.sorted.bam`` -> ``S1``);
- **nf-core/rnaseq merged gene counts** (``salmon.merged.gene_counts.tsv``): ``gene_id``,
  ``gene_name``, then samples; salmon's fractional counts are rounded half to even (documented
  nf-core/DESeq2 practice, ``round()`` in R) and the ``gene_name`` column is kept as annotation;
- **h5ad**: ``X`` (or ``layers['counts']`` when present) is samples x genes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fmslab.errors import InputError

log = logging.getLogger(__name__)

FEATURECOUNTS_META = ["Chr", "Start", "End", "Strand", "Length"]
NFCORE_META = ["gene_name"]


@dataclass(frozen=True)
class Contrast:
    """One comparison: ``target`` vs ``reference`` level of ``variable``, or a numeric
    combination of model coefficients (``weights``: ``(coefficient name, weight)`` pairs,
    names as R DESeq2's ``resultsNames()``)."""

    id: str
    variable: str = ""
    reference: str = ""
    target: str = ""
    weights: tuple[tuple[str, float], ...] = ()

    @property
    def is_numeric(self) -> bool:
        return bool(self.weights)

    @classmethod
    def parse(cls, text: str) -> Contrast:
        """Parse the CLI forms ``VAR,TARGET,REF`` (two levels of a factor) or
        ``coef:NAME[*WEIGHT]+NAME[*WEIGHT]...`` (a numeric contrast of coefficients, e.g.
        ``coef:time_Day8_vs_Day0+sexMale.timeDay8``)."""
        if text.startswith("coef:"):
            weights = []
            for part in text[5:].split("+"):
                name, _, w = part.strip().partition("*")
                try:
                    weight = float(w) if w else 1.0
                except ValueError:
                    raise InputError(f"contrast '{text}': weight '{w}' is not a number") from None
                if not name:
                    raise InputError(f"contrast '{text}' has an empty coefficient name")
                weights.append((name.strip(), weight))
            ident = "_plus_".join(n for n, _ in weights)
            return cls(id=ident, weights=tuple(weights))
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 3 or not all(parts):
            raise InputError(f"contrast '{text}' must be VAR,TARGET,REF or coef:NAME+NAME")
        var, target, ref = parts
        return cls(id=f"{var}_{target}_vs_{ref}", variable=var, reference=ref, target=target)


def _sep(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith("#"):
                return "\t" if line.count("\t") >= line.count(",") else ","
    return ","


def _sample_name(col: str) -> str:
    name = Path(str(col)).name
    for suffix in (".bam", ".sorted", ".markdup", ".Aligned.sortedByCoord.out", ".sam"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return re.sub(r"(\.sorted|\.markdup|Aligned\.sortedByCoord\.out)$", "", name)


def read_counts(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a count matrix in any supported layout.

    Returns
    -------
    counts
        genes x samples, ``int64``; index name ``gene``.
    gene_info
        Per-gene annotation columns found in the file (may be empty), same index.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("count file not found", file=path)
    if path.suffix == ".h5ad":
        return _read_h5ad_counts(path)
    sep = _sep(path)
    try:
        raw = pd.read_csv(path, sep=sep, comment=None, skiprows=_comment_lines(path))
    except Exception as exc:  # pandas raises many types on malformed text
        raise InputError(f"cannot parse count table: {exc}", file=path) from exc
    cols = list(raw.columns)
    if cols[:1] == ["Geneid"] and all(c in cols for c in FEATURECOUNTS_META):
        info = raw.set_index("Geneid")[FEATURECOUNTS_META]
        data = raw.set_index("Geneid").drop(columns=FEATURECOUNTS_META)
        data.columns = [_sample_name(c) for c in data.columns]
    elif cols[:2] == ["gene_id", "gene_name"]:
        info = raw.set_index("gene_id")[NFCORE_META]
        data = raw.set_index("gene_id").drop(columns=NFCORE_META)
        data = _round_fractional(data, path)
    else:
        data = raw.set_index(cols[0])
        info = pd.DataFrame(index=data.index)
    ids = pd.Series(data.index, dtype=object)
    empty = ids.isna() | (ids.astype(str).str.strip() == "")
    if empty.any():
        # pandas reads an empty id as NaN, which would become a gene called 'nan'
        raise InputError(
            "gene id is empty", file=path, row=int(empty.to_numpy().argmax()) + 2, column=cols[0]
        )
    data.index = ids.astype(str).str.strip().to_numpy()  # 'Scn9a ' is 'Scn9a': duplicates show
    info.index = data.index
    data.index.name = info.index.name = "gene"
    return validate_counts(data, path), info


def _comment_lines(path: Path) -> int:
    n = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            n += 1
    return n


def _round_fractional(data: pd.DataFrame, path: Path) -> pd.DataFrame:
    numeric = data.apply(pd.to_numeric, errors="coerce")
    if numeric.isna().any().any():
        return data  # validate_counts reports the exact cell
    if not np.allclose(numeric, np.round(numeric)):
        log.info("%s: rounding salmon fractional counts to integers", path)
    return np.round(numeric)


def _read_h5ad_counts(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    import anndata as ad

    adata = ad.read_h5ad(path)
    x = adata.layers["counts"] if "counts" in adata.layers else adata.X
    x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
    data = pd.DataFrame(x.T, index=adata.var_names.astype(str), columns=adata.obs_names)
    data.index.name = "gene"
    return validate_counts(data, path), adata.var.copy().set_axis(data.index)


def validate_counts(data: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """Check a genes x samples matrix: numeric, finite, non-negative integers, unique ids.

    All-zero genes are kept (pydeseq2 and R both carry them with NA results); they are counted in
    the log.
    """
    dup = data.index[data.index.duplicated()]
    if len(dup):
        raise InputError(
            f"duplicated gene ids ({len(dup)}), first: '{dup[0]}'; aggregate or rename them",
            file=path,
        )
    dups = data.columns[data.columns.duplicated()]
    if len(dups):
        raise InputError(f"duplicated sample column '{dups[0]}'", file=path)
    numeric = data.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() & data.notna() | numeric.isna()
    if bad.any().any():
        gene, sample = _first_true(bad)
        raise InputError(
            f"gene '{gene}', sample '{sample}': count '{data.loc[gene, sample]}' is not a number",
            file=path,
        )
    values = numeric.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        gene, sample = _first_true(~np.isfinite(numeric))
        raise InputError(f"gene '{gene}', sample '{sample}': count is not finite", file=path)
    if (values < 0).any():
        gene, sample = _first_true(numeric < 0)
        raise InputError(
            f"gene '{gene}', sample '{sample}': negative count {numeric.loc[gene, sample]}",
            file=path,
        )
    if not np.array_equal(values, np.round(values)):
        gene, sample = _first_true(numeric != np.round(numeric))
        raise InputError(
            f"gene '{gene}', sample '{sample}': count {numeric.loc[gene, sample]} is not an "
            "integer (DESeq2 needs raw counts; round estimated counts such as salmon's first)",
            file=path,
        )
    n_zero = int((values.sum(axis=1) == 0).sum())
    if n_zero:
        log.info("%d all-zero genes kept (their results are NA, as in DESeq2)", n_zero)
    return numeric.astype(np.int64)


def _first_true(mask: pd.DataFrame) -> tuple[str, str]:
    stacked = mask.stack()
    gene, sample = stacked[stacked].index[0]
    return str(gene), str(sample)


def read_samples(path: str | Path, *, id_column: str | None = None) -> pd.DataFrame:
    """Read a sample sheet (CSV/TSV); the index is the sample id (first column by default)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("sample sheet not found", file=path)
    sheet = pd.read_csv(path, sep=_sep(path), dtype=str)
    col = id_column or sheet.columns[0]
    if col not in sheet.columns:
        raise InputError(f"no sample id column '{col}'", file=path)
    dup = sheet[col][sheet[col].duplicated()]
    if len(dup):
        raise InputError(
            f"sample '{dup.iloc[0]}' listed twice", file=path, row=int(dup.index[0]) + 2
        )
    return sheet.set_index(col)


def read_contrasts(path: str | Path) -> list[Contrast]:
    """Read a contrasts table with columns ``id, variable, reference, target``."""
    path = Path(path)
    table = pd.read_csv(path, sep=_sep(path), dtype=str)
    need = ["id", "variable", "reference", "target"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputError(f"contrasts table lacks columns {missing}", file=path)
    out = []
    for i, row in table.iterrows():
        if row[need].isna().any():
            raise InputError("empty field in contrast", file=path, row=int(i) + 2)
        out.append(Contrast(row["id"], row["variable"], row["reference"], row["target"]))
    return out


def read_annotation(path: str | Path) -> pd.DataFrame:
    """Read an Ensembl <-> symbol table: columns ``gene_id`` and ``gene_name`` (or ``symbol``)."""
    path = Path(path)
    table = pd.read_csv(path, sep=_sep(path), dtype=str)
    rename = {
        "symbol": "gene_name",
        "ensembl_gene_id": "gene_id",
        "external_gene_name": "gene_name",
    }
    table = table.rename(columns={k: v for k, v in rename.items() if k in table.columns})
    if not {"gene_id", "gene_name"} <= set(table.columns):
        raise InputError("annotation needs columns gene_id and gene_name", file=path)
    return table.drop_duplicates("gene_id").set_index("gene_id")[["gene_name"]]


def match_samples(
    counts: pd.DataFrame, samples: pd.DataFrame, *, counts_file=None, samples_file=None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Align count columns and sheet rows; every count column must be in the sheet.

    Sheet rows without a count column are dropped with a log message (a sheet often lists more
    samples than one run has); count columns missing from the sheet are an error.
    """
    missing = [s for s in counts.columns if s not in samples.index]
    if missing:
        raise InputError(
            f"sample '{missing[0]}' of the count matrix is not in the sample sheet"
            + (f" {samples_file}" if samples_file else "")
            + (f" ({len(missing)} missing)" if len(missing) > 1 else ""),
            file=counts_file,
        )
    extra = [s for s in samples.index if s not in counts.columns]
    if extra:
        log.info("%d sheet samples have no counts and are ignored: %s", len(extra), extra[:5])
    sheet = samples.loc[list(counts.columns)]
    return counts, sheet
