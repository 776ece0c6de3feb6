"""Warnings for paths whose size does not fit the units they were read in.

A camera path on a set or in a game level spans somewhere between tens of centimetres and a
few kilometres. A whole path inside a few centimetres, or thousands of kilometres long, is
almost always a unit mistake: metres read as centimetres (an Unreal path written in metres),
or centimetres or millimetres read as metres. The warning names the unit that would make the
path a plausible size and how to declare it.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from latentstage.engine_bridge.paths.model import CameraPath
from latentstage.engine_bridge.paths.units import effective_mpu

log = logging.getLogger(__name__)

MIN_SPAN_M = 0.05  # a moving path spanning less than this (bounding-box diagonal) is suspect
MIN_MOVE_M = 1e-6  # ... unless it does not move at all (a locked-off camera)
MAX_LENGTH_M = 1e6  # a path longer than this (1000 km), or this far from the origin, is suspect
_CANDIDATES = (("mm", 0.001), ("cm", 0.01), ("in", 0.0254), ("m", 1.0), ("km", 1000.0))


def check(path: CameraPath) -> list[str]:
    """Warnings about ``path``'s size in its units (also logged); an empty list if plausible."""
    if len(path.samples) < 1:
        return []
    pos = path.canonical_c2w()[:, :3, 3]  # [N, 3] metres
    span = float(np.linalg.norm(pos.max(0) - pos.min(0)))
    length = float(np.sum(np.linalg.norm(np.diff(pos, axis=0), axis=1)))
    reach = float(np.abs(pos).max())
    mpu = effective_mpu(path)
    units = path.units or f"{mpu:g} m per unit"
    out = []
    if MIN_MOVE_M < span < MIN_SPAN_M:
        out.append(f"the whole path spans {span * 100:.3g} cm read as {units}; "
                   f"{_suggest(span, mpu, larger=True)}")
    elif length > MAX_LENGTH_M or reach > MAX_LENGTH_M:
        size = max(length, reach)
        out.append(f"the path is {size / 1000:.4g} km long (or that far from the origin) read as "
                   f"{units}; {_suggest(max(span, 1e-9), mpu, larger=False)}")
    for message in out:
        log.warning("%s", message)
    return out


def _suggest(span_m: float, mpu: float, larger: bool) -> str:
    """The unit that would make a path spanning ``span_m`` (read at ``mpu``) a plausible size."""
    raw = span_m / mpu  # span in the file's own numbers
    best = None
    for name, unit_mpu in _CANDIDATES:
        if (unit_mpu > mpu) != larger or unit_mpu == mpu:
            continue
        size = raw * unit_mpu
        score = abs(math.log10(size / 10.0))  # 10 m: a typical shot
        if best is None or score < best[0]:
            best = (score, name, size)
    if best is None:
        return "check the units (declare units=... in the file or --units)"
    _, name, size = best
    return (f"if the file is in {name} it spans {size:.3g} m: declare units={name} (in the file, "
            f"or --units {name})")
