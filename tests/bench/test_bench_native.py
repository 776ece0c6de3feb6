"""``latentstage bench native`` runs end to end (figures are recorded, never asserted).

It needs the bench binary (``make native-build``, or ``LATENTSTAGE_NATIVE_BUILD`` naming the
CMake build directory); without it the run is skipped, except in CI (``CI=true``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from latentstage.bench.native import REPO, _orbit_c2w
from latentstage.runtime.camera import validate_pose


def test_orbit_is_valid_canonical_poses():
    for i in (0, 7, 120):
        pose = _orbit_c2w(i)
        validate_pose(pose)
        # the camera looks along +X rotated by 0.05 i radians, level (z forward has no Z)
        np.testing.assert_allclose(pose[:3, 2], [np.cos(0.05 * i), np.sin(0.05 * i), 0],
                                   atol=1e-12)


def test_bench_native_prints_the_three_clients():
    from latentstage.runtime.cli import app

    build = Path(os.environ.get("LATENTSTAGE_NATIVE_BUILD", REPO / "build" / "native"))
    if not (build / "tests" / "native" / "latentstage_bench").is_file():
        message = f"{build}: no latentstage_bench; run `make native-build`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    result = CliRunner().invoke(app, ["bench", "native", "--sizes", "64x48", "--frames", "5",
                                      "--warmup", "2", "--rounds", "1", "--build-dir",
                                      str(build)], terminal_width=200)
    assert result.exit_code == 0, result.output
    for needle in ("64x48", "bare C++", "native", "Python", "wire+client", "copied/frame"):
        assert needle in result.output
