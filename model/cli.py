"""CLI sub-apps of the model package: ``latentstage worlds …`` (and later train / eval)."""

from __future__ import annotations

import typer

worlds_app = typer.Typer(help="Procedural worlds with ground truth.", no_args_is_help=True)
