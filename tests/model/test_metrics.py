"""The detail measure, the natural-photo loader and the selection rule (model.metrics)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from latentstage.model.metrics import (
    Candidate,
    DetailSum,
    choose,
    detail_ratio,
    gradient_energy,
    load_natural_photos,
)


def _image() -> torch.Tensor:
    """A [3, 64, 64] image with edges and texture: stripes, a square and a colour ramp."""
    y, x = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    stripes = 0.5 + 0.4 * torch.sin(x / 2.0)
    square = ((x > 20) & (x < 44) & (y > 20) & (y < 44)).float()
    return torch.stack([stripes, square * 0.8 + 0.1, y / 63]).clamp(0, 1)


def _blur(img: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(img[None], 5, stride=1, padding=2, count_include_pad=False)[0]


def test_the_image_itself_scores_one():
    img = _image()
    assert detail_ratio(img, img) == pytest.approx(1.0)


def test_a_blurred_image_scores_below_one_and_more_blur_scores_lower():
    img = _image()
    once, twice = _blur(img), _blur(_blur(img))
    assert detail_ratio(once, img) < 0.6
    assert detail_ratio(twice, img) < detail_ratio(once, img)


def test_noise_scores_above_one():
    img = _image()
    noisy = (img + 0.1 * torch.randn(img.shape, generator=torch.Generator().manual_seed(0)))
    assert detail_ratio(noisy.clamp(0, 1), img) > 1.5


def test_a_flat_frame_scores_zero_and_a_flat_target_has_no_ratio():
    img = _image()
    flat = torch.full_like(img, 0.5)
    assert detail_ratio(flat, img) == 0.0
    assert detail_ratio(img, flat) is None


def test_the_mask_restricts_the_measure_to_its_pixels():
    img = _image()
    half = torch.zeros(64, 64, dtype=torch.bool)
    half[:, :32] = True
    # Blur only the right half: the left half still scores 1, the right half below 1.
    mixed = img.clone()
    mixed[:, :, 32:] = _blur(img)[:, :, 32:]
    assert detail_ratio(mixed, img, half) == pytest.approx(1.0)
    assert detail_ratio(mixed, img, ~half) < 0.7
    # Pairs across the mask's border are not counted.
    assert float(gradient_energy(img, half)) < float(gradient_energy(img))


def test_pooled_detail_weighs_frames_by_their_energy():
    img = _image()
    pooled = DetailSum()
    pooled.add(img, img)
    pooled.add(torch.full_like(img, 0.5), img)
    assert pooled.ratio() == pytest.approx(0.5)
    pooled.add(img, img, torch.zeros(64, 64, dtype=torch.bool))  # an empty mask adds nothing
    assert pooled.ratio() == pytest.approx(0.5)
    assert DetailSum().ratio() is None


def test_mismatched_shapes_are_refused_by_name():
    with pytest.raises(ValueError, match="frame.shape"):
        detail_ratio(torch.zeros(3, 8, 8), torch.zeros(3, 8, 16))


def test_choose_prefers_detail_within_the_psnr_slack():
    blurry = Candidate("steps 1", psnr=18.0, ssim=0.58, detail=0.3)
    sharper = Candidate("steps 2", psnr=17.4, ssim=0.57, detail=0.7)
    noisy = Candidate("steps 4", psnr=16.5, ssim=0.50, detail=1.0)  # outside the PSNR slack
    assert choose([blurry, sharper, noisy]).name == "steps 2"


def test_choose_penalises_noise_as_much_as_blur():
    half = Candidate("a", psnr=18.0, ssim=0.5, detail=0.5)
    double = Candidate("b", psnr=18.0, ssim=0.5, detail=2.0)
    closer = Candidate("c", psnr=17.9, ssim=0.5, detail=1.5)
    assert choose([half, double, closer]).name == "c"
    assert abs(math.log(0.5)) == pytest.approx(abs(math.log(2.0)))
    with pytest.raises(ValueError, match="candidates"):
        choose([])


def test_choose_keeps_the_memory_s_revisits():
    steady = Candidate("steps 1", psnr=18.0, ssim=0.58, detail=0.3, revisit_loops=36.0)
    unsteady = Candidate("steps 2", psnr=17.8, ssim=0.58, detail=0.6, revisit_loops=34.0)
    assert choose([steady, unsteady]).name == "steps 1"
    with pytest.raises(ValueError, match="revisit"):
        choose([unsteady, Candidate("x", psnr=16.0, ssim=0.5, detail=1.0, revisit_loops=20.0)])


def test_natural_photos_load_at_the_requested_size():
    pytest.importorskip("skimage")
    photos = load_natural_photos((64, 48))
    assert "astronaut" in photos and len(photos) >= 4
    for img in photos.values():
        assert img.shape == (3, 48, 64)
        assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0
        assert float(img.std()) > 0.05  # a photo, not a flat fill


def _report(steps: int, psnr: float, detail: float, model: str = "m") -> dict:
    row = {"psnr": psnr, "ssim": 0.5, "detail_generated": detail}
    return {"model": model, "sampler_steps": steps, "cases": [{"seed": 1_000_031}],
            "aggregate": {"latent": row}, "command": "latentstage eval --suite v.json",
            "targets": {"latent_revisit_psnr_db": {"value": 36.0}}}


def test_eval_choose_prints_the_rule_s_choice(tmp_path):
    import json

    from typer.testing import CliRunner

    from latentstage.runtime.cli import app

    paths = []
    for steps, psnr, detail in ((1, 18.0, 0.3), (2, 17.5, 0.6), (3, 16.0, 0.9)):
        paths.append(tmp_path / f"s{steps}.json")
        paths[-1].write_text(json.dumps(_report(steps, psnr, detail)))
    result = CliRunner().invoke(app, ["eval-choose", *map(str, paths)])
    assert result.exit_code == 0, result.output
    assert "chosen: m steps 2" in " ".join(result.output.split())
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**_report(1, 18.0, 0.3), "cases": [{"seed": 1_000_032}]}))
    result = CliRunner().invoke(app, ["eval-choose", str(paths[0]), str(other)])
    assert result.exit_code == 2 and "different suites" in result.output
