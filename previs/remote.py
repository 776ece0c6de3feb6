"""A shot rendered through a running LatentStage service, in LOCKSTEP pacing.

:class:`ServerEngine` has the same surface as :class:`~.engine.InProcessEngine` (render,
save, load, describe), so renders, resumes and seeks work the same against a server. Every
pose is rendered, in order (LOCKSTEP: no pose is skipped, no prediction, no frame budget),
and frames come back as raw RGB8, so they are the server's pixels exactly.

Snapshots go through SaveWorld (with the file returned) and LoadWorld (uploading the file).
Each save also leaves the snapshot in the server's own folder, under a name derived from the
render (``previs-<path hash>-<frame>``, replaced on the next render of the same shot).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from latentstage.engine_bridge import client as C
from latentstage.previs.engine import parse_world, snapshot_hash
from latentstage.previs.frames import RenderedFrame
from latentstage.previs.shot import ShotFrame
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.types import (
    EmptySource,
    MemoryInfo,
    ProceduralSource,
    Rung,
    SnapshotSource,
    Timing,
)
from latentstage.v1 import service_pb2 as pb

log = logging.getLogger(__name__)

#: Seconds to wait for one frame (a large frame on a busy CPU server).
FRAME_TIMEOUT_S = 300.0


def seed_image_spec(image: Path, depth: str | None, native_size: tuple[int, int],
                    stride: int) -> pb.WorldSpec:
    """The seed image as the in-process engine uses it (resized to the model's native size,
    depth a number or a .npy map), as a WorldSpec."""
    import io

    from PIL import Image

    from latentstage.previs.engine import seed_image_arrays

    rgb, d = seed_image_arrays(image, depth, native_size, stride)
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG")  # lossless (an array would go as JPEG)
    return C.seed_image_world(png.getvalue(), d, keep=True)


class ServerEngine:
    """Renders a shot's cameras on a world held by a LatentStage server."""

    def __init__(self, target: str, world: str | None = None, seed_image: Path | None = None,
                 depth: str | None = None, seed: int = 0, steps: int | None = None,
                 tag: str = "shot", token: str | None = None):
        self.client = C.SyncClient(target, token=token)
        self.info = self.client.server_info()
        self.seed = seed  # noise seed of every frame (with its frame id)
        self.steps = steps or int(self.info.default_sampler_steps)  # sampler steps per frame
        self.tag = tag  # names the server-side snapshots of this render
        self.stride = int(self.info.latent_stride)  # image pixels per latent pixel
        self.session = None
        self.size: tuple[int, int] | None = None
        self.start_c2w = np.eye(4)  # [4, 4] the world's seed camera (canonical)
        self.world_id, self.source = self._create(world, seed_image, depth)

    def _create(self, world, seed_image, depth) -> tuple[str, str]:
        native = (self.info.native_size.width, self.info.native_size.height)
        if seed_image is not None:
            info = self.client.create_world(seed_image_spec(seed_image, depth, native,
                                                                   self.stride))
            self.start_c2w = np.asarray(info.start_c2w.m, np.float64).reshape(4, 4)
            return info.world_id, f"seed_image {seed_image}"
        parsed = parse_world(world)
        if isinstance(parsed, Path):
            info = self.client.load_world(data=parsed.read_bytes(), label=str(parsed))
            return info.world_id, f"snapshot file={parsed}"
        src = parsed.source
        if isinstance(src, ProceduralSource):
            spec = C.procedural_world(src.seed, src.kind, name=world, keep=True)
        elif isinstance(src, EmptySource):
            spec = C.empty_world(name=world, keep=True)
        elif isinstance(src, SnapshotSource):
            info = self.client.load_world(name=src.name, label=world)
            return info.world_id, f"snapshot name={src.name}"
        else:
            raise InvalidInput("--world", world, "procedural:SEED[:KIND], empty or a snapshot")
        info = self.client.create_world(spec)
        self.start_c2w = np.asarray(info.start_c2w.m, np.float64).reshape(4, 4)
        return info.world_id, info.source

    def _open(self, size: tuple[int, int]) -> None:
        if self.session is not None and self.size == size:
            return
        self.close_session()
        msg = C.open_message(self.world_id, size, "opencv", "raw_rgb8", steps=self.steps,
                             seed=self.seed, lockstep=True, prediction=False,
                             client_name="latentstage-render")
        self.session = self.client.session(msg)
        self.session.open()
        self.size = size

    def close_session(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def render(self, frame: ShotFrame, write: bool = True) -> RenderedFrame:
        if not write:
            raise InvalidInput("write", write, "True (a served session always writes here)")
        k = frame.intrinsics
        self._open((k.width, k.height))
        out = self.session.render(C.opencv_pose(frame.frame_id, frame.c2w, k),
                                  timeout=FRAME_TIMEOUT_S)
        t, m = out.timing, out.memory
        timing = Timing(t.queue_ms / 1e3, t.readout_ms / 1e3, t.generate_ms / 1e3,
                        t.decode_ms / 1e3, t.write_ms / 1e3, t.encode_ms / 1e3,
                        t.total_ms / 1e3)
        memory = MemoryInfo(m.points, m.capacity, m.bytes, m.used_bytes, m.evictions, m.writes,
                            m.coverage)
        return RenderedFrame(C.frame_pixels(out), Rung(int(out.rung)), int(out.sampler_steps),
                             timing, memory)

    def save(self, path: Path) -> str:
        """Snapshot the server's world into ``path``; returns its content checksum."""
        name = f"previs-{self.tag}-{path.stem.removeprefix('before_')}"
        reply = self.client.save_world(self.world_id, name, return_data=True, overwrite=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(reply.data)
        tmp.replace(path)
        return snapshot_hash(path)

    def load(self, path: Path) -> None:
        """Replace the server's world with the snapshot at ``path`` (a new world; the old one
        is deleted)."""
        info = self.client.load_world(data=Path(path).read_bytes(), label=self.source)
        self.close_session()
        self.client.delete_world(self.world_id, force=True)
        self.world_id = info.world_id

    def points(self) -> np.ndarray:
        """[0, 3]: a server does not send its memory's points."""
        return np.zeros((0, 3))

    def describe(self) -> dict:
        return {"model_id": self.info.model_id, "backend": self.info.backend,
                "device": self.info.device, "steps": self.steps, "seed": self.seed,
                "world_source": self.source, "runs": "server (LOCKSTEP)",
                "memory_capacity": int(self.info.limits.memory_capacity)}

    def close(self) -> None:
        """End the session, delete the world, close the channel."""
        try:
            self.close_session()
            self.client.delete_world(self.world_id, force=True)
        finally:
            self.client.close()
