"""The RGB point-cloud baseline: it must be a faithful prior-art memory, or comparisons lie."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentstage.model.rgb_memory import RGBPointCloudMemory
from latentstage.model.worlds import make_scene, make_trajectory, render
from latentstage.runtime.camera import Intrinsics

K = Intrinsics.from_fov(70, 96, 64)


@pytest.fixture(scope="module")
def views():
    scene = make_scene(3, "indoor")
    traj = make_trajectory("orbit", scene, frames=40, seed=3)
    return [(render(scene, K, c2w), c2w) for c2w in traj.c2w[[0, 2]]]


def _write(mem: RGBPointCloudMemory, view, mask=None) -> int:
    frame, c2w = view
    return mem.write(frame.rgb[0], frame.depth[0], K, c2w, sky_mask=frame.sky[0], mask=mask)


def test_render_at_the_written_pose_gives_the_frame_back(views):
    mem = RGBPointCloudMemory()
    added = _write(mem, views[0])
    frame, c2w = views[0]
    assert added == len(mem) == int((~frame.sky[0] & (frame.depth[0] > 0)).sum())
    out = mem.render(K, c2w)
    hit = out.coverage > 0
    assert hit.float().mean() > 0.9  # one point per pixel lands back on (nearly) every pixel
    assert torch.allclose(out.rgb[:, hit], frame.rgb[0][:, hit], atol=1e-6)
    assert torch.allclose(out.depth[hit], frame.depth[0][hit], rtol=1e-4)


def test_the_cloud_only_appends_and_the_mask_limits_what_is_written(views):
    mem = RGBPointCloudMemory()
    _write(mem, views[0])
    n = len(mem)
    assert _write(mem, views[0]) == n and len(mem) == 2 * n  # never merged: the prior art
    mask = torch.zeros(K.height, K.width, dtype=torch.bool)
    mask[:, : K.width // 2] = True
    masked = RGBPointCloudMemory()
    added = _write(masked, views[1], mask=mask)
    frame = views[1][0]
    assert added == int((mask & ~frame.sky[0] & (frame.depth[0] > 0)).sum()) < n
    assert masked.bytes == added * 6 * 4


def test_render_is_deterministic_and_nearest_point_wins(views):
    mem = RGBPointCloudMemory()
    for view in views:
        _write(mem, view)
    a = mem.render(K, views[1][1])
    b = mem.render(K, views[1][1])
    assert torch.equal(a.rgb, b.rgb) and torch.equal(a.depth, b.depth)
    # A red wall 0.3 m in front of the camera hides everything behind it.
    c2w = views[1][1]
    wall = torch.full((K.height, K.width), 0.3)
    red = torch.zeros(3, K.height, K.width)
    red[0] = 1
    mem.write(red, wall, K, c2w)
    out = mem.render(K, c2w)
    hit = out.coverage > 0
    assert torch.all(out.rgb[0, hit] == 1) and torch.all(out.depth[hit] <= 0.3 + 1e-4)


@pytest.mark.parametrize("field", ["depth", "sky_mask", "mask"])
def test_wrong_shapes_are_refused_naming_the_field(views, field):
    frame, c2w = views[0]
    args = {"rgb": frame.rgb[0], "depth": frame.depth[0], "sky_mask": frame.sky[0],
            "mask": torch.ones(K.height, K.width, dtype=torch.bool)}
    args[field] = args[field][:-1]
    with pytest.raises(ValueError, match=field):
        RGBPointCloudMemory().write(args["rgb"], args["depth"], K, np.asarray(c2w),
                                    sky_mask=args["sky_mask"], mask=args["mask"])
