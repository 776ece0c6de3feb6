"""``latentstage bench frames`` on the CPU at tiny sizes (bench/frames.py, bench/frames_cli.py):
every configuration is recorded in the JSON with its frames and stage shares, a failing one is
recorded while the others still run, and the budget and the long walk behave. No figure is
asserted (DESIGN.md: speed is measured, never asserted by timing tests)."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from latentstage.bench import frames as fr


@pytest.fixture
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: more threads only contend on a shared CPU
    yield
    torch.set_num_threads(threads)


def _run(args: list[str]):
    from latentstage.runtime.cli import app

    return CliRunner().invoke(app, ["bench", "frames", "--device", "cpu", *args],
                              terminal_width=200)


def test_percentile_interpolates_between_ranks():
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert fr.percentile(values, 50) == pytest.approx(50.5)
    assert fr.percentile(values, 99) == pytest.approx(99.01)
    assert fr.percentile([3.0], 99) == 3.0


def test_rendered_size_is_the_next_stride_multiple():
    assert fr.rendered_size((64, 64), 8) == (64, 64)
    assert fr.rendered_size((60, 36), 8) == (64, 40)
    assert fr.rendered_size((1920, 1080), 8) == (1920, 1080)


def test_failure_names_cuda_out_of_memory_and_keeps_the_traceback():
    import torch

    try:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    except torch.cuda.OutOfMemoryError as exc:
        line, tb = fr.failure(exc)
    assert line == ("CUDA out of memory (OutOfMemoryError): CUDA out of memory. Tried to "
                    "allocate 2.00 GiB")
    assert "Traceback" in tb and "OutOfMemoryError" in tb


def test_every_config_is_recorded_and_a_failure_does_not_stop_the_run(
        tiny_checkpoint, tmp_path, monkeypatch, one_thread):
    ckpt = str(tiny_checkpoint(tmp_path / "ckpt"))
    real = fr.time_config

    def flaky(entry, size, backend, opts, say, profile=False):
        if tuple(size) == (72, 40):
            raise RuntimeError("forced failure")
        return real(entry, size, backend, opts, say, profile=profile)

    monkeypatch.setattr(fr, "time_config", flaky)
    out = tmp_path / "frames.json"
    result = _run(["--models", f"{ckpt},bundled", "--sizes", "64x64,72x40,60x36", "--frames", "4",
                   "--warmup", "1", "--backends", "eager,compile+graphs", "--long", "131",
                   "--long-size", "32x32", "--json", str(out),
                   "--profile", str(tmp_path / "profile.txt")])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["finished"] is True and data["env"]["torch"] and data["env"]["device"] == "cpu"
    assert [m["label"] for m in data["models"]] == [ckpt, "bundled"]
    assert data["models"][1]["parameters"]["total"] == sum(
        data["models"][1]["parameters"][k] for k in ("autoencoder", "generator"))
    configs = {(c["model"], tuple(c["size"]), c["backend"]): c for c in data["configs"]}
    assert len(configs) == 2 * 3 * 2
    for (model, size, backend), c in configs.items():
        if backend == "compile+graphs":  # CPU run: skipped with the reason, never attempted
            assert c["status"] == "skipped" and "CUDA" in c["note"]
        elif size == (72, 40):  # the forced failure is recorded, with its traceback
            assert c["status"] == "failed" and c["note"] == "RuntimeError: forced failure"
            assert "Traceback" in c["traceback"] and c["frames"] == 0
            assert f"FAILED {model} 72x40 eager: RuntimeError: forced failure" in result.output
        else:  # the others ran to the end
            assert c["status"] == "ok" and c["frames"] == 4 and c["steps"] == 2
            assert math.isclose(sum(c["shares"].values()), 1.0, abs_tol=1e-6)
            assert all(0.0 <= s <= 1.0 for s in c["shares"].values())
            assert 0 < c["median_ms"] <= c["p99_ms"]
            assert c["fps"] == pytest.approx(1e3 / c["median_ms"])
            assert c["shares"]["generate"] > 0 and c["shares"]["write"] > 0
            assert c["memory_points"] > 0
    assert configs[("bundled", (60, 36), "eager")]["rendered"] == [64, 40]
    assert "bundled 60x36 eager: median" in result.output
    assert "run at 64x40 (the next stride multiple)" in result.output
    # --profile: 20 more frames of the first model at the last size, eager
    assert "profiled" in configs[(ckpt, (60, 36), "eager")]["note"]
    assert "aten::" in (tmp_path / "profile.txt").read_text()
    long = data["long"]
    assert long["status"] == "ok" and long["frames"] == 131 and long["size"] == [32, 32]
    assert long["ratio"] == pytest.approx(long["late_ms"] / long["early_ms"])
    assert long["points_late"] >= long["points_early"] > 0
    assert "Long walk" in result.output


def test_budget_leaves_configs_not_run(tiny_checkpoint, tmp_path, one_thread):
    ckpt = str(tiny_checkpoint(tmp_path / "ckpt"))
    out = tmp_path / "frames.json"
    result = _run(["--models", ckpt, "--sizes", "64x64", "--backends", "eager", "--budget-s",
                   "0", "--long", "131", "--long-size", "32x32", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert [c["status"] for c in data["configs"]] == ["not run: budget"]
    assert data["long"]["status"] == "not run: budget"
    assert "not run: budget" in result.output


def test_long_walk_stops_at_its_time_limit_and_reports_the_frames_reached(
        tiny_checkpoint, tmp_path, one_thread):
    ckpt = str(tiny_checkpoint(tmp_path / "ckpt"))
    out = tmp_path / "frames.json"
    result = _run(["--models", ckpt, "--sizes", "32x32", "--frames", "2", "--warmup", "0",
                   "--long", "20000", "--long-size", "32x32", "--long-s", "3", "--json",
                   str(out)])
    assert result.exit_code == 0, result.output
    long = json.loads(out.read_text())["long"]
    assert long["status"] == f"cut: time limit at frame {long['frames']}"
    assert 131 <= long["frames"] < 20_000  # a tiny model runs far more than 131 frames in 3 s
    assert long["ratio"] == pytest.approx(long["late_ms"] / long["early_ms"])


@pytest.mark.parametrize("args, needle", [
    (["--long", "50"], "--long"),
    (["--backends", "tensorrt"], "--backends"),
    (["--sizes", "64"], "--sizes"),
    (["--profile-config", "bundled:64x64"], "--profile-config"),
])
def test_bad_options_are_usage_errors(args, needle):
    result = _run(args)
    assert result.exit_code == 2
    assert needle in result.output
