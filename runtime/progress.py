"""The progress bar long commands share (benchmarks, renders, world rendering)."""

from __future__ import annotations

from rich.console import Console


def progress_bar(console: Console):
    """A transient rich progress bar with the step's name, count and elapsed time."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)
