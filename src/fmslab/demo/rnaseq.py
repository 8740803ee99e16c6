"""Simulated bulk DRG RNA-seq counts (negative binomial) with planted changes, and truth.

Genes: real mouse symbols for ion channels and auxiliary subunits expressed in DRG (with base
expression levels set by hand to DRG-like orders of magnitude), sex-linked genes (Xist; Ddx3y,
Kdm5d, Eif2s3y, Uty) and anonymous filler genes ``Simg00001``... (deliberately not real symbols).

Model: ``count ~ NB(mean = s_j * q_g * 2^(LFC_g * patient_j + sex/batch terms), dispersion a_g)``
with log-normal size factors ``s_j``, base means ``q_g`` (log-normal for fillers), and gene-wise
dispersion around the DESeq2-style trend ``a(q) = 0.02 + 2 / q`` (log-normal scatter, sd 0.4).
Planted: ``PLANTED_CHANNEL`` is up 2x (log2 fold change 1) in every patient-IgG mouse; a handful of
filler genes carry other fold changes so that a DE list is not a single gene; Xist and the
Y-linked genes follow sex; a small library-preparation batch effect touches a few fillers.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fmslab.demo.design import TISSUE_DAY, DemoConfig, Design, rng_for, study_date

PLANTED_CHANNEL = "Scn11a"
PLANTED_LOG2FC = 1.0
N_PLANTED_FILLERS = 20
CHANNEL_BASE_MEANS = {
    "Scn9a": 2500,
    "Scn10a": 4000,
    "Scn11a": 1500,
    "Scn1a": 600,
    "Scn8a": 900,
    "Scn3a": 150,
    "Scn1b": 1800,
    "Scn2b": 300,
    "Scn3b": 200,
    "Scn4b": 100,
    "Kcnq2": 400,
    "Kcnq3": 350,
    "Kcnq5": 120,
    "Kcna1": 600,
    "Kcna2": 500,
    "Kcnb1": 300,
    "Kcnc3": 200,
    "Kcnd2": 150,
    "Kcnd3": 200,
    "Kcnk1": 350,
    "Kcnk2": 250,
    "Kcnk3": 120,
    "Kcnk18": 180,
    "Kcnma1": 400,
    "Kcnn1": 150,
    "Kcns1": 500,
    "Kcnip1": 150,
    "Hcn1": 500,
    "Hcn2": 300,
    "Hcn4": 60,
    "Trpv1": 900,
    "Trpa1": 300,
    "Trpm8": 200,
    "Trpv4": 80,
    "Trpc3": 120,
    "Piezo1": 150,
    "Piezo2": 800,
    "Asic1": 400,
    "Asic2": 200,
    "Asic3": 500,
    "P2rx3": 1500,
    "P2rx4": 120,
    "Cacna1a": 500,
    "Cacna1b": 400,
    "Cacna1h": 350,
    "Cacna2d1": 700,
    "Cacna2d2": 150,
    "Cacnb3": 250,
    "Ano1": 200,
    "Trpm3": 300,
    "Gabra1": 80,
    "Gabrb3": 300,
    "Chrna3": 60,
    "Htr3a": 150,
    "Tmem63a": 50,
}
SEX_GENES_F = {"Xist": 3000}
SEX_GENES_M = {"Ddx3y": 400, "Kdm5d": 300, "Eif2s3y": 500, "Uty": 200}


@dataclass(frozen=True)
class RnaseqOutput:
    files: dict[str, bytes]
    recordings: pd.DataFrame
    samples: pd.DataFrame  # the sample sheet written (blinded)
    genes: pd.DataFrame  # ground truth per gene: base mean, dispersion, true log2FC


def _csv(df: pd.DataFrame, **kw) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n", **kw)
    return buf.getvalue().encode()


def generate_rnaseq(design: Design, cfg: DemoConfig) -> RnaseqOutput:
    rng = rng_for(cfg.seed, "rnaseq")
    mice = design.tissue_mice()
    n_fill = max(cfg.n_genes - len(CHANNEL_BASE_MEANS) - len(SEX_GENES_F) - len(SEX_GENES_M), 50)
    fillers = [f"Simg{i + 1:05d}" for i in range(n_fill)]
    genes = list(CHANNEL_BASE_MEANS) + list(SEX_GENES_F) + list(SEX_GENES_M) + fillers
    base = np.concatenate(
        [
            np.array(list(CHANNEL_BASE_MEANS.values()), float)
            * np.exp(rng.normal(0, 0.1, len(CHANNEL_BASE_MEANS))),
            np.array(list(SEX_GENES_F.values()) + list(SEX_GENES_M.values()), float),
            np.exp(rng.normal(np.log(200), 1.8, n_fill)),
        ]
    )
    disp = (0.02 + 2.0 / base) * np.exp(rng.normal(0, 0.4, len(genes)))
    lfc_group = np.zeros(len(genes))
    lfc_group[genes.index(PLANTED_CHANNEL)] = PLANTED_LOG2FC
    fill_idx = len(genes) - n_fill
    expressed = np.nonzero(base[fill_idx:] > 50)[0] + fill_idx
    planted = rng.choice(expressed, size=min(N_PLANTED_FILLERS, len(expressed)), replace=False)
    lfc_group[planted] = rng.choice([-1, 1], len(planted)) * rng.uniform(0.8, 1.6, len(planted))
    batch_genes = rng.choice(expressed, size=min(10, len(expressed)), replace=False)
    lfc_batch = np.zeros(len(genes))
    lfc_batch[batch_genes] = rng.normal(0, 0.5, len(batch_genes))
    female = np.array([g in SEX_GENES_F for g in genes])
    male = np.array([g in SEX_GENES_M for g in genes])
    counts = np.empty((len(genes), len(mice)), dtype=np.int64)
    sample_rows, rec_rows, files = [], [], {}
    rank_in_group = mice.groupby("group").cumcount().to_numpy()
    for j, (_, mouse) in enumerate(mice.iterrows()):
        sid = f"S{j + 1:02d}"
        # library batches balanced across groups and sexes (as a lab would randomise them):
        # within each group, pairs of samples alternate between batch A and B
        batch = "A" if (rank_in_group[j] // 2) % 2 == 0 else "B"
        size = float(np.exp(rng.normal(0, 0.2)))
        log2m = lfc_group * (mouse["group"] in cfg.transfer_groups) + lfc_batch * (batch == "B")
        mu = size * base * 2.0**log2m
        mu = np.where(female, mu if mouse["sex"] == "F" else 2.0, mu)
        mu = np.where(male, mu if mouse["sex"] == "M" else 1.0, mu)
        # NB(mean mu, dispersion a) as a gamma-Poisson mixture: var = mu + a mu^2
        lam = rng.gamma(shape=1.0 / disp, scale=mu * disp)
        counts[:, j] = rng.poisson(lam)
        sample_rows.append(
            {
                "sample_id": sid,
                "mouse_id": mouse["mouse_id"],
                "treatment_code": mouse["treatment_code"],
                "sex": mouse["sex"],
                "batch": batch,
                "tissue": "DRG L3-L5",
                "size_factor_true": size,
            }
        )
        rel = f"rnaseq/counts/{sid}.tsv"
        files[rel] = _csv(pd.DataFrame({"gene": genes, "count": counts[:, j]}), sep="\t")
        rec_rows.append(
            {
                "path": rel,
                "modality": "rnaseq",
                "mouse_id": mouse["mouse_id"],
                "sample_id": sid,
                "date": study_date(TISSUE_DAY),
                "protocol": "bulk RNA-seq",
            }
        )
    samples = pd.DataFrame(sample_rows)
    matrix = pd.DataFrame(counts, columns=samples["sample_id"])
    matrix.insert(0, "gene", genes)
    files["rnaseq/counts.csv"] = _csv(matrix)
    sheet = samples.drop(columns=["size_factor_true"])
    files["rnaseq/samples.csv"] = _csv(sheet)
    truth = pd.DataFrame(
        {
            "gene": genes,
            "base_mean_true": base,
            "dispersion_true": disp,
            "log2fc_patient_vs_control_true": lfc_group,
            "log2fc_batch_B_true": lfc_batch,
            "is_ion_channel": [g in CHANNEL_BASE_MEANS for g in genes],
            "planted": lfc_group != 0,
        }
    )
    return RnaseqOutput(
        files=files, recordings=pd.DataFrame(rec_rows), samples=samples, genes=truth
    )
