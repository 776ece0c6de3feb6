"""The progress bar long commands share (benchmarks, training, evaluation, renders)."""

from __future__ import annotations

from rich.console import Console


def progress_bar(console: Console | None = None, *, info: bool = False, eta: bool = False,
                 transient: bool = True):
    """A rich progress bar with the step's name, count and elapsed time.

    ``info`` adds a text column from each task's ``info`` field (``add_task(..., info="")``,
    e.g. a loss or frames per second); ``eta`` adds the estimated time remaining;
    ``transient`` removes the bar when it is done.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn()]
    if info:
        columns.append(TextColumn("{task.fields[info]}"))
    columns.append(TimeElapsedColumn())
    if eta:
        columns += [TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(*columns, console=console, transient=transient)
