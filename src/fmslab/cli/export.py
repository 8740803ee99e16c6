"""`fmslab export`: a study as NWB, h5ad, a Frictionless data package and RO-Crate metadata.

One command (registered in ``fmslab.cli``), a thin layer over :func:`fmslab.export.run`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fmslab.logs import STDERR


def export(
    study: Annotated[Path, typer.Argument(help="Study folder (contains study.yaml), analysed.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the export to.")],
    pseudonymise: Annotated[
        Path | None,
        typer.Option(
            "--pseudonymise",
            metavar="KEYFILE",
            help="The lab's secret key file: ids become keyed hashes, dates and ages are binned.",
        ),
    ] = None,
    unblinded: Annotated[
        bool,
        typer.Option(
            "--unblinded",
            help="Join the unblinding key: groups, DE results, comparison statistics.",
        ),
    ] = False,
    unblinding: Annotated[
        Path | None, typer.Option(help="Unblinding key, when not the one study.yaml names.")
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(help="Write only these parts: icephys, ecephys, rnaseq (repeatable)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier export in --out.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Then run nwbinspector, the DANDI checks and frictionless on it; exit code 1 "
            "on an error or CRITICAL message.",
        ),
    ] = False,
) -> None:
    """Write STUDY as a self-describing package a data hub can take (see docs/export.md).

    Without --unblinded nothing from the unblinding key is exported: no group column, no
    mouse -> donor link taken from the key, no DE results or comparison statistics.
    """
    from fmslab.export import run
    from fmslab.export.flow import MODALITIES

    res = run(
        study,
        out,
        pseudonymise_key=pseudonymise,
        unblinded=unblinded,
        unblinding=unblinding,
        modalities=tuple(only) if only else MODALITIES,
        overwrite=overwrite,
    )
    for line in res.skipped:
        STDERR.print(f"[yellow]not exported:[/] {line}", highlight=False, soft_wrap=True)
    how = ", ".join(
        w for w, on in (("pseudonymised", res.pseudonymised), ("unblinded", res.unblinded)) if on
    )
    STDERR.print(
        f"export {res.out} ({how or 'blinded, ids as in the study'}): {len(res.nwb_files)} NWB "
        f"file(s), {len(res.files)} other file(s); {len(res.report)} change(s) in "
        "tables/pseudonymisation_report.csv",
        highlight=False,
        soft_wrap=True,
    )
    if check:
        from fmslab.cli.common import print_frame
        from fmslab.export.checks import check_export

        problems = check_export(res.out)
        if len(problems):
            print_frame(problems, title=f"{len(problems)} validator message(s)")
        if problems["importance"].isin(["ERROR", "CRITICAL"]).any():
            raise typer.Exit(1)
        STDERR.print("validators: no errors (nwbinspector, DANDI checks, frictionless)")
