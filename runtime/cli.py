"""The ``latentstage`` command line: one entry point, typer sub-apps, rich progress bars.

This module is the composition root: it mounts the sub-apps of every package. The sub-apps
import their heavy modules (torch, training code) inside the command bodies, so ``--help``
is fast and serving never loads the training code.
"""

from __future__ import annotations

import logging

import typer

from latentstage import __version__
from latentstage.model import commands as model_commands
from latentstage.model.cli import worlds_app
from latentstage.runtime.bench_cli import bench_app

app = typer.Typer(
    name="latentstage",
    help="Camera poses in, generated frames out, with a persistent latent spatial memory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(worlds_app, name="worlds")
app.add_typer(bench_app, name="bench")
app.command("train")(model_commands.train)
app.command("eval")(model_commands.evaluate)
app.command("demo")(model_commands.demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"latentstage {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
