"""The ``fmslab`` command line. Each sub-command group lives in its own module of this package."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

import fmslab
from fmslab.cli import (
    behaviour,
    compare,
    demo,
    donors,
    ephys,
    export,
    figures,
    report,
    rnaseq,
    skinnerve,
    study,
)
from fmslab.cli.common import State
from fmslab.errors import FmslabError
from fmslab.logs import STDERR, configure_logging

app = typer.Typer(
    name="fmslab",
    help="Analysis of IgG passive-transfer pain studies, from raw files to figures.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

for _module, _name in [
    (study, "study"),
    (ephys, "ephys"),
    (skinnerve, "skinnerve"),
    (behaviour, "behaviour"),
    (rnaseq, "rnaseq"),
    (compare, "compare"),
    (donors, "donors"),
    (figures, "figures"),
    (report, "report"),
    (demo, "demo"),
]:
    app.add_typer(_module.app, name=_name)
# a single command with a positional STUDY (a group would not take options after it)
app.command(name="export")(export.export)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fmslab {fmslab.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv for debug).")
    ] = 0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings and errors; no progress bars.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """fmslab: reproducible analysis of autoantibody pain studies."""
    verbosity = -1 if quiet else verbose
    configure_logging(verbosity)
    ctx.obj = State(verbosity=verbosity)


def main() -> None:
    """Entry point: run the app; errors become one clear line: exit code 2 for bad input, 1 for a
    run that analysed less than asked, 3 for an unexpected exception (traceback with -vv)."""
    try:
        app()
    except FmslabError as exc:
        logging.getLogger("fmslab").debug("traceback", exc_info=True)
        STDERR.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(getattr(exc, "exit_code", 2)) from None
    except Exception as exc:  # noqa: BLE001 - no traceback reaches the user, even for a bug
        from fmslab.batch import describe_unexpected

        logging.getLogger("fmslab").debug("traceback", exc_info=True)
        STDERR.print(
            f"[bold red]error:[/] {describe_unexpected(exc)} (an input fmslab does not recognise, "
            f"or a bug: run with -vv for the traceback and report it)",
            highlight=False,
            soft_wrap=True,
        )
        raise SystemExit(3) from None
