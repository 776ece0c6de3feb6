"""Engine bundles: the manifest schema, reading, verification and compatibility checks.

An engine bundle is a directory written by ``latentstage export``::

    bundle/
      manifest.json     what is inside, how it was built, and a sha256 for every file
      encoder.onnx      rgb [B, 3, H, W] in [0, 1]    -> latent [B, C, H/8, W/8] (scaled)
      denoiser.onnx     x_t, t [B], cond [B, C+9, h, w] -> v [B, C, h, w], depth [B, 1, h, w]
      decoder.onnx      latent [B, C, h, w] (scaled)  -> rgb [B, 3, 8h, 8w]

(``.engine`` instead of ``.onnx`` for TensorRT bundles.) This module is the one definition of
the manifest: ``export/`` writes it through :func:`manifest_to_json`, and the runtime backends
read it with :func:`open_bundle`, which refuses, with an error that names the mismatch, a bundle
whose files do not hash to the manifest, a bundle of the wrong engine kind, or a checkpoint
directory passed where a bundle was expected. It imports neither ``export/`` nor ``model/``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from latentstage.runtime.errors import CorruptFile, Incompatible, InvalidInput, NotFound
from latentstage.runtime.memory import LatentSpec

MANIFEST_NAME = "manifest.json"
BUNDLE_FORMAT = "latentstage-engine-bundle"
BUNDLE_VERSION = 1
#: The three networks of the model contract, in the order the manifest lists them.
NETWORKS = ("encoder", "denoiser", "decoder")
#: Engine kind -> file suffix of its networks.
ENGINES = {"onnx": ".onnx", "tensorrt": ".engine"}
#: Precision name (CLI) -> dtype name of the graph's floating-point inputs and outputs.
PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
#: Input and output names of each network, as exported (see the module docstring).
IO_NAMES = {
    "encoder": (("rgb",), ("latent",)),
    "denoiser": (("x_t", "t", "cond"), ("v", "depth")),
    "decoder": (("latent",), ("rgb",)),
}
_CHECKPOINT_FILES = ("config.json", "model.safetensors")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a network: name, dtype and the shapes it accepts."""

    name: str  # graph input or output name, e.g. "rgb"
    dtype: str  # "float32", "float16" or "bfloat16"
    shape: tuple[int | str, ...]  # ints for fixed axes, axis names for dynamic ones
    min: tuple[int, ...]  # smallest accepted shape (equal to max when static)
    opt: tuple[int, ...]  # the shape engines are tuned for
    max: tuple[int, ...]  # largest accepted shape

    def accepts(self, shape: tuple[int, ...]) -> bool:
        """Whether a concrete ``shape`` lies within [min, max] on every axis."""
        return len(shape) == len(self.min) and all(
            lo <= s <= hi for s, lo, hi in zip(shape, self.min, self.max, strict=True)
        )

    def range_text(self) -> str:
        """``[1, 3, 64, 64]`` when static, else ``[1, 3, 32..128, 32..128]``."""
        axes = [str(lo) if lo == hi else f"{lo}..{hi}"
                for lo, hi in zip(self.min, self.max, strict=True)]
        return "[" + ", ".join(axes) + "]"


@dataclass(frozen=True)
class NetworkEntry:
    """One network file of a bundle."""

    name: str  # "encoder", "denoiser" or "decoder"
    file: str  # file name inside the bundle directory
    sha256: str  # hex digest of the file's bytes
    bytes: int  # file size
    inputs: tuple[TensorSpec, ...]  # in call order
    outputs: tuple[TensorSpec, ...]  # in return order
    exporter: str  # ONNX exporter that produced the graph: "dynamo" or "legacy"
    opset: int  # ONNX opset of the graph


@dataclass(frozen=True)
class BundleModelConfig:
    """The parts of the checkpoint's ``config.json`` the runtime needs (duck-types the
    model's config: ``native_size``, ``sampler_steps``, ``latent``, ``model_id``)."""

    architecture: str  # architecture name of the checkpoint
    native_size: tuple[int, int]  # (width, height) pixels the model was trained at
    sampler_steps: int  # default Euler steps per frame
    latent: dict  # {channels, stride, scaling, shift}
    model_id: str  # "<architecture>-<12 hex of the weights' sha256>"
    raw: dict = field(repr=False, compare=False, default_factory=dict)  # the whole config.json


@dataclass(frozen=True)
class Manifest:
    """A parsed ``manifest.json`` (see :func:`read_manifest`)."""

    directory: Path  # the bundle directory it was read from
    engine: str  # "onnx" or "tensorrt"
    precision: str  # "fp32", "fp16" or "bf16"
    batch: int  # fixed batch size B of every network
    config: BundleModelConfig  # from the checkpoint's config.json
    networks: dict[str, NetworkEntry]  # by network name
    versions: dict  # package versions at build time: torch, onnx, onnxruntime, tensorrt, ...
    tensorrt: dict | None  # TensorRT build facts (version, gpu, compute_capability, ...)
    build_command: str  # the command that wrote the bundle
    verification: dict  # parity results recorded at export time
    raw: dict = field(repr=False, compare=False, default_factory=dict)  # the parsed JSON

    @property
    def model_id(self) -> str:
        return self.config.model_id

    def latent_spec(self) -> LatentSpec:
        """The latent spec of the exported model (checked against snapshots)."""
        lat = self.config.latent
        return LatentSpec(channels=int(lat["channels"]), stride=int(lat["stride"]),
                          scaling=float(lat["scaling"]), shift=float(lat["shift"]))

    def path(self, network: str) -> Path:
        """The file of ``network`` inside the bundle."""
        return self.directory / self.networks[network].file


# ----- writing (used by export/) -------------------------------------------------------------
def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_to_json(
    *, engine: str, precision: str, batch: int, config: dict,
    networks: dict[str, NetworkEntry], versions: dict, tensorrt: dict | None,
    build_command: str, verification: dict, extra: dict | None = None,
) -> dict:
    """The JSON object of a manifest (inverse of :func:`parse_manifest`)."""
    nets = {}
    for name in NETWORKS:
        entry = asdict(networks[name])
        del entry["name"]
        for key in ("inputs", "outputs"):
            entry[key] = [{**t, "shape": list(t["shape"]), "min": list(t["min"]),
                           "opt": list(t["opt"]), "max": list(t["max"])} for t in entry[key]]
        nets[name] = entry
    return {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "engine": engine,
        "precision": precision,
        "batch": batch,
        "config": config,
        "networks": nets,
        "versions": versions,
        "tensorrt": tensorrt,
        "build_command": build_command,
        "verification": verification,
        **(extra or {}),
    }


# ----- reading ---------------------------------------------------------------------------------
def read_manifest(directory: str | Path) -> Manifest:
    """Parse and type-check ``directory/manifest.json`` (no hashing; see :func:`verify_files`).

    Raises :class:`NotFound` when there is no manifest, :class:`CorruptFile` naming the field
    when it is malformed, :class:`Incompatible` when it is a newer format.
    """
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise NotFound(f"bundle {str(directory)!r} has no {MANIFEST_NAME}")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFile(f"{path}: not valid JSON ({exc})") from exc
    return parse_manifest(data, directory)


def parse_manifest(data: Any, directory: Path) -> Manifest:
    """Validate a parsed manifest (see :func:`read_manifest`)."""
    src = str(directory / MANIFEST_NAME)
    _expect(isinstance(data, dict), src, "", data, "a JSON object")
    if data.get("format") != BUNDLE_FORMAT:
        raise CorruptFile(f"{src}: field 'format' is {data.get('format')!r}, "
                          f"expected {BUNDLE_FORMAT!r}")
    version = data.get("format_version")
    if version != BUNDLE_VERSION:
        raise Incompatible(f"{src}: field 'format_version' is {version!r}, this build reads "
                           f"version {BUNDLE_VERSION}; re-export the bundle")
    engine = _field(data, "engine", str, src)
    _expect(engine in ENGINES, src, "engine", engine, f"one of {sorted(ENGINES)}")
    precision = _field(data, "precision", str, src)
    _expect(precision in PRECISIONS, src, "precision", precision, f"one of {sorted(PRECISIONS)}")
    batch = _field(data, "batch", int, src)
    _expect(batch >= 1, src, "batch", batch, "an integer >= 1")
    config = _parse_config(_field(data, "config", dict, src), src)
    nets = _field(data, "networks", dict, src)
    networks = {name: _parse_network(name, nets.get(name), src, ENGINES[engine])
                for name in NETWORKS}
    trt = data.get("tensorrt")
    _expect(trt is None or isinstance(trt, dict), src, "tensorrt", trt, "an object or null")
    if engine == "tensorrt":
        _expect(isinstance(trt, dict), src, "tensorrt", trt, "an object for a TensorRT bundle")
        _field(trt, "version", str, src, "tensorrt.")
        cc = trt.get("compute_capability")
        _expect(isinstance(cc, list) and len(cc) == 2 and all(_is_int(c) for c in cc), src,
                "tensorrt.compute_capability", cc, "[major, minor]")
        _field(trt, "hardware_compatibility_level", str, src, "tensorrt.")
    return Manifest(
        directory=directory, engine=engine, precision=precision, batch=batch, config=config,
        networks=networks, versions=dict(data.get("versions") or {}), tensorrt=trt,
        build_command=str(data.get("build_command", "")),
        verification=dict(data.get("verification") or {}), raw=data,
    )


def _parse_config(cfg: dict, src: str) -> BundleModelConfig:
    size = cfg.get("native_size")
    _expect(isinstance(size, list) and len(size) == 2 and all(_is_int(s) for s in size), src,
            "config.native_size", size, "[W, H] integers")
    latent = _field(cfg, "latent", dict, src, "config.")
    for name, kind in (("channels", int), ("stride", int), ("scaling", float), ("shift", float)):
        _field(latent, name, kind, src, "config.latent.")
    return BundleModelConfig(
        architecture=_field(cfg, "architecture", str, src, "config."),
        native_size=(size[0], size[1]),
        sampler_steps=_field(cfg, "sampler_steps", int, src, "config."),
        latent=dict(latent),
        model_id=_field(cfg, "model_id", str, src, "config."),
        raw=cfg,
    )


def _parse_network(name: str, entry: Any, src: str, suffix: str) -> NetworkEntry:
    where = f"networks.{name}"
    if entry is None:
        raise CorruptFile(f"{src}: field {where!r} is missing; a bundle holds "
                          f"{', '.join(NETWORKS)}")
    _expect(isinstance(entry, dict), src, where, entry, "an object")
    file = _field(entry, "file", str, src, where + ".")
    _expect(Path(file).name == file and file.endswith(suffix), src, where + ".file", file,
            f"a plain file name ending in {suffix!r}")
    sha = _field(entry, "sha256", str, src, where + ".")
    _expect(len(sha) == 64 and all(c in "0123456789abcdef" for c in sha), src,
            where + ".sha256", sha, "64 lowercase hex digits")
    inputs, outputs = IO_NAMES[name]
    specs = {}
    for key, names in (("inputs", inputs), ("outputs", outputs)):
        items = _field(entry, key, list, src, where + ".")
        got = [t.get("name") if isinstance(t, dict) else t for t in items]
        _expect(got == list(names), src, f"{where}.{key}", got, f"names {list(names)}")
        specs[key] = tuple(_parse_tensor(t, src, f"{where}.{key}.{t['name']}") for t in items)
    return NetworkEntry(
        name=name, file=file, sha256=sha, bytes=_field(entry, "bytes", int, src, where + "."),
        inputs=specs["inputs"], outputs=specs["outputs"],
        exporter=_field(entry, "exporter", str, src, where + "."),
        opset=_field(entry, "opset", int, src, where + "."),
    )


def _parse_tensor(t: dict, src: str, where: str) -> TensorSpec:
    dtype = _field(t, "dtype", str, src, where + ".")
    _expect(dtype in PRECISIONS.values(), src, where + ".dtype", dtype,
            f"one of {sorted(PRECISIONS.values())}")
    shape = _field(t, "shape", list, src, where + ".")
    _expect(all(_is_int(s) or isinstance(s, str) for s in shape), src, where + ".shape", shape,
            "integers and axis names")
    dims = {}
    for key in ("min", "opt", "max"):
        dims[key] = _field(t, key, list, src, where + ".")
        _expect(len(dims[key]) == len(shape) and all(_is_int(s) and s >= 1 for s in dims[key]),
                src, f"{where}.{key}", dims[key], f"{len(shape)} positive integers")
    _expect(all(a <= b <= c for a, b, c in zip(dims["min"], dims["opt"], dims["max"],
                                                strict=True)),
            src, where, [dims["min"], dims["opt"], dims["max"]], "min <= opt <= max per axis")
    return TensorSpec(name=t["name"], dtype=dtype, shape=tuple(shape),
                      min=tuple(dims["min"]), opt=tuple(dims["opt"]), max=tuple(dims["max"]))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _expect(ok: bool, src: str, where: str, value: Any, expected: str) -> None:
    if not ok:
        name = f"field {where!r}" if where else "the manifest"
        text = repr(value)
        text = text if len(text) <= 80 else text[:77] + "..."
        raise CorruptFile(f"{src}: {name} is {text}, expected {expected}")


def _field(data: dict, name: str, kind: type, src: str, prefix: str = "") -> Any:
    if name not in data:
        raise CorruptFile(f"{src}: field {prefix + name!r} is missing")
    value = data[name]
    if kind is int:
        ok = _is_int(value)
    elif kind is float:
        ok = _is_int(value) or (isinstance(value, float) and math.isfinite(value))
    else:
        ok = isinstance(value, kind)
    _expect(ok, src, prefix + name, value, kind.__name__)
    return value


def verify_files(manifest: Manifest) -> None:
    """Check every network file against its manifest sha256.

    Raises :class:`NotFound` naming a missing file and :class:`CorruptFile` naming a file whose
    bytes changed, with both digests.
    """
    for name in NETWORKS:
        entry = manifest.networks[name]
        path = manifest.directory / entry.file
        if not path.is_file():
            raise NotFound(f"bundle {str(manifest.directory)!r}: network {name!r} file "
                           f"{entry.file!r} is missing")
        actual = sha256_file(path)
        if actual != entry.sha256:
            raise CorruptFile(
                f"bundle {str(manifest.directory)!r}: {entry.file} has sha256 {actual[:16]}…, "
                f"the manifest records {entry.sha256[:16]}… (file modified or truncated; "
                f"re-export the bundle)"
            )


def open_bundle(source: str | Path, engine: str, backend: str) -> Manifest:
    """Read and verify the bundle at ``source`` for ``backend``, which runs ``engine`` files.

    Errors name what was expected: a checkpoint directory (``config.json``) or the bundled
    checkpoint passed to a bundle backend, a bundle of the other engine kind, a manifest that
    does not parse, or files that do not match their hashes.
    """
    hint = (f"the {backend} backend takes an engine bundle made by `latentstage export "
            f"--format {engine} --out DIR`")
    if str(source) in ("", "bundled"):
        raise InvalidInput("source", str(source), f"a bundle directory ({hint}); the bundled "
                           f"checkpoint runs with --backend torch")
    directory = Path(source)
    if not directory.is_dir():
        raise NotFound(f"bundle directory {str(directory)!r} does not exist ({hint})")
    if not (directory / MANIFEST_NAME).is_file():
        if all((directory / f).is_file() for f in _CHECKPOINT_FILES):
            raise Incompatible(f"{str(directory)!r} is a checkpoint directory (config.json, "
                               f"model.safetensors), not an engine bundle: {hint}, or use "
                               f"--backend torch for checkpoints")
        raise NotFound(f"{str(directory)!r} has no {MANIFEST_NAME}: {hint}")
    manifest = read_manifest(directory)
    if manifest.engine != engine:
        raise Incompatible(f"bundle {str(directory)!r}: field 'engine' is {manifest.engine!r}, "
                           f"the {backend} backend runs {engine!r} bundles")
    verify_files(manifest)
    return manifest


def output_shapes(
    network: str, inputs: list[tuple[int, ...]], channels: int, stride: int
) -> list[tuple[int, ...]]:
    """The output shapes the model contract gives ``network`` for these input shapes."""
    if network == "encoder":
        b, _, h, w = inputs[0]
        return [(b, channels, h // stride, w // stride)]
    if network == "decoder":
        b, _, h, w = inputs[0]
        return [(b, 3, h * stride, w * stride)]
    b, c, h, w = inputs[0]
    return [(b, c, h, w), (b, 1, h, w)]


def check_inputs(entry: NetworkEntry, shapes: list[tuple[int, ...]]) -> None:
    """Raise :class:`InvalidInput` naming the first input whose shape the bundle cannot run."""
    for spec, shape in zip(entry.inputs, shapes, strict=True):
        if not spec.accepts(shape):
            raise InvalidInput(f"{entry.name}.{spec.name}.shape", list(shape),
                               f"{spec.range_text()} (the bundle's exported range)")


def is_bundle(source: str | Path) -> bool:
    """Whether ``source`` is a directory with a ``manifest.json``."""
    return (Path(source) / MANIFEST_NAME).is_file()


# ----- compatibility -------------------------------------------------------------------------
def check_tensorrt_compatible(
    manifest: Manifest, version: str, capability: tuple[int, int]
) -> None:
    """Refuse a TensorRT bundle built for another TensorRT major version or GPU capability.

    Args:
        version: the installed TensorRT version, e.g. "10.13.0".
        capability: (major, minor) compute capability of the GPU it would run on.

    A "none" or "same_compute_capability" hardware-compatibility level needs the same capability
    as the build GPU; "ampere_plus" accepts any capability from 8.0 up.
    """
    trt = manifest.tensorrt or {}
    src = f"bundle {str(manifest.directory)!r}"
    built = str(trt.get("version", ""))
    if built.split(".")[0] != str(version).split(".")[0]:
        raise Incompatible(f"{src}: built with TensorRT {built}, this machine has TensorRT "
                           f"{version} (major versions differ); rebuild the bundle here")
    want = tuple(int(c) for c in trt.get("compute_capability", (0, 0)))
    have = tuple(int(c) for c in capability)
    level = str(trt.get("hardware_compatibility_level", "none"))
    if level == "ampere_plus":
        if have < (8, 0):
            raise Incompatible(f"{src}: hardware_compatibility_level 'ampere_plus' needs compute "
                               f"capability >= 8.0, this GPU has {have[0]}.{have[1]}")
    elif have != want:
        raise Incompatible(
            f"{src}: built for compute capability {want[0]}.{want[1]} "
            f"({trt.get('gpu', 'unknown GPU')}, hardware_compatibility_level {level!r}), this "
            f"GPU has {have[0]}.{have[1]}; rebuild the bundle on this GPU or export with "
            f"--hardware-compatibility ampere_plus"
        )


def check_snapshot_compatible(backend_or_manifest: Any, snapshot_path: str | Path) -> dict:
    """Refuse to continue a snapshot whose latent spec or model id differs from this model's.

    Args:
        backend_or_manifest: anything with ``latent_spec()`` and ``model_id`` (a backend or a
            :class:`Manifest`).
        snapshot_path: a memory snapshot written by ``LatentMemory.save``.

    Returns the snapshot's metadata. Raises :class:`Incompatible` naming the first field that
    differs with both values.
    """
    from latentstage.runtime.snapshot import read_snapshot_metadata

    meta = read_snapshot_metadata(snapshot_path)
    ours = asdict(backend_or_manifest.latent_spec())
    theirs = meta.get("latent_spec") or {}
    src = f"snapshot {str(snapshot_path)!r}"
    for name, want in ours.items():
        got = theirs.get(name)
        if got != want:
            raise Incompatible(f"{src}: latent_spec.{name} is {got!r}, the model in use "
                               f"({backend_or_manifest.model_id}) has {want!r}")
    model_id = backend_or_manifest.model_id
    if meta.get("model_id") != model_id:
        raise Incompatible(f"{src}: model_id is {meta.get('model_id')!r}, the model in use is "
                           f"{model_id!r}")
    return meta
