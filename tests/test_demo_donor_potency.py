"""Per-donor effects recover the demo's planted donor potency in DRG current clamp (rheobase)
and skin-nerve single afferents (firing), end to end: demo variant -> modality analysis from the
files -> `fmslab donors` (slow). Behaviour's counterpart is in tests/test_demo_donor_truth.py.

The variant: 10 patient donors (4 of them not transferring: potency 0; the 6 others log-normal
around 1, SD of log 0.25) and 10 control donors, one modality simulated. Spearman's rho between
the donor's signed shrunken effect and its planted potency over the 10 patient donors, with the
4 zero-potency donors tied. Critical values of Spearman's rho at n = 10 (one-sided): 0.564 at
5 %, 0.745 at 1 %.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from scipy import stats

from fmslab.demo.design import DemoConfig

VARIANT = {"n_donors_per_group": 10, "nontransfer_fraction": 0.4}


def _donor_effects(tmp_path, seed: int, modality: str, job, **extra) -> pd.DataFrame:
    from fmslab.demo.generate import generate_demo, run_demo_analyses
    from fmslab.donors import run
    from fmslab.study.catalog_study import catalog_study

    cfg = dataclasses.replace(
        DemoConfig.make(seed=seed), modalities=(modality,), **VARIANT, **extra
    )
    demo = generate_demo(tmp_path / f"{modality}{seed}", cfg)
    catalog_study(demo.layout.study)
    (step,) = run_demo_analyses(demo.layout, steps=[modality], n_jobs=1)
    assert step.ok, step.error
    done = run(
        demo.layout.study, out=demo.layout.out / "donors", unblinding=demo.layout.key,
        jobs=[job], n_boot=50, figure=False, course=None,
    )  # fmt: skip
    truth = pd.read_csv(demo.layout.truth / "donors.csv").set_index("donor_id")
    return done.effects.set_index("donor_id").join(truth[["potency", "transfers"]])


def _rho(eff: pd.DataFrame, outcome: str, sign: int) -> float:
    pat = eff[(eff["group"] == "FMS") & (eff["outcome"] == outcome)]
    assert len(pat) == 10
    # a boundary fit (between-donor variance 0) gives every donor its group's effect; the ranks
    # would then come from rounding noise in ~1e-50 random effects, not from the data
    # (the tool's own boundary decision: such rows get call "undetermined")
    assert not (pat["call"] == "undetermined").any(), (outcome, pat["var_donor"].iloc[0])
    return float(stats.spearmanr(sign * pat["effect_shrunken"], pat["potency"]).statistic)


@pytest.mark.slow
def test_ephys_rheobase_effects_recover_the_planted_potency(tmp_path):
    """DRG current clamp (2 tissue mice x 3 cells per donor, QC-passed cells): patient IgG lowers
    K conductances by exp(-0.35 potency), so rheobase falls with potency. Spearman(-shrunken
    rheobase effect, potency) over the 10 patient donors exceeds 0.564, the one-sided 5 %
    critical value at n = 10 (measured 0.79 at seed 1; one seed only: the variant takes ~3 min
    on this machine, mostly simulating 120 cells). The threshold is the 5 % and not the 1 % value
    (behaviour's test) because a donor's rheobase rests on ~6 cells of two firing types (phasic
    and tonic rheobase differ by ~100 pA, docs/demo.md), a noisier donor mean than 2 mice x 8
    days of von Frey. Calls are not checked here: with 6 cells per donor the prediction interval
    excludes the control range for no donor (measured 0 of 6 transferring donors called), which
    the responder rule's conservatism allows (docs/donors.md); false calls are bounded below."""
    from fmslab.donors.flow import OutcomeSet

    job = OutcomeSet("ephys_cells", ("rheobase_pA",), "mouse_id", "qc_pass == True")
    eff = _donor_effects(tmp_path, 1, "ephys", job)
    rho = _rho(eff, "rheobase_pA", -1)
    assert rho > 0.564, rho
    # of the 14 donors without potency (10 control, 4 non-transferring) at most 2 are called
    # (nominal false-call rate 5 %: binomial(14, 0.05) P(X >= 3) = 0.03; measured 0)
    called = eff["call"] == "transferrer"
    assert int((~eff["transfers"]).sum()) == 14
    assert int((called & ~eff["transfers"]).sum()) <= 2


@pytest.mark.slow
def test_skinnerve_firing_effects_recover_the_planted_potency(tmp_path):
    """Skin-nerve single afferents, two units under study per tissue mouse (4 per donor; the
    default demo records one: with 2 units per donor the ranking was not recovered, measured rho
    0.44 at seed 1). Patient IgG raises nociceptors' mechanical gain x(1 + 0.6 potency) and
    lowers their threshold by up to 30 %; the donor analysis is restricted to the nociceptor
    classes the planted mechanism acts on (C-MC, C-M, AM; about 3 of 4 units under study). Over
    the 10 patient donors, Spearman(shrunken effect on sr_slope_spikes_per_unit, potency) exceeds
    0.745, the one-sided 1 % critical value at n = 10, and the between-donor variance is not at
    the boundary (measured in session 7, seed 1: rho 0.86 with 2 units per mouse, 0.91 with 3,
    0.92 with 4). One seed: the variant takes ~5 min here, the spike sorting of 80 recordings.

    Not asserted, measured: with every unit under study (all five receptor types) the donor
    variance of the slope was estimated at 0 on this machine (2 and 3 units per mouse; session
    6's machine had measured rho 0.87), so the shrunken effects carry no ranking; and the
    mechanical threshold, read on the force-step grid, gave rho 0.76, a boundary fit and 0.69
    with 2, 3 and 4 units per mouse (docs/donors.md)."""
    from fmslab.donors.flow import OutcomeSet
    from fmslab.donors.responders import ZERO_DONOR_VAR

    job = OutcomeSet(
        "skinnerve_units", ("sr_slope_spikes_per_unit", "mech_threshold"), "mouse_id",
        "is_unit_under_study == True and receptor_type in ['C-MC', 'C-M', 'AM']",
    )  # fmt: skip
    eff = _donor_effects(tmp_path, 1, "skinnerve", job, units_per_mouse=2)
    assert _rho(eff, "sr_slope_spikes_per_unit", 1) > 0.745
    # the threshold's donor effects are reported with their calls, not ranked: a boundary fit
    # must refuse the per-donor call
    thr = eff[eff["outcome"] == "mech_threshold"]
    boundary = thr["var_donor"] <= ZERO_DONOR_VAR * thr["pred_se"] ** 2
    assert (thr.loc[boundary, "call"] == "undetermined").all()
