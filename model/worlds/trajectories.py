"""Camera paths through a scene, deterministic from a seed, with frame times.

Poses are camera-to-world 4x4 float64 with OpenCV camera axes (x right, y down, z forward),
world Z up, metres. Frame ``i`` is captured at ``round(i * 1e9 / fps)`` ns (exact rational
arithmetic, so 30000/1001 fps works). Every camera position keeps at least
:data:`MARGIN` metres from solids and from the scene's bounds (``Scene.clearance``).

Kinds:
- ``orbit``: one turn around a landmark, looking at it.
- ``loop``: pan away (90–180 degrees, with a small move) and come back; the last pose equals
  the first exactly, and frame ``i`` equals frame ``N-1-i``.
- ``dolly``: along the optical axis towards a landmark, to half the distance, and back.
- ``walk``: stop-and-go moves between waypoints, each with its own view, often returning to
  earlier ones (it first goes out and back), so places are revisited with the same pose.
- ``keyframes``: a cubic spline (``scipy`` ``CubicSpline``) through random keyframe
  positions, with ``Slerp`` between their orientations.

Views aim at the scene's landmarks with the pitch kept within -28..12 degrees, and
interpolated orientations are levelled (no roll: the camera's x axis stays horizontal).

``Trajectory.revisits`` lists frame pairs (i, j), i < j, whose poses agree within
:data:`REVISIT_POSITION` metres and :data:`REVISIT_ANGLE` degrees after the camera went at
least :data:`DEPART_DISTANCE` metres or :data:`DEPART_ANGLE` degrees away in between.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation, Slerp

from latentstage.model.worlds.scene import Scene
from latentstage.runtime.camera import Camera, Intrinsics, look_at
from latentstage.runtime.errors import InvalidInput

log = logging.getLogger(__name__)

KINDS = ("orbit", "loop", "dolly", "walk", "keyframes")
MARGIN = 0.35  # metres between a camera and any obstacle or the bounds
REVISIT_POSITION = 0.01  # metres
REVISIT_ANGLE = 0.5  # degrees
DEPART_DISTANCE = 0.5  # metres
DEPART_ANGLE = 20.0  # degrees
_TRIES = 300


@dataclass(frozen=True)
class Trajectory:
    """A timed camera path."""

    c2w: np.ndarray  # [N, 4, 4] float64 camera-to-world, OpenCV axes, Z-up metres
    timestamps_ns: np.ndarray  # [N] int64 capture time of each frame, from fps
    fps: Fraction  # frames per second
    kind: str  # one of KINDS
    seed: int  # seed it was made from
    revisits: list[tuple[int, int]] = field(default_factory=list)  # (i, j) near-equal poses
    target: np.ndarray | None = None  # [3] point it centres on (orbit, dolly), metres

    def __len__(self) -> int:
        return int(self.c2w.shape[0])

    @property
    def positions(self) -> np.ndarray:
        """Camera centres, [N, 3] metres."""
        return self.c2w[:, :3, 3].copy()

    def cameras(self, intrinsics: Intrinsics) -> list[Camera]:
        """One :class:`Camera` per frame."""
        return [Camera(intrinsics, m) for m in self.c2w]


def parse_fps(fps) -> Fraction:
    """``fps`` (int, float, Fraction or "30000/1001") as a positive Fraction."""
    try:
        f = Fraction(fps) if isinstance(fps, int | Fraction | str) else \
            Fraction(float(fps)).limit_denominator(1001)
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise InvalidInput("fps", fps, "a positive frame rate such as 30 or 30000/1001") from exc
    if f <= 0:
        raise InvalidInput("fps", fps, "a positive frame rate")
    return f


def timestamps(frames: int, fps: Fraction) -> np.ndarray:
    """Capture times [frames] int64 ns: frame i at i * 1e9 / fps, rounded half up."""
    num, den = fps.numerator, fps.denominator
    return np.array([(2 * i * 10**9 * den + num) // (2 * num) for i in range(frames)], np.int64)


def _angle_deg(ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Rotation angle (degrees) between rotations ``ra`` [..., 3, 3] and ``rb``."""
    tr = np.einsum("...ji,...ji->...", ra, rb)
    return np.degrees(np.arccos(np.clip((tr - 1) / 2, -1.0, 1.0)))


def find_revisits(c2w: np.ndarray, max_gap: int | None = None) -> list[tuple[int, int]]:
    """Frame pairs (i, j), i < j, with (near-)identical poses after a detour (module doc).

    ``max_gap`` bounds how many frames after ``i`` the departure is looked for.
    """
    n = len(c2w)
    if n < 2:
        return []
    pos, rot = c2w[:, :3, 3], c2w[:, :3, :3]
    depart = np.full(n, n)
    active = np.arange(n)
    for off in range(1, min(n, max_gap or n)):
        active = active[active + off < n]
        if active.size == 0:
            break
        gone = (np.linalg.norm(pos[active + off] - pos[active], axis=1) >= DEPART_DISTANCE) | (
            _angle_deg(rot[active + off], rot[active]) >= DEPART_ANGLE)
        depart[active[gone]] = active[gone] + off
        active = active[~gone]
    pairs = cKDTree(pos).query_pairs(REVISIT_POSITION, output_type="ndarray")
    if len(pairs) == 0:
        return []
    i, j = pairs.min(1), pairs.max(1)
    keep = (_angle_deg(rot[i], rot[j]) <= REVISIT_ANGLE) & (depart[i] < j)
    return sorted(zip(i[keep].tolist(), j[keep].tolist(), strict=True))


# ----- helpers ---------------------------------------------------------------------------------
def _heights(scene: Scene) -> tuple[float, float]:
    lo, hi = scene.camera_height
    return lo, max(lo, hi)


def _free(scene: Scene, points: np.ndarray, margin: float = MARGIN) -> bool:
    return bool(np.all(scene.clearance(np.asarray(points).reshape(-1, 3)) >= margin))


def _segment_free(scene: Scene, a: np.ndarray, b: np.ndarray, margin: float = MARGIN) -> bool:
    """Every point of segment ab keeps ``margin``: samples 0.1 m apart keep margin + 0.05
    (clearance is 1-Lipschitz, so points between samples lose at most 0.05 m)."""
    steps = max(2, int(np.ceil(np.linalg.norm(b - a) / 0.1)) + 1)
    return _free(scene, a + np.linspace(0, 1, steps)[:, None] * (b - a), margin + 0.05)


def _free_point(scene: Scene, rng: np.random.Generator, margin: float = MARGIN) -> np.ndarray:
    """A random camera position with at least ``margin`` metres of clearance."""
    lo, hi = scene.bounds
    z0, z1 = _heights(scene)
    for _ in range(_TRIES):
        p = np.array([rng.uniform(lo[0], hi[0]), rng.uniform(lo[1], hi[1]), rng.uniform(z0, z1)])
        if _free(scene, p, margin):
            return p
    raise RuntimeError(f"no free camera position in scene {scene.kind}/{scene.seed}")


def _visible(scene: Scene, eye: np.ndarray, target: np.ndarray) -> bool:
    """Whether the straight line from ``eye`` to ``target`` stays clear of solids (the last
    0.6 m excepted: the target sits on or in its object)."""
    length = np.linalg.norm(target - eye)
    if length < 0.7:
        return True
    s = np.linspace(0.0, (length - 0.6) / length, max(2, int(length / 0.1)))
    return _free(scene, eye + s[:, None] * (target - eye), 0.02)


def _landmark(scene: Scene, rng: np.random.Generator, eye: np.ndarray | None = None,
              min_dist: float = 1.0) -> np.ndarray:
    """A random landmark (at least ``min_dist`` from ``eye`` and in sight of it, when
    possible), else the bounds' centre."""
    marks = scene.landmarks
    if eye is not None and len(marks):
        marks = marks[np.linalg.norm(marks - eye, axis=1) >= min_dist]
        order = rng.permutation(len(marks))
        for i in order:
            if _visible(scene, eye, marks[i]):
                return marks[i].copy()
        if len(marks):
            return marks[order[0]].copy()
    if len(marks) == 0:
        c = scene.bounds.mean(0)
        c[2] = sum(_heights(scene)) / 2
        return c if eye is None or np.linalg.norm(c - eye) > 1e-3 else c + (1.0, 0, 0)
    return marks[rng.integers(len(marks))].copy()


def _level(rots: np.ndarray) -> np.ndarray:
    """Rotations [..., 3, 3] with the same viewing direction and no roll (camera x level)."""
    fwd = rots[..., :, 2]
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    norm = np.linalg.norm(right, axis=-1, keepdims=True)
    right = np.where(norm > 1e-9, right / np.maximum(norm, 1e-12), rots[..., :, 0])
    down = np.cross(fwd, right)
    return np.stack([right, down, fwd], axis=-1)


def _aim(eye: np.ndarray, target: np.ndarray, pitch_range=(-28.0, 12.0)) -> np.ndarray:
    """Rotation [3, 3] looking from ``eye`` towards ``target``, its pitch clamped (degrees)
    so that cameras do not stare at the floor or the ceiling."""
    f = target - eye
    yaw = math.atan2(f[1], f[0])
    pitch = math.degrees(math.atan2(f[2], math.hypot(f[0], f[1])))
    pitch = math.radians(float(np.clip(pitch, *pitch_range)))
    return _yaw_pitch_pose(eye, yaw, pitch)[:3, :3]


def _yaw_pitch_pose(eye: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    fwd = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw),
                    math.sin(pitch)])
    return look_at(eye, eye + fwd)


def _bump(n: int) -> np.ndarray:
    """0 at both ends, 1 in the middle, exactly symmetric: [n] in [0, 1]."""
    if n < 2:
        return np.zeros(n)
    u = np.minimum(np.arange(n), n - 1 - np.arange(n)) / (n - 1)
    return np.sin(np.pi * u) ** 2


# ----- kinds -----------------------------------------------------------------------------------
def _orbit(scene: Scene, n: int, rng: np.random.Generator, fps: Fraction):
    """One turn around a landmark at a free radius, looking at it."""
    indoor = scene.kind == "indoor"
    z0, z1 = _heights(scene)
    for attempt in range(_TRIES):
        target = _landmark(scene, rng) if attempt < _TRIES // 2 else scene.bounds.mean(0)
        shrink = 1.0 - 0.7 * attempt / _TRIES
        radius = rng.uniform(1.0, 3.5) * shrink if indoor else rng.uniform(3.0, 10.0) * shrink
        height = float(np.clip(target[2] + rng.uniform(0.2, 1.2), z0, z1))
        a0, turn = rng.uniform(0, 2 * math.pi), rng.choice([-1.0, 1.0])
        ring = a0 + turn * 2 * math.pi * np.arange(max(n, 128)) / max(n, 128)
        eye = np.stack([target[0] + radius * np.cos(ring), target[1] + radius * np.sin(ring),
                        np.full_like(ring, height)], 1)
        if _free(scene, eye):
            angles = a0 + turn * 2 * math.pi * np.arange(n) / n
            eyes = np.stack([target[0] + radius * np.cos(angles),
                             target[1] + radius * np.sin(angles), np.full(n, height)], 1)
            return np.stack([look_at(e, target) for e in eyes]), target
    raise RuntimeError(f"no free orbit in scene {scene.kind}/{scene.seed}")


def _view_depth(scene: Scene, eye: np.ndarray, yaws: np.ndarray) -> np.ndarray:
    """Horizontal distance (metres, capped at 12) from ``eye`` to the bounds along each yaw."""
    d = np.stack([np.cos(yaws), np.sin(yaws)], 1)
    lo, hi = scene.bounds[0, :2] - eye[:2], scene.bounds[1, :2] - eye[:2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(d > 0, hi / d, np.where(d < 0, lo / d, np.inf))
    return np.minimum(t.min(1), 12.0)


def _loop(scene: Scene, n: int, rng: np.random.Generator, fps: Fraction):
    """Pan away by 90-180 degrees while moving a little, then return along the same poses.

    Of a few random starts (preferably 0.85 m clear of anything) and pan directions, the one
    that looks deepest into the scene on average, with the most room around it, wins: the
    pan sweeps across the room rather than along a wall or past a plant.
    """
    best, best_score = None, -1.0
    for attempt in range(8):
        try:  # prefer starts well away from furniture
            p0 = _free_point(scene, rng, MARGIN + (0.5 if attempt < 6 else 0.2))
        except RuntimeError:
            p0 = _free_point(scene, rng, MARGIN + 0.2)
        aim = _landmark(scene, rng, p0, 1.5) - p0
        yaw0 = math.atan2(aim[1], aim[0])
        amp = rng.uniform(90, 180) * math.pi / 180 * rng.choice([-1.0, 1.0])
        score = _view_depth(scene, p0, yaw0 + amp * np.linspace(0, 1, 16)).mean() + 2 * min(
            float(scene.clearance(p0[None])[0]), 1.5)
        if score > best_score:
            best, best_score = (p0, yaw0, amp), score
    p0, yaw0, amp = best
    pitch0 = rng.uniform(-15, 5) * math.pi / 180
    move = np.zeros(3)
    for _ in range(50):
        a = rng.uniform(0, 2 * math.pi)
        cand = np.array([math.cos(a), math.sin(a), rng.uniform(-0.15, 0.15)]) * rng.uniform(
            0.3, 1.5 if scene.kind == "indoor" else 4.0)
        if _segment_free(scene, p0, p0 + cand):
            move = cand
            break
    tilt = rng.uniform(-10, 10) * math.pi / 180
    k = _bump(n)
    poses = [_yaw_pitch_pose(p0 + b * move, yaw0 + amp * b, pitch0 + tilt * b) for b in k]
    return np.stack(poses), None


def _dolly(scene: Scene, n: int, rng: np.random.Generator, fps: Fraction):
    """Towards a landmark along the optical axis to half the distance, and back."""
    z0, z1 = _heights(scene)
    for _ in range(_TRIES):
        target = _landmark(scene, rng)
        dist = rng.uniform(2.5, 5.0) if scene.kind == "indoor" else rng.uniform(6.0, 14.0)
        a = rng.uniform(0, 2 * math.pi)
        eye = np.array([target[0] - dist * math.cos(a), target[1] - dist * math.sin(a),
                        rng.uniform(z0, z1)])
        fwd = target - eye
        length = np.linalg.norm(fwd)
        if length < 1.0:
            continue
        fwd /= length
        near = eye + fwd * length / 2
        if _segment_free(scene, eye, near):
            pose = look_at(eye, target)
            poses = np.repeat(pose[None], n, axis=0)
            poses[:, :3, 3] = eye + _bump(n)[:, None] * (near - eye)
            return poses, target
    raise RuntimeError(f"no free dolly in scene {scene.kind}/{scene.seed}")


def _segment(pa: np.ndarray, ra: np.ndarray, pb: np.ndarray, rb: np.ndarray, m: int
             ) -> list[np.ndarray]:
    """``m`` poses from (pa, ra) towards (pb, rb), eased in and out; the first is exact."""
    s = np.arange(m) / m
    e = s * s * (3 - 2 * s)
    rots = _level(Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([ra, rb])))(e).as_matrix())
    rots[0] = ra
    out = []
    for k in range(m):
        pose = np.eye(4)
        pose[:3, :3] = rots[k]
        pose[:3, 3] = pa if k == 0 else pa + e[k] * (pb - pa)
        out.append(pose)
    return out


def _waypoints(scene: Scene, rng: np.random.Generator, count: int):
    """Free waypoints, each joined by a free straight line to an earlier one, and their
    views (looking at a landmark). Returns positions [K, 3], rotations [K, 3, 3] and a
    function giving the waypoints joined to waypoint i by a free straight line."""
    pts = [_free_point(scene, rng, MARGIN + 0.15)]
    for _ in range(_TRIES):
        if len(pts) == count:
            break
        p = _free_point(scene, rng, MARGIN + 0.15)
        if any(_segment_free(scene, q, p) for q in pts):
            pts.append(p)
    pts = np.stack(pts)
    rots = np.stack([_aim(p, _landmark(scene, rng, p, 1.5)) for p in pts])
    rows: dict[int, np.ndarray] = {}

    def linked(i: int) -> np.ndarray:
        if i not in rows:
            rows[i] = np.array([j for j in range(len(pts))
                                if j != i and _segment_free(scene, pts[i], pts[j])], int)
        return rows[i]

    return pts, rots, linked


def _walk(scene: Scene, n: int, rng: np.random.Generator, fps: Fraction):
    """Stop-and-go moves between waypoints, going back to earlier ones often."""
    pts, rots, linked = _waypoints(scene, rng, int(rng.integers(6, 11)))
    speed = 1.0 if scene.kind == "indoor" else 2.5  # metres per second
    turn = 60.0  # degrees per second
    rate = float(fps)
    poses: list[np.ndarray] = []
    here, visited = 0, [0]
    while len(poses) < n:
        nbrs = linked(here)
        if nbrs.size == 0:  # an isolated waypoint: look around in place
            poses += [np.block([[rots[here], pts[here][:, None]], [np.zeros((1, 3)), 1]])] * n
            break
        back = [v for v in nbrs if v in visited]
        if len(visited) == 2 and len(back):  # first go out and back: a guaranteed revisit
            nxt = visited[0]
        elif back and rng.random() < 0.4:
            nxt = back[rng.integers(len(back))]
        else:
            nxt = nbrs[rng.integers(nbrs.size)]
        dist = np.linalg.norm(pts[nxt] - pts[here])
        ang = float(_angle_deg(rots[here], rots[nxt]))
        m = max(math.ceil(dist / speed * rate), math.ceil(ang / turn * rate),
                math.ceil(0.4 * rate), 1)
        if rng.random() < 0.3:  # linger at the waypoint
            poses += _segment(pts[here], rots[here], pts[here], rots[here],
                              math.ceil(rng.uniform(0.2, 0.8) * rate))
        poses += _segment(pts[here], rots[here], pts[nxt], rots[nxt], m)
        here = int(nxt)
        visited.append(here)
    return np.stack(poses[:n]), None


def _keyframes(scene: Scene, n: int, rng: np.random.Generator, fps: Fraction):
    """A cubic spline through random keyframe positions, Slerp between their views."""
    count = int(np.clip(1 + math.ceil(n / (2 * float(fps))), 3, 16))
    hop = (1.0, 3.0) if scene.kind == "indoor" else (3.0, 8.0)
    z0, z1 = _heights(scene)
    for _ in range(60):
        pts = [_free_point(scene, rng, MARGIN + 0.15)]
        for _ in range(40 * count):
            if len(pts) == count:
                break
            a = rng.uniform(0, 2 * math.pi)
            step = rng.uniform(*hop)
            p = pts[-1] + (step * math.cos(a), step * math.sin(a), 0.0)
            p[2] = rng.uniform(z0, z1)
            if _segment_free(scene, pts[-1], p, MARGIN + 0.15):
                pts.append(p)
        if len(pts) < count:
            continue
        pts = np.stack(pts)
        rots = Rotation.from_matrix(
            np.stack([_aim(p, _landmark(scene, rng, p, 1.5)) for p in pts]))
        if n == 1:
            return np.block([[rots[0].as_matrix(), pts[0][:, None]], [np.zeros((1, 3)), 1]])[
                None], None
        times = np.linspace(0, n - 1, count)
        spline = CubicSpline(times, pts, bc_type="clamped")
        if not _free(scene, spline(np.linspace(0, n - 1, 4 * n + 8))):
            continue
        poses = np.repeat(np.eye(4)[None], n, axis=0)
        frames = np.arange(n, dtype=np.float64)
        poses[:, :3, :3] = _level(Slerp(times, rots)(frames).as_matrix())
        poses[:, :3, 3] = spline(frames)
        return poses, None
    raise RuntimeError(f"no free keyframe path in scene {scene.kind}/{scene.seed}")


_BUILDERS = {"orbit": _orbit, "loop": _loop, "dolly": _dolly, "walk": _walk,
             "keyframes": _keyframes}


def make_trajectory(kind: str, scene: Scene, frames: int, seed: int,
                    fps: float | Fraction = 30) -> Trajectory:
    """A camera path of ``frames`` poses through ``scene``, deterministic from ``seed``.

    Args:
        kind: "orbit", "loop", "dolly", "walk" or "keyframes" (module docstring).
        scene: the scene (its bounds and free space constrain the path).
        frames: number of poses (>= 1).
        seed: non-negative integer.
        fps: frame rate (int, float or Fraction) that sets the timestamps.
    """
    if kind not in _BUILDERS:
        raise InvalidInput("kind", kind, "one of " + ", ".join(KINDS))
    if isinstance(frames, bool) or not isinstance(frames, int | np.integer) or frames < 1:
        raise InvalidInput("frames", frames, "a positive integer")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidInput("seed", seed, "a non-negative integer")
    rate = parse_fps(fps)
    rng = np.random.default_rng([int(seed), KINDS.index(kind), 0x7A1])
    c2w, target = _BUILDERS[kind](scene, int(frames), rng, rate)
    return Trajectory(c2w=np.ascontiguousarray(c2w, dtype=np.float64),
                      timestamps_ns=timestamps(int(frames), rate), fps=rate, kind=kind,
                      seed=int(seed), revisits=find_revisits(c2w), target=target)
