"""USD camera paths: read one ``UsdGeom.Camera``, write a path back as one.

Needs the optional extra ``usd`` (``pip install 'latentstage[usd]'``, which installs
``usd-core``); :mod:`pxr` is imported only when a USD file is read or written.

Reading: the camera is chosen by prim path, or is the stage's only camera. Frames are the
stage's time codes from ``startTimeCode`` to ``endTimeCode``, one per frame
(``timeCodesPerSecond / framesPerSecond`` apart) when the stage authors that range, else the
union of the time samples of the camera's transform (and its ancestors') and lens; a camera
with none is one frame. Per frame: the world transform from ``ComputeLocalToWorldTransform``
(scale and shear are removed: a pose is a rotation and a position), ``focalLength``, the
apertures and their offsets (tenths of a scene unit: only their ratios matter), and
``clippingRange``. The stage's ``upAxis`` and ``metersPerUnit`` go on the wire as
``Open.stage`` with the ``usd`` convention; ``timeCodesPerSecond`` turns time codes into
seconds, and each sample keeps its time code.

Writing: a stage (Z up and metres unless asked otherwise) with ``/World/Camera``, a
time-sampled ``xformOp:transform`` and the lens (time-sampled when it changes), at the
samples' time codes (their own, else ``time_s * timeCodesPerSecond``, else one per frame).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from latentstage.engine_bridge import client as C
from latentstage.engine_bridge.paths.model import CameraPath, PathSample
from latentstage.runtime import conventions as cv
from latentstage.runtime import translate
from latentstage.runtime.camera import DEFAULT_BOUNDS
from latentstage.runtime.errors import InvalidInput

log = logging.getLogger(__name__)

EXTRA = "pip install 'latentstage[usd]' (the usd-core package)"
_LENS_ATTRS = ("focalLength", "horizontalAperture", "verticalAperture",
               "horizontalApertureOffset", "verticalApertureOffset", "clippingRange")


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra."""


def pxr():
    """``(Usd, UsdGeom, Gf)``, or :class:`MissingExtra` naming the extra to install."""
    try:
        from pxr import Gf, Usd, UsdGeom
    except ImportError:
        raise MissingExtra(f"USD camera paths need the optional extra: {EXTRA}") from None
    return Usd, UsdGeom, Gf


def _choose_camera(stage, prim_path: str | None, file) -> object:
    Usd, UsdGeom, _ = pxr()
    if prim_path:
        prim = stage.GetPrimAtPath(prim_path)
        if not prim or not prim.IsA(UsdGeom.Camera):
            raise ValueError(f"{file}: camera {prim_path!r}: no UsdGeom.Camera at that prim path"
                             f" (cameras: {_names(stage) or 'none'})")
        return prim
    cams = [p for p in stage.Traverse() if p.IsA(UsdGeom.Camera)]
    if not cams:
        raise ValueError(f"{file}: no UsdGeom.Camera on the stage")
    if len(cams) > 1:
        raise ValueError(f"{file}: {len(cams)} cameras ({_names(stage)}); choose one with "
                         "--camera PRIM_PATH")
    return cams[0]


def _names(stage) -> str:
    _, UsdGeom, _ = pxr()
    return ", ".join(str(p.GetPath()) for p in stage.Traverse() if p.IsA(UsdGeom.Camera))


def _time_codes(stage, prim) -> list:
    """The time codes to read, in order (see the module docstring)."""
    Usd, UsdGeom, _ = pxr()
    if stage.HasAuthoredTimeCodeRange():
        start, end = stage.GetStartTimeCode(), stage.GetEndTimeCode()
        step = stage.GetTimeCodesPerSecond() / (stage.GetFramesPerSecond() or 24.0)
        count = int(np.floor((end - start) / step + 1e-9)) + 1
        return [start + i * step for i in range(max(count, 1))]
    times: set[float] = set()
    p = prim
    while p and not p.IsPseudoRoot():
        xf = UsdGeom.Xformable(p)
        if xf:
            times.update(xf.GetTimeSamples())
        p = p.GetParent()
    for name in _LENS_ATTRS:
        attr = prim.GetAttribute(name)
        if attr:
            times.update(attr.GetTimeSamples())
    return sorted(times) or [None]


def _rigid(m: np.ndarray, where: str, notes: list[str]) -> np.ndarray:
    """The rotation [3, 3] nearest ``m`` [3, 3] (scale and shear removed), noted once."""
    u, _, vt = np.linalg.svd(m)
    rot = u @ vt
    if np.linalg.det(rot) < 0:
        raise ValueError(f"{where}: the camera's world transform mirrors (negative scale), "
                         "expected a rotation")
    if not notes and not np.allclose(rot, m, atol=1e-6):
        notes.append(f"{where}: the camera's world transform has scale or shear; it was "
                     "removed (a camera pose is a rotation and a position)")
    return rot


def read_usd(file: str | Path, prim_path: str | None = None) -> CameraPath:
    """A path in the ``usd`` convention (stage up axis and metres per unit) from a USD file."""
    Usd, UsdGeom, _ = pxr()
    try:
        stage = Usd.Stage.Open(str(file))
    except Exception as exc:  # pxr raises Tf.ErrorException for unreadable layers
        raise ValueError(f"{file}: not a readable USD stage ({str(exc).strip()[:200]})") from None
    if stage is None:
        raise ValueError(f"{file}: not a readable USD stage")
    prim = _choose_camera(stage, prim_path, file)
    camera = UsdGeom.Camera(prim)
    xformable = UsdGeom.Xformable(prim)
    tcps = stage.GetTimeCodesPerSecond()
    codes = _time_codes(stage, prim)
    t0 = codes[0] if codes[0] is not None else 0.0
    samples: list[PathSample] = []
    notes: list[str] = []
    near_far = None
    for i, code in enumerate(codes):
        tc = Usd.TimeCode.Default() if code is None else Usd.TimeCode(code)
        where = f"{prim.GetPath()} at time code {code if code is not None else 'default'}"
        m = np.array(xformable.ComputeLocalToWorldTransform(tc), dtype=np.float64).T  # [4, 4]
        if not np.all(np.isfinite(m)):
            raise ValueError(f"{file}: {where}: the world transform is not finite")
        gcam = camera.GetCamera(tc)
        if gcam.projection != gcam.Perspective:
            raise ValueError(f"{file}: {where}: projection is orthographic, expected perspective")
        lens = C.lens_physical(gcam.focalLength, gcam.horizontalAperture, gcam.verticalAperture,
                               gcam.horizontalApertureOffset, gcam.verticalApertureOffset)
        rng = gcam.clippingRange
        near_far = near_far or (rng.GetMin(), rng.GetMax())
        try:
            rot = _rigid(m[:3, :3], where, notes)
        except ValueError as exc:
            raise ValueError(f"{file}: {exc}") from None
        samples.append(PathSample(i, (0.0 if code is None else (code - t0) / tcps), m[:3, 3],
                                  C.rotation(matrix=rot), lens, time_code=code))
    mpu = UsdGeom.GetStageMetersPerUnit(stage)
    up = str(UsdGeom.GetStageUpAxis(stage)).lower()
    h_ap, v_ap = samples[0].lens.physical.sensor_width_mm, samples[0].lens.physical.sensor_height_mm
    height = max(8, int(round(256 * v_ap / h_ap / 8)) * 8) if h_ap > 0 and v_ap > 0 else 256
    path = CameraPath("usd", samples, (256, height), stage.GetFramesPerSecond() or None,
                      meters_per_unit=mpu, up_axis=up, units=f"{mpu:g} m per unit (USD stage)",
                      clipping_range=(near_far[0] * mpu, near_far[1] * mpu),
                      time_codes_per_second=tcps, source_format="usd")
    path.warnings.extend(notes)
    path.world = _world(stage)
    return path


def _world(stage) -> dict | None:
    """The procedural world a layer written by :func:`write_usd` names, if any."""
    data = stage.GetRootLayer().customLayerData.get("latentstage", {}).get("world")
    if not isinstance(data, dict) or not isinstance(data.get("seed"), int) or data["seed"] < 0:
        return None
    kind = data.get("kind", "outdoor")
    return {"seed": data["seed"], "kind": kind if kind in ("indoor", "outdoor") else "outdoor"}


def _usd_codes(path: CameraPath, tcps: float, fps: float) -> list[float]:
    codes = []
    for i, s in enumerate(path.samples):
        if s.time_code is not None:
            codes.append(float(s.time_code))
        elif s.time_s is not None:
            codes.append(s.time_s * tcps)
        else:
            codes.append(i * tcps / fps)
    if any(b <= a for a, b in zip(codes, codes[1:], strict=False)):
        raise ValueError("time codes: the samples' times do not increase; expected one time per "
                         "frame, in order")
    return codes


def write_usd(path: CameraPath, file: str | Path, *, size: tuple[int, int] | None = None,
              up_axis: str = "z", meters_per_unit: float = 1.0, camera: str = "/World/Camera",
              fps: float | None = None, lens=None, horizontal_aperture: float = 20.955) -> Path:
    """Write ``path`` as a USD camera with a time-sampled transform and lens; returns the file.

    ``size`` (W, H) is the image the lens is measured on (default: the path's, else 256x256);
    ``lens`` (a Lens) stands in for samples without one (default: 60 degrees horizontal);
    ``horizontal_aperture`` (tenths of a scene unit) fixes the lens's unit (USD's fallback
    20.955). ``path.world`` ({"seed", "kind"}) is kept in the layer's customLayerData.
    """
    Usd, UsdGeom, Gf = pxr()
    file = Path(file)
    fps = fps or path.fps or 24.0
    tcps = path.time_codes_per_second or fps
    codes = _usd_codes(path, tcps, fps)
    width, height = size or path.size or (256, 256)
    conv = cv.Convention(path.convention or "opencv")
    c2ws = path.canonical_c2w()  # [N, 4, 4]
    stage = Usd.Stage.CreateInMemory()
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z if up_axis.lower() == "z" else UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, meters_per_unit)
    stage.SetTimeCodesPerSecond(tcps)
    stage.SetFramesPerSecond(fps)
    stage.SetStartTimeCode(codes[0])
    stage.SetEndTimeCode(codes[-1])
    world = UsdGeom.Xform.Define(stage, "/" + camera.strip("/").split("/")[0])
    stage.SetDefaultPrim(world.GetPrim())
    cam = UsdGeom.Camera.Define(stage, camera)
    op = cam.AddTransformOp()
    default = lens or C.lens_fov(60.0, "horizontal")
    attrs = []
    for i, (s, c2w, code) in enumerate(zip(path.samples, c2ws, codes, strict=True)):
        local = cv.canonical_to_usd(c2w, up_axis, meters_per_unit)  # [4, 4] column vectors
        op.Set(Gf.Matrix4d(local.T.tolist()), Usd.TimeCode(code))
        try:
            k = translate.lens_to_intrinsics(s.lens or default, conv, width, height,
                                             f"frames[{i}].lens", DEFAULT_BOUNDS)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None
        attrs.append({name: value + 0.0 for name, value in
                      cv.usd_camera_attributes(k, horizontal_aperture).items()})
    for name in attrs[0]:
        values = [a[name] for a in attrs]
        attr = cam.GetPrim().GetAttribute(name)
        if max(values) - min(values) <= 1e-9 * max(1.0, abs(values[0])):
            attr.Set(float(values[0]))
        else:
            for v, code in zip(values, codes, strict=True):
                attr.Set(float(v), Usd.TimeCode(code))
    if path.clipping_range is not None:
        near, far = (v / meters_per_unit for v in path.clipping_range)
        cam.GetClippingRangeAttr().Set(Gf.Vec2f(near, far))
    from pxr import Vt

    stage.GetRootLayer().customLayerData = {"latentstage": {
        "source": path.source_format or "generated",
        "frameIds": Vt.Int64Array([int(s.frame_id) for s in path.samples]),
        "timeCodes": Vt.DoubleArray(codes), "imageSize": Vt.IntArray([width, height]),
        **({"world": {"seed": int(path.world["seed"]), "kind": str(path.world["kind"])}}
           if path.world else {})}}
    file.parent.mkdir(parents=True, exist_ok=True)
    stage.GetRootLayer().Export(str(file))
    return file
