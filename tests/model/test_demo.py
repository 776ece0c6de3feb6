"""The demo, the README's main job: a short run writes its video, report and plot."""

from __future__ import annotations

import json

import av
import pytest
import torch
from typer.testing import CliRunner

from latentstage.model.demo import run_demo
from latentstage.model.world_model import WorldModel, bundled_checkpoint_dir


@pytest.fixture(scope="module")
def model() -> WorldModel:
    return WorldModel.from_pretrained(bundled_checkpoint_dir()).eval()


def test_a_short_demo_writes_video_report_and_plot(model, tmp_path):
    ticks = []
    report = run_demo(model, tmp_path, torch.device("cpu"), frames=24, tick=ticks.append)
    assert ticks[-1] == 24
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert report["model"] == model.model_id and report["world"]["frames"] == 24
    assert report["revisit_pairs"] > 0 and report["revisit_psnr"] > 20
    assert 0 <= report["revisit_identical"] <= 1 and report["fps"] > 0
    assert (tmp_path / "demo_psnr.png").stat().st_size > 0
    with av.open(str(tmp_path / "demo.mp4")) as video:
        stream = video.streams.video[0]
        frames = list(video.decode(stream))
    w, h = model.config.native_size
    assert len(frames) == 24 and (frames[0].width, frames[0].height) == (3 * w, h)


def test_demo_is_deterministic_for_a_seed(model, tmp_path):
    a = run_demo(model, tmp_path / "a", torch.device("cpu"), frames=12, seed=3)
    b = run_demo(model, tmp_path / "b", torch.device("cpu"), frames=12, seed=3)
    for key in ("psnr_vs_ground_truth", "revisit_psnr", "memory"):
        assert a[key] == b[key]


def test_demo_command_refuses_a_missing_model_naming_it(tmp_path):
    from latentstage.runtime.cli import app

    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "o"), "--frames", "8",
                                      "--model", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "missing" in "".join(result.output.replace("│", "").split())
