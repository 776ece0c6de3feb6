"""Watch a FreeD-tracked camera: open a session on it, save its frames, count what happened.

The server renders the tracker's poses (``latentstage serve --freed``); this client only
receives. Latency is the server's own (datagram received to frame ready, ``Frame.timing``):
the tracker's send time is not known here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from latentstage.engine_bridge import client as C
from latentstage.engine_bridge.play import PlayReport, _Recorder
from latentstage.v1 import service_pb2 as pb


async def watch(client: C.AsyncClient, open_msg: pb.Open, out: Path | None = None, *,
                frames: int | None = None, seconds: float | None = None,
                tick: Callable[[int], None] | None = None) -> tuple[PlayReport, int]:
    """Receive frames of ``open_msg.tracked_camera`` until ``frames`` arrived or ``seconds``
    passed (whichever first; neither: until the server ends the stream). Frames go to ``out``
    as PNG with frames.json. Returns the report and the datagrams the tracker's listener
    dropped meanwhile (EVENT_KIND_TRACKER_DROPPED)."""
    report = PlayReport()
    rec = _Recorder(out, report)
    first_id = None
    try:
        async with client.session(open_msg) as session:
            t0 = time.perf_counter()
            deadline = None if seconds is None else t0 + seconds
            while frames is None or report.frames < frames:
                left = None if deadline is None else deadline - time.perf_counter()
                if left is not None and left <= 0:
                    break
                try:
                    frame = await asyncio.wait_for(session.next_frame(), left)
                except (TimeoutError, C.SessionClosed):
                    break
                first_id = frame.frame_id if first_id is None else first_id
                rec.frame(frame)
                report.poses = frame.frame_id - first_id + 1  # tracker poses since the first
                if tick is not None:
                    tick(report.frames)
            report.seconds = time.perf_counter() - t0
            report.errors = [e.message for e in session.errors]
            dropped = sum(e.count for e in session.events
                          if e.kind == pb.EVENT_KIND_TRACKER_DROPPED)
    finally:
        rec.close()
    return report, dropped
