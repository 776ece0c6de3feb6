"""Pictures of a play run: the frames as an mp4 and the latency over time as a PNG."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentstage.engine_bridge import client as C
from latentstage.v1 import service_pb2 as pb


class Mp4Sink:
    """Receives frames (``play(..., sink=...)``) and encodes them into an mp4 with PyAV, in
    arrival order, at ``fps``, on one worker thread so the player's loop does not wait for the
    encoder. The size is the first frame's (odd sizes padded by one)."""

    def __init__(self, path: Path, fps: float):
        self.path = Path(path)  # the mp4 file
        self.fps = Fraction(fps).limit_denominator(1001)  # frame rate of the movie
        self.frames = 0  # frames written
        self._writer = None  # VideoWriter once the first frame gives the size
        self._worker = ThreadPoolExecutor(1)  # one thread: frames stay in order
        self._pending: list[Future] = []  # writes submitted, checked on close

    def __call__(self, frame: pb.Frame) -> None:
        self._pending.append(self._worker.submit(self._write, frame))

    def _write(self, frame: pb.Frame) -> None:
        rgb = C.frame_pixels(frame)  # [H, W, 3] uint8
        if self._writer is None:
            from latentstage.model.worlds.io import VideoWriter

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = VideoWriter(self.path, rgb.shape[1], rgb.shape[0], self.fps)
        self._writer.write(rgb)
        self.frames += 1

    def close(self) -> None:
        """Wait for the writes, flush and close the movie (no file when no frame came)."""
        self._worker.shutdown(wait=True)
        for done in self._pending:
            done.result()  # an encoder error surfaces here
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def latency_plot(latency_ms: list[float], server_ms: list[float], file: Path, title: str) -> Path:
    """A PNG of pose-to-frame latency and server time per frame, with their medians and p95."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for values, label, colour in ((latency_ms, "pose-to-frame latency (client)", "tab:blue"),
                                  (server_ms, "server total (queue to encode)", "tab:orange")):
        if not values:
            continue
        ax.plot(np.arange(len(values)), values, color=colour, lw=1.2, label=label)
        for q, style in ((50, "--"), (95, ":")):
            level = float(np.percentile(values, q))
            ax.axhline(level, color=colour, ls=style, lw=0.9,
                       label=f"{label.split(' (')[0]} p{q} = {level:.1f} ms")
    ax.set_xlabel("frame (in arrival order)")
    ax.set_ylabel("milliseconds")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(file)
    plt.close(fig)
    return file
