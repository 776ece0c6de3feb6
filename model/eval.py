"""Evaluation on held-out procedural worlds: three memories side by side.

Each trajectory runs three ways with the same model, seeds and poses:
- ``none``: no spatial memory; the generator sees only the previous frame (lifted and
  reprojected), as a video model with a short context would;
- ``rgb``: the prior art's RGB point cloud at pixel resolution, rasterised and re-encoded every
  frame (:mod:`latentstage.model.rgb_memory`);
- ``latent``: the latent spatial memory (:mod:`latentstage.runtime.memory`).

Every run starts from the same seed frame (ground truth encoded at the first pose). Metrics:
PSNR and SSIM against ground truth (``pytorch-msssim``), revisit consistency (PSNR between
the frames generated at the same pose before and after a detour, pooled over the pairs and
bucketed by the frames in between), depth AbsRel at latent resolution, and frames per second.

Ground-truth PSNR on revisited frames is also split by where the pixels came from: the part
of the view the seed frame observed (which a memory can only keep, not invent) and the rest,
which the model generated and cannot know (the worlds are random).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim import ssim

from latentstage.model.data import DEFAULT_FOV, EVAL_SEED_BASE
from latentstage.model.metrics import DetailSum
from latentstage.model.rgb_memory import RGBPointCloudMemory
from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.memory import LatentMemory, MemoryConfig, Readout
from latentstage.runtime.pipeline import FrameStep
from latentstage.runtime.rays import FrameCamera

MEMORIES = ("none", "rgb", "latent")
#: Revisit gap buckets, frames between the two visits: [lo, hi).
GAP_BUCKETS = ((1, 30), (30, 100), (100, 300), (300, 10**9))


@dataclass(frozen=True)
class EvalCase:
    """One held-out world and trajectory."""

    seed: int  # world seed (>= EVAL_SEED_BASE)
    kind: str  # "indoor" or "outdoor"
    trajectory: str  # "loop", "orbit", "dolly" or "walk"
    frames: int  # trajectory length

    def __post_init__(self) -> None:
        """Refuse a case that cannot run (or would evaluate on a training world), by field."""
        checks = [
            ("seed", isinstance(self.seed, int) and self.seed >= EVAL_SEED_BASE,
             f"a held-out world seed, an integer >= {EVAL_SEED_BASE:,} (lower ones train)"),
            ("kind", self.kind in ("indoor", "outdoor"), "'indoor' or 'outdoor'"),
            ("trajectory", self.trajectory in ("loop", "orbit", "dolly", "walk"),
             "'loop', 'orbit', 'dolly' or 'walk'"),
            ("frames", isinstance(self.frames, int) and 8 <= self.frames <= 100_000,
             "an integer from 8 to 100,000"),
        ]
        for field, ok, expected in checks:
            if not ok:
                raise ValueError(f"case {field}: got {getattr(self, field)!r}, expected {expected}")

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.seed}-{self.trajectory}"


def builtin_suite(scale: float = 1.0) -> list[EvalCase]:
    """Held-out indoor and outdoor worlds, each with a loop (>= 300 frames), an orbit, a dolly
    and a walk (>= 1,000 frames). ``scale`` shortens everything (for smoke tests)."""
    lengths = {"loop": 300, "orbit": 120, "dolly": 120, "walk": 1000}
    cases = []
    for i, kind in enumerate(("indoor", "outdoor")):
        for traj, n in lengths.items():
            cases.append(EvalCase(EVAL_SEED_BASE + 17 + i, kind, traj, max(8, int(n * scale))))
    return cases


def revisit_pairs(c2w: np.ndarray) -> list[tuple[int, int]]:
    """(i, j): frame j returns to the pose of frame i after a detour; the earliest i per j."""
    from latentstage.model.worlds import find_revisits

    earliest: dict[int, int] = {}
    for i, j in find_revisits(c2w):
        earliest[j] = min(i, earliest.get(j, i))
    return sorted((i, j) for j, i in earliest.items())


def _db(mse: float) -> float:
    """PSNR in dB of a mean squared error of values in [0, 1] (capped at 100 dB)."""
    return 10 * math.log10(1 / max(mse, 1e-10))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [0, 1] ([3, H, W])."""
    return _db(F.mse_loss(a, b).item())


class _Conditioner:
    """The memory under test, as the frame step's :class:`~.pipeline.FrameMemory`: readout
    for the next frame, and what it keeps afterwards."""

    def __init__(self, kind: str, model, device: torch.device,
                 memory_config: MemoryConfig | None = None):
        self.kind, self.model = kind, model
        spec = model.latent_spec()
        self.stride = spec.stride
        self.latent = LatentMemory(spec, memory_config or MemoryConfig(), device)
        self.rgb = RGBPointCloudMemory(device) if kind == "rgb" else None

    def readout(self, camera: FrameCamera) -> Readout:
        if self.rgb is None:
            return self.latent.readout(camera)
        r = self.rgb.render(camera.intrinsics, camera.c2w)
        feats = self.model.encode(r.rgb[None])[0]
        cov = F.avg_pool2d(r.coverage[None, None], self.stride)[0, 0]
        depth_sum = F.avg_pool2d((r.depth * r.coverage)[None, None], self.stride)[0, 0]
        depth = torch.where(cov > 0, depth_sum / cov.clamp(min=1e-6), torch.zeros_like(cov))
        covered = (cov > 0.5).float()
        return Readout(feats * covered, depth * covered, covered, torch.zeros_like(covered))

    def write(self, latent, depth, rgb, camera: FrameCamera, sky=None, confidence=None) -> None:
        """Remember a frame: latent [C,h,w] (None for the RGB cloud), depth [h,w], rgb
        [3,H,W], optional sky [h,w] bool and write weights ``confidence`` [h,w]."""
        if self.rgb is not None:
            full_depth = F.interpolate(depth[None, None], scale_factor=self.stride,
                                       mode="nearest")[0, 0]
            if sky is not None and sky.shape == depth.shape:
                sky = F.interpolate(sky[None, None].float(), scale_factor=self.stride)[0, 0] > 0
            mask = None
            if confidence is not None:  # the latent memory's write policy, per pixel
                mask = F.interpolate(confidence[None, None], scale_factor=self.stride,
                                     mode="nearest")[0, 0] > 0
            self.rgb.write(rgb, full_depth, camera.intrinsics, camera.c2w, sky_mask=sky,
                           mask=mask)
            return
        if self.kind == "none":
            self.latent.clear()  # only the previous frame is kept
            confidence = None
        self.latent.write(latent, depth, camera, sky_mask=sky, confidence=confidence)

    def write_frame(self, latent, depth, rgb, camera: FrameCamera, confidence,
                    dynamic_mask=None) -> None:
        """The frame step's write (FrameMemory); evaluation frames have no dynamic mask."""
        self.write(latent, depth, rgb, camera, confidence=confidence)


@dataclass
class RunResult:
    """Per-frame outputs of one trajectory under one memory."""

    frames: torch.Tensor  # [N, 3, H, W] uint8 generated
    coverage: torch.Tensor  # [N, h, w] readout coverage
    psnr: list[float]  # per frame, against ground truth
    ssim: list[float]  # per frame, against ground truth
    depth_absrel: list[float]  # per frame, latent resolution, non-sky pixels
    psnr_seen: list[float | None]  # per frame, pixels the seed frame observed (None: none)
    psnr_unseen: list[float | None]  # per frame, the other pixels (None: none)
    frame_seconds: list[float]  # generation time per frame (readout, sampler, decode, write)
    # Pooled detail ratios (model.metrics) over: "all" pixels, "generated" (those the seed
    # frame did not observe) and "uncovered" (those the memory did not cover at that frame).
    detail: dict[str, DetailSum] = dataclass_field(default_factory=dict)


@torch.inference_mode()
def run_trajectory(model, case: EvalCase, memory: str, size: tuple[int, int], steps: int,
                   device: torch.device, gt: dict, seed: int = 0,
                   tick: Callable[[], None] | None = None,
                   memory_config: MemoryConfig | None = None) -> RunResult:
    """Generate ``case`` with ``memory`` ("none", "rgb" or "latent") from the seed frame."""
    k = Intrinsics.from_fov(DEFAULT_FOV, *size)
    spec = model.latent_spec()
    cond_mem = _Conditioner(memory, model, device, memory_config)
    step = FrameStep(model, cond_mem, seed=seed)
    rgb0 = gt["rgb"][0].float().to(device) / 255
    latent0 = model.encode(rgb0[None])[0]
    cond_mem.write(latent0, gt["depth"][0].to(device), rgb0,
                   FrameCamera.of(k, gt["c2w"][0], spec.stride, device),
                   sky=gt["sky"][0].to(device))
    n = len(gt["c2w"])
    out = torch.zeros(n, 3, size[1], size[0], dtype=torch.uint8)
    cov = torch.zeros(n, size[1] // spec.stride, size[0] // spec.stride)
    psnrs, ssims, absrel, frame_seconds = [], [], [], []
    seen_psnr, unseen_psnr = [], []
    detail = {key: DetailSum() for key in ("all", "generated", "uncovered")}
    for i in range(n):
        frame = step(FrameCamera.of(k, gt["c2w"][i], spec.stride, device), i, steps)
        rgb, depth, readout = frame.rgb, frame.depth, frame.readout
        frame_seconds.append(frame.timing.model)
        target = gt["rgb"][i].float().to(device) / 255
        out[i] = torch.from_numpy(frame.pixels).permute(2, 0, 1)
        cov[i] = readout.coverage.cpu()
        psnrs.append(psnr(rgb, target))
        seen = gt["seen"][i].to(device) if "seen" in gt else None
        seen_psnr.append(masked_psnr(rgb, target, seen) if seen is not None else None)
        unseen_psnr.append(masked_psnr(rgb, target, ~seen) if seen is not None else None)
        add_detail(detail, rgb, target, seen, readout.coverage)
        ssims.append(float(ssim(rgb[None], target[None], data_range=1.0, win_size=7)))
        gt_depth, sky = gt["depth"][i].to(device), gt["sky"][i].to(device)
        valid = ~sky & (gt_depth > 0)
        if valid.any():
            rel = ((depth - gt_depth).abs() / gt_depth)[valid].mean()
            absrel.append(float(rel))
        if tick is not None:
            tick()
    return RunResult(out, cov, psnrs, ssims, absrel, seen_psnr, unseen_psnr, frame_seconds,
                     detail)


def add_detail(detail: dict[str, DetailSum], rgb: torch.Tensor, target: torch.Tensor,
               seen: torch.Tensor | None, coverage: torch.Tensor) -> None:
    """Add one frame ([3, H, W] each) to the pooled detail sums of :class:`RunResult`:
    ``seen`` [H, W] bool (seed-observed pixels), ``coverage`` [h, w] readout coverage."""
    stride = rgb.shape[-1] // coverage.shape[-1]
    uncovered = F.interpolate(coverage[None, None].float(), scale_factor=stride,
                              mode="nearest")[0, 0] <= 0.5
    detail["all"].add(rgb, target)
    if seen is not None:
        detail["generated"].add(rgb, target, ~seen)
    detail["uncovered"].add(rgb, target, uncovered)


def masked_psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float | None:
    """PSNR in dB over the pixels of ``mask`` ([H, W] bool); None when it selects none."""
    n = int(mask.sum())
    if n == 0:
        return None
    return _db(((a - b) ** 2 * mask).sum().item() / (n * a.shape[0]))


def seed_coverage(gt: dict, model, size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """[N, H, W] bool: the pixels of each frame that the seed frame observed (its depth
    lifted into a memory of its own and read back at every pose, sky included)."""
    spec = model.latent_spec()
    k = Intrinsics.from_fov(DEFAULT_FOV, *size)
    h, w = size[1] // spec.stride, size[0] // spec.stride
    mem = LatentMemory(spec, MemoryConfig(), device)
    mem.write(torch.zeros(spec.channels, h, w, device=device), gt["depth"][0].to(device),
              mem.camera(k, gt["c2w"][0]), sky_mask=gt["sky"][0].to(device))
    cov = torch.stack([mem.readout(mem.camera(k, c2w)).coverage.cpu() for c2w in gt["c2w"]])
    return F.interpolate(cov[:, None], scale_factor=spec.stride, mode="nearest")[:, 0] > 0.5


def render_ground_truth(case: EvalCase, size: tuple[int, int], stride: int,
                        device: torch.device) -> dict:
    """Ground-truth frames (uint8), depth and sky at latent centres, and poses of a case."""
    from latentstage.model.worlds import make_scene, make_trajectory, render

    k = Intrinsics.from_fov(DEFAULT_FOV, *size)
    scene = make_scene(case.seed, case.kind, device=device)
    traj = make_trajectory(case.trajectory, scene, frames=case.frames, seed=case.seed)
    rgb, depth, sky = [], [], []
    for start in range(0, case.frames, 32):
        poses = traj.c2w[start : start + 32]
        full = render(scene, k, poses)
        lat = render(scene, k.latent(stride), poses)
        rgb.append((full.rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu())
        depth.append(torch.where(lat.sky, torch.zeros_like(lat.depth), lat.depth).cpu())
        sky.append(lat.sky.cpu())
    return {"rgb": torch.cat(rgb), "depth": torch.cat(depth), "sky": torch.cat(sky),
            "c2w": traj.c2w}


def revisit_errors(frames, pairs: list[tuple[int, int]]) -> list[float]:
    """MSE between the frames (uint8 [3, H, W] each) generated at each revisit pair (i, j)."""
    return [F.mse_loss(frames[j].float() / 255, frames[i].float() / 255).item()
            for i, j in pairs]


def pooled(mses: list[float]) -> float:
    """PSNR in dB of the mean of squared errors (capped at 100 dB for exact repeats)."""
    return _db(float(np.mean(mses)))


def summarise(result: RunResult, pairs: list[tuple[int, int]]) -> dict:
    """Metrics of one run: means, revisit consistency by gap bucket, fps.

    Revisit PSNR pools the squared error of all revisit pairs before taking the log (a pair
    reproduced exactly has infinite PSNR, so a mean of per-pair dB would say nothing);
    ``revisit_identical`` is the share of pairs reproduced bit for bit.
    """
    mses = revisit_errors(result.frames, pairs)
    buckets = {}
    for lo, hi in GAP_BUCKETS:
        vals = [m for m, (i, j) in zip(mses, pairs, strict=True) if lo <= j - i < hi]
        if vals:
            buckets[f"{lo}-{hi if hi < 10**9 else 'inf'}"] = {"psnr": pooled(vals),
                                                               "pairs": len(vals)}
    n = len(result.psnr)

    def at_revisits(values: list[float | None]) -> float | None:
        vals = [values[j] for _, j in pairs if values[j] is not None]
        return float(np.mean(vals)) if vals else None

    return {
        "frames": n,
        "psnr": float(np.mean(result.psnr)),
        "ssim": float(np.mean(result.ssim)),
        "depth_absrel": float(np.mean(result.depth_absrel)) if result.depth_absrel else None,
        "fps": n / seconds if (seconds := sum(result.frame_seconds)) > 0 else None,
        # The median frame resists the other jobs of a shared machine; targets compare it.
        "frame_ms_median": float(np.median(result.frame_seconds)) * 1e3 if n else None,
        "revisit_pairs": len(pairs),
        "revisit_psnr": pooled(mses) if mses else None,
        "revisit_identical": float(np.mean([m == 0 for m in mses])) if mses else None,
        "revisit_gt_psnr": float(np.mean([result.psnr[j] for _, j in pairs])) if pairs else None,
        "revisit_gt_psnr_seen": at_revisits(result.psnr_seen),
        "revisit_gt_psnr_unseen": at_revisits(result.psnr_unseen),
        "revisit_buckets": buckets,
        # High-frequency energy over ground truth's (1.0: as detailed as the world).
        "detail": result.detail["all"].ratio() if result.detail else None,
        "detail_generated": result.detail["generated"].ratio() if result.detail else None,
        "detail_uncovered": result.detail["uncovered"].ratio() if result.detail else None,
    }


def aggregate(results: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """Per memory: means over cases of the headline metrics (None-safe)."""
    agg = {}
    for mem in MEMORIES:
        rows = [case[mem] for case in results.values() if mem in case]
        agg[mem] = {}
        for key in ("psnr", "ssim", "depth_absrel", "fps", "frame_ms_median", "revisit_psnr",
                    "revisit_identical", "revisit_gt_psnr", "revisit_gt_psnr_seen",
                    "revisit_gt_psnr_unseen", "detail", "detail_generated",
                    "detail_uncovered"):
            vals = [r[key] for r in rows if r.get(key) is not None]
            agg[mem][key] = float(np.mean(vals)) if vals else None
    return agg


def targets(results: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """The issue's targets, measured on the held-out loops."""
    loops = [case for name, case in results.items() if name.endswith("-loop")]

    def mean(mem: str, key: str) -> float | None:
        vals = [c[mem][key] for c in loops if c.get(mem, {}).get(key) is not None]
        return float(np.mean(vals)) if vals else None

    lat, none, rgb = (mean(m, "revisit_psnr") for m in ("latent", "none", "rgb"))
    gt = mean("latent", "revisit_gt_psnr")
    ms_lat, ms_rgb = mean("latent", "frame_ms_median"), mean("rgb", "frame_ms_median")
    speedup = None if not ms_lat or not ms_rgb else ms_rgb / ms_lat

    def row(value, goal, ok):
        return {"value": value, "goal": goal, "met": None if value is None else bool(ok)}

    return {
        "latent_revisit_psnr_db": row(lat, ">= 28", lat is not None and lat >= 28),
        "latent_revisit_gt_psnr_db": row(gt, ">= 24", gt is not None and gt >= 24),
        "revisit_gain_over_none_db": row(
            None if lat is None or none is None else lat - none, ">= 6",
            lat is not None and none is not None and lat - none >= 6),
        "latent_minus_rgb_revisit_db": row(
            None if lat is None or rgb is None else lat - rgb, ">= -0.5 while faster",
            lat is not None and rgb is not None and lat - rgb >= -0.5
            and (speedup or 0) > 1),
        # Median frame time of the RGB memory over the latent one's (both end to end).
        "latent_speedup_over_rgb": row(speedup, "> 1", (speedup or 0) > 1),
    }


def evaluate_case(model, case: EvalCase, size: tuple[int, int], steps: int,
                  device: torch.device, out: Path, memories=MEMORIES,
                  tick: Callable[[str], None] | None = None,
                  memory_config: MemoryConfig | None = None) -> dict[str, dict]:
    """Run one case under every memory; write its plots into ``out``; return its summaries."""
    from latentstage.model.plots import coverage_image, metric_vs_frame, revisit_strip

    gt = render_ground_truth(case, size, model.latent_spec().stride, device)
    gt["seen"] = seed_coverage(gt, model, size, device)
    pairs = revisit_pairs(gt["c2w"])
    runs = {}
    for mem in memories:
        runs[mem] = run_trajectory(model, case, mem, size, steps, device, gt,
                                   tick=(lambda m=mem: tick(f"{case.name} {m}"))
                                   if tick else None, memory_config=memory_config)
    metric_vs_frame({m: r.psnr for m, r in runs.items()}, out / f"{case.name}_psnr.png",
                    f"{case.name}: PSNR against ground truth", marks=[j for _, j in pairs])
    strip = []
    for i, j in pairs[-3:]:
        for mem in memories:
            r = runs[mem]
            strip.append((f"{mem} {i}->{j}", [r.frames[i], r.frames[j], gt["rgb"][j],
                                              coverage_image(r.coverage[j], size)]))
    revisit_strip(strip, out / f"{case.name}_revisits.png")
    return {mem: summarise(run, pairs) for mem, run in runs.items()}


def build_report(model_id: str | None, cases: list[EvalCase], results: dict[str, dict],
                 size: tuple[int, int], steps: int, device: torch.device, memories,
                 jobs: int = 1, memory_config: MemoryConfig | None = None) -> dict:
    """The report of a run: per-case results in suite order, aggregates and targets."""
    from dataclasses import asdict

    results = {c.name: results[c.name] for c in cases}
    return {
        "model": model_id,
        "size": list(size),
        "sampler_steps": steps,
        "device": str(device),
        "jobs": jobs,
        "memories": list(memories),
        "memory_config": asdict(memory_config or MemoryConfig()),
        "cases": [case.__dict__ for case in cases],
        "results": results,
        "aggregate": aggregate(results),
        "targets": targets(results),
        "revisit_strip_columns": ["generated at first visit", "generated at revisit",
                                  "ground truth at revisit", "memory coverage at revisit"],
    }


def evaluate(model, cases: list[EvalCase], size: tuple[int, int], steps: int,
             device: torch.device, out, memories=MEMORIES,
             tick: Callable[[str], None] | None = None, jobs: int = 1,
             model_dir: Path | None = None, memory_config: MemoryConfig | None = None) -> dict:
    """Run every case under every memory; write ``report.json`` and plots into ``out``.

    With ``jobs`` > 1 the cases run in that many worker processes (CPU cores split between
    them, longest cases first), each loading the checkpoint at ``model_dir``. The results are
    those of a sequential run except for the timings: every frame's noise depends only on
    (seed, frame), not on the process.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if jobs > 1:
        if model_dir is None:
            raise ValueError("model_dir: the checkpoint directory the workers load, for jobs > 1")
        results = _evaluate_in_workers(Path(model_dir), cases, size, steps, device, out, jobs,
                                       tuple(memories), memory_config, tick)
    else:
        results = {case.name: evaluate_case(model, case, size, steps, device, out, memories,
                                            tick, memory_config) for case in cases}
    report = build_report(getattr(model, "model_id", None), cases, results, size, steps,
                          device, memories, jobs, memory_config)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


_WORKER: dict = {}


def _init_worker(model_dir: Path, device: str, threads: int, ticks) -> None:
    from latentstage.model.world_model import WorldModel

    torch.set_num_threads(threads)
    dev = torch.device(device)
    _WORKER.update(model=WorldModel.from_pretrained(model_dir, device=dev).eval(), device=dev,
                   ticks=ticks)


def _worker_case(case: EvalCase, size: tuple[int, int], steps: int, out: Path, memories,
                 memory_config: MemoryConfig | None) -> tuple[str, dict]:
    return case.name, evaluate_case(_WORKER["model"], case, size, steps, _WORKER["device"],
                                    out, memories, _WORKER["ticks"].put, memory_config)


def _evaluate_in_workers(model_dir: Path, cases: list[EvalCase], size: tuple[int, int],
                         steps: int, device: torch.device, out: Path, jobs: int, memories,
                         memory_config: MemoryConfig | None,
                         tick: Callable[[str], None] | None) -> dict[str, dict]:
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # torch is not fork-safe once it has threads
    threads = max(1, torch.get_num_threads() // jobs)
    results: dict[str, dict] = {}
    with ctx.Manager() as manager, ProcessPoolExecutor(
        jobs, mp_context=ctx, initializer=_init_worker,
        initargs=(model_dir, str(device), threads, ticks := manager.Queue()),
    ) as pool:
        pending = {pool.submit(_worker_case, case, size, steps, out, memories, memory_config)
                   for case in sorted(cases, key=lambda c: -c.frames)}
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                name, summary = fut.result()  # a worker's exception surfaces here
                results[name] = summary
            while True:
                try:
                    name = ticks.get_nowait()
                except queue_mod.Empty:
                    break
                if tick is not None:
                    tick(name)
    return results


@torch.inference_mode()
def autoencoder_psnr(model, frames: torch.Tensor) -> float:
    """Mean PSNR (dB) of ``decode(encode(x))`` over frames [N, 3, H, W] in [0, 1]."""
    return float(np.mean([psnr(model.decode(model.encode(f[None]))[0].clamp(0, 1), f)
                          for f in frames]))


def merge_reports(reports: list[dict]) -> dict:
    """One report from several runs of disjoint cases (e.g. run in parallel processes)."""
    merged = dict(reports[0])
    merged["cases"] = [c for r in reports for c in r["cases"]]
    merged["results"] = {k: v for r in reports for k, v in r["results"].items()}
    merged["aggregate"] = aggregate(merged["results"])
    merged["targets"] = targets(merged["results"])
    merged["merged_from"] = [r.get("command", "") for r in reports]
    return merged
