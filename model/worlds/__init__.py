"""Procedural worlds with ground truth: scenes, a batched torch ray caster, camera paths.

World right-handed, Z up, metres; poses camera-to-world with OpenCV camera axes (x right,
y down, z forward); depth is metric distance along the optical axis (+inf at sky).

    scene = make_scene(7, "indoor")
    traj = make_trajectory("loop", scene, frames=120, seed=7)
    out = render(scene, Intrinsics.from_fov(70, 128, 128), traj.c2w)  # rgb, depth, sky
"""

from latentstage.model.worlds.render import RenderOutput, render
from latentstage.model.worlds.scene import Scene, make_scene
from latentstage.model.worlds.trajectories import Trajectory, find_revisits, make_trajectory

__all__ = [
    "RenderOutput",
    "Scene",
    "Trajectory",
    "find_revisits",
    "make_scene",
    "make_trajectory",
    "render",
]
