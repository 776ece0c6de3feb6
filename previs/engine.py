"""Where a shot's frames come from: a model and a world in this process.

:class:`InProcessEngine` renders :class:`~.shot.ShotFrame` cameras through the one adapter
(:func:`~.frames.render_frame`) and saves and restores its world's memory as snapshot files
(:mod:`latentstage.runtime.snapshot`: safetensors, atomic, checksummed). :func:`open_world`
builds the world a render or the viewer starts from.
"""

from __future__ import annotations

import logging
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from latentstage.model.providers import SEED_FOV_DEG
from latentstage.previs.frames import RenderedFrame, render_frame
from latentstage.previs.shot import ShotFrame
from latentstage.runtime.backends import Backend
from latentstage.runtime.camera import Intrinsics, look_at
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.memory import MemoryConfig
from latentstage.runtime.snapshot import load_snapshot, read_snapshot_metadata, save_snapshot
from latentstage.runtime.types import (
    EmptySource,
    ProceduralSource,
    SeedImageSource,
    SnapshotSource,
    WorldSpec,
)
from latentstage.runtime.world import World, WorldStore

log = logging.getLogger(__name__)

#: Latent memory points of a previs world (as ``latentstage serve``'s default).
DEFAULT_CAPACITY = 262_144


def software_versions() -> dict[str, str]:
    """Versions that decide the pixels: Python, torch, numpy and this package."""
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__,
           "numpy": np.__version__}
    for dist in ("latentstage", "onnxruntime"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def snapshot_hash(path: Path) -> str:
    """The content checksum (SHA-256 of tensors and metadata) a snapshot file carries."""
    return read_snapshot_metadata(path)["checksum"]["value"]


def seed_image_arrays(image: Path, depth: str | None, native_size: tuple[int, int],
                      stride: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The seed image resized to the model's native size, [H, W, 3] uint8, and its depth from
    ``depth``: a number (metres everywhere), a ``.npy`` file [H, W] or [H/f, W/f] in metres, or
    None (estimated by the model)."""
    from PIL import Image

    try:
        img = Image.open(image).convert("RGB")
    except OSError as exc:
        raise InvalidInput("--seed-image", str(image), f"a readable image file ({exc})") from None
    w, h = native_size
    rgb = np.array(img.resize((w, h), Image.BICUBIC), np.uint8)
    d = None
    if depth is not None:
        try:
            d = np.full((h, w), float(depth), np.float32)
        except ValueError:
            d = np.load(depth).astype(np.float32)
            if d.shape not in ((h, w), (h // stride, w // stride)):
                raise InvalidInput("--depth", f"{depth} {d.shape}", f"a depth map of {h}x{w} "
                                   f"or {h // stride}x{w // stride} (the model's size) in "
                                   "metres") from None
    return rgb, d


def _seed_image_source(model: Backend, image: Path, depth: str | None) -> SeedImageSource:
    """The seed image and its depth (:func:`seed_image_arrays`) seen from the seed camera."""
    w, h = model.native_size
    rgb, d = seed_image_arrays(image, depth, (w, h), model.latent_spec().stride)
    c2w = look_at([0.0, 0.0, 1.6], [1.0, 0.0, 1.6])
    return SeedImageSource(rgb, d, Intrinsics.from_fov(SEED_FOV_DEG, w, h), c2w)


def parse_world(text: str) -> WorldSpec | Path:
    """``procedural:SEED[:KIND]``, ``empty``, a snapshot file, or a snapshot name (in the
    server's snapshot folder) as a spec, or the snapshot file's path."""
    if text.startswith("procedural:"):
        parts = text.split(":")
        try:
            seed = int(parts[1])
        except (IndexError, ValueError):
            raise InvalidInput("--world", text, "procedural:SEED[:KIND], SEED an integer") \
                from None
        kind = parts[2] if len(parts) > 2 else "outdoor"
        if kind not in ("indoor", "outdoor"):
            raise InvalidInput("--world", text, "KIND indoor or outdoor")
        return WorldSpec(ProceduralSource(seed, kind), name=text)
    if text == "empty":
        return WorldSpec(EmptySource(), name=text)
    if Path(text).is_file():
        return Path(text)
    return WorldSpec(SnapshotSource(name=text.removeprefix("snapshot:")), name=text)


def open_world(model: Backend, world: str | None = None, seed_image: Path | None = None,
               depth: str | None = None, capacity: int = DEFAULT_CAPACITY,
               snapshot_dir: Path | None = None) -> World:
    """A seeded world: ``world`` (see :func:`parse_world`) or ``seed_image`` (exactly one)."""
    if (world is None) == (seed_image is None):
        raise InvalidInput("--world/--seed-image", f"{world!r}/{seed_image!r}",
                           "exactly one of --world and --seed-image")
    if snapshot_dir is None:
        from latentstage.runtime.serve_cli import default_snapshot_dir

        snapshot_dir = default_snapshot_dir()
    store = WorldStore(model, Path(snapshot_dir), MemoryConfig(capacity=capacity), 1)
    if seed_image is not None:
        spec = WorldSpec(_seed_image_source(model, seed_image, depth), name=str(seed_image))
        return store.build(spec)
    spec = parse_world(world)
    if isinstance(spec, Path):
        built = store.build(WorldSpec(EmptySource(), name=str(spec)))
        load_snapshot(built.memory, spec)
        built.source = f"snapshot file={spec}"
        return built
    return store.build(spec)


class InProcessEngine:
    """Renders a shot's cameras on a world in this process; saves and restores its memory."""

    def __init__(self, model: Backend, world: World, seed: int = 0, steps: int | None = None,
                 backend: str = "torch"):
        self.model = model
        self.world = world
        self.seed = seed  # noise seed of every frame (with its frame id)
        self.steps = steps or int(model.sampler_steps)  # sampler steps per frame
        self.backend = backend  # backend name, for manifests

    def render(self, frame: ShotFrame, write: bool = True) -> RenderedFrame:
        return render_frame(self.world, self.model, frame.c2w, frame.intrinsics, frame.frame_id,
                            seed=self.seed, steps=self.steps, write=write)

    def save(self, path: Path) -> str:
        """Snapshot the memory to ``path`` (atomically); returns its content checksum."""
        with self.world.lock:
            save_snapshot(self.world.memory, path)
        return snapshot_hash(path)

    def load(self, path: Path) -> None:
        """Replace the memory with the snapshot at ``path`` (verified first)."""
        with self.world.lock:
            load_snapshot(self.world.memory, path)

    @property
    def start_c2w(self) -> np.ndarray:
        """[4, 4] the world's seed camera (canonical)."""
        return self.world.start_c2w

    def points(self) -> np.ndarray:
        """[N, 3] the memory's point positions, metres."""
        with self.world.lock:
            return self.world.memory.points().cpu().numpy()

    def describe(self) -> dict:
        """Model, backend and device, for a manifest."""
        return {"model_id": self.model.model_id, "backend": self.backend,
                "device": str(self.model.device), "steps": self.steps, "seed": self.seed,
                "world_source": self.world.source, "runs": "in-process",
                "memory_capacity": self.world.memory.config.capacity}
