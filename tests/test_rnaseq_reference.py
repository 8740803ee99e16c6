"""Per-gene agreement of fmslab's DE engine with R DESeq2 1.38.3 on every reference design.

The references (tests/data/rnaseq, made by make_reference.R on the GSE96870 counts) hold R's
per-gene columns. For each column we count the genes whose relative difference from R exceeds
a tolerance (``TOL`` in rnaseq_reference.py) and cap that fraction (``CAPS`` below), and we cap
the genes whose NA status differs; the PyDESeq2 style of testing against R.

Why the tolerances and caps are what they are:

- size factors and baseMean: the same arithmetic as R; only rounding (1e-8, 10-digit tables).
- dispGeneEst (1e-3): fmslab replays R's documented line search exactly (same proposals, same
  stopping rule: identical iteration counts), so most genes agree to the table's 10 digits.
  For a minority R reports its *starting* value (the moments estimate) although its search
  moved; the rule that decides this is not in DESeq2's documentation and is not reproduced.
  Those genes are beyond the tolerance (capped per design).
- dispFit / dispMAP / dispersion (2e-2): the trend is fitted to the gene-wise estimates, so the
  genes above move it by ~0.5-2% (measured), and every gene's prior centre with it.
- log2FoldChange, lfcSE, stat (1e-2): follow the dispersion differences (SE ~ sqrt(dispersion)).
- pvalue, padj (10% relative): small relative changes of the statistic change tiny p-values by
  larger relative amounts (d log p ~ stat * d stat); 10% is about 0.04 on the log10 scale.
- padj NA patterns: independent filtering chooses a mean threshold from the rejection curve,
  so a few genes' p-values can move the threshold by one quantile step: capped NA mismatches.
- the Jaccard index of the padj < 0.05 sets is the issue's summary check.

Default run: the two 6-sample designs (~20 s); the 22- and 50-sample designs are ``slow``.
"""

from __future__ import annotations

import pytest

from rnaseq_reference import COUNTS, measure

#: fraction of genes allowed beyond TOL, per design and column (about 1.5x measured, see the
#: module notes; measured values in docs/rnaseq.md)
CAPS: dict[str, dict[str, float]] = {}
#: genes whose padj NA status may differ from R's (independent filtering threshold)
NA_CAPS: dict[str, int] = {}
#: minimum Jaccard of padj < 0.05 sets per contrast
JACCARD: dict[str, float] = {}

FAST = ["small", "three6"]
SLOW = ["full", "interaction", "lrt", "lowcount", "n50"]


def _check(name: str, m: dict) -> None:
    caps = CAPS[name]
    for col, stats in m["columns"].items():
        base = col.split(":")[-1]
        assert stats["frac_beyond"] <= caps[base], (col, stats)
        if base in ("padj",):
            assert stats["na_mismatch"] <= NA_CAPS[name], (col, stats)
        elif base != "padj":
            assert stats["na_mismatch"] == 0, (col, stats)
    for cid, jac in m["jaccard"].items():
        assert jac >= JACCARD[name], (cid, jac)


@pytest.mark.parametrize("name", FAST)
def test_small_designs_match_r(name, test_data):
    _check(name, measure(test_data(COUNTS), name))


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_large_designs_match_r(name, test_data):
    _check(name, measure(test_data(COUNTS), name))
