"""The ``latentstage`` command line: one entry point, typer sub-apps, rich progress bars.

This module is the composition root: it mounts the sub-apps of every package. The sub-apps
import their heavy modules (torch, training code) inside the command bodies, so ``--help``
is fast and serving never loads the training code.
"""

from __future__ import annotations

import logging

import typer

from latentstage.engine_bridge.cli import client_app
from latentstage.model import commands as model_commands
from latentstage.model.cli import worlds_app
from latentstage.runtime import serve_cli
from latentstage.runtime.cli_choices import hide_flag_metavar
from latentstage.runtime.providers import provide_checkpoint_loader, provide_procedural_worlds

hide_flag_metavar()


# ----- what model/ provides to the runtime (imported on first use: --help stays fast) -----
def _procedural_worlds(src, native_size, stride, device):
    """The model package's procedural worlds (latentstage.model.providers.seed_view)."""
    from latentstage.model.providers import seed_view

    return seed_view(src, native_size, stride, device)


def _load_checkpoint(source, device):
    """The model package's checkpoint loader (latentstage.model.providers.load_checkpoint)."""
    from latentstage.model.providers import load_checkpoint

    return load_checkpoint(source, device)


provide_procedural_worlds(_procedural_worlds)
provide_checkpoint_loader(_load_checkpoint)

app = typer.Typer(
    name="latentstage",
    help="Camera poses in, generated frames out, with a persistent latent spatial memory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(worlds_app, name="worlds")
app.command("train")(model_commands.train)
app.command("eval")(model_commands.evaluate)
app.command("eval-merge")(model_commands.eval_merge)
app.command("eval-choose")(model_commands.eval_choose)
app.command("demo")(model_commands.demo)
app.command("serve")(serve_cli.serve)
app.add_typer(client_app, name="client")


def _lazy(module: str, attr: str):
    """A command whose options live in ``module.attr`` (a command function, or a typer app of
    subcommands), imported only when the command runs, so importing the runtime never imports
    ``export/`` or the benchmarks. Arguments, ``--help`` and exit codes are handled by that
    command itself."""

    def command(ctx: typer.Context) -> None:
        import importlib

        target = getattr(importlib.import_module(module), attr)
        if not isinstance(target, typer.Typer):
            inner = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
            inner.command()(target)
            target = inner
        typer.main.get_command(target).main(list(ctx.args), prog_name=ctx.command_path)

    return command


_FORWARD = {"allow_extra_args": True, "ignore_unknown_options": True}
app.command("export", context_settings=_FORWARD, add_help_option=False,
            help="Export a checkpoint to an ONNX or TensorRT engine bundle (see --help).")(
    _lazy("latentstage.export.cli", "export"))
app.command("bench", context_settings=_FORWARD, add_help_option=False,
            help="Benchmarks that print ratios measured in one run (see --help).")(
    _lazy("latentstage.bench.cli", "bench_app"))
app.command("render", context_settings=_FORWARD, add_help_option=False,
            help="Render a camera path offline, deterministically (see --help).")(
    _lazy("latentstage.previs.cli", "render"))
app.command("view", context_settings=_FORWARD, add_help_option=False,
            help="A local web page to fly a world or scrub a camera path (see --help).")(
    _lazy("latentstage.previs.cli", "view"))


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = version("latentstage")
        except PackageNotFoundError:  # a source tree on sys.path without an install
            text = "0.0.0+source"
        typer.echo(f"latentstage {text}")
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
