"""``latentstage bench …``: benchmarks that print ratios measured in one run."""

from __future__ import annotations

import typer

bench_app = typer.Typer(help="Benchmarks (ratios measured in one run).", no_args_is_help=True)
