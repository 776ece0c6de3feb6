"""The ``latentstage`` command line: one entry point, typer sub-apps, rich progress bars.

This module is the composition root: it mounts the sub-apps of every package. The sub-apps
import their heavy modules (torch, training code) inside the command bodies, so ``--help``
is fast and serving never loads the training code.
"""

from __future__ import annotations

import logging

import typer

from latentstage import __version__
from latentstage.engine_bridge.cli import client_app
from latentstage.model import commands as model_commands
from latentstage.model.cli import worlds_app
from latentstage.runtime import serve_cli
from latentstage.runtime.bench_cli import bench_app
from latentstage.runtime.bench_native import bench_native
from latentstage.runtime.bench_serve import bench_serve

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
app.command("eval-merge")(model_commands.eval_merge)
app.command("eval-choose")(model_commands.eval_choose)
app.command("demo")(model_commands.demo)
app.command("serve")(serve_cli.serve)
app.add_typer(client_app, name="client")
bench_app.command("serve")(bench_serve)
bench_app.command("native")(bench_native)


def _lazy(module: str, attr: str):
    """A command whose options live in ``module.attr``, imported only when the command runs (so
    importing the runtime never imports ``export/``). Arguments, ``--help`` and exit codes are
    handled by that command itself."""

    def command(ctx: typer.Context) -> None:
        import importlib

        inner = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
        inner.command()(getattr(importlib.import_module(module), attr))
        typer.main.get_command(inner).main(list(ctx.args), prog_name=ctx.command_path)

    return command


_FORWARD = {"allow_extra_args": True, "ignore_unknown_options": True}
app.command("export", context_settings=_FORWARD, add_help_option=False,
            help="Export a checkpoint to an ONNX or TensorRT engine bundle (see --help).")(
    _lazy("latentstage.export.cli", "export"))
bench_app.command("backends", context_settings=_FORWARD, add_help_option=False,
                  help="Every backend against torch eager, per network and per frame.")(
    _lazy("latentstage.export.cli", "backends"))


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
