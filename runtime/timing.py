"""Stage times of one frame without stalling the device between stages.

On a CPU a stage boundary is a ``time.perf_counter()`` reading. On CUDA it is an event
recorded on the current stream: nothing waits for the device between stages, and the elapsed
times are read once at the end, after the frame's host copy has synchronised anyway (one
``Event.synchronize`` on the last event, which has then already completed). A
``torch.cuda.synchronize`` per stage would serialise host and device on every frame.
"""

from __future__ import annotations

import time

import torch


def _cuda_mark(device: torch.device) -> torch.cuda.Event:
    """A timing event recorded now on ``device``'s current stream."""
    event = torch.cuda.Event(enable_timing=True)
    event.record(torch.cuda.current_stream(device))
    return event


def _cuda_seconds(start: torch.cuda.Event, end: torch.cuda.Event) -> float:
    """Seconds between two recorded events (``end`` must have completed)."""
    return start.elapsed_time(end) / 1e3  # elapsed_time is in milliseconds


class StageClock:
    """Marks the end of each stage of one frame; :meth:`seconds` reads them all once.

    ``lap(name)`` closes the stage that began at the previous mark (or at construction). A
    stage lapped twice adds up; a stage never lapped reads 0.
    """

    def __init__(self, device: torch.device | str):
        self._cuda = torch.device(device).type == "cuda"
        self._device = torch.device(device)
        self._last = self._mark()
        self._laps: list[tuple[str, object, object]] = []  # (stage, start mark, end mark)

    def _mark(self):
        return _cuda_mark(self._device) if self._cuda else time.perf_counter()

    def lap(self, stage: str) -> None:
        """End ``stage`` now (the next stage starts now)."""
        now = self._mark()
        self._laps.append((stage, self._last, now))
        self._last = now

    def seconds(self) -> dict[str, float]:
        """Seconds per stage. On CUDA this waits for the last mark (already done after a host
        copy), then reads every event pair."""
        if self._cuda:
            self._last.synchronize()
        out: dict[str, float] = {}
        for stage, start, end in self._laps:
            took = _cuda_seconds(start, end) if self._cuda else end - start
            out[stage] = out.get(stage, 0.0) + took
        return out
