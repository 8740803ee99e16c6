"""The demo study's design: donors, blinded codes, mice, cohorts and the latent effects.

Every modality is simulated from the same latent structure so that a donor that transfers a strong
effect does so in every assay:

- each patient donor has a *potency* (log-normal around 1; controls 0) that scales the IgG effect;
- each donor also has a small random effect on baseline, each mouse a random effect, and in
  current clamp each cell its own variability (nested donor > mouse > cell variance).

Mice come in two cohorts per donor, as in passive-transfer papers: a *behaviour* cohort tested
from baseline (day 0, before the first injection) to recovery, and a *tissue* cohort killed at the
peak of the effect (``TISSUE_DAY``) for DRG current clamp, skin-nerve and RNA-seq.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

PATIENT, CONTROL = "FMS", "HC"

#: Study designs of ``fmslab demo --design``: the groups, in study order (reference first), and
#: which of them transfer the IgG effect (their donors get a potency; the others potency 0).
DESIGNS: dict[str, dict[str, tuple[str, ...]]] = {
    "two_group": {"groups": (CONTROL, PATIENT), "transfer": (PATIENT,)},
    # fibromyalgia with and without rheumatoid arthritis: FMS and RA_FMS transfer the effect,
    # RA_noFMS (arthritis without fibromyalgia) does not
    "comorbid": {
        "groups": (CONTROL, PATIENT, "RA_FMS", "RA_noFMS"),
        "transfer": (PATIENT, "RA_FMS"),
    },
}
#: Planned contrasts written to the comorbid study's study.yaml (target, reference).
COMORBID_CONTRASTS = (
    {"name": "RA_FMS vs RA_noFMS", "target": "RA_FMS", "reference": "RA_noFMS"},
    {"name": "RA_FMS vs HC", "target": "RA_FMS", "reference": "HC"},
    {"name": "FMS vs HC", "target": "FMS", "reference": "HC"},
    {"name": "RA_noFMS vs HC", "target": "RA_noFMS", "reference": "HC"},
)
INJECTION_DAYS = "0,1,2,3"
DOSE_MG = 8.0
STUDY_START = date(2026, 3, 2)
TISSUE_DAY = 5
BEHAVIOUR_DAYS = (0, 1, 3, 5, 7, 10, 14, 21)
MODALITIES = ("ephys", "behaviour", "skinnerve", "rnaseq")


@dataclass(frozen=True)
class DemoConfig:
    """Size and seed of a demo study (``small`` gives the quick variant used by tests)."""

    seed: int = 1
    n_donors_per_group: int = 3
    behaviour_mice_per_donor: int = 2
    tissue_mice_per_donor: int = 2
    cells_per_mouse: int = 3
    units_per_mouse: int = 1
    n_genes: int = 3000
    skinnerve_rate_hz: float = 10000.0
    small: bool = False
    design: str = "two_group"
    #: correlation of each patient donor's clinical scores with its potency (0: pure noise;
    #: fmslab.demo.clinical)
    clinical_signal: float = 0.6
    #: fraction of the transferring groups' donors whose IgG does not transfer (potency 0)
    nontransfer_fraction: float = 0.0
    #: SD of log potency of the transferring donors
    potency_sd_log: float = 0.25
    #: modalities simulated (a subset gives a quicker study, e.g. ("behaviour",))
    modalities: tuple[str, ...] = ("ephys", "behaviour", "skinnerve", "rnaseq")

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ValueError(f"unknown demo design '{self.design}' (known: {', '.join(DESIGNS)})")
        if not 0.0 <= self.clinical_signal <= 1.0:
            raise ValueError(f"clinical_signal must be in [0, 1], not {self.clinical_signal}")
        if not 0.0 <= self.nontransfer_fraction < 1.0:
            raise ValueError(
                f"nontransfer_fraction must be in [0, 1), not {self.nontransfer_fraction}"
            )
        unknown = set(self.modalities) - set(MODALITIES)
        if unknown or not self.modalities:
            raise ValueError(f"modalities must be among {MODALITIES}, not {self.modalities}")

    @property
    def groups(self) -> tuple[str, ...]:
        """Groups of the design, reference first."""
        return DESIGNS[self.design]["groups"]

    @property
    def transfer_groups(self) -> tuple[str, ...]:
        """Groups whose IgG transfers the effect (planted truth)."""
        return DESIGNS[self.design]["transfer"]

    @classmethod
    def make(
        cls,
        *,
        seed: int = 1,
        n_donors_per_group: int | None = None,
        small: bool = False,
        design: str = "two_group",
    ) -> DemoConfig:
        if small:
            return cls(
                design=design,
                seed=seed,
                n_donors_per_group=n_donors_per_group or 2,
                behaviour_mice_per_donor=1,
                # two tissue mice per donor: 8 RNA-seq samples, so `~ batch + sex + group`
                # keeps 4 residual df (fewer make the DE slow and weak) and mouse != donor
                tissue_mice_per_donor=2,
                cells_per_mouse=1,
                units_per_mouse=1,
                n_genes=800,
                small=True,
            )
        return cls(seed=seed, n_donors_per_group=n_donors_per_group or 3, design=design)

    def to_dict(self) -> dict:
        return asdict(self)


def rng_for(seed: int, name: str) -> np.random.Generator:
    """Independent random stream per modality: changing one simulator never changes another."""
    key = [int(b) for b in name.encode()]
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


@dataclass(frozen=True)
class Design:
    donors: (
        pd.DataFrame
    )  # donor_id, group (true), treatment_code, potency, baseline_re, sex, age, igg_batch
    mice: (
        pd.DataFrame
    )  # mouse_id, donor_id, treatment_code, group (true), cohort, sex, mouse_re, ...

    def tissue_mice(self) -> pd.DataFrame:
        return self.mice[self.mice["cohort"] == "tissue"].reset_index(drop=True)

    def behaviour_mice(self) -> pd.DataFrame:
        return self.mice[self.mice["cohort"] == "behaviour"].reset_index(drop=True)


def build_design(cfg: DemoConfig) -> Design:
    """Donors (``n_donors_per_group`` per group of the design), one blinded code per donor, and
    the two mouse cohorts. Donors of a transferring group get a potency, the others 0."""
    rng = rng_for(cfg.seed, "design")
    n = cfg.n_donors_per_group
    if cfg.design == "two_group":  # the original order: the two-group demo stays byte-identical
        groups = [PATIENT] * n + [CONTROL] * n
    else:
        groups = [g for g in cfg.groups for _ in range(n)]
    order = rng.permutation(len(groups))  # donor numbers do not reveal the group
    codes = rng.choice(np.arange(10, 100), size=len(groups), replace=False)
    donors = []
    for i, k in enumerate(order):
        group = groups[k]
        donors.append(
            {
                "donor_id": f"D{i + 1:02d}",
                "group": group,
                "treatment_code": f"T{codes[i]:02d}",
                "potency": (
                    float(np.exp(rng.normal(0.0, cfg.potency_sd_log)))
                    if group in cfg.transfer_groups
                    else 0.0
                ),
                "baseline_re": float(rng.normal(0.0, 0.05)),
                "sex": "F" if rng.random() < 0.8 else "M",
                "age": int(rng.integers(25, 65)),
                "igg_batch": f"B{1 + i % 2}",
            }
        )
        # an earlier version drew an unrelated FIQR here: the draw is kept (its value unused) so
        # that the mice's random effects below, and every simulated file, stay as they were
        rng.uniform(55, 85) if group in cfg.transfer_groups else rng.uniform(0, 10)
    donors_df = _with_clinical(pd.DataFrame(donors), cfg)
    mice = []
    m = 0
    for cohort, per_donor in (
        ("behaviour", cfg.behaviour_mice_per_donor),
        ("tissue", cfg.tissue_mice_per_donor),
    ):
        for d in donors:
            for _ in range(per_donor):
                m += 1
                mice.append(
                    {
                        "mouse_id": f"M{m:02d}",
                        "donor_id": d["donor_id"],
                        "treatment_code": d["treatment_code"],
                        "group": d["group"],
                        "cohort": cohort,
                        "sex": "F" if m % 2 == 1 else "M",  # alternating over all mice
                        "mouse_re": float(rng.normal(0.0, 0.05)),
                    }
                )
    return Design(donors=donors_df, mice=pd.DataFrame(mice))


def _with_clinical(donors: pd.DataFrame, cfg: DemoConfig) -> pd.DataFrame:
    """Non-transferring patient donors (potency 0, ``cfg.nontransfer_fraction`` of each
    transferring group, at random) and the clinical scores (:mod:`fmslab.demo.clinical`), both
    from the ``clinical`` random stream (the design's other draws are untouched)."""
    from fmslab.demo.clinical import clinical_scores

    rng = rng_for(cfg.seed, "clinical")
    donors = donors.copy()
    donors["transfers"] = donors["potency"] > 0
    for g in cfg.transfer_groups:
        idx = donors.index[donors["group"] == g]
        k = int(round(cfg.nontransfer_fraction * len(idx)))
        if k:
            off = rng.choice(idx, size=k, replace=False)
            donors.loc[off, "potency"] = 0.0
            donors.loc[off, "transfers"] = False
    scores = clinical_scores(donors, control=cfg.groups[0], signal=cfg.clinical_signal, rng=rng)
    return pd.concat([donors, scores], axis=1)


def date_of_birth(index: int) -> str:
    """ISO date of birth of the ``index``-th mouse: 8 to 10 weeks old at day 0 (no random draw,
    so the other simulated files do not change)."""
    return (STUDY_START - timedelta(days=56 + index % 15)).isoformat()


def study_date(day: int) -> str:
    """ISO date of study day ``day`` (day 0 = first injection)."""
    return (STUDY_START + timedelta(days=int(day))).isoformat()
