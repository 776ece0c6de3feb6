"""``latentstage bench serve`` runs end to end (figures are recorded, never asserted)."""

from __future__ import annotations

from typer.testing import CliRunner

from latentstage.bench.serve import orbit
from latentstage.runtime.camera import validate_pose


def test_orbit_is_valid_canonical_poses():
    poses = orbit(12)
    assert poses.shape == (12, 4, 4)
    for p in poses:
        validate_pose(p)


def test_bench_serve_prints_grpc_against_in_process(tiny_checkpoint, tmp_path):
    from latentstage.runtime.cli import app

    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    result = CliRunner().invoke(app, ["bench", "serve", "--size", "64x64", "--frames", "5",
                                      "--warmup", "1", "--model", str(ckpt), "--device", "cpu",
                                      "--plot", str(tmp_path / "serve.png")],
                                terminal_width=200)
    assert result.exit_code == 0, result.output
    for needle in ("64x64 raw", "64x64 jpeg", "in-process", "gRPC w1", "gRPC w2", "overhead"):
        assert needle in result.output
    from PIL import Image

    with Image.open(tmp_path / "serve.png") as png:  # --plot: the per-frame curves (issue 13)
        assert png.format == "PNG" and png.size == (800, 450)
