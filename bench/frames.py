"""``latentstage bench frames``: the frame rate of the one frame step, per model, size and backend.

Each configuration (model, size, backend) drives :class:`~latentstage.runtime.pipeline.FrameStep`
(readout, sampler steps, decode, memory write, host copy) along a procedural walk with a live
latent memory, seeded with one view of the same world as a new world is, as a served session
does. Warm-up frames run
first (with ``torch.compile`` they compile and capture the CUDA graphs); the timed frames are
read from the step's own :class:`~latentstage.runtime.timing.StageClock` (CUDA events on a GPU,
``perf_counter`` on a CPU). The clock's laps are contiguous from the readout's start to the host
copy's end, so a frame's time is the sum of its stages; the decode stage includes the host copy.

Every configuration runs in its own ``try``: a failure (CUDA out of memory included) is recorded
with its traceback and the next configuration runs. Results go to a JSON file after each
configuration, so a run that is killed still leaves what it measured. Configurations run in
order of risk: every eager one first, then CUDA graphs, then the long walk (:func:`long_walk`:
per-frame cost at frame 100 against the last frames, memory growing), then ``torch.compile``.

Figures are printed and recorded, never asserted by tests (DESIGN.md, "Speed").
"""

from __future__ import annotations

import gc
import logging
import math
import os
import platform
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

#: Backends of the torch backend: name -> (torch.compile, CUDA graphs).
BACKENDS = {"eager": (False, False), "graphs": (False, True), "compile+graphs": (True, True)}
#: The product's goals on one H100-class GPU (issue 15): (W, H) -> frames per second.
GOALS = {(512, 512): 120.0, (1280, 720): 30.0, (1920, 1080): 60.0}
#: The untrained model "of a realistic size": constructor arguments (the config is the
#: constructor), about 4x the reference autoencoder's widths and a 256-wide generator.
LARGE_CONFIG = {
    "autoencoder": {"latent_channels": 16, "channels": [64, 128, 192, 384], "latent_blocks": 3},
    "generator": {"base_channels": 256, "time_dim": 256, "blocks": 2, "mid_blocks": 4},
}
#: Frames profiled by ``--profile``.
PROFILE_FRAMES = 20
#: Seed of the walks (a held-out evaluation world seed, as export/samples.py uses).
WALK_SEED = 1_000_007


@dataclass
class ModelEntry:
    """One model under test, on the CPU until a backend moves it."""

    label: str  # "bundled", "large" or the checkpoint directory given
    model: object  # the WorldModel
    description: str  # e.g. "bundled checkpoint latentstage-ref-v1-…"
    parameters: dict[str, int]  # parameter count per network ("autoencoder", "generator", "total")


@dataclass
class ConfigResult:
    """One (model, size, backend): its timed frames summarised, or why it has none."""

    model: str  # ModelEntry.label
    size: tuple[int, int]  # (W, H) pixels asked for
    rendered: tuple[int, int]  # (W, H) pixels the step ran at (next multiple of the stride)
    backend: str  # key of BACKENDS
    status: str = "ok"  # "ok", "failed", "skipped" or "not run: budget"
    steps: int = 0  # sampler steps per frame
    frames: int = 0  # timed frames
    warmup_s: float = 0.0  # seconds of the warm-up frames (compilation and capture included)
    median_ms: float = 0.0  # median frame time (sum of the stage clock's laps)
    p99_ms: float = 0.0  # 99th percentile frame time
    fps: float = 0.0  # 1000 / median_ms
    wall_median_ms: float = 0.0  # median perf_counter time around the step call (host view)
    shares: dict[str, float] = field(default_factory=dict)  # stage -> fraction of frame time
    stage_median_ms: dict[str, float] = field(default_factory=dict)  # stage -> median ms
    memory_points: int = 0  # points in the latent memory after the last frame
    evictions: int = 0  # points evicted during the run
    peak_gpu_mib: float = 0.0  # torch.cuda.max_memory_allocated during the run (0 on CPU)
    goal_fps: float | None = None  # the product's goal at this size, if it has one
    note: str = ""  # why skipped, the error, or remarks
    traceback: str = ""  # the failure's traceback

    @property
    def name(self) -> str:
        """``model WxH backend``: how the configuration is named in output."""
        return f"{self.model} {self.size[0]}x{self.size[1]} {self.backend}"

    @property
    def goal_met(self) -> bool | None:
        """Whether the median fps reaches the goal (None: no goal at this size, or no figure)."""
        if self.goal_fps is None or self.status != "ok":
            return None
        return self.fps >= self.goal_fps


@dataclass
class LongResult:
    """Per-frame cost early and late in a long walk with the memory growing."""

    model: str  # ModelEntry.label
    size: tuple[int, int]  # (W, H) pixels the step ran at
    steps: int  # sampler steps per frame (0: memory-only frames)
    frames_asked: int  # --long
    frames: int = 0  # frames run (fewer when cut by --long-s or the budget)
    capacity: int = 0  # memory capacity, points (the service's default)
    early_ms: float = 0.0  # median frame time of frames 90..110
    late_ms: float = 0.0  # median frame time of the last 20 frames run
    ratio: float = 0.0  # late_ms / early_ms (goal <= 1.1)
    points_early: int = 0  # memory points after frame 100
    points_late: int = 0  # memory points after the last frame
    evictions: int = 0  # points evicted during the walk
    curve_ms: list[float] = field(default_factory=list)  # median ms of each 1/20 of the walk
    status: str = "ok"  # "ok", "cut: time limit at frame K", "failed" or "not run: budget"
    note: str = ""  # the error or remarks
    traceback: str = ""  # the failure's traceback


@dataclass
class FramesOptions:
    """What ``latentstage bench frames`` runs."""

    device: object  # torch.device
    models: list[str]  # "bundled", "large" or checkpoint directories
    sizes: list[tuple[int, int]]  # (W, H) pixels
    backends: list[str]  # keys of BACKENDS
    steps: int | None = None  # sampler steps; None: each checkpoint's default
    warmup: int = 10  # untimed frames per configuration
    frames: int = 100  # timed frames per configuration
    capacity: int = 262_144  # latent memory points (the service's default)
    long: int = 0  # frames of the long walk (0: off)
    long_size: tuple[int, int] = (512, 512)  # (W, H) of the long walk
    long_steps: int | None = None  # sampler steps of the long walk; None: the default
    long_s: float | None = None  # seconds at most for the long walk (None: no limit)
    budget_s: float | None = None  # seconds after which no configuration starts
    json_path: Path | None = None  # results file, rewritten after each configuration
    profile_path: Path | None = None  # torch.profiler table of one configuration
    profile_config: str = ""  # "MODEL:WxH:BACKEND" to profile; "" = first model, last size, eager
    command: str = ""  # the command line, recorded in the JSON


# ----- models ---------------------------------------------------------------------------------
def parameter_counts(model) -> dict[str, int]:
    """Parameters per network of a WorldModel, and their total."""
    counts = {name: sum(p.numel() for p in getattr(model, name).parameters())
              for name in ("autoencoder", "generator")}
    counts["total"] = sum(counts.values())
    return counts


def load_model(label: str) -> ModelEntry:
    """``bundled`` (the shipped checkpoint), ``large`` (untrained, :data:`LARGE_CONFIG`) or a
    checkpoint directory."""
    from latentstage.model.world_model import WorldModel, WorldModelConfig, bundled_checkpoint_dir

    if label == "large":
        model = WorldModel(WorldModelConfig(native_size=(512, 512), **LARGE_CONFIG))
        ae, gen = LARGE_CONFIG["autoencoder"], LARGE_CONFIG["generator"]
        description = (f"untrained: autoencoder channels {ae['channels']}, "
                       f"C={ae['latent_channels']}; generator base {gen['base_channels']}, "
                       f"blocks {gen['blocks']}, mid {gen['mid_blocks']}")
    else:
        path = bundled_checkpoint_dir() if label == "bundled" else Path(label)
        model = WorldModel.from_pretrained(path)
        description = f"{'bundled checkpoint ' if label == 'bundled' else ''}{model.model_id}"
    return ModelEntry(label, model.eval(), description, parameter_counts(model))


def make_backend(model, device, backend: str):
    """The torch backend of ``model`` on ``device`` as named by :data:`BACKENDS`."""
    from latentstage.runtime.backends.torch_backend import TorchBackend

    compile_, graphs = BACKENDS[backend]
    return TorchBackend(model, device, compile=compile_, cuda_graphs=graphs)


def rendered_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """The size the runtime renders ``size`` at: the next multiple of ``stride`` on each side
    (``Intrinsics.padded``; the server crops the centre back out)."""
    from latentstage.runtime.camera import Intrinsics

    k, _, _ = Intrinsics.from_fov(70.0, *size).padded(stride)
    return k.width, k.height


_FRAMES: dict[tuple[int, int], object] = {}  # (W, H) -> SampleFrame on the CPU, per run


def walk(size: tuple[int, int], stride: int, device, frames: int):
    """(sample frame at ``size`` on ``device``, ``[frames, 4, 4]`` poses of a walk through its
    world). The frame is rendered once per size on the CPU (the procedural renderer is not what
    is measured) and moved to ``device``."""
    import dataclasses

    import numpy as np

    from latentstage.export.samples import sample_frame
    from latentstage.model.worlds import make_trajectory

    if tuple(size) not in _FRAMES:
        _FRAMES[tuple(size)] = sample_frame(tuple(size), stride, "cpu")
    cpu = _FRAMES[tuple(size)]
    frame = dataclasses.replace(cpu, rgb=cpu.rgb.to(device), depth=cpu.depth.to(device),
                                sky=cpu.sky.to(device))
    poses = make_trajectory("walk", cpu.scene, frames=frames, seed=WALK_SEED).c2w
    return frame, np.asarray(poses)


def new_step(backend, frame, capacity: int):
    """(memory seeded with ``frame``, FrameStep on it), as a world's first session starts.

    The seed image is encoded by the backend's eager model: the encoder is not part of the
    frame step, and compiling it would only lengthen a compiled configuration's warm-up."""
    from latentstage.runtime.memory import LatentMemory, MemoryConfig
    from latentstage.runtime.pipeline import FrameStep, seed_memory

    memory = LatentMemory(backend.latent_spec(), MemoryConfig(capacity=capacity),
                          device=backend.device, model_id=backend.model_id)
    seed_memory(backend.model, memory, frame.rgb[0], frame.depth,
                memory.camera(frame.intrinsics, frame.c2w), sky=frame.sky)
    return memory, FrameStep(backend, memory, seed=0)


# ----- one configuration ------------------------------------------------------------------------
STAGES = ("readout", "generate", "decode", "write")


def summarise(result: ConfigResult, timings: list, walls: list[float]) -> None:
    """Fill ``result``'s figures from per-frame Timings and wall seconds."""
    totals = [t.model * 1e3 for t in timings]
    result.frames = len(totals)
    result.median_ms = statistics.median(totals)
    result.p99_ms = percentile(totals, 99)
    result.fps = 1e3 / result.median_ms if result.median_ms > 0 else math.inf
    result.wall_median_ms = statistics.median(walls) * 1e3
    whole = sum(totals)
    result.shares = {s: sum(getattr(t, s) for t in timings) * 1e3 / whole if whole else 0.0
                     for s in STAGES}
    result.stage_median_ms = {s: statistics.median(getattr(t, s) * 1e3 for t in timings)
                              for s in STAGES}


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (numpy's linear interpolation between ranks)."""
    import numpy as np

    return float(np.percentile(values, q))


def time_config(entry: ModelEntry, size: tuple[int, int], backend_name: str,
                opts: FramesOptions, say: Callable[[str], None], profile: bool = False
                ) -> ConfigResult:
    """Warm up, then time ``opts.frames`` frames of one configuration (raises on failure)."""
    import torch

    from latentstage.model.autoencoder import STRIDE

    cuda = opts.device.type == "cuda"
    result = ConfigResult(entry.label, size, rendered_size(size, STRIDE), backend_name,
                          goal_fps=GOALS.get(tuple(size)))
    if cuda:
        torch.cuda.reset_peak_memory_stats(opts.device)
    backend = make_backend(entry.model, opts.device, backend_name)
    result.steps = opts.steps or backend.sampler_steps
    extra = PROFILE_FRAMES if profile else 0
    frame, poses = walk(result.rendered, STRIDE, opts.device, opts.warmup + opts.frames + extra)
    if backend_name != "eager":
        what = "compiling and capturing" if BACKENDS[backend_name][0] else "capturing"
        say(f"{result.name}: {what} CUDA graphs in the first warm-up frame (torch.compile may "
            f"take a minute)")
    t0 = time.perf_counter()
    memory, step = new_step(backend, frame, opts.capacity)
    timings, walls = [], []
    for i, pose in enumerate(poses[:opts.warmup + opts.frames]):
        if i == opts.warmup:
            result.warmup_s = time.perf_counter() - t0
            evicted = memory.stats().evictions
        start = time.perf_counter()
        out = step(memory.camera(frame.intrinsics, pose), i, result.steps)
        walls.append(time.perf_counter() - start)
        timings.append(out.timing)
    stats = memory.stats()
    result.memory_points, result.evictions = stats.points, stats.evictions - evicted
    summarise(result, timings[opts.warmup:], walls[opts.warmup:])
    if cuda:
        result.peak_gpu_mib = torch.cuda.max_memory_allocated(opts.device) / 2**20
    if profile:
        write_profile(step, memory, frame, poses, opts, result)
    return result


def write_profile(step, memory, frame, poses, opts: FramesOptions, result: ConfigResult) -> None:
    """torch.profiler over :data:`PROFILE_FRAMES` more frames; the operator table, sorted by
    device time on CUDA (CPU time on a CPU), goes to ``opts.profile_path``."""
    from torch.profiler import ProfilerActivity, profile

    cuda = opts.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    first = opts.warmup + opts.frames
    with profile(activities=activities) as prof:
        for i, pose in enumerate(poses[first:], start=first):
            step(memory.camera(frame.intrinsics, pose), i, result.steps)
    table = None
    for key in (("device_time_total", "cuda_time_total") if cuda else ("cpu_time_total",)):
        try:
            table = prof.key_averages().table(sort_by=key, row_limit=60)
            break
        except (KeyError, AttributeError, ValueError) as exc:  # older or newer key names
            log.info("profiler sort key %s refused: %s", key, exc)
    table = table or prof.key_averages().table(row_limit=60)
    header = f"latentstage bench frames --profile: {result.name}, {PROFILE_FRAMES} frames\n"
    Path(opts.profile_path).write_text(header + table + "\n", encoding="utf-8")
    result.note = (result.note + f" profiled into {opts.profile_path}").strip()


# ----- the long walk --------------------------------------------------------------------------
EARLY = (90, 111)  # frames whose median is the early cost (frame 100 +- 10)
LATE = 20  # last frames whose median is the late cost


def long_walk(entry: ModelEntry, opts: FramesOptions, deadline: float,
              progress: Callable[[int, float], None]) -> LongResult:
    """``opts.long`` frames of one walk on the eager backend, memory growing up to the service's
    capacity; ``progress(frame, ms)`` after each frame. Stops at ``deadline`` (monotonic) or
    ``opts.long_s`` seconds after the first frame, whichever comes first."""
    from latentstage.model.autoencoder import STRIDE

    backend = make_backend(entry.model, opts.device, "eager")
    steps = backend.sampler_steps if opts.long_steps is None else opts.long_steps
    size = rendered_size(opts.long_size, STRIDE)
    result = LongResult(entry.label, size, steps, opts.long, capacity=opts.capacity)
    frame, poses = walk(size, STRIDE, opts.device, opts.long)
    memory, step = new_step(backend, frame, opts.capacity)
    evicted = memory.stats().evictions
    if opts.long_s is not None:  # counted from the first frame
        deadline = min(deadline, time.monotonic() + opts.long_s)
    ms: list[float] = []
    for i, pose in enumerate(poses):
        if time.monotonic() > deadline:
            result.status = f"cut: time limit at frame {i}"
            break
        out = step(memory.camera(frame.intrinsics, pose), i, steps, write=steps > 0)
        ms.append(out.timing.model * 1e3)
        if i == 100:
            result.points_early = memory.stats().points
        progress(i + 1, ms[-1])
    stats = memory.stats()
    result.frames, result.points_late = len(ms), stats.points
    result.evictions = stats.evictions - evicted
    if len(ms) < EARLY[1] + LATE:
        result.status, result.note = "failed", f"only {len(ms)} frames ran (need {EARLY[1] + LATE})"
        return result
    result.early_ms = statistics.median(ms[EARLY[0]:EARLY[1]])
    result.late_ms = statistics.median(ms[-LATE:])
    result.ratio = result.late_ms / result.early_ms
    block = math.ceil(len(ms) / 20)
    result.curve_ms = [statistics.median(ms[i:i + block]) for i in range(0, len(ms), block)]
    if steps == 0:
        result.note = "memory-only frames (readout + decode, no generator, no write)"
    return result


# ----- environment and results file -------------------------------------------------------------
def environment(device) -> dict:
    """Versions and the device, for the results file and the header."""
    import torch

    from latentstage.runtime.device import device_name

    env = {"device": str(device), "device_name": device_name(device),
           "python": platform.python_version(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "platform": platform.platform(), "triton": None}
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError:
        pass
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=torch.cuda.get_device_name(device),
                   gpu_memory_gib=props.total_memory / 2**30,
                   capability=list(torch.cuda.get_device_capability(device)),
                   cudnn=torch.backends.cudnn.version(),
                   cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                   matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32)
    return env


def write_json(path: Path | None, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file, then rename)."""
    if path is None:
        return
    import json

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def failure(exc: BaseException) -> tuple[str, str]:
    """(one-line ``Type: message``, traceback) of an exception; CUDA out-of-memory is named."""
    import torch

    kind = type(exc).__name__
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        kind = f"CUDA out of memory ({kind})"
    message = " ".join(str(exc).split())[:500]
    return f"{kind}: {message}", "".join(traceback.format_exception(exc))


def release(device) -> None:
    """Free what a configuration left on the device (a failed one included)."""
    import torch

    gc.collect()
    if device.type == "cuda":
        try:
            torch.cuda.synchronize(device)
            torch.cuda.empty_cache()
        except Exception as exc:  # a sticky CUDA error: later configurations will report it
            log.error("could not release CUDA memory: %s", exc)


def reset_compiled() -> None:
    """Forget torch.compile's graphs (each configuration compiles its own shapes)."""
    import torch

    try:
        torch._dynamo.reset()
    except Exception as exc:  # only housekeeping
        log.info("torch._dynamo.reset failed: %s", exc)


def payload(opts: FramesOptions, env: dict, models: list[ModelEntry],
            results: list[ConfigResult], long: LongResult | None, finished: bool) -> dict:
    """Everything the results file holds."""
    options = {k: v for k, v in asdict(opts).items() if k != "device"}
    return {"command": opts.command, "env": env, "options": options, "finished": finished,
            "goals": {f"{w}x{h}": fps for (w, h), fps in GOALS.items()},
            "timing": "frame ms = sum of the stage clock's contiguous laps (CUDA events on "
                      "a GPU, perf_counter on a CPU); decode includes the host copy",
            "models": [{"label": m.label, "description": m.description,
                        "parameters": m.parameters} for m in models],
            "configs": [{**asdict(r), "name": r.name, "goal_met": r.goal_met} for r in results],
            "long": asdict(long) if long is not None else None}
