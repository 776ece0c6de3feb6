"""The bundled reference checkpoint: loads, reconstructs as its card says, stays consistent."""

from __future__ import annotations

import pytest
import torch

from latentstage.model.data import EVAL_SEED_BASE, heldout_frames
from latentstage.model.eval import (
    EvalCase,
    autoencoder_psnr,
    render_ground_truth,
    revisit_pairs,
    run_trajectory,
    summarise,
)
from latentstage.model.world_model import WorldModel, bundled_checkpoint_dir
from latentstage.runtime.pipeline import build_cond, frame_seed
from latentstage.runtime.sampler import sample


@pytest.fixture(scope="module")
def model() -> WorldModel:
    return WorldModel.from_pretrained(bundled_checkpoint_dir()).eval()


def test_bundled_checkpoint_loads_with_its_card(model):
    path = bundled_checkpoint_dir()
    assert (path / "README.md").read_text().count("procedural") >= 2
    assert model.model_id.startswith("latentstage-ref-v1-")
    record = model.config.training
    assert {"autoencoder", "generator", "eval"} <= set(record)
    assert record["generator"]["device"]
    assert sum(f.stat().st_size for f in path.iterdir()) < 25 * 2**20


def test_reconstruction_matches_the_recorded_psnr(model):
    """encode then decode on held-out frames reaches the card's PSNR within 0.5 dB."""
    frames = heldout_frames(tuple(model.config.native_size))
    recorded = model.config.training["eval"]["autoencoder_psnr_db"]
    assert abs(autoencoder_psnr(model, frames) - recorded) <= 0.5


@pytest.mark.parametrize("size", [(128, 128), (256, 144), (64, 64)])
def test_shapes_at_square_and_16_9_sizes(model, size):
    w, h = size
    spec = model.latent_spec()
    rgb = torch.rand(1, 3, h, w)
    with torch.inference_mode():
        latent = model.encode(rgb)
        assert latent.shape == (1, spec.channels, h // 8, w // 8)
        assert model.decode(latent).shape == (1, 3, h, w)
        cond = torch.zeros(1, spec.channels + 9, h // 8, w // 8)
        x, depth = sample(model.denoise, cond, 2, 7, latent.shape)
        assert x.shape == latent.shape and depth.shape == (1, 1, h // 8, w // 8)


def test_sampler_is_deterministic_for_a_seed(model):
    from latentstage.runtime.camera import Intrinsics, look_at
    from latentstage.runtime.memory import LatentMemory

    k = Intrinsics.from_fov(70, 128, 128)
    pose = look_at([0, 0, 1.5], [3, 0, 1.2])
    memory = LatentMemory(model.latent_spec())
    camera = memory.camera(k, pose)
    cond = build_cond(memory.readout(camera), camera)
    shape = (1, model.latent_spec().channels, 16, 16)
    a = sample(model.denoise, cond, 2, frame_seed(3, 5), shape)[0]
    b = sample(model.denoise, cond, 2, frame_seed(3, 5), shape)[0]
    c = sample(model.denoise, cond, 2, frame_seed(3, 6), shape)[0]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_latent_memory_beats_no_memory_on_revisits(model):
    """A short loop: the view at the return is more consistent with the latent memory."""
    case = EvalCase(EVAL_SEED_BASE + 5, "indoor", "loop", 40)
    size = tuple(model.config.native_size)
    gt = render_ground_truth(case, size, 8, torch.device("cpu"))
    pairs = revisit_pairs(gt["c2w"])
    assert pairs, "the loop must come back to its start"
    scores = {}
    for memory in ("none", "latent"):
        run = run_trajectory(model, case, memory, size, 2, torch.device("cpu"), gt)
        scores[memory] = summarise(run, pairs)["revisit_psnr"]
    assert scores["latent"] > scores["none"]


@pytest.mark.parametrize("yield_ratio", [0.5, 0.0])
def test_the_seed_view_survives_a_loop_only_with_trust(model, yield_ratio):
    """Content generated during the detour has guessed depth. With trust (the default) it never
    hides the observed seed surfaces, so back at the start the memory reads the seed's own
    tokens; with trust off it floats in front of them (docs/memory.md, "Trust")."""
    from latentstage.model.data import DEFAULT_FOV
    from latentstage.runtime.camera import Intrinsics
    from latentstage.runtime.memory import LatentMemory, MemoryConfig
    from latentstage.runtime.pipeline import FrameStep, seed_memory

    case = EvalCase(EVAL_SEED_BASE + 17, "indoor", "loop", 120)
    size = tuple(model.config.native_size)
    gt = render_ground_truth(case, size, 8, torch.device("cpu"))
    k = Intrinsics.from_fov(DEFAULT_FOV, *size)
    memory = LatentMemory(model.latent_spec(), MemoryConfig(yield_ratio=yield_ratio))
    step = FrameStep(model, memory)
    seed_memory(model, memory, gt["rgb"][0].float() / 255, gt["depth"][0],
                memory.camera(k, gt["c2w"][0]), sky=gt["sky"][0])
    before = memory.readout(memory.camera(k, gt["c2w"][0]))
    for i in range(1, case.frames):
        step(memory.camera(k, gt["c2w"][i]), i, 2)
    after = memory.readout(memory.camera(k, gt["c2w"][0]))
    moved = float((after.features - before.features).pow(2).mean())
    if yield_ratio > 0:
        assert moved < 1e-3 and torch.allclose(after.depth, before.depth, rtol=1e-3)
    else:
        assert moved > 1e-2  # what the trust rule prevents
