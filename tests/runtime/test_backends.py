"""Backends: choosing by name, what each accepts, refusing bad bundles, GPU paths (skipped
without the hardware or package, with the reason)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from latentstage.export.exporter import ExportOptions, export_bundle
from latentstage.export.verify import random_cond, relative_error, strict_fp32
from latentstage.model.world_model import WorldModel
from latentstage.runtime.backends import BACKENDS, Backend, load_backend
from latentstage.runtime.backends.bundle import (
    MANIFEST_NAME,
    check_tensorrt_compatible,
    read_manifest,
    sha256_file,
)
from latentstage.runtime.errors import CorruptFile, Incompatible, InvalidInput, NotFound

CPU = torch.device("cpu")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as in tests/export (robust timing on a shared machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    model = WorldModel.create(native_size=(64, 64)).eval()
    with torch.no_grad():  # give the zero-initialised layers weights (see tests/export)
        for p in model.parameters():
            if not p.any():
                p.normal_(0.0, 0.05)
    return model.save_pretrained(tmp_path_factory.mktemp("ckpt") / "model")


@pytest.fixture(scope="module")
def pristine(checkpoint, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "onnx"
    export_bundle(ExportOptions(out=out, checkpoint=str(checkpoint), exporter="legacy"))
    return out


@pytest.fixture
def bundle(pristine, tmp_path) -> Path:
    """A private copy of the bundle that a test may damage."""
    return Path(shutil.copytree(pristine, tmp_path / "bundle"))


def _edit_manifest(bundle: Path, edit) -> None:
    path = bundle / MANIFEST_NAME
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_registry_names_every_backend():
    assert set(BACKENDS) == {"torch", "onnxruntime", "tensorrt"}
    with pytest.raises(InvalidInput, match="one of"):
        load_backend("openvino", "x")


def test_each_backend_satisfies_the_protocol(checkpoint, pristine):
    for backend in (load_backend("torch", checkpoint), load_backend("onnxruntime", pristine)):
        assert isinstance(backend, Backend)
        assert backend.device == CPU


def test_torch_backend_is_eager_on_cpu(checkpoint):
    backend = load_backend("torch", checkpoint, CPU)
    assert backend.provider == "eager" and not backend.compiled and not backend.cuda_graphs
    from latentstage.runtime.backends.torch_backend import load

    with pytest.raises(Incompatible, match="need a CUDA device"):
        load(checkpoint, CPU, cuda_graphs=True)


def test_wrong_kind_of_directory_names_what_was_expected(checkpoint, pristine):
    with pytest.raises(Incompatible, match="checkpoint directory.*--backend torch"):
        load_backend("onnxruntime", checkpoint)
    with pytest.raises(Incompatible, match="engine bundle.*--backend onnxruntime"):
        load_backend("torch", pristine)
    with pytest.raises(InvalidInput, match="bundle directory"):
        load_backend("onnxruntime", "bundled")
    with pytest.raises(Incompatible, match="field 'engine' is 'onnx'.*'tensorrt'"):
        load_backend("tensorrt", pristine)
    with pytest.raises(NotFound, match="does not exist"):
        load_backend("onnxruntime", pristine.parent / "missing")


def test_tampered_file_is_refused(bundle):
    with open(bundle / "denoiser.onnx", "r+b") as f:
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(CorruptFile, match=r"denoiser\.onnx has sha256 .* the manifest records"):
        load_backend("onnxruntime", bundle)


def test_missing_network_file_is_refused(bundle):
    (bundle / "decoder.onnx").unlink()
    with pytest.raises(NotFound, match="network 'decoder' file 'decoder.onnx' is missing"):
        load_backend("onnxruntime", bundle)


def test_missing_network_entry_is_refused(bundle):
    _edit_manifest(bundle, lambda d: d["networks"].pop("encoder"))
    with pytest.raises(CorruptFile, match="'networks.encoder' is missing"):
        load_backend("onnxruntime", bundle)


@pytest.mark.parametrize("edit, error, match", [
    (lambda d: d.update(format_version=99), Incompatible, "format_version' is 99"),
    (lambda d: d.update(format="zip"), CorruptFile, "field 'format' is 'zip'"),
    (lambda d: d.update(precision="int8"), CorruptFile, "'precision' is 'int8'"),
    (lambda d: d["config"].pop("latent"), CorruptFile, "'config.latent' is missing"),
    (lambda d: d["networks"]["encoder"].update(file="../x.onnx"), CorruptFile,
     "networks.encoder.file"),
    (lambda d: d["networks"]["decoder"]["inputs"][0].update(min=[1, 12, 9, 9]), CorruptFile,
     "min <= opt <= max"),
    (lambda d: d["networks"]["denoiser"].update(inputs=[]), CorruptFile, "names"),
])
def test_wrong_manifest_is_refused_naming_the_field(bundle, edit, error, match):
    _edit_manifest(bundle, edit)
    with pytest.raises(error, match=match):
        load_backend("onnxruntime", bundle)


def test_manifest_that_is_not_json_is_refused(bundle):
    (bundle / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(CorruptFile, match="not valid JSON"):
        read_manifest(bundle)


def _trt_manifest(bundle: Path, capability=(9, 0), level="none", version="10.13.0"):
    manifest = read_manifest(bundle)
    facts = {"version": version, "gpu": "NVIDIA H100", "compute_capability": list(capability),
             "hardware_compatibility_level": level}
    return replace(manifest, engine="tensorrt", tensorrt=facts)


def test_tensorrt_bundle_for_another_gpu_or_major_version_is_refused(pristine):
    check_tensorrt_compatible(_trt_manifest(pristine), "10.7.1", (9, 0))  # minor may differ
    with pytest.raises(Incompatible, match="TensorRT 10.13.0.*TensorRT 11.0.0"):
        check_tensorrt_compatible(_trt_manifest(pristine), "11.0.0", (9, 0))
    with pytest.raises(Incompatible, match="compute capability 9.0.*this GPU has 8.9"):
        check_tensorrt_compatible(_trt_manifest(pristine), "10.13.0", (8, 9))
    ampere = _trt_manifest(pristine, level="ampere_plus")
    check_tensorrt_compatible(ampere, "10.13.0", (8, 6))
    with pytest.raises(Incompatible, match="ampere_plus.*7.5"):
        check_tensorrt_compatible(ampere, "10.13.0", (7, 5))


def test_tensorrt_backend_without_tensorrt_says_how_to_get_it(pristine, tmp_path):
    """A well-formed TensorRT bundle (fake engine bytes) fails at the first thing missing:
    the tensorrt package, or on a machine with it, a CUDA device."""
    out = tmp_path / "trt"
    out.mkdir()
    data = json.loads((pristine / MANIFEST_NAME).read_text())
    data.update(engine="tensorrt", tensorrt={
        "version": "10.13.0", "gpu": "NVIDIA H100", "compute_capability": [9, 0],
        "hardware_compatibility_level": "none"})
    for name, entry in data["networks"].items():
        (out / f"{name}.engine").write_bytes(b"not an engine " + name.encode())
        entry.update(file=f"{name}.engine", sha256=sha256_file(out / f"{name}.engine"))
    (out / MANIFEST_NAME).write_text(json.dumps(data))
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(Incompatible, match=r"latentstage\[tensorrt\]"):
            load_backend("tensorrt", out, CPU)
    else:
        with pytest.raises(InvalidInput, match="a CUDA device"):
            load_backend("tensorrt", out, CPU)


def test_onnxruntime_cuda_without_the_gpu_provider_is_explained(pristine):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed (see test_onnxruntime_cuda_parity)")
    from latentstage.runtime.backends.onnxruntime_backend import _providers

    with pytest.raises(Incompatible, match=r"latentstage\[gpu\]"):
        _providers(torch.device("cuda", 0), ort)


# ----- GPU paths: skipped here (no CUDA, no TensorRT); never claimed to have run ---------------
@pytest.fixture
def fp32():
    """TF32 off in torch's CUDA convolutions and matmuls, so references are fp32."""
    with strict_fp32():
        yield


def _inputs(device):
    gen = torch.Generator().manual_seed(3)
    latent = torch.randn(1, 12, 8, 8, generator=gen)
    return {"encode": (torch.rand(1, 3, 64, 64, generator=gen),), "decode": (latent,),
            "denoise": (latent, torch.tensor([0.5]), random_cond(1, 12, 8, 8, gen))}, device


@CUDA
def test_torch_cuda_graphs_match_eager(checkpoint, fp32):
    # Same kernels replayed from a graph (and, with Triton, fused by torch.compile): fp32
    # reassociation only, so the fp32 tolerance of the export parity tests (1e-4) applies
    # (with TF32 off, see the fp32 fixture).
    from latentstage.runtime.backends.torch_backend import load

    device = torch.device("cuda", 0)
    eager = load(checkpoint, device, compile=False, cuda_graphs=False)
    fast = load(checkpoint, device)
    assert fast.cuda_graphs
    cases, _ = _inputs(device)
    for method, args in cases.items():
        args = tuple(a.to(device) for a in args)
        for _ in range(2):  # the first call captures, the second replays
            got = getattr(fast, method)(*args)
        ref = getattr(eager, method)(*args)
        for g, r in zip(*(x if isinstance(x, tuple) else (x,) for x in (got, ref)), strict=True):
            assert relative_error(g, r) <= 1e-4, method


@CUDA
def test_onnxruntime_cuda_parity(checkpoint, pristine, fp32):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu (CUDAExecutionProvider) is not installed")
    device = torch.device("cuda", 0)
    ort_b = load_backend("onnxruntime", pristine, device)
    assert ort_b.provider == "CUDAExecutionProvider"
    torch_b = load_backend("torch", checkpoint, device)
    cases, _ = _inputs(device)
    for method, args in cases.items():
        args = tuple(a.to(device) for a in args)
        got, ref = getattr(ort_b, method)(*args), getattr(torch_b, method)(*args)
        for g, r in zip(*(x if isinstance(x, tuple) else (x,) for x in (got, ref)), strict=True):
            assert g.device == device  # nothing crossed to the host
            assert relative_error(g, r) <= 1e-4, method  # fp32: see tests/export


@CUDA
def test_tensorrt_export_and_parity(checkpoint, tmp_path, fp32):
    pytest.importorskip("tensorrt", reason="TensorRT is not installed (pip install "
                                           "'latentstage[tensorrt]')")
    device = torch.device("cuda", 0)
    cache = tmp_path / "timing.cache"
    options = ExportOptions(out=tmp_path / "trt", checkpoint=str(checkpoint), format="tensorrt",
                            device="cuda:0", timing_cache=cache, min_size=(32, 32),
                            max_size=(96, 96), size=(64, 64))
    manifest = export_bundle(options)
    assert cache.is_file() and manifest.tensorrt["compute_capability"] == list(
        torch.cuda.get_device_capability(device))
    assert manifest.verification["tensorrt"]["max_error"] <= 1e-4
    again = export_bundle(replace(options, out=tmp_path / "trt2"))
    assert all(b["timing_cache_reused"] for b in again.tensorrt["builds"].values())
    trt_b = load_backend("tensorrt", tmp_path / "trt", device)
    torch_b = load_backend("torch", checkpoint, device)
    latent = torch.randn(1, 12, 10, 6, device=device)  # inside the range, not an export size
    assert relative_error(trt_b.decode(latent), torch_b.decode(latent)) <= 1e-4
