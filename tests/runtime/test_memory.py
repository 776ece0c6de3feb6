"""Latent spatial memory, tested on procedural worlds with ground truth.

The "latent" in these tests is the RGB render average-pooled with stride 8 (3 channels), and
depth is the ground-truth depth rendered at the latent pixel centres, so that readouts can be
compared with ground truth pooled the same way.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from support import permuted_copy

from latentstage.model.worlds import make_scene, make_trajectory, render
from latentstage.runtime.camera import Intrinsics, look_at
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.memory import LatentMemory, LatentSpec, MemoryConfig
from latentstage.runtime.rays import FrameCamera

STRIDE = 8
SPEC = LatentSpec(channels=3, stride=STRIDE)
K128 = Intrinsics.from_fov(70, 128, 128)


def latent_frame(scene, k: Intrinsics, c2w: np.ndarray):
    """(pooled rgb [3,h,w], depth at latent pixel centres [h,w], sky [h,w]) for one pose."""
    full = render(scene, k, c2w)
    pooled = torch.nn.functional.avg_pool2d(full.rgb, STRIDE)[0]
    lat = render(scene, k.latent(STRIDE), c2w)
    return pooled, lat.depth[0], lat.sky[0]


def psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    mse = ((a - b) ** 2).mean(dim=0)[mask].mean().item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


@pytest.fixture(scope="module")
def lowfreq_scene():
    return make_scene(3, "indoor", low_frequency=True)


@pytest.fixture(scope="module")
def orbit(lowfreq_scene):
    return make_trajectory("orbit", lowfreq_scene, frames=120, seed=3)


def write_views(memory: LatentMemory, scene, poses, k=K128):
    for c2w in poses:
        lat, depth, sky = latent_frame(scene, k, c2w)
        memory.write(lat, depth, memory.camera(k, c2w), sky_mask=sky)


def rotate_pose(c2w: np.ndarray, degrees: float) -> np.ndarray:
    out = c2w.copy()
    out[:3, :3] = c2w[:3, :3] @ Rotation.from_euler("y", degrees, degrees=True).as_matrix()
    return out


def test_geometry_matches_ground_truth_and_detects_errors():
    """Readout at held-out views matches pooled ground truth; deliberate errors score lower.

    A low-frequency indoor world at 256x256 (32x32 latents), 7 views written 3° apart on an
    orbit, 6 held-out views 1.5° from the nearest written one. The deliberate errors are a
    half-latent-pixel shift of the principal point and a 1° rotation of the pose.
    """
    k = Intrinsics.from_fov(60, 256, 256)
    scene = make_scene(4, "indoor", low_frequency=True)
    orbit = make_trajectory("orbit", scene, frames=240, seed=4)
    frames = {i: latent_frame(scene, k, orbit.c2w[i]) for i in range(13)}
    memory = LatentMemory(SPEC, MemoryConfig(capacity=100_000))
    for i in range(0, 13, 2):
        lat, depth, sky = frames[i]
        memory.write(lat, depth, memory.camera(k, orbit.c2w[i]), sky_mask=sky)
    k_shift = Intrinsics(k.fx, k.fy, k.cx + STRIDE / 2, k.cy, 256, 256)
    good, shifted, rotated = [], [], []
    for i in range(1, 13, 2):
        gt, c2w = frames[i][0], orbit.c2w[i]
        for scores, read_k, pose in ((good, k, c2w), (shifted, k_shift, c2w),
                                     (rotated, k, rotate_pose(c2w, 1.0))):
            out = memory.readout(memory.camera(read_k, pose))
            covered = out.coverage > 0
            assert covered.float().mean() > 0.9
            scores.append(psnr(out.features, gt, covered))
    mean_good = float(np.mean(good))
    print(f"geometry PSNR {mean_good:.2f} dB; half-pixel shift {np.mean(shifted):.2f} dB; "
          f"1° rotation {np.mean(rotated):.2f} dB")
    assert mean_good >= 30.0
    assert np.mean(shifted) <= mean_good - 3.0
    assert np.mean(rotated) <= mean_good - 3.0


def test_dolly_in_leaves_no_pinholes(lowfreq_scene):
    """After a 2x dolly-in, coverage of surfaces seen before is >= 0.98."""
    traj = make_trajectory("dolly", lowfreq_scene, frames=60, seed=5)
    far_pose = traj.c2w[0]
    memory = LatentMemory(SPEC, MemoryConfig(capacity=100_000))
    write_views(memory, lowfreq_scene, [far_pose])
    _, far_depth, _ = latent_frame(lowfreq_scene, K128, far_pose)
    # Move along the optical axis by half the median depth: surfaces end up about 2x closer.
    step = 0.5 * float(far_depth[torch.isfinite(far_depth)].median())
    near_pose = far_pose.copy()
    near_pose[:3, 3] += step * far_pose[:3, 2]
    _, near_depth, _ = latent_frame(lowfreq_scene, K128, near_pose)
    visible = _seen_from(near_pose, near_depth, far_pose, far_depth, K128.latent(STRIDE))
    assert visible.float().mean() > 0.5, "the test pose must see mostly known surfaces"
    out = memory.readout(memory.camera(K128, near_pose))
    coverage = out.coverage[visible].mean().item()
    print(f"2x dolly-in coverage of previously seen surfaces: {coverage:.4f}")
    assert coverage >= 0.98


def _seen_from(pose_b, depth_b, pose_a, depth_a, k: Intrinsics) -> torch.Tensor:
    """[h,w] bool: latent pixels of view B whose surface point is visible in view A."""
    from latentstage.runtime.rays import pixel_rays

    origin, dirs = pixel_rays(k, pose_b)
    pts = origin + depth_b[..., None].clamp(max=1e6) * dirs
    w2c = torch.as_tensor(np.linalg.inv(pose_a), dtype=torch.float32)
    cam = pts @ w2c[:3, :3].T + w2c[:3, 3]
    z = cam[..., 2]
    u = torch.round(k.fx * cam[..., 0] / z + k.cx).long()
    v = torch.round(k.fy * cam[..., 1] / z + k.cy).long()
    inside = (z > 0) & (u >= 0) & (u < k.width) & (v >= 0) & (v < k.height)
    inside &= torch.isfinite(depth_b)
    za = torch.zeros_like(z)
    za[inside] = depth_a[v[inside], u[inside]]
    return inside & ((za - z).abs() < 0.05 * z)


def test_revisit_is_identical_after_other_writes(lowfreq_scene):
    """The start view reads the same after 2,000 writes elsewhere (within capacity)."""
    loop = make_trajectory("loop", lowfreq_scene, frames=40, seed=1)
    memory = LatentMemory(SPEC, MemoryConfig(capacity=800_000))
    write_views(memory, lowfreq_scene, [loop.c2w[0]])
    before = memory.readout(memory.camera(K128, loop.c2w[0]))
    frames = [latent_frame(lowfreq_scene, K128, c2w) for c2w in loop.c2w[:20]]
    behind = -400.0 * loop.c2w[0][:3, 2]  # far behind the start camera: never visible from it
    for n in range(2000):
        lat, depth, sky = frames[n % len(frames)]
        pose = loop.c2w[n % len(frames)].copy()
        pose[:3, 3] += behind + np.array([0.0, 0.0, 3.0 * (n // len(frames))])
        memory.write(lat, depth, memory.camera(K128, pose), sky_mask=sky)
    assert memory.stats().evictions == 0
    after = memory.readout(memory.camera(K128, loop.c2w[0]))
    for name in ("features", "depth", "coverage", "sky"):
        assert torch.equal(getattr(before, name), getattr(after, name)), name


def test_bounded_growth_on_repeated_orbit(lowfreq_scene):
    orbit = make_trajectory("orbit", lowfreq_scene, frames=24, seed=2)
    frames = [latent_frame(lowfreq_scene, K128, c2w) for c2w in orbit.c2w]
    memory = LatentMemory(SPEC, MemoryConfig(capacity=200_000))
    counts = []
    for _ in range(10):
        for (lat, depth, sky), c2w in zip(frames, orbit.c2w, strict=True):
            memory.write(lat, depth, memory.camera(K128, c2w), sky_mask=sky)
        counts.append(len(memory))
    assert abs(counts[-1] - counts[0]) <= 0.01 * counts[0]
    assert memory.stats().last_write.new <= 0.01 * memory.stats().last_write.fused


def _wall_frame(distance: float, h: int = 16, w: int = 16):
    """A fronto-parallel wall at ``distance`` metres: latent features and depth."""
    return torch.randn(3, h, w), torch.full((h, w), distance)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_capacity_is_bounded_and_memory_flat():
    cap = 3000
    memory = LatentMemory(SPEC, MemoryConfig(capacity=cap))
    lat, depth = _wall_frame(2.0)
    rss, inserted = [], 0
    for n in range(20_000):
        pose = look_at([0.0, 0.3 * n, 0.0], [2.0, 0.3 * n, 0.0])  # always new ground
        inserted += memory.write(lat, depth, memory.camera(K128, pose)).new
        assert len(memory) <= cap
        if n in (2_000, 19_999):
            rss.append(_rss_bytes())
    stats = memory.stats()
    assert stats.points <= cap
    assert stats.evictions > 0
    assert stats.evictions == inserted - stats.points  # every eviction is counted
    assert rss[1] - rss[0] < 16 * 2**20, f"RSS grew by {(rss[1] - rss[0]) / 2**20:.1f} MiB"


def test_eviction_prefers_old_and_unconfident_entries():
    memory = LatentMemory(SPEC, MemoryConfig(capacity=600, evict_fraction=0.01))
    lat, depth = _wall_frame(2.0)
    old = look_at([0.0, 0.0, 0.0], [2.0, 0.0, 0.0])
    memory.write(lat, depth, memory.camera(K128, old))  # 256 points
    for _ in range(3):  # reinforce: high confidence
        memory.write(lat, depth, memory.camera(K128, old))
    for n in range(1, 4):  # 3 x 256 new points: 1024 > 600, evictions needed
        far = look_at([0.0, 10.0 * n, 0.0], [2.0, 10.0 * n, 0.0])
        memory.write(lat, depth, memory.camera(K128, far))
    assert memory.stats().evictions > 0
    # The reinforced first wall survives; the middle (once-seen, older) wall went first.
    assert memory.readout(memory.camera(K128, old)).coverage.mean() == 1.0
    mid = memory.readout(memory.camera(K128, look_at([0.0, 10.0, 0.0], [2.0, 10.0, 0.0])))
    assert mid.coverage.mean() < 1.0


def test_readout_is_deterministic_and_storage_order_invariant(lowfreq_scene, orbit):
    memory = LatentMemory(SPEC, MemoryConfig(capacity=50_000))
    write_views(memory, lowfreq_scene, orbit.c2w[0:30:5])
    pose = orbit.c2w[7]
    ref = memory.readout(memory.camera(K128, pose))
    again = memory.readout(memory.camera(K128, pose))
    assert ref.coverage.sum() > 0
    for seed in range(3):
        permuted = permuted_copy(memory, seed).readout(memory.camera(K128, pose))
        for name in ("features", "depth", "coverage", "sky"):
            assert torch.equal(getattr(ref, name), getattr(again, name))
            assert torch.equal(getattr(ref, name), getattr(permuted, name)), name


def test_sky_goes_to_environment_latent():
    scene = make_scene(11, "outdoor")
    traj = make_trajectory("orbit", scene, frames=8, seed=11)
    memory = LatentMemory(SPEC, MemoryConfig(capacity=50_000))
    lat, depth, sky = latent_frame(scene, K128, traj.c2w[0])
    assert sky.any(), "the outdoor test view must show sky"
    stats = memory.write(lat, depth, memory.camera(K128, traj.c2w[0]), sky_mask=sky)
    assert stats.sky == int(sky.sum())
    out = memory.readout(memory.camera(K128, traj.c2w[0]))
    flagged = out.sky.bool()
    assert not (flagged & ~sky).any()  # never sky where the ground truth is not
    # At the horizon, far ground splats may cover a few sky pixels (they are in front).
    assert flagged[sky].float().mean() >= 0.9
    assert out.coverage[sky].min() == 1.0
    err = (out.features - lat).abs().mean(dim=0)[flagged].mean()
    assert err < 0.05  # bilinear environment lookup of a smooth sky


def test_dynamic_mask_is_never_written():
    memory = LatentMemory(SPEC)
    lat, depth = _wall_frame(2.0)
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[:, :8] = True
    camera = memory.camera(K128, look_at([0, 0, 0], [2, 0, 0]))
    stats = memory.write(lat, depth, camera, dynamic_mask=mask)
    assert stats.masked == 128
    out = memory.readout(memory.camera(K128, look_at([0, 0, 0], [2, 0, 0])))
    assert out.coverage[:, :7].sum() == 0 and out.coverage[:, 9:].min() == 1
    # An image-resolution mask excludes every token whose 8x8 block touches it.
    full = torch.zeros(128, 128, dtype=torch.bool)
    full[0, 0] = True
    fresh = LatentMemory(SPEC)
    camera = fresh.camera(K128, look_at([0, 0, 0], [2, 0, 0]))
    assert fresh.write(lat, depth, camera, dynamic_mask=full).masked == 1


def test_fusion_averages_and_confident_disagreement_replaces():
    memory = LatentMemory(SPEC, MemoryConfig(replace_rms=1.0))
    pose = look_at([0, 0, 0], [2, 0, 0])
    depth = torch.full((16, 16), 2.0)
    a = torch.zeros(3, 16, 16)
    memory.write(a, depth, memory.camera(K128, pose))
    memory.write(a + 0.3, depth, memory.camera(K128, pose))
    fused = memory.readout(memory.camera(K128, pose)).features
    # Features are stored in float16 (docs/memory.md, "Record"): 0.15 to its precision.
    assert torch.equal(fused, torch.full_like(fused, 0.15).half().float())
    memory.write(a + 5.0, depth, memory.camera(K128, pose))  # strong disagreement: an edit
    stats = memory.stats().last_write
    assert stats.replaced == stats.fused > 0
    assert torch.allclose(memory.readout(memory.camera(K128, pose)).features, a + 5.0)


@pytest.mark.parametrize(
    "wall_conf, front_conf, ratio, front_wins",
    [
        (1.0, 0.25, 0.5, False),  # generated in front of an observation: the observation shows
        (1.0, 1.0, 0.5, True),  # two observations: plain occlusion
        (0.25, 0.25, 0.5, True),  # two generations: plain occlusion
        (0.25, 1.0, 0.5, True),  # an observation in front of generated content
        (1.0, 0.25, 0.0, True),  # yield_ratio 0: trust is ignored
    ],
)
def test_generated_content_never_hides_an_observation(wall_conf, front_conf, ratio, front_wins):
    """A generated point's depth is a guess: where it lies in front of a surface that was
    observed, it contradicts the observation and must not hide it when the camera returns."""
    memory = LatentMemory(SPEC, MemoryConfig(yield_ratio=ratio))
    pose = look_at([0, 0, 0], [2, 0, 0])
    wall = torch.full((16, 16), 4.0)
    memory.write(torch.zeros(3, 16, 16), wall, memory.camera(K128, pose),
                 confidence=torch.full((16, 16), wall_conf))
    front = torch.zeros(16, 16)  # 0 = unknown: not written
    front[4:12, 4:12] = 2.0
    side = look_at([0, 0.3, 0], [2, 0, 0])  # written from elsewhere, like a detour
    memory.write(torch.ones(3, 16, 16), front, memory.camera(K128, side),
                 confidence=torch.full((16, 16), front_conf))
    out = memory.readout(memory.camera(K128, pose))
    shown = out.features[0][out.depth < 3.0].numel() > 0
    assert shown == front_wins
    assert out.coverage.min() == 1  # the wall is everywhere behind
    if not front_wins:
        assert torch.equal(out.features, torch.zeros(3, 16, 16))
        assert torch.allclose(out.depth, wall)


def test_crop_and_clear():
    memory = LatentMemory(SPEC)
    lat, depth = _wall_frame(2.0)
    memory.write(lat, depth, memory.camera(K128, look_at([0, 0, 0], [2, 0, 0])))
    n = len(memory)
    removed = memory.crop([1.0, -10, -10], [3.0, 0.0, 10])  # the half of the wall at y <= 0
    assert 0 < removed < n and len(memory) == n - removed
    memory.clear()
    assert len(memory) == 0 and memory.stats().writes == 0
    assert memory.readout(memory.camera(K128, look_at([0, 0, 0], [2, 0, 0]))).coverage.sum() == 0


@pytest.mark.parametrize(
    "latent, depth, field",
    [
        (torch.zeros(4, 16, 16), torch.ones(16, 16), "latent.channels"),
        (torch.zeros(3, 16, 16), torch.ones(16, 15), "depth"),
        (torch.zeros(3, 16, 16), torch.full((16, 16), float("nan")), "depth"),
        (torch.zeros(3, 16, 16), torch.full((16, 16), -1.0), "depth"),
        (torch.zeros(3, 8, 8), torch.ones(8, 8), "latent"),  # not the camera's latent grid
        (torch.zeros(16, 16), torch.ones(16, 16), "latent"),
    ],
)
def test_bad_input_is_rejected_with_the_field(latent, depth, field):
    memory = LatentMemory(SPEC)
    with pytest.raises(InvalidInput) as err:
        memory.write(latent, depth, memory.camera(K128, look_at([0, 0, 0], [2, 0, 0])))
    assert err.value.field == field
    assert len(memory) == 0


def test_readout_rejects_a_camera_of_another_stride():
    camera = FrameCamera.of(K128, look_at([0, 0, 0], [2, 0, 0]), SPEC.stride * 2)
    with pytest.raises(InvalidInput, match="camera.stride"):
        LatentMemory(SPEC).readout(camera)


def test_a_camera_needs_an_image_on_the_stride_grid():
    with pytest.raises(InvalidInput, match="intrinsics.size"):
        LatentMemory(SPEC).camera(Intrinsics.from_fov(60, 130, 128), look_at([0, 0, 0], [2, 0, 0]))


@pytest.mark.parametrize(
    "field, value",
    [("capacity", 0), ("voxel_base", float("nan")), ("far", 0.01), ("yield_ratio", 1.5),
     ("yield_ratio", -0.1)],
)
def test_bad_memory_config_names_the_field(field, value):
    with pytest.raises(InvalidInput, match=f"memory.{field}"):
        MemoryConfig(**{field: value})


def test_points_are_the_stored_positions(lowfreq_scene):
    """``points()`` lists every stored point once, in metres."""
    memory = LatentMemory(SPEC)
    poses = make_trajectory("orbit", lowfreq_scene, frames=8, seed=1).c2w[:2]
    write_views(memory, lowfreq_scene, poses)
    pts = memory.points()
    assert pts.shape == (len(memory), 3) and pts.dtype == torch.float32
    assert torch.isfinite(pts).all() and len(torch.unique(pts, dim=0)) == len(memory)
