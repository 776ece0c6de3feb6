"""Evaluation helpers: where the seed frame was seen, masked PSNR, and the RGB baseline's policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentstage.model.data import EVAL_SEED_BASE
from latentstage.model.eval import (
    EvalCase,
    masked_psnr,
    render_ground_truth,
    revisit_pairs,
    run_trajectory,
    seed_coverage,
    summarise,
)
from latentstage.model.world_model import WorldModel

SIZE = (64, 64)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model() -> WorldModel:
    torch.manual_seed(0)
    return WorldModel.create(native_size=SIZE).eval()


@pytest.fixture(scope="module")
def loop(model):
    case = EvalCase(EVAL_SEED_BASE + 5, "indoor", "loop", 24)
    gt = render_ground_truth(case, SIZE, 8, CPU)
    gt["seen"] = seed_coverage(gt, model, SIZE, CPU)
    return case, gt


def test_masked_psnr_counts_only_the_mask():
    a, b = torch.zeros(3, 4, 4), torch.zeros(3, 4, 4)
    b[:, :, 2:] = 1.0  # wrong on the right half only
    left = torch.zeros(4, 4, dtype=torch.bool)
    left[:, :2] = True
    assert masked_psnr(a, b, left) == pytest.approx(100.0)  # capped at mse 1e-10
    assert masked_psnr(a, b, ~left) == pytest.approx(0.0)
    assert masked_psnr(a, b, torch.zeros(4, 4, dtype=torch.bool)) is None


def test_seed_coverage_is_the_seed_view_and_shrinks_when_the_camera_pans_away(loop):
    _, gt = loop
    seen = gt["seen"].float().mean(dim=(1, 2))
    assert gt["seen"].shape == (24, *SIZE[::-1])
    assert seen[0] > 0.95
    assert seen.min() < 0.8 * seen[0]  # the loop leaves the seed view
    for _, j in revisit_pairs(gt["c2w"]):
        assert 0 <= seen[j] <= 1


@pytest.mark.parametrize("memory", ["none", "rgb", "latent"])
def test_summary_splits_revisit_psnr_into_seen_and_generated_pixels(model, loop, memory):
    case, gt = loop
    pairs = revisit_pairs(gt["c2w"])
    run = run_trajectory(model, case, memory, SIZE, 1, CPU, gt)
    row = summarise(run, pairs)
    assert len(run.psnr_seen) == len(run.psnr_unseen) == case.frames
    assert run.psnr_seen[0] is not None
    assert row["revisit_gt_psnr_seen"] is not None
    # Whole-frame PSNR lies between the PSNRs of its two parts (an MSE-weighted mean).
    j = pairs[-1][1]
    parts = [p for p in (run.psnr_seen[j], run.psnr_unseen[j]) if p is not None]
    assert min(parts) - 1e-6 <= run.psnr[j] <= max(parts) + 1e-6


def test_rgb_baseline_gets_the_latent_memory_write_policy(model, loop):
    """Both memories write back only what they did not already cover, so a static view adds
    (almost) nothing to the RGB cloud: the comparison is between memories, not policies."""
    from latentstage.model.data import DEFAULT_FOV
    from latentstage.model.eval import _Conditioner
    from latentstage.runtime.camera import Intrinsics
    from latentstage.runtime.conditioning import write_confidence
    from latentstage.runtime.rays import FrameCamera

    _, gt = loop
    k = Intrinsics.from_fov(DEFAULT_FOV, *SIZE)
    cond = _Conditioner("rgb", model, CPU)
    camera = FrameCamera.of(k, gt["c2w"][0], cond.stride)
    rgb0 = gt["rgb"][0].float() / 255
    cond.write(None, gt["depth"][0], rgb0, camera, sky=gt["sky"][0])
    first = len(cond.rgb)
    readout = cond.readout(camera)
    cond.write(None, gt["depth"][0], rgb0, camera, sky=gt["sky"][0],
               confidence=write_confidence(readout, 1.0))
    assert len(cond.rgb) - first < 0.1 * first


def _without_timings(results: dict) -> dict:
    timings = ("fps", "frame_ms_median")
    return {case: {mem: {k: v for k, v in row.items() if k not in timings}
                   for mem, row in mems.items()}
            for case, mems in results.items()}


def test_parallel_evaluation_matches_a_sequential_one(model, tmp_path):
    """Worker processes give the same numbers (bar timings) and the suite's case order."""
    from latentstage.model.eval import evaluate

    model.save_pretrained(tmp_path / "ckpt")
    cases = [EvalCase(EVAL_SEED_BASE + 5, "indoor", "loop", 12),
             EvalCase(EVAL_SEED_BASE + 6, "outdoor", "orbit", 16)]
    ticks = []
    seq = evaluate(model, cases, SIZE, 1, CPU, tmp_path / "seq", memories=("none", "latent"))
    par = evaluate(model, cases, SIZE, 1, CPU, tmp_path / "par", memories=("none", "latent"),
                   tick=ticks.append, jobs=2, model_dir=tmp_path / "ckpt")
    assert list(par["results"]) == [c.name for c in cases]
    assert _without_timings(par["results"]) == _without_timings(seq["results"])
    assert len(ticks) == 2 * (12 + 16)
    assert {p.name for p in (tmp_path / "par").iterdir()} == {
        p.name for p in (tmp_path / "seq").iterdir()}


def test_revisit_psnr_pools_the_error_so_exact_repeats_do_not_inflate_it():
    from latentstage.model.eval import RunResult

    frames = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    frames[3] = 51  # frame 3 differs from frame 1 by 0.2 everywhere: 13.98 dB
    run = RunResult(frames, torch.zeros(4, 1, 1), [20.0] * 4, [0.5] * 4, [], [None] * 4,
                    [None] * 4, [0.25] * 4)
    row = summarise(run, [(0, 2), (1, 3)])  # (0, 2) is reproduced bit for bit
    assert row["revisit_identical"] == 0.5
    assert row["revisit_psnr"] == pytest.approx(10 * np.log10(1 / (0.2**2 / 2)), abs=1e-3)
    assert row["revisit_buckets"] == {"1-30": {"psnr": row["revisit_psnr"], "pairs": 2}}
    assert row["frame_ms_median"] == pytest.approx(250.0)


def test_eval_command_writes_the_report_and_plots(tmp_path):
    import json

    from typer.testing import CliRunner

    from latentstage.runtime.cli import app

    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps([{"seed": EVAL_SEED_BASE + 5, "kind": "indoor",
                                  "trajectory": "loop", "frames": 10}]))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "--suite", str(suite), "--out", str(out),
                                      "--device", "cpu", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["command"].startswith("latentstage ")  # the command line, for the card
    assert set(report["aggregate"]) == {"none", "rgb", "latent"}
    assert report["targets"]["latent_revisit_psnr_db"]["value"] is not None
    for mem in ("none", "rgb", "latent"):  # the detail measure, next to PSNR and SSIM
        row = report["aggregate"][mem]
        assert 0 < row["detail"] < 3 and 0 <= row["detail_generated"] < 3
    assert {"indoor-1000005-loop_psnr.png", "indoor-1000005-loop_revisits.png"} <= {
        p.name for p in out.iterdir()}
    assert "latent_revisit_psnr_db" in result.output


def _case(**change) -> str:
    import json

    case = {"seed": EVAL_SEED_BASE, "kind": "indoor", "trajectory": "loop", "frames": 20}
    return json.dumps([{**case, **change}])


@pytest.mark.parametrize("content, named", [
    ("not json", "--suite"), ('[{"seed": 1}]', "--suite"), ('{"seed": 1}', "--suite"),
    ("[]", "no cases"), (_case(seed=5), "case seed"), (_case(kind="cave"), "case kind"),
    (_case(trajectory="spin"), "case trajectory"), (_case(frames=2), "case frames"),
])
def test_eval_command_names_a_bad_suite_file(tmp_path, content, named):
    from typer.testing import CliRunner

    from latentstage.runtime.cli import app

    suite = tmp_path / "suite.json"
    suite.write_text(content)
    result = CliRunner().invoke(app, ["eval", "--suite", str(suite), "--out", str(tmp_path)],
                                terminal_width=200)
    assert result.exit_code == 2
    text = "".join(result.output.replace("│", "").split())  # rich's panel wraps anywhere
    assert "--suite" in text and named.replace(" ", "") in text


def test_eval_command_runs_ablations_but_never_records_them_in_the_card(tmp_path):
    import json

    from typer.testing import CliRunner

    from latentstage.runtime.cli import app

    suite = tmp_path / "suite.json"
    suite.write_text(_case(frames=8))
    args = ["eval", "--suite", str(suite), "--out", str(tmp_path / "o"), "--yield-ratio", "0",
            "--jobs", "1"]
    refused = CliRunner().invoke(app, [*args, "--update-card"])
    assert refused.exit_code == 2
    assert "--yield-ratio" in "".join(refused.output.replace("│", "").split())
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["memory_config"]["yield_ratio"] == 0
