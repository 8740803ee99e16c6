"""`fmslab donors`: per-donor transfer effects, responder calls and the donor profile."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Per-donor transfer effects, responder calls and the multimodal donor profile.",
    no_args_is_help=True,
    context_settings={"allow_interspersed_args": True},
)


@app.callback(invoke_without_command=True)
def donors(
    study: Annotated[Path, typer.Argument(help="Study folder (after the analyses).")],
    out: Annotated[Path, typer.Option(help="Output folder (donor_effects.csv, ...).")],
    unblinding: Annotated[
        Path | None, typer.Option(help="Unblinding key (default: the study's).")
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="Control-IgG group (default: HC/control/...).")
    ] = None,
    confidence: Annotated[float, typer.Option(help="Prediction / CI level.")] = 0.95,
    alpha: Annotated[
        float, typer.Option(help="Responder rule: nominal false-call rate per donor.")
    ] = 0.05,
    mic: Annotated[
        list[str] | None,
        typer.Option(help="Minimal important change OUTCOME=VALUE (repeat; default 0)."),
    ] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    new_donor: Annotated[
        list[str] | None,
        typer.Option(
            help="A new donor's clinical score SCORE=VALUE (repeat, e.g. --new-donor FIQR=70 "
            "--new-donor wpi=12): its predicted probability of transfer, with interval."
        ),
    ] = None,
    new_donor_outcome: Annotated[
        str | None,
        typer.Option(
            help="Outcome whose calls train the new-donor model (default: the first "
            "with transferring and non-transferring patient donors)."
        ),
    ] = None,
) -> None:
    """Per-donor effects of every analysed outcome vs the control donors; writes
    donor_effects.csv, donor_profile.csv, donor_concordance.csv, the clinical association,
    prediction and calibration, the per-donor time course and pages, donor_heatmap.png to --out
    and donor_effects (+ donor_predictions) to the study catalog.

    Example: fmslab donors STUDY --out results/donors --mic mean_post_pct=10
    --new-donor FIQR=72 --new-donor wpi=13
    """
    from fmslab.donors import run
    from fmslab.errors import InputError
    from fmslab.logs import STDERR

    mics = {}
    for item in mic or []:
        name, sep, value = item.partition("=")
        try:
            mics[name] = float(value) if sep else float("nan")
        except ValueError:
            raise InputError(f"--mic must be OUTCOME=VALUE, not '{item}'") from None
        if mics[name] != mics[name]:
            raise InputError(f"--mic must be OUTCOME=VALUE, not '{item}'")
    new = {}
    for item in new_donor or []:
        name, sep, value = item.partition("=")
        try:
            new[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--new-donor must be SCORE=VALUE, not '{item}'") from None
        if not sep or not name.strip() or new[name.strip()] != new[name.strip()]:
            raise InputError(f"--new-donor must be SCORE=VALUE, not '{item}'")
    done = run(
        study,
        out=out,
        unblinding=unblinding,
        reference=reference,
        confidence=confidence,
        alpha=alpha,
        mic=mics,
        n_boot=n_boot,
        seed=seed,
        new_donor=new or None,
        new_donor_outcome=new_donor_outcome,
    )
    for row in done.profile.itertuples():
        STDERR.print(
            f"{row.donor_id} ({row.group}): called on {row.n_called} of {row.n_outcomes} outcomes",
            highlight=False,
        )
    for item in done.skipped:
        STDERR.print(f"skipped: {item}", highlight=False)
    STDERR.print(f"wrote {done.out / 'donor_effects.csv'} ({len(done.effects)} rows)")
    if done.new_donor is not None:
        r = done.new_donor.iloc[0]
        STDERR.print(
            f"new donor ({r['values']}): P(transfer on {r['outcome']}) = {r['p_transfer']:.2f} "
            f"[{r['p_low']:.2f}, {r['p_high']:.2f}] from {r['n_donors']} patient donors"
            + (f"; {r['warnings']}" if r["warnings"] else ""),
            highlight=False,
        )
