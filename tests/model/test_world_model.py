"""World-model checkpoints: bit-exact round trip, model id, and a clear error for every break."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from latentstage.model.world_model import (
    ARCHITECTURES,
    CONFIG_NAME,
    REFERENCE_ARCHITECTURE,
    WEIGHTS_NAME,
    WorldModel,
    WorldModelConfig,
    bundled_checkpoint_dir,
    read_config,
)
from latentstage.runtime.errors import CorruptFile, Incompatible, InvalidInput, NotFound
from latentstage.runtime.memory import LatentSpec

TINY = WorldModelConfig(
    autoencoder={"latent_channels": 4, "channels": [4, 8, 8, 16], "latent_blocks": 1},
    generator={"base_channels": 8, "time_dim": 16},
    native_size=(64, 48),
    training={"seed": 0, "steps": 3, "command": "latentstage train --tiny"},
)


def _model(seed: int = 0) -> WorldModel:
    torch.manual_seed(seed)
    model = WorldModel(TINY)
    with torch.no_grad():
        for p in model.parameters():  # non-trivial weights everywhere (heads start at zero)
            p.normal_(0, 0.1)
    model.autoencoder.calibrate(torch.randn(2, 4, 3, 3) * 2 + 0.5)
    return model.eval()


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    return _model().save_pretrained(tmp_path / "ckpt")


def _edit_config(directory: Path, edit) -> None:
    data = json.loads((directory / CONFIG_NAME).read_text())
    edit(data)
    (directory / CONFIG_NAME).write_text(json.dumps(data))


def _edit_weights(directory: Path, edit) -> None:
    state = load_file(str(directory / WEIGHTS_NAME))
    edit(state)
    save_file(state, str(directory / WEIGHTS_NAME))


def test_config_is_complete_and_registered():
    model = WorldModel(TINY)
    config = model.config
    assert ARCHITECTURES[config.architecture] is WorldModel
    assert config.generator == {"latent_channels": 4, "cond_channels": 13, "base_channels": 8,
                                "time_dim": 16, "blocks": 1, "mid_blocks": 2}
    assert config.latent == {"channels": 4, "stride": 8, "scaling": 1.0, "shift": 0.0}
    assert config.sampler_steps == 2 and config.model_id == ""
    default = WorldModel().config
    assert default.architecture == REFERENCE_ARCHITECTURE
    assert default.generator["cond_channels"] == default.autoencoder["latent_channels"] + 9


def test_round_trip_is_bit_exact(saved: Path):
    original = _model()
    loaded = WorldModel.from_pretrained(saved)
    assert not loaded.training
    state, loaded_state = original.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    assert all(torch.equal(state[k], loaded_state[k]) for k in state)
    assert loaded.config == read_config(saved / CONFIG_NAME)
    assert loaded.config.training == TINY.training
    assert loaded.config.native_size == (64, 48)
    assert loaded.latent_spec() == original.latent_spec()
    rgb = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        assert torch.equal(loaded.encode(rgb), original.encode(rgb))


def test_latent_spec_follows_calibration(saved: Path):
    spec = WorldModel.from_pretrained(saved).latent_spec()
    assert isinstance(spec, LatentSpec)
    assert spec.channels == 4 and spec.stride == 8
    assert spec.scaling != 1.0 and spec.shift != 0.0
    assert json.loads((saved / CONFIG_NAME).read_text())["latent"]["scaling"] == spec.scaling


def test_model_id_hashes_the_weights(tmp_path: Path):
    a = _model(0)
    a.save_pretrained(tmp_path / "a")
    assert re.fullmatch(rf"{REFERENCE_ARCHITECTURE}-[0-9a-f]{{12}}", a.model_id)
    b = _model(0)
    b.save_pretrained(tmp_path / "b")
    c = _model(1)
    c.save_pretrained(tmp_path / "c")
    assert a.model_id == b.model_id != c.model_id
    assert WorldModel.from_pretrained(tmp_path / "a").model_id == a.model_id
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]


def test_create_and_training_record(tmp_path: Path):
    model = WorldModel.create(native_size=(112, 64), autoencoder=TINY.autoencoder)
    assert model.config.native_size == (112, 64)
    model.set_training_record({"autoencoder": {"final_losses": {"l1": 0.03}}})
    model.save_pretrained(tmp_path / "m")
    loaded = WorldModel.from_pretrained(tmp_path / "m")
    assert loaded.config.training == {"autoencoder": {"final_losses": {"l1": 0.03}}}
    with pytest.raises(InvalidInput, match="training"):
        model.set_training_record([1])


def test_save_rejects_unserialisable_training_record(tmp_path: Path):
    model = WorldModel(WorldModelConfig(**{**TINY.__dict__, "training": {"loss": float("nan")}}))
    with pytest.raises(InvalidInput, match="config"):
        model.save_pretrained(tmp_path / "x")
    assert list((tmp_path / "x").iterdir()) == []


def test_constructor_rejects_inconsistent_config():
    with pytest.raises(InvalidInput, match="latent.channels"):
        WorldModel(WorldModelConfig(**{**TINY.__dict__, "latent": {"channels": 5}}))
    with pytest.raises(InvalidInput, match="generator.latent_channels"):
        WorldModel(WorldModelConfig(**{**TINY.__dict__, "generator": {"latent_channels": 5,
                                                                      "cond_channels": 14}}))
    with pytest.raises(InvalidInput, match="native_size"):
        WorldModel(WorldModelConfig(**{**TINY.__dict__, "native_size": (60, 48)}))


def test_missing_directory_and_files(tmp_path: Path, saved: Path):
    with pytest.raises(NotFound, match="does not exist"):
        WorldModel.from_pretrained(tmp_path / "nowhere")
    (saved / WEIGHTS_NAME).unlink()
    with pytest.raises(NotFound, match=WEIGHTS_NAME):
        WorldModel.from_pretrained(saved)
    (saved / CONFIG_NAME).unlink()
    with pytest.raises(NotFound, match=CONFIG_NAME):
        WorldModel.from_pretrained(saved)


@pytest.mark.parametrize("text,match", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    (b"\xff\xfe", "not valid JSON"),
])
def test_unreadable_config(saved: Path, text, match):
    path = saved / CONFIG_NAME
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(CorruptFile, match=match):
        WorldModel.from_pretrained(saved)


@pytest.mark.parametrize("edit,error,match", [
    (lambda d: d.pop("generator"), CorruptFile, "missing field 'generator'"),
    (lambda d: d["latent"].pop("scaling"), CorruptFile, "missing field 'latent.scaling'"),
    (lambda d: d.update(sampler_steps="2"), CorruptFile, "'sampler_steps'"),
    (lambda d: d.update(native_size=[64]), CorruptFile, "'native_size'"),
    (lambda d: d["latent"].update(stride=True), CorruptFile, "'latent.stride'"),
    (lambda d: d.update(surprise=1), Incompatible, "unknown field.*surprise"),
    (lambda d: d["latent"].update(extra=1), Incompatible, "latent.extra"),
    (lambda d: d.update(architecture="sd-vae"), Incompatible, "'architecture' is 'sd-vae'"),
    (lambda d: d["generator"].update(depth_head=3), Incompatible, "generator.depth_head"),
    (lambda d: d["generator"].update(base_channels=0), Incompatible, "base_channels"),
    (lambda d: d["latent"].update(channels=5), Incompatible, "latent.channels"),
    (lambda d: d["latent"].update(stride=16), Incompatible, "latent.stride"),
    (lambda d: d.update(sampler_steps=9), Incompatible, "sampler_steps"),
    (lambda d: d["latent"].update(scaling=2.5), Incompatible, "latent.scaling.*autoencoder"),
    (lambda d: d.update(model_id="latentstage-ref-v1-000000000000"), CorruptFile, "model_id"),
])
def test_bad_config_fields(saved: Path, edit, error, match):
    _edit_config(saved, edit)
    with pytest.raises(error, match=match):
        WorldModel.from_pretrained(saved)


def test_wrong_generator_shape_names_the_tensor(saved: Path):
    # a config whose arguments do not match the stored weights
    _edit_config(saved, lambda d: d["generator"].update(base_channels=12))
    with pytest.raises(Incompatible, match=r"'generator.stem.weight' has shape \[8, 17, 3, 3\], "
                                           r"expected \[12, 17, 3, 3\]"):
        WorldModel.from_pretrained(saved)


def test_wrong_tensor_shape(saved: Path):
    _edit_weights(saved, lambda s: s.update({"autoencoder.decoder.layers.0.bias": torch.zeros(3)}))
    with pytest.raises(Incompatible, match=r"'autoencoder.decoder.layers.0.bias' has shape \[3\], "
                                           r"expected \[16\]"):
        WorldModel.from_pretrained(saved)


@pytest.mark.parametrize("edit,error,match", [
    (lambda s: s.pop("generator.out_x0.weight"), Incompatible, "missing.*generator.out_x0.weight"),
    (lambda s: s.update(extra=torch.zeros(1)), Incompatible, "unexpected.*extra"),
    (lambda s: s.update({"generator.stem.bias": torch.zeros(8, dtype=torch.int32)}), Incompatible,
     "generator.stem.bias.*dtype"),
    (lambda s: s["generator.stem.bias"].fill_(float("nan")), CorruptFile, "NaN"),
    (lambda s: s["generator.stem.bias"].add_(1.0), CorruptFile, "model_id"),
])
def test_bad_tensors(saved: Path, edit, error, match):
    _edit_weights(saved, edit)
    with pytest.raises(error, match=match):
        WorldModel.from_pretrained(saved)


@pytest.mark.parametrize("cut", [0, 7, 100, -10])
def test_truncated_safetensors(saved: Path, cut: int):
    path = saved / WEIGHTS_NAME
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut >= 0 else data[:cut])
    with pytest.raises(CorruptFile, match="not a readable safetensors file"):
        WorldModel.from_pretrained(saved)


def test_garbage_safetensors(saved: Path):
    (saved / WEIGHTS_NAME).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}  ")
    with pytest.raises(CorruptFile, match=WEIGHTS_NAME):
        WorldModel.from_pretrained(saved)


def test_bundled_checkpoint_dir_exists_or_says_how_to_train():
    try:
        path = bundled_checkpoint_dir()
    except NotFound as exc:
        assert "latentstage train" in str(exc)
        assert "checkpoints" in str(exc) and "ref-v1" in str(exc)
    else:
        assert (path / CONFIG_NAME).is_file() and (path / WEIGHTS_NAME).is_file()
