"""Camera paths through procedural worlds: determinism, timing, shape of each kind, free space."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from latentstage.model.worlds import find_revisits, make_scene, make_trajectory
from latentstage.model.worlds.trajectories import (
    KINDS,
    MARGIN,
    REVISIT_ANGLE,
    REVISIT_POSITION,
    parse_fps,
    timestamps,
)
from latentstage.runtime.camera import validate_pose
from latentstage.runtime.errors import InvalidInput


@pytest.fixture(scope="module")
def scenes():
    return {k: make_scene(2, k) for k in ("indoor", "outdoor")}


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1))))


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_path_other_seed_other_path(scenes, kind):
    scene = scenes["indoor"]
    a = make_trajectory(kind, scene, 60, seed=4)
    b = make_trajectory(kind, scene, 60, seed=4)
    c = make_trajectory(kind, scene, 60, seed=5)
    assert np.array_equal(a.c2w, b.c2w) and a.revisits == b.revisits
    assert not np.allclose(a.c2w, c.c2w)
    assert a.c2w.shape == (60, 4, 4) and a.c2w.dtype == np.float64
    for m in a.c2w:
        validate_pose(m)


@pytest.mark.parametrize("world", ["indoor", "outdoor"])
@pytest.mark.parametrize("kind", KINDS)
def test_cameras_stay_in_free_space(world, kind):
    for seed in (0, 1, 6):
        scene = make_scene(seed, world)
        traj = make_trajectory(kind, scene, 90, seed=seed)
        clearance = scene.clearance(traj.positions)
        assert clearance.min() >= MARGIN - 1e-9, (seed, clearance.min())
        assert scene.is_free(traj.positions, MARGIN).all()


def test_timestamps_follow_the_frame_rate(scenes):
    traj = make_trajectory("orbit", scenes["outdoor"], 5, seed=0, fps=Fraction(30000, 1001))
    assert traj.fps == Fraction(30000, 1001)
    assert traj.timestamps_ns.dtype == np.int64
    assert traj.timestamps_ns.tolist() == [0, 33366667, 66733333, 100100000, 133466667]
    assert np.all(np.diff(timestamps(1000, Fraction(24))) > 0)
    assert timestamps(3, parse_fps(25.0)).tolist() == [0, 40_000_000, 80_000_000]
    assert parse_fps("30000/1001") == Fraction(30000, 1001)
    assert parse_fps(29.97) == Fraction(2997, 100)
    with pytest.raises(InvalidInput, match="fps"):
        parse_fps(0)


def test_loop_returns_to_its_start_exactly(scenes):
    traj = make_trajectory("loop", scenes["indoor"], 61, seed=3)
    assert np.array_equal(traj.c2w[0], traj.c2w[-1])
    assert np.array_equal(traj.c2w[10], traj.c2w[50])  # the way back retraces the way out
    assert (0, 60) in traj.revisits and (10, 50) in traj.revisits
    assert _angle_deg(traj.c2w[0, :3, :3], traj.c2w[30, :3, :3]) >= 60  # it did pan away


def test_walk_returns_to_earlier_places(scenes):
    for world, scene in scenes.items():
        traj = make_trajectory("walk", scene, 400, seed=1)
        assert len(traj.revisits) >= 5, world
        for i, j in traj.revisits:
            assert i < j
            assert np.linalg.norm(traj.c2w[i, :3, 3] - traj.c2w[j, :3, 3]) <= REVISIT_POSITION
            assert _angle_deg(traj.c2w[i, :3, :3], traj.c2w[j, :3, :3]) <= REVISIT_ANGLE + 1e-6
        i, j = traj.revisits[len(traj.revisits) // 2]
        gone = np.linalg.norm(traj.c2w[i:j, :3, 3] - traj.c2w[i, :3, 3], axis=1).max()
        turned = max(_angle_deg(traj.c2w[i, :3, :3], m[:3, :3]) for m in traj.c2w[i:j])
        assert gone >= 0.5 or turned >= 20  # a real detour between the two visits


def test_orbit_circles_its_target_looking_at_it(scenes):
    traj = make_trajectory("orbit", scenes["outdoor"], 36, seed=2)
    offsets = traj.positions - traj.target
    radius = np.linalg.norm(offsets[:, :2], axis=1)
    assert np.allclose(radius, radius[0])
    forward = traj.c2w[:, :3, 2]
    to_target = -offsets / np.linalg.norm(offsets, axis=1, keepdims=True)
    assert np.allclose(forward, to_target, atol=1e-9)
    heading = np.unwrap(np.arctan2(offsets[:, 1], offsets[:, 0]))
    assert abs(heading[-1] - heading[0]) == pytest.approx(2 * np.pi * 35 / 36)


def test_dolly_moves_along_the_optical_axis_to_half_the_distance(scenes):
    traj = make_trajectory("dolly", scenes["indoor"], 41, seed=0)
    dist = np.linalg.norm(traj.positions - traj.target, axis=1)
    assert dist[20] == pytest.approx(dist[0] / 2)
    assert np.array_equal(traj.c2w[0], traj.c2w[-1])
    assert np.allclose(traj.c2w[:, :3, :3], traj.c2w[0, :3, :3])  # orientation fixed
    moves = traj.positions[1:] - traj.positions[:-1]
    axis = traj.c2w[0, :3, 2]
    assert np.allclose(np.cross(moves, axis), 0, atol=1e-9)


def test_keyframes_path_is_smooth(scenes):
    traj = make_trajectory("keyframes", scenes["outdoor"], 120, seed=0)
    step = np.linalg.norm(np.diff(traj.positions, axis=0), axis=1)
    accel = np.linalg.norm(np.diff(traj.positions, n=2, axis=0), axis=1)
    assert step.max() < 1.0 and accel.max() < 0.1 * max(step.max(), 1e-6) + 1e-3
    turn = [_angle_deg(a[:3, :3], b[:3, :3]) for a, b in zip(traj.c2w[:-1], traj.c2w[1:],
                                                              strict=True)]
    assert max(turn) < 10


def test_find_revisits_needs_a_detour():
    still = np.repeat(np.eye(4)[None], 50, axis=0)
    assert find_revisits(still) == []  # never left: no revisit
    out_and_back = still.copy()
    out_and_back[:, 0, 3] = np.concatenate([np.linspace(0, 2, 25), np.linspace(2, 0, 25)])
    pairs = find_revisits(out_and_back)
    assert (0, 49) in pairs and all(j - i > 1 for i, j in pairs)


def test_bad_arguments_are_named(scenes):
    with pytest.raises(InvalidInput, match="kind"):
        make_trajectory("spiral", scenes["indoor"], 10, seed=0)
    with pytest.raises(InvalidInput, match="frames"):
        make_trajectory("loop", scenes["indoor"], 0, seed=0)
    with pytest.raises(InvalidInput, match="seed"):
        make_trajectory("loop", scenes["indoor"], 10, seed=-3)
