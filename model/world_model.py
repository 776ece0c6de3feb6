"""The world-model checkpoint contract: a directory with ``config.json`` and ``model.safetensors``.

``config.json`` holds a :class:`WorldModelConfig`: the architecture name (a key of
:data:`ARCHITECTURES`), each network's constructor arguments, the latent spec (channels C,
stride f, scaling, shift), the native resolution, the default sampler steps, the training
record and the model id. ``model.safetensors`` holds the state dict. Both are written
atomically (temporary file in the same folder, then ``os.replace``); the weights go first, so a
crash between the two leaves a config whose ``model_id`` no longer matches, which loading
reports.

Loading checks everything before touching a network, and every error names the file and the
field or tensor:

- :class:`~latentstage.runtime.errors.NotFound`: the directory or one of its files is missing.
- :class:`~latentstage.runtime.errors.CorruptFile`: ``config.json`` is not a JSON object, a
  field is missing or has the wrong type, the safetensors file is truncated or unreadable, a
  tensor holds NaN or infinity, or the weights do not hash to the config's ``model_id``.
- :class:`~latentstage.runtime.errors.Incompatible`: well-formed but not loadable here: unknown
  architecture or field, constructor arguments the networks reject, missing or unexpected
  tensors, wrong shapes or dtypes, or a latent spec that disagrees with the networks.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from latentstage.model.autoencoder import STRIDE, Autoencoder
from latentstage.model.generator import COND_EXTRA_CHANNELS, LatentGenerator
from latentstage.runtime.errors import CorruptFile, Incompatible, InvalidInput, NotFound
from latentstage.runtime.memory import LatentSpec

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
REFERENCE_ARCHITECTURE = "latentstage-ref-v1"
_ID_DIGITS = 12  # hex digits of the weights' sha256 in a model id


@dataclass(frozen=True)
class WorldModelConfig:
    """Everything needed to rebuild a :class:`WorldModel` before loading its weights.

    Treat the dicts as read-only; derive a changed config with ``dataclasses.replace``.
    """

    architecture: str = REFERENCE_ARCHITECTURE  # key of ARCHITECTURES
    autoencoder: dict = field(default_factory=dict)  # Autoencoder constructor arguments
    generator: dict = field(default_factory=dict)  # LatentGenerator constructor arguments
    latent: dict = field(default_factory=dict)  # {channels: C, stride: f, scaling, shift}
    native_size: tuple[int, int] = (128, 128)  # [W, H] pixels the model was trained at
    sampler_steps: int = 2  # default Euler steps per frame, 1..4
    training: dict = field(default_factory=dict)  # record: seeds, steps, time, device, losses
    model_id: str = ""  # "<architecture>-<sha256 of the weights, 12 hex>", set on save

    def to_json(self) -> dict:
        """A JSON-ready dict (``native_size`` as a list)."""
        data = asdict(self)
        data["native_size"] = list(self.native_size)
        return data

    @classmethod
    def from_json(cls, data: Any, source: str = CONFIG_NAME) -> WorldModelConfig:
        """Validate the types of a parsed ``config.json`` (:class:`CorruptFile` naming the field).

        Unknown fields raise :class:`Incompatible` (a newer format); values are checked against
        the networks by :class:`WorldModel`.
        """
        if not isinstance(data, dict):
            raise CorruptFile(f"{source}: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise Incompatible(f"{source}: unknown field(s) {unknown}; known: {sorted(known)}")
        required = ("architecture", "autoencoder", "generator", "latent", "native_size",
                    "sampler_steps")
        for name in required:
            if name not in data:
                raise CorruptFile(f"{source}: missing field {name!r}")
        for name, kind in (("architecture", str), ("autoencoder", dict), ("generator", dict),
                           ("latent", dict), ("sampler_steps", int), ("training", dict),
                           ("model_id", str)):
            if name in data and not _is(data[name], kind):
                raise CorruptFile(
                    f"{source}: field {name!r} is {data[name]!r}, expected {kind.__name__}"
                )
        size = data["native_size"]
        if not (isinstance(size, list) and len(size) == 2 and all(_is(s, int) for s in size)):
            raise CorruptFile(f"{source}: field 'native_size' is {size!r}, expected [W, H] ints")
        latent = data["latent"]
        extra = sorted(set(latent) - {"channels", "stride", "scaling", "shift"})
        if extra:
            raise Incompatible(f"{source}: unknown field(s) {['latent.' + k for k in extra]}")
        for name, kind in (("channels", int), ("stride", int), ("scaling", float),
                           ("shift", float)):
            if name not in latent:
                raise CorruptFile(f"{source}: missing field 'latent.{name}'")
            if not _is(latent[name], kind):
                raise CorruptFile(
                    f"{source}: field 'latent.{name}' is {latent[name]!r}, expected {kind.__name__}"
                )
        return cls(**{**data, "native_size": (size[0], size[1]), "latent": dict(latent)})


def _is(value: Any, kind: type) -> bool:
    """JSON type check: bools are not numbers, ints count as floats, floats must be finite."""
    if kind is float:
        return _is(value, int) or (isinstance(value, float) and math.isfinite(value))
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


class WorldModel(nn.Module):
    """Autoencoder plus latent generator, built from a :class:`WorldModelConfig`.

    Networks are built from the config's constructor arguments; arguments it leaves out take
    the networks' defaults, and the generator's ``latent_channels`` and ``cond_channels``
    default to the autoencoder's C and C + 9. :attr:`config` always reports the complete
    arguments and the current latent scale.
    """

    def __init__(self, config: WorldModelConfig | None = None):
        super().__init__()
        config = config or WorldModelConfig()
        _check_arguments(Autoencoder, config.autoencoder, "autoencoder")
        _check_arguments(LatentGenerator, config.generator, "generator")
        self.autoencoder = Autoencoder(**config.autoencoder)
        c = self.autoencoder.latent_channels
        gen_args = {"latent_channels": c, "cond_channels": c + COND_EXTRA_CHANNELS}
        self.generator = LatentGenerator(**{**gen_args, **config.generator})
        latent = {"channels": c, "stride": STRIDE, "scaling": 1.0, "shift": 0.0, **config.latent}
        self._check_spec(config, latent)
        self.autoencoder.scaling.fill_(float(latent["scaling"]))
        self.autoencoder.shift.fill_(float(latent["shift"]))
        self._config = replace(
            config,
            autoencoder=dict(self.autoencoder.config),
            generator=dict(self.generator.config),
            native_size=tuple(config.native_size),
        )

    @classmethod
    def create(cls, native_size: tuple[int, int] = (128, 128), **fields_: Any) -> WorldModel:
        """A fresh (untrained) model: ``WorldModelConfig(native_size=..., **fields_)``."""
        return cls(WorldModelConfig(native_size=tuple(native_size), **fields_))

    def set_training_record(self, training: dict) -> None:
        """Replace the config's training record (saved by the next :meth:`save_pretrained`)."""
        if not isinstance(training, dict):
            raise InvalidInput("training", training, "a dict (JSON object)")
        self._config = replace(self._config, training=dict(training))

    def set_sampler_steps(self, steps: int) -> None:
        """Set the default sampler steps (1..4; saved by the next :meth:`save_pretrained`)."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps not in range(1, 5):
            raise InvalidInput("sampler_steps", steps, "an integer from 1 to 4")
        self._config = replace(self._config, sampler_steps=steps)

    def _check_spec(self, config: WorldModelConfig, latent: dict) -> None:
        """Raise :class:`InvalidInput` naming the field where the config disagrees with itself."""
        c = self.autoencoder.latent_channels
        if self.generator.latent_channels != c:
            raise InvalidInput("generator.latent_channels", self.generator.latent_channels,
                               f"the autoencoder's latent_channels ({c})")
        if latent["channels"] != c:
            raise InvalidInput("latent.channels", latent["channels"], f"{c} (the networks' C)")
        if latent["stride"] != STRIDE:
            raise InvalidInput("latent.stride", latent["stride"], f"{STRIDE} (the autoencoder's)")
        if not (math.isfinite(latent["scaling"]) and latent["scaling"] > 0):
            raise InvalidInput("latent.scaling", latent["scaling"], "a finite number > 0")
        if not math.isfinite(latent["shift"]):
            raise InvalidInput("latent.shift", latent["shift"], "a finite number")
        w, h = config.native_size
        if min(w, h) < STRIDE or w % STRIDE or h % STRIDE:
            raise InvalidInput("native_size", list(config.native_size),
                               f"[W, H] positive multiples of {STRIDE}")
        if isinstance(config.sampler_steps, bool) or config.sampler_steps not in range(1, 5):
            raise InvalidInput("sampler_steps", config.sampler_steps, "an integer from 1 to 4")

    @property
    def config(self) -> WorldModelConfig:
        """The complete config, with the latent spec read from the current buffers."""
        return replace(self._config, latent=asdict(self.latent_spec()))

    def latent_spec(self) -> LatentSpec:
        """What this model's latent tokens are (checked against memory snapshots)."""
        return LatentSpec(
            channels=self.autoencoder.latent_channels,
            stride=STRIDE,
            scaling=float(self.autoencoder.scaling),
            shift=float(self.autoencoder.shift),
        )

    # ----- the model contract (DESIGN.md, "Model contract") ---------------------------------
    def encode(self, rgb: torch.Tensor) -> torch.Tensor:
        """Scaled latents ``[B, C, H/8, W/8]`` of images ``rgb`` ``[B, 3, H, W]`` in [0, 1]."""
        return self.autoencoder.encode(rgb)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Images ``[B, 3, 8h, 8w]`` in [0, 1] from scaled latents ``[B, C, h, w]``."""
        return self.autoencoder.decode(latent)

    def denoise(
        self,
        x_t: torch.Tensor,  # [B, C, h, w] noisy latent
        t: torch.Tensor,  # [B] flow time, 1 = pure noise
        cond: torch.Tensor,  # [B, C + 9, h, w] from generator.build_cond
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity ``[B, C, h, w]`` and depth ``[B, 1, h, w]`` in metres."""
        return self.generator(x_t, t, cond)

    # ----- checkpoints ------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` atomically; set :attr:`model_id`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
        config = replace(self.config, model_id=_model_id(self._config.architecture, state))
        try:
            text = json.dumps(config.to_json(), indent=2, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise InvalidInput("config", "training or constructor arguments",
                               f"JSON-serialisable values without NaN or infinity ({exc})") from exc
        _atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(state, tmp))
        _atomic_write(directory / CONFIG_NAME, lambda tmp: Path(tmp).write_text(text, "utf-8"))
        self._config = config
        return directory

    @property
    def model_id(self) -> str:
        """``"<architecture>-<12 hex of the weights' sha256>"``, or "" before the first save."""
        return self._config.model_id

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, device: torch.device | str = "cpu"
    ) -> WorldModel:
        """Load a checkpoint directory, validating it fully (see the module docstring)."""
        directory = Path(directory)
        config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
        if not directory.is_dir():
            raise NotFound(f"checkpoint directory {str(directory)!r} does not exist")
        for path in (config_path, weights_path):
            if not path.is_file():
                raise NotFound(f"checkpoint {str(directory)!r} has no {path.name}")
        config = read_config(config_path)
        arch = ARCHITECTURES.get(config.architecture)
        if arch is None:
            raise Incompatible(f"{config_path}: field 'architecture' is {config.architecture!r}, "
                               f"expected one of {sorted(ARCHITECTURES)}")
        try:
            model = arch(config)
        except InvalidInput as exc:
            raise Incompatible(f"{config_path}: {exc}") from exc
        except TypeError as exc:  # an argument of the wrong kind that a network did not check
            raise Incompatible(f"{config_path}: field 'autoencoder' or 'generator': {exc}") from exc
        state = _read_weights(weights_path)
        model._check_state(state, weights_path)
        model.load_state_dict(state, strict=True)
        model._check_loaded(config, state, config_path)
        model._config = replace(model._config, model_id=config.model_id)
        return model.to(device).eval()

    def _check_state(self, state: dict[str, torch.Tensor], source: Path) -> None:
        """Names, shapes, dtypes and finiteness of loaded tensors against this model's."""
        expected = self.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing:
            raise Incompatible(f"{source}: {len(missing)} tensor(s) missing, e.g. {missing[:5]}")
        if unexpected:
            raise Incompatible(
                f"{source}: {len(unexpected)} unexpected tensor(s), e.g. {unexpected[:5]}"
            )
        for name, want in expected.items():
            got = state[name]
            if got.shape != want.shape:
                raise Incompatible(f"{source}: tensor {name!r} has shape {list(got.shape)}, "
                                   f"expected {list(want.shape)} for config.json's arguments")
            if not got.is_floating_point():
                raise Incompatible(f"{source}: tensor {name!r} has dtype {got.dtype}, "
                                   f"expected a floating-point dtype ({want.dtype})")
            if not bool(torch.isfinite(got).all()):
                raise CorruptFile(f"{source}: tensor {name!r} holds NaN or infinity")

    def _check_loaded(
        self, config: WorldModelConfig, state: dict[str, torch.Tensor], source: Path
    ) -> None:
        """The config's latent scale and model id against the loaded weights (``state``)."""
        spec = self.latent_spec()
        for name in ("scaling", "shift"):
            stored, loaded = float(config.latent[name]), getattr(spec, name)
            if not math.isclose(stored, loaded, rel_tol=1e-6, abs_tol=1e-12):
                raise Incompatible(f"{source}: field 'latent.{name}' is {stored}, but tensor "
                                   f"'autoencoder.{name}' holds {loaded}")
        if config.model_id:
            actual = _model_id(config.architecture, state)
            if actual != config.model_id:
                raise CorruptFile(f"{source}: field 'model_id' is {config.model_id!r}, but the "
                                  f"weights hash to {actual!r} (config and weights out of sync)")


#: Architecture name in ``config.json`` -> class that builds it from a WorldModelConfig.
ARCHITECTURES: dict[str, type[WorldModel]] = {REFERENCE_ARCHITECTURE: WorldModel}


def read_config(path: str | Path) -> WorldModelConfig:
    """Parse and type-check a ``config.json`` (:class:`CorruptFile` naming the field)."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"{str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFile(f"{path}: not valid JSON ({exc})") from exc
    return WorldModelConfig.from_json(data, str(path))


def bundled_checkpoint_dir() -> Path:
    """The reference checkpoint shipped inside the package, ``model/checkpoints/ref-v1``."""
    path = Path(__file__).parent / "checkpoints" / "ref-v1"
    if not (path / CONFIG_NAME).is_file() or not (path / WEIGHTS_NAME).is_file():
        raise NotFound(
            f"the bundled reference checkpoint {str(path)!r} is missing; train it with "
            f"`latentstage train` (writes {path}) or pass a checkpoint directory"
        )
    return path


def _check_arguments(network: type[nn.Module], args: dict, field_name: str) -> None:
    """Raise :class:`InvalidInput` naming the first argument ``network`` does not take."""
    known = [p for p in inspect.signature(network.__init__).parameters if p != "self"]
    for name in args:
        if name not in known:
            raise InvalidInput(f"{field_name}.{name}", args[name], f"one of {known}")


def _model_id(architecture: str, state: dict[str, torch.Tensor]) -> str:
    """``architecture`` plus a short sha256 over tensor names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{list(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return f"{architecture}-{digest.hexdigest()[:_ID_DIGITS]}"


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file on the CPU, or :class:`CorruptFile`."""
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CorruptFile(f"{path}: not a readable safetensors file ({exc})") from exc


def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp)`` on a temporary file next to ``path``, fsync it, then rename it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_tiny_checkpoint(directory: str | Path, native_size: tuple[int, int] = (64, 64)) -> Path:
    """Save a small random :class:`WorldModel` into ``directory`` and return the directory:
    4 latent channels, an 8-channel autoencoder and a 16-channel generator, fast on a CPU.
    The tests' fixture (tests/conftest.py) and the smoke runs of the benchmarks use it."""
    model = WorldModel.create(
        native_size=native_size,
        autoencoder={"latent_channels": 4, "channels": [8, 8, 8, 8], "latent_blocks": 1},
        generator={"base_channels": 16, "time_dim": 16, "blocks": 1, "mid_blocks": 1})
    return model.save_pretrained(directory)
