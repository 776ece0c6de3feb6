"""PNG curves for the `--plot FILE` of benchmarks and renders (matplotlib, imported lazily)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Curve:
    """One line of a plot."""

    label: str  # legend entry
    x: Sequence[float]  # abscissae, in the plot's x unit
    y: Sequence[float]  # ordinates, in the plot's y unit
    style: str = "-o"  # matplotlib format string


@dataclass
class Figure:
    """What a bench plots: axes labels with units, a title, and its curves."""

    title: str  # first line names the bench and the machine
    xlabel: str  # with the unit, e.g. "stored points"
    ylabel: str  # with the unit, e.g. "milliseconds"
    curves: list[Curve] = field(default_factory=list)  # drawn in order
    logx: bool = False  # logarithmic x axis
    note: str = ""  # a line under the plot: how the figures were measured


def save_figure(fig_spec: Figure, file: Path) -> Path:
    """Draw ``fig_spec`` into a PNG at ``file`` (folders created); returns the file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for c in fig_spec.curves:
        ax.plot(list(c.x), list(c.y), c.style, label=c.label, lw=1.4, ms=4)
    if fig_spec.logx:
        ax.set_xscale("log")
    ax.set_xlabel(fig_spec.xlabel)
    ax.set_ylabel(fig_spec.ylabel)
    ax.set_title(fig_spec.title, fontsize=10)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if fig_spec.note:
        fig.text(0.01, 0.01, fig_spec.note, fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.04 if fig_spec.note else 0, 1, 1))
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(file)
    plt.close(fig)
    return file
