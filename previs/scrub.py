"""Scrubbing: memory snapshots every N frames, and seeks that replay from the nearest one.

A frame depends on the memory as it stood when the camera got there. The memory *before*
frame k is the seeded world plus frames 0..k-1 written in order; :class:`Scrubber` keeps that
state as a snapshot file ``before_{k:06d}.safetensors`` for every k that is a multiple of N
(k = 0 is the seeded world), and a seek to frame k restores the nearest snapshot at or before
k (or carries on from where the memory stands, when that is nearer) and replays the frames in
between. The result is the sequential render's frame, bit for bit (the noise depends only on
the seed and the frame id; snapshots restore the memory exactly, layout included).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from latentstage.previs.engine import InProcessEngine
from latentstage.previs.frames import RenderedFrame
from latentstage.previs.shot import Shot

log = logging.getLogger(__name__)


@dataclass
class SeekStats:
    """What the last seek cost."""

    target: int = 0  # frame sought
    restored_from: int = -1  # snapshot loaded (frame index it precedes), -1: none loaded
    replayed: int = 0  # frames rendered before the target
    seconds: float = 0.0  # wall time of the whole seek, target frame included


class Scrubber:
    """A shot on an engine, positioned before some frame, with snapshots every ``every``."""

    def __init__(self, engine: InProcessEngine, shot: Shot, snapshot_dir: Path, every: int = 8):
        if every < 1:
            raise ValueError(f"snapshot interval: got {every}, expected >= 1 frames")
        self.engine = engine
        self.shot = shot
        self.dir = Path(snapshot_dir)  # where the before_*.safetensors files live
        self.every = every  # frames between snapshots
        self.position = 0  # the memory holds the state before frame `position`
        self.last = SeekStats()  # cost of the last seek
        self.world_hash = self._start()  # checksum of the seeded world's snapshot

    def path(self, k: int) -> Path:
        return self.dir / f"before_{k:06d}.safetensors"

    def _start(self) -> str:
        """Snapshot the seeded world (or, when a snapshot of it exists already, as in a resumed
        render, restore it: the render continues from the very same memory)."""
        first = self.path(0)
        if first.is_file():
            self.engine.load(first)
            from latentstage.previs.engine import snapshot_hash

            return snapshot_hash(first)
        return self.engine.save(first)

    def snapshots(self) -> list[int]:
        """Frame indices that have a snapshot, ascending."""
        out = []
        for p in self.dir.glob("before_*.safetensors"):
            try:
                out.append(int(p.stem.removeprefix("before_")))
            except ValueError:
                continue
        return sorted(k for k in out if k % self.every == 0)

    def step(self, write: bool = True) -> RenderedFrame:
        """Render the frame at ``position`` (writing it to the memory), then move on; saves the
        snapshot before the next frame when that one falls on the interval."""
        if self.position >= len(self.shot):
            raise IndexError(f"frame {self.position}: the shot has {len(self.shot)} frames")
        frame = self.engine.render(self.shot.frames[self.position], write=write)
        self.position += 1
        if self.position % self.every == 0 and not self.path(self.position).is_file():
            self.engine.save(self.path(self.position))
        return frame

    def restore(self, k: int) -> None:
        """Bring the memory to its state before frame ``k``."""
        if not 0 <= k < len(self.shot):
            raise IndexError(f"frame {k}: expected 0..{len(self.shot) - 1}")
        snap = max(s for s in self.snapshots() if s <= k)
        self.last = SeekStats(k)
        if not snap <= self.position <= k:  # carrying on is not nearer: load a snapshot
            self.engine.load(self.path(snap))
            self.position = snap
            self.last.restored_from = snap
        while self.position < k:
            self.step()
            self.last.replayed += 1

    def seek(self, k: int) -> RenderedFrame:
        """Frame ``k`` exactly as the sequential render gives it; the memory then stands
        before frame k + 1."""
        t0 = time.perf_counter()
        self.restore(k)
        frame = self.step()
        self.last.seconds = time.perf_counter() - t0
        log.debug("event=seek frame=%d from=%d replayed=%d seconds=%.3f", k,
                  self.last.restored_from, self.last.replayed, self.last.seconds)
        return frame
