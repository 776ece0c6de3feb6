"""Smoke training: a few steps on a tiny configuration reduce the loss."""

from __future__ import annotations

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
    assert "resumed from: `latentstage train a` (10 steps on 2 clips, cpu, 1.0 min)" in card
    # A run that does not resume starts a fresh history.
    save_record(model, tmp_path, "generator", first, {"steps": 10})
    assert "earlier_runs" not in model.config.training["generator"]
