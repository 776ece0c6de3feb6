"""``--help`` as a newcomer reads it (issue 13, section 5): every option says what it does,
options with a fixed set of values list them, and flags show no ``<bool>`` type."""

from __future__ import annotations

import enum

import pytest
import typer
from typer.testing import CliRunner

from latentstage.runtime.cli import app

# options whose values are a fixed set: --help must list every value
FIXED = ("--backend", "--format", "--precision", "--convention", "--encoding", "--kind",
         "--trajectory", "--exporter", "--hardware-compatibility", "--up-axis")
ENV = {"COLUMNS": "250", "TERMINAL_WIDTH": "250"}  # wide enough that rich folds no choice list


def _export_commands() -> dict:
    """The commands ``latentstage export`` and ``bench backends`` forward to (mounted lazily)."""
    from latentstage.export import cli as export_cli

    out = {}
    from latentstage.previs import cli as previs_cli

    for path, fn in ((("export",), export_cli.export),
                     (("bench", "backends"), export_cli.backends),
                     (("render",), previs_cli.render), (("view",), previs_cli.view)):
        inner = typer.Typer()
        inner.command()(fn)
        out[path] = typer.main.get_command(inner)
    return out


def _commands() -> dict:
    """Every leaf command of the ``latentstage`` tree, by its path of names."""
    found = {}

    def walk(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, (*path, name))
        elif path not in (("export",), ("bench",), ("bench", "backends"), ("render",),
                          ("view",)):
            found[path] = cmd

    walk(typer.main.get_command(app), ())
    from latentstage.bench.cli import bench_app  # mounted lazily: walk it on its own

    walk(typer.main.get_command(bench_app), ("bench",))
    found.pop(("bench", "backends"), None)
    found.update(_export_commands())
    return found


COMMANDS = _commands()


def _options(cmd):
    return [p for p in cmd.params if getattr(p, "opts", None) and p.opts[0].startswith("--")
            and p.opts[0] != "--help"]


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_every_option_has_help_and_fixed_choices_are_listed(path):
    cmd = COMMANDS[path]
    result = CliRunner().invoke(app, [*path, "--help"], env=ENV)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "<bool>" not in text, f"{' '.join(path)}: a flag shows a <bool> type"
    for opt in _options(cmd):
        name = opt.opts[0]
        assert opt.help and opt.help.strip(), f"{' '.join(path)} {name}: no help text"
        annotation = opt.type_descriptor.annotation
        if name in FIXED:
            assert isinstance(annotation, type) and issubclass(annotation, enum.Enum), (
                f"{' '.join(path)} {name}: a fixed set of values should be an Enum")
            choices = "|".join(m.value for m in annotation)
            assert choices in text.replace(" ", ""), f"{' '.join(path)} {name}: {choices}"
        if name == "--device":
            shown = (opt.metavar or "|".join(m.value for m in annotation)).replace(" ", "")
            assert "cpu" in shown and "cuda" in shown and shown in text.replace(" ", ""), (
                f"{' '.join(path)} --device: choices not shown")


def test_the_walk_covers_the_whole_command_line():
    names = {" ".join(p) for p in COMMANDS}
    assert {"serve", "train", "eval", "demo", "export", "client play", "client info",
            "client watch", "bench serve", "bench backends", "worlds render"} <= names
