"""nerfstudio and instant-ngp ``transforms.json``.

    {"camera_model": "OPENCV", "fl_x": 1072.0, "fl_y": 1068.0, "cx": 1504.0, "cy": 1000.0,
     "w": 3008, "h": 2000, "k1": 0.0, ...,
     "frames": [{"file_path": "images/frame_00001.jpg",
                 "transform_matrix": [[...4x4...]]}, ...]}

Each ``transform_matrix`` is a camera-to-world with OpenGL camera axes (x right, y up, looking
down -z) in a right-handed world that both tools orient Z up, so it is sent as the
``blender`` convention (declare ``up_axis`` y for a Y-up scene: then ``opengl``). Lengths are
scene units, metres unless ``units`` is declared.

Intrinsics ``fl_x fl_y cx cy w h`` come from the top level or from each frame (a frame's own
win); ``camera_angle_x`` (radians, the Blender synthetic scenes) stands in for ``fl_x``, and
``camera_angle_y`` for ``fl_y``. Their principal point counts pixels from the image's corner
(the first pixel's centre is 0.5), ours from the first pixel's centre, so ``cx`` and ``cy``
lose half a pixel. Distortion (``k1``... ``p2``) is not modelled: non-zero values get a
warning.
"""

from __future__ import annotations

import math

from latentstage.engine_bridge import client as C
from latentstage.engine_bridge.paths import fields as F
from latentstage.engine_bridge.paths.model import CameraPath, PathSample
from latentstage.v1 import camera_pb2 as cpb

_MARKS = ("fl_x", "fl_y", "camera_angle_x", "camera_model", "aabb_scale")
_DISTORTION = ("k1", "k2", "k3", "k4", "p1", "p2")
_LENS_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "camera_angle_y")


def is_transforms_json(data) -> bool:
    """True for a nerfstudio / instant-ngp document (intrinsics keys, or frames with a
    ``file_path`` and a ``transform_matrix`` and no declared convention)."""
    if not isinstance(data, dict) or "convention" in data:
        return False
    if any(key in data for key in _MARKS):
        return True
    frames = data.get("frames")
    return (isinstance(frames, list) and bool(frames) and isinstance(frames[0], dict)
            and "file_path" in frames[0] and "transform_matrix" in frames[0])


def _lens(d: dict, base: dict, where: str) -> tuple[cpb.Lens | None, tuple[int, int] | None]:
    """A pixel lens (or a horizontal FOV) from ``d`` completed by ``base``."""
    merged = {**base, **{k: d[k] for k in _LENS_KEYS if k in d}}
    size = None
    if "w" in merged and "h" in merged:
        size = (F.integer(merged["w"], f"{where}.w", 1, F.MAX_SIZE),
                F.integer(merged["h"], f"{where}.h", 1, F.MAX_SIZE))
    fx = F.number(merged["fl_x"], f"{where}.fl_x") if "fl_x" in merged else None
    if fx is None and "camera_angle_x" in merged:
        angle = F.number(merged["camera_angle_x"], f"{where}.camera_angle_x")
        if not 0 < angle < math.pi:
            raise ValueError(f"{where}.camera_angle_x: got {angle}, expected radians in (0, pi)")
        if size is None:
            return C.lens_fov(math.degrees(angle), "horizontal"), None
        fx = 0.5 * size[0] / math.tan(angle / 2)
    if fx is None:
        return None, size
    if size is None:
        raise ValueError(f"{where}: fl_x without w and h (the image size it was measured at)")
    fy = F.number(merged["fl_y"], f"{where}.fl_y") if "fl_y" in merged else None
    if fy is None and "camera_angle_y" in merged:
        fy = 0.5 * size[1] / math.tan(F.number(merged["camera_angle_y"],
                                               f"{where}.camera_angle_y") / 2)
    cx = F.number(merged.get("cx", size[0] / 2), f"{where}.cx") - 0.5
    cy = F.number(merged.get("cy", size[1] / 2), f"{where}.cy") - 0.5
    return C.lens_pixels((fx, fy or fx, cx, cy), *size), size


def read_transforms_json(data: dict) -> CameraPath:
    """A path (OpenGL camera axes, Z up: the blender convention) from a parsed document."""
    frames = data.get("frames")
    if not isinstance(frames, list) or not frames:
        raise ValueError("frames: expected a non-empty list of {file_path, transform_matrix}")
    base = {k: data[k] for k in _LENS_KEYS if k in data}
    lens, size = _lens({}, base, "transforms")
    fps = F.rate(F.first(data, "fps", "frame_rate"))
    samples = []
    for i, fr in enumerate(frames):
        where = f"frames[{i}]"
        if not isinstance(fr, dict) or "transform_matrix" not in fr:
            raise ValueError(f"{where}.transform_matrix: missing (expected a 4x4 "
                             "camera-to-world, OpenGL camera axes)")
        m = F.matrix(fr["transform_matrix"], f"{where}.transform_matrix", (4, 4))
        own = lens
        if any(k in fr for k in _LENS_KEYS):
            own, own_size = _lens(fr, base, where)
            size = size or own_size
        t = F.seconds(fr["time"], f"{where}.time") if "time" in fr else (
            i / fps if fps else None)
        samples.append(PathSample(i, t, m[:3, 3], C.rotation(matrix=m[:3, :3]), own))
    cam = CameraPath("blender", samples, size, fps, source_format="nerfstudio")
    if any(abs(F.number(data.get(k, 0), k)) > 0 for k in _DISTORTION if k in data):
        cam.warnings.append("lens distortion (k1..p2) is not modelled: frames are rendered "
                            "with the pinhole part only")
    return cam
