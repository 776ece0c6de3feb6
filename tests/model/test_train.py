"""Smoke training: a few steps on a tiny configuration reduce the loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from latentstage.model.train import TrainConfig, train_autoencoder, train_generator
from latentstage.model.world_model import WorldModel


def _losses(fn, model, cfg, tmp_path) -> list[float]:
    seen: list[float] = []
    fn(model, cfg, tmp_path, report=lambda p: seen.append(sum(p.raw.values())))
    return seen


@pytest.fixture(scope="module")
def tiny_model():
    import torch

    torch.manual_seed(0)  # the initial weights, whatever ran before (the losses depend on them)
    return WorldModel.create(
        native_size=(64, 64),
        autoencoder={"latent_channels": 8, "channels": [8, 16, 16, 32], "latent_blocks": 1},
        generator={"latent_channels": 8, "cond_channels": 17, "base_channels": 16,
                   "time_dim": 32},
    )


def test_autoencoder_steps_reduce_the_loss(tiny_model, tmp_path):
    cfg = TrainConfig(stage="autoencoder", steps=60, size=(64, 64), batch=4, lr=3e-3,
                      clips=2, clip_frames=4, crop=0, checkpoint_every=1000)
    losses = _losses(train_autoencoder, tiny_model, cfg, tmp_path)
    assert len(losses) == 60
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5])
    assert (tmp_path / "train_state" / "autoencoder.pt").exists()
    assert (tmp_path / "loss_autoencoder.png").exists()


def test_generator_steps_reduce_the_loss(tiny_model, tmp_path):
    cfg = TrainConfig(stage="generator", steps=40, size=(64, 64), batch=4, lr=3e-3,
                      clips=2, clip_frames=4, checkpoint_every=20)
    losses = _losses(train_generator, tiny_model, cfg, tmp_path)
    assert np.mean(losses[-8:]) < np.mean(losses[:4])
    # Resume continues from the last periodic checkpoint, not from scratch.
    more = TrainConfig(**{**cfg.__dict__, "steps": 45})
    resumed = []
    train_generator(tiny_model, more, tmp_path, report=lambda p: resumed.append(p.step),
                    resume=True)
    assert resumed[0] == 41 and resumed[-1] == 45


def test_a_resumed_stage_keeps_its_earlier_runs_in_the_record(tmp_path):
    from latentstage.model.card import write_card
    from latentstage.model.train import save_record

    model = WorldModel.create(native_size=(64, 64))
    first = TrainConfig(stage="generator", steps=10, clips=2, command="latentstage train a")
    save_record(model, tmp_path, "generator", first, {"steps": 10, "device": "cpu",
                                                      "wall_seconds": 60.0})
    again = TrainConfig(stage="generator", steps=20, clips=4,
                        command="latentstage train b --resume")
    save_record(model, tmp_path, "generator", again, {"steps": 20, "device": "cpu"})
    final = TrainConfig(stage="generator", steps=30, clips=4,
                        command="latentstage train c --resume")
    save_record(model, tmp_path, "generator", final, {"steps": 30, "device": "cpu"})
    record = model.config.training["generator"]
    assert [r["command"] for r in record["earlier_runs"]] == ["latentstage train a",
                                                              "latentstage train b --resume"]
    assert record["earlier_runs"][0]["steps"] == 10 and record["config"]["steps"] == 30
    card = write_card(model, tmp_path).read_text()
    assert "continued from: `latentstage train a` (10 steps on 2 clips, cpu, 1.0 min)" in card
    # A run started again on the checkpoint (no --resume) still descends from those weights.
    save_record(model, tmp_path, "generator", first, {"steps": 10})
    assert len(model.config.training["generator"]["earlier_runs"]) == 3
    # An autoencoder trained from scratch starts a fresh history.
    save_record(model, tmp_path, "generator", first, {"steps": 10}, fresh=True)
    assert "earlier_runs" not in model.config.training["generator"]


def _seeded_rollout(model, tmp_path, policy: str):
    """Seed a memory with clip 0's first frame, roll the model out at that same pose with
    ``policy``, and return the readout there before and after."""
    import torch

    from latentstage.model.train import _encode_clips, _rollout, _Sample, load_clips
    from latentstage.runtime.memory import LatentMemory, MemoryConfig

    cfg = TrainConfig(stage="generator", size=(64, 64), clips=2, clip_frames=4)
    clips = load_clips(cfg, tmp_path, None)
    latents = _encode_clips(model, clips, "cpu")
    k, c2w = clips.intrinsics, clips.c2w[0, 0]
    memory = LatentMemory(model.latent_spec(), MemoryConfig(capacity=8192), "cpu")
    camera = memory.camera(k, c2w)
    memory.write(latents[0, 0], clips.depth[0, 0], camera, sky_mask=clips.sky[0, 0])
    before = memory.readout(camera)
    _rollout([_Sample(0, "self", memory, [0], 0)], clips, model, torch.Generator().manual_seed(0),
             policy)
    return before, memory.readout(camera)


def test_inference_policy_rollouts_never_overwrite_what_the_memory_held(tmp_path):
    """Rollouts write back as inference does: a frame generated where the memory covers
    everything leaves the memory as it was; the v1 policy (whole frames) changes it."""
    import copy

    import torch

    model = WorldModel.create(
        native_size=(64, 64),
        autoencoder={"latent_channels": 8, "channels": [8, 16, 16, 32], "latent_blocks": 1},
        generator={"latent_channels": 8, "cond_channels": 17, "base_channels": 16,
                   "time_dim": 32},
    ).eval()
    with torch.no_grad():  # a generator whose guess differs from the memory everywhere
        model.generator.out_x0.bias.fill_(1.0)
    before, after = _seeded_rollout(model, tmp_path, "inference")
    covered = before.coverage > 0
    assert covered.float().mean() > 0.5
    assert torch.allclose(after.features[:, covered], before.features[:, covered], atol=1e-5)
    before, after = _seeded_rollout(copy.deepcopy(model), tmp_path, "full")
    assert (after.features[:, covered] - before.features[:, covered]).abs().mean() > 0.05


def test_decoder_only_training_keeps_the_latent_space(tmp_path):
    import torch

    model = WorldModel.create(
        native_size=(64, 64),
        autoencoder={"latent_channels": 8, "channels": [8, 16, 16, 32], "latent_blocks": 1},
        generator={"latent_channels": 8, "cond_channels": 17, "base_channels": 16,
                   "time_dim": 32},
    )
    with torch.no_grad():
        model.autoencoder.scaling.fill_(2.0)
        model.autoencoder.shift.fill_(0.1)
    encoder = {k: v.clone() for k, v in model.autoencoder.encoder.state_dict().items()}
    decoder = {k: v.clone() for k, v in model.autoencoder.decoder.state_dict().items()}
    cfg = TrainConfig(stage="autoencoder", steps=5, size=(64, 64), batch=2, lr=3e-3, clips=2,
                      clip_frames=4, crop=0, checkpoint_every=1000, decoder_only=True,
                      edge_weight=0.5)
    seen = []
    record = train_autoencoder(model, cfg, tmp_path, report=lambda p: seen.append(p.raw))
    assert set(seen[0]) == {"l1", "mse", "edge"}
    after = model.autoencoder.encoder.state_dict()
    assert all(torch.equal(after[k], v) for k, v in encoder.items())
    assert any(not torch.equal(model.autoencoder.decoder.state_dict()[k], v)
               for k, v in decoder.items())
    assert record["decoder_only"] and record["latent_scaling"] == 2.0
    assert model.latent_spec().scaling == 2.0
    assert model.latent_spec().shift == pytest.approx(0.1)


def test_a_time_budget_ends_the_run_early_and_keeps_its_state(tiny_model, tmp_path):
    import torch

    from latentstage.model.train import _lr_at

    cfg = TrainConfig(stage="autoencoder", steps=100_000, size=(64, 64), batch=2, lr=3e-3,
                      clips=2, clip_frames=4, crop=0, checkpoint_every=100_000,
                      max_seconds=1.5)
    seen: list[int] = []
    record = train_autoencoder(tiny_model, cfg, tmp_path, report=lambda p: seen.append(p.step))
    assert 0 < record["steps"] < 100_000 and record["steps"] == seen[-1]
    assert 1.5 <= record["seconds"] < 30
    state = torch.load(tmp_path / "train_state" / "autoencoder.pt", weights_only=True)
    assert state["step"] == record["steps"]
    # The schedule by fraction: a short warm-up to the peak, then cosine decay to zero.
    assert _lr_at(0.01, 1.0) == pytest.approx(0.5)
    assert _lr_at(0.02, 1.0) == pytest.approx(1.0)
    assert _lr_at(1.0, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert _lr_at(0.51, 1.0) == pytest.approx(0.5)


def test_parallel_rendering_gives_the_same_clips():
    import torch

    from latentstage.model.data import build_clips

    one = build_clips([0, 1, 2], 2, (32, 32))
    two = build_clips([0, 1, 2], 2, (32, 32), workers=2)
    assert one.seeds == two.seeds and one.kinds == two.kinds
    assert torch.equal(one.rgb, two.rgb) and torch.equal(one.depth, two.depth)
    assert np.array_equal(one.c2w, two.c2w)


def test_merge_decoder_joins_a_refined_decoder_and_a_continued_generator(tmp_path):
    import runpy

    import torch

    from latentstage.model.world_model import save_tiny_checkpoint

    merge = runpy.run_path(str(Path(__file__).parents[2] / "tools" / "merge_decoder.py"))
    gen_dir, dec_dir = save_tiny_checkpoint(tmp_path / "gen"), tmp_path / "dec"
    model = WorldModel.from_pretrained(gen_dir)
    with torch.no_grad():  # "refine" the decoder of a copy, and the generator of the original
        for p in model.autoencoder.decoder.parameters():
            p.add_(0.01)
        model.save_pretrained(dec_dir)
        for p in model.autoencoder.decoder.parameters():
            p.sub_(0.01)
        next(model.generator.parameters()).add_(0.5)
        model.save_pretrained(gen_dir)
    merged = merge["merge_decoder"](gen_dir, dec_dir)
    again = WorldModel.from_pretrained(gen_dir)
    donor = WorldModel.from_pretrained(dec_dir)
    for a, b in zip(again.autoencoder.decoder.parameters(),
                    donor.autoencoder.decoder.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(again.generator.parameters(), model.generator.parameters(), strict=True):
        assert torch.equal(a, b)
    assert again.model_id == merged.model_id
    # Another latent space is refused.
    other = tmp_path / "other"
    with torch.no_grad():
        next(donor.autoencoder.encoder.parameters()).add_(1.0)
    donor.save_pretrained(other)
    with pytest.raises(SystemExit, match="encoders differ"):
        merge["merge_decoder"](gen_dir, other)


@pytest.mark.parametrize("inputs", ["readout", "mixed"])
def test_decoder_trained_on_readouts_keeps_the_latent_space(tmp_path, inputs):
    import torch

    model = WorldModel.create(
        native_size=(64, 64),
        autoencoder={"latent_channels": 8, "channels": [8, 16, 16, 32], "latent_blocks": 1},
        generator={"latent_channels": 8, "cond_channels": 17, "base_channels": 16,
                   "time_dim": 32},
    )
    encoder = {k: v.clone() for k, v in model.autoencoder.encoder.state_dict().items()}
    cfg = TrainConfig(stage="autoencoder", steps=40, size=(64, 64), batch=2, lr=3e-3, clips=2,
                      clip_frames=4, crop=0, checkpoint_every=1000, decoder_only=True,
                      decoder_inputs=inputs)
    losses = _losses(train_autoencoder, model, cfg, tmp_path)
    assert np.mean(losses[-8:]) < np.mean(losses[:4])
    after = model.autoencoder.encoder.state_dict()
    assert all(torch.equal(after[k], v) for k, v in encoder.items())
    with pytest.raises(ValueError, match="decoder_only"):
        train_autoencoder(model, TrainConfig(stage="autoencoder", steps=1, size=(64, 64),
                                             clips=2, clip_frames=4,
                                             decoder_inputs=inputs), tmp_path)
