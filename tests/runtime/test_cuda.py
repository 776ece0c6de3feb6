"""The CUDA paths against the CPU: skipped without a CUDA device (CI has none).

Run on a GPU by ``tools/gpu/session.sh`` (docs/benchmarks.md, "GPU"). Each check is written as
a function of the device and also runs here on the CPU against itself, so a CUDA run tests
the same code that CI keeps green.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import permuted_copy

from latentstage.model.worlds import make_scene, make_trajectory, render
from latentstage.runtime.backends import load_backend
from latentstage.runtime.camera import Intrinsics
from latentstage.runtime.memory import LatentMemory, LatentSpec, MemoryConfig
from latentstage.runtime.pipeline import FrameStep, seed_memory

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
K = Intrinsics.from_fov(70, 128, 128)
SPEC = LatentSpec(channels=3, stride=8)


@pytest.fixture
def fp32():
    """TF32 off, so CUDA convolutions and matmuls are fp32 like the CPU's."""
    conv, mm = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, mm


def _scene_and_poses():
    scene = make_scene(3, "indoor")
    return scene, make_trajectory("orbit", scene, frames=60, seed=3).c2w


def _filled_memory(device: str) -> LatentMemory:
    """A memory of six views of a world, written on ``device`` (pooled RGB as the latent)."""
    scene, poses = _scene_and_poses()
    memory = LatentMemory(SPEC, MemoryConfig(capacity=50_000), device)
    for c2w in poses[0:30:5]:
        full = render(scene, K, c2w)
        lat = render(scene, K.latent(8), c2w)
        pooled = torch.nn.functional.avg_pool2d(full.rgb, 8)[0]
        memory.write(pooled.to(device), lat.depth[0].to(device), memory.camera(K, c2w),
                     sky_mask=lat.sky[0].to(device))
    return memory


def check_readout_is_bit_identical_across_runs_and_storage_orders(device: str) -> None:
    memory = _filled_memory(device)
    _, poses = _scene_and_poses()
    for pose in poses[7:60:13]:
        ref = memory.readout(memory.camera(K, pose))
        assert ref.coverage.sum() > 0
        again = memory.readout(memory.camera(K, pose))
        for seed in range(3):
            permuted = permuted_copy(memory, seed).readout(memory.camera(K, pose))
            for name in ("features", "depth", "coverage", "sky"):
                assert torch.equal(getattr(ref, name), getattr(again, name)), name
                assert torch.equal(getattr(ref, name), getattr(permuted, name)), name


def check_readout_matches_the_cpu(device: str) -> None:
    """The same writes on ``device`` and on the CPU read out alike: coverage on the same
    latent pixels (at most 1% differ, at footprint edges where rounding decides), and
    features and depth within 1e-4 where both cover."""
    gpu, cpu = _filled_memory(device), _filled_memory("cpu")
    _, poses = _scene_and_poses()
    for pose in poses[7:60:13]:
        a = gpu.readout(gpu.camera(K, pose))
        b = cpu.readout(cpu.camera(K, pose))
        ca, cb = a.coverage.cpu() > 0, b.coverage.cpu() > 0
        assert (ca != cb).float().mean() <= 0.01
        both = ca & cb
        assert torch.allclose(a.features.cpu()[:, both], b.features[:, both], atol=1e-4)
        assert torch.allclose(a.depth.cpu()[both], b.depth[both], rtol=1e-4, atol=1e-4)


def check_renderer_matches_the_cpu(device: str) -> None:
    scene_gpu, scene_cpu = make_scene(5, "outdoor", device=device), make_scene(5, "outdoor")
    c2w = make_trajectory("walk", scene_cpu, frames=8, seed=5).c2w[3]
    a, b = render(scene_gpu, K, c2w), render(scene_cpu, K, c2w)
    assert torch.equal(a.sky.cpu(), b.sky)
    assert (a.rgb.cpu() - b.rgb).abs().max() <= 1e-3
    hit = ~b.sky
    assert torch.allclose(a.depth.cpu()[hit], b.depth[hit], rtol=1e-4)


def check_bundled_model_matches_the_cpu(device: str) -> None:
    """The bundled networks on ``device`` against the CPU on the same inputs, and a memory-only
    frame (readout then decode) of the frame step. Noise is drawn on the frame's device, so a
    generated frame is compared network by network, not pixel by pixel."""
    gpu, cpu = load_backend("torch", "bundled", device), load_backend("torch", "bundled", "cpu")
    gen = torch.Generator().manual_seed(0)
    c = cpu.latent_spec().channels
    x, t = torch.randn(1, c, 16, 16, generator=gen), torch.tensor([0.7])
    cond = torch.randn(1, c + 9, 16, 16, generator=gen)
    for got, ref in zip(gpu.denoise(x.to(device), t.to(device), cond.to(device)),
                        cpu.denoise(x, t, cond), strict=True):
        assert (got.cpu() - ref).norm() / ref.norm() <= 1e-4
    rgb = torch.rand(3, 128, 128, generator=gen)
    assert (gpu.encode(rgb[None].to(device)).cpu() - cpu.encode(rgb[None])).abs().max() <= 1e-4
    frames = []
    for backend, dev in ((gpu, device), (cpu, "cpu")):
        memory = LatentMemory(backend.latent_spec(), MemoryConfig(capacity=8192), dev)
        _, poses = _scene_and_poses()
        seed_memory(backend, memory, rgb.to(dev), torch.full((16, 16), 3.0, device=dev),
                    memory.camera(K, poses[0]))
        frames.append(FrameStep(backend, memory, seed=1)(memory.camera(K, poses[2]), 0,
                                                          steps=0).pixels)
    diff = np.abs(frames[0].astype(int) - frames[1].astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() <= 0.01  # at most rounding of the uint8


@pytest.mark.parametrize("check", [
    check_readout_is_bit_identical_across_runs_and_storage_orders,
    check_readout_matches_the_cpu,
    check_renderer_matches_the_cpu,
    check_bundled_model_matches_the_cpu,
])
@pytest.mark.parametrize("device", [pytest.param("cuda", marks=CUDA), "cpu"])
def test_device_paths(check, device, fp32):
    """On CUDA the real check; on the CPU the same code against itself (keeps it green)."""
    check(device)
