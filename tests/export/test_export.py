"""Export: checkpoint -> verified ONNX bundle, parity with torch, manifest, failure modes.

One small random model (64x64 images, 8x8 latents) is exported once per module with the default
(dynamo) exporter; tests that need another bundle use the legacy exporter, which is ~20x faster.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from latentstage.export import verify
from latentstage.export.exporter import ExportOptions, export_bundle
from latentstage.export.networks import ShapePlan
from latentstage.export.onnx_export import OnnxRecord, export_network
from latentstage.export.samples import loop_poses, sample_frame
from latentstage.model.world_model import WorldModel, bundled_checkpoint_dir
from latentstage.runtime.backends import load_backend
from latentstage.runtime.backends.bundle import (
    check_snapshot_compatible,
    read_manifest,
    sha256_file,
)
from latentstage.runtime.errors import Incompatible, InvalidInput, NotFound
from latentstage.runtime.memory import LatentMemory, LatentSpec, MemoryConfig
from latentstage.runtime.pipeline import FrameStep, seed_memory

SIZE = (64, 64)
CPU = torch.device("cpu")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a shared machine, torch's OpenMP threads waiting on each other at
    every op made the 60-frame test 10x slower (52 s vs 5 s); no result depends on it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_checkpoint(path: Path, seed: int = 0) -> Path:
    """A random 64x64 model whose zero-initialised layers (residual convs, output heads) get
    small random weights, so every layer affects the outputs that parity compares."""
    torch.manual_seed(seed)
    model = WorldModel.create(native_size=SIZE).eval()
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0.0, 0.05)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "model")


@pytest.fixture(scope="module")
def bundle(checkpoint, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "onnx-fp32"
    export_bundle(ExportOptions(out=out, checkpoint=str(checkpoint)))
    return out


@pytest.fixture(scope="module")
def backends(checkpoint, bundle):
    return load_backend("torch", checkpoint, CPU), load_backend("onnxruntime", bundle, CPU)


def test_manifest_records_the_build(bundle, checkpoint):
    manifest = read_manifest(bundle)
    config = json.loads((checkpoint / "config.json").read_text())
    assert manifest.raw["config"] == config
    assert manifest.engine == "onnx" and manifest.precision == "fp32" and manifest.batch == 1
    assert sorted(p.name for p in bundle.iterdir()) == [
        "decoder.onnx", "denoiser.onnx", "encoder.onnx", "manifest.json"]
    for name, entry in manifest.networks.items():
        assert entry.sha256 == sha256_file(bundle / entry.file)
        assert entry.exporter == "dynamo" and entry.opset == 18
        assert all(t.dtype == "float32" for t in entry.inputs + entry.outputs), name
    enc = manifest.networks["encoder"]
    assert enc.inputs[0].shape == (1, 3, 64, 64) and enc.outputs[0].shape == (1, 12, 8, 8)
    den = manifest.networks["denoiser"]
    assert [t.name for t in den.inputs] == ["x_t", "t", "cond"]
    assert den.inputs[2].shape == (1, 21, 8, 8) and den.outputs[1].shape == (1, 1, 8, 8)
    for pkg in ("torch", "onnx", "onnxruntime", "onnxscript"):
        assert manifest.versions[pkg], pkg
    assert manifest.tensorrt is None and manifest.build_command.startswith("latentstage export")
    record = manifest.verification["onnxruntime"]
    assert record["tolerance"] == 1e-4 and record["max_error"] <= 1e-4
    kinds = {(c["network"], c["inputs"]) for c in record["cases"]}
    assert kinds == {(n, k) for n in ("encoder", "denoiser", "decoder")
                     for k in ("random", "real")}
    assert manifest.verification["inputs"]["real"]  # names the world or the synthetic image
    assert manifest.raw["shapes"] == {"dynamic": False, "min_size": [64, 64],
                                      "opt_size": [64, 64], "max_size": [64, 64]}


def test_backend_exposes_the_model_contract(backends, bundle):
    torch_b, ort_b = backends
    assert ort_b.name == "onnxruntime" and ort_b.provider == "CPUExecutionProvider"
    assert ort_b.model_id == torch_b.model_id != ""
    assert ort_b.latent_spec() == torch_b.latent_spec()
    assert ort_b.native_size == (64, 64) and ort_b.sampler_steps == torch_b.sampler_steps
    assert tuple(ort_b.config.native_size) == tuple(torch_b.config.native_size)


@pytest.mark.parametrize("network", ["encoder", "denoiser", "decoder"])
def test_network_parity_with_torch(backends, network):
    # fp32, max-norm relative error <= 1e-4: both sides compute in fp32 (unit roundoff 6e-8) and
    # differ only in the order convolutions are summed (oneDNN vs MLAS); over ~25 layers that
    # stays below ~1e-6, so 1e-4 has two orders of margin yet fails on any wrong op (O(1)).
    torch_b, ort_b = backends
    gen = torch.Generator().manual_seed(7)
    args = {"encoder": (torch.rand(1, 3, 64, 64, generator=gen),),
            "decoder": (torch.randn(1, 12, 8, 8, generator=gen),),
            "denoiser": (torch.randn(1, 12, 8, 8, generator=gen), torch.tensor([0.5]),
                         verify.random_cond(1, 12, 8, 8, gen))}[network]
    method = {"encoder": "encode", "denoiser": "denoise", "decoder": "decode"}[network]
    got, ref = getattr(ort_b, method)(*args), getattr(torch_b, method)(*args)
    for g, r in zip(*(x if isinstance(x, tuple) else (x,) for x in (got, ref)), strict=True):
        assert g.shape == r.shape and g.dtype == torch.float32
        assert verify.relative_error(g, r) <= 1e-4
        assert float(r.abs().max()) > 1e-3  # the comparison is not between two zeros


def test_outputs_are_preallocated_per_shape(backends):
    _, ort_b = backends
    a = ort_b.decode(torch.randn(1, 12, 8, 8)).data_ptr()
    b = ort_b.decode(torch.randn(1, 12, 8, 8)).data_ptr()
    assert a == b  # the same buffer every call: nothing allocated per frame


def test_shape_outside_the_exported_range_is_refused(backends):
    _, ort_b = backends
    with pytest.raises(InvalidInput, match=r"decoder\.latent\.shape.*\[1, 12, 8, 8\]"):
        ort_b.decode(torch.randn(1, 12, 4, 4))


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def _session(backend, frame, poses) -> tuple[list[torch.Tensor], int]:
    memory = LatentMemory(backend.latent_spec(), MemoryConfig(capacity=16_384), device=CPU,
                          model_id=backend.model_id)
    step = FrameStep(backend, memory, seed=11)
    seed_memory(backend, memory, frame.rgb[0], frame.depth,
                memory.camera(frame.intrinsics, frame.c2w), sky=frame.sky)
    frames = [step(memory.camera(frame.intrinsics, pose), i, 2).rgb.clone()
              for i, pose in enumerate(poses)]
    return frames, len(memory)


def test_sixty_frame_loop_matches_torch(backends):
    # Same seed, same world, same poses; the only difference is fp32 kernel rounding (~1e-6),
    # which memory feedback must not amplify: every frame within 40 dB PSNR (RMS < 0.01 of the
    # [0, 1] range) and the same number of stored points.
    torch_b, ort_b = backends
    frame = sample_frame(SIZE, 8)
    poses = loop_poses(frame, 60, seed=3)
    ref, ref_points = _session(torch_b, frame, poses)
    got, got_points = _session(ort_b, frame, poses)
    psnrs = [_psnr(g, r) for g, r in zip(got, ref, strict=True)]
    assert len(psnrs) == 60 and min(psnrs) >= 40.0
    assert got_points == ref_points > 0


def test_snapshot_latent_spec_is_checked(backends, tmp_path):
    torch_b, ort_b = backends
    memory = LatentMemory(ort_b.latent_spec(), MemoryConfig(capacity=1024),
                          model_id=ort_b.model_id)
    memory.save(tmp_path / "same.safetensors")
    assert check_snapshot_compatible(ort_b, tmp_path / "same.safetensors")["model_id"]
    assert check_snapshot_compatible(ort_b.manifest, tmp_path / "same.safetensors")
    spec = ort_b.latent_spec()
    other = LatentMemory(LatentSpec(spec.channels, spec.stride, spec.scaling * 2, spec.shift),
                         MemoryConfig(capacity=1024), model_id=ort_b.model_id)
    other.save(tmp_path / "other.safetensors")
    with pytest.raises(Incompatible, match="latent_spec.scaling"):
        check_snapshot_compatible(ort_b, tmp_path / "other.safetensors")


def test_dynamic_sizes_run_within_the_declared_range(checkpoint, tmp_path):
    out = tmp_path / "dyn"
    manifest = export_bundle(ExportOptions(out=out, checkpoint=str(checkpoint), size=(48, 32),
                                           min_size=(32, 32), max_size=(96, 64)))
    rgb = manifest.networks["encoder"].inputs[0]
    assert rgb.shape == (1, 3, "height", "width")
    assert (rgb.min, rgb.opt, rgb.max) == ((1, 3, 32, 32), (1, 3, 32, 48), (1, 3, 64, 96))
    sizes = {tuple(c["size"]) for c in manifest.verification["onnxruntime"]["cases"]}
    assert sizes == {(32, 32), (48, 32), (96, 64)}  # verified at min, opt and max
    ort_b = load_backend("onnxruntime", out, CPU)
    torch_b = load_backend("torch", checkpoint, CPU)
    latent = torch.randn(1, 12, 6, 10)  # 80x48 pixels: inside the range, never exported at
    # fp32 tolerance, as in test_network_parity_with_torch.
    assert verify.relative_error(ort_b.decode(latent), torch_b.decode(latent)) <= 1e-4
    with pytest.raises(InvalidInput, match=r"\[1, 12, 4\.\.8, 4\.\.12\]"):
        ort_b.decode(torch.randn(1, 12, 2, 2))


def test_fp16_bundle_matches_torch_fp16(checkpoint, tmp_path):
    manifest = export_bundle(ExportOptions(out=tmp_path / "fp16", checkpoint=str(checkpoint),
                                           precision="fp16", exporter="legacy"))
    assert manifest.precision == "fp16"
    assert manifest.networks["decoder"].inputs[0].dtype == "float16"
    record = manifest.verification["onnxruntime"]
    # fp16 rounds at 4.9e-4; kernels round intermediates at different points: <= 1e-2.
    assert record["tolerance"] == 1e-2 and record["max_error"] <= 1e-2
    assert all("error_vs_fp32" in c for c in record["cases"])
    ort_b = load_backend("onnxruntime", tmp_path / "fp16", CPU)
    out = ort_b.decode(torch.randn(1, 12, 8, 8))
    assert out.dtype == torch.float32 and out.shape == (1, 3, 64, 64)  # cast back at the edge


def test_failed_verification_leaves_no_bundle(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setitem(verify.TOLERANCES, "fp32", 0.0)  # nothing can pass
    out = tmp_path / "never"
    with pytest.raises(verify.ParityError, match="exceeds the fp32 tolerance 0"):
        export_bundle(ExportOptions(out=out, checkpoint=str(checkpoint), exporter="legacy"))
    assert list(tmp_path.iterdir()) == []  # neither the bundle nor its temporary directory


def test_legacy_fallback_is_recorded(checkpoint, tmp_path, monkeypatch):
    from latentstage.export import onnx_export

    real = onnx_export._run_exporter

    def dynamo_fails(kind, *args):
        if kind == "dynamo":
            raise RuntimeError("unsupported op (simulated)")
        return real(kind, *args)

    monkeypatch.setattr(onnx_export, "_run_exporter", dynamo_fails)
    model = WorldModel.from_pretrained(checkpoint)
    plan = ShapePlan.create(8, 1, SIZE)
    record = export_network(model, "decoder", tmp_path / "decoder.onnx", plan, "fp32")
    assert record == OnnxRecord("legacy", 18, "dynamo: RuntimeError: unsupported op (simulated)")
    with pytest.raises(onnx_export.OnnxExportError, match="dynamo: RuntimeError"):
        export_network(model, "decoder", tmp_path / "d2.onnx", plan, "fp32", exporter="dynamo")


@pytest.mark.parametrize("kwargs, field", [
    ({"precision": "bf16"}, "precision"),
    ({"format": "tensorrt", "device": "cpu"}, "device"),
    ({"format": "tflite"}, "format"),
    ({"exporter": "jit"}, "exporter"),
])
def test_invalid_options_name_the_field(kwargs, field, tmp_path):
    with pytest.raises(InvalidInput) as info:
        ExportOptions(out=tmp_path / "x", **kwargs)
    assert info.value.field == field


def test_invalid_sizes_name_the_field():
    with pytest.raises(InvalidInput, match="size"):
        ShapePlan.create(8, 1, (60, 64))
    with pytest.raises(InvalidInput, match="min_size"):
        ShapePlan.create(8, 1, (64, 64), (128, 64), (64, 64))
    plan = ShapePlan.create(8, 2, (200, 64), (32, 32), (128, 96))
    assert plan.opt_size == (128, 64) and plan.dynamic  # the tuned size is clamped into range


def test_existing_output_needs_force(checkpoint, bundle, tmp_path):
    with pytest.raises(InvalidInput, match="--force"):
        export_bundle(ExportOptions(out=bundle, checkpoint=str(checkpoint)))
    (tmp_path / "notabundle").mkdir()
    with pytest.raises(Incompatible, match="bundles only"):
        export_bundle(ExportOptions(out=tmp_path / "notabundle", checkpoint=str(checkpoint),
                                    force=True))


def test_cli_export_through_the_runtime_entry_point(checkpoint, tmp_path):
    from typer.testing import CliRunner

    from latentstage.runtime.cli import app

    out = tmp_path / "cli-bundle"
    args = ["export", "--checkpoint", str(checkpoint), "--out", str(out), "--exporter", "legacy",
            "--size", "64x64", "--batch", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest.batch == 2 and manifest.networks["denoiser"].inputs[1].shape == (2,)
    assert "--exporter legacy" in manifest.build_command
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "--force" in again.output
    help_text = CliRunner().invoke(app, ["export", "--help"])
    assert help_text.exit_code == 0 and "--min-size" in help_text.output
    bench_help = CliRunner().invoke(app, ["bench", "backends", "--help"])
    assert bench_help.exit_code == 0 and "--device" in bench_help.output


def test_real_sample_inputs_are_an_image_with_depth():
    frame = sample_frame(SIZE, 8)
    assert frame.rgb.shape == (1, 3, 64, 64) and 0.0 <= float(frame.rgb.min())
    assert float(frame.rgb.max()) <= 1.0 and float(frame.rgb.std()) > 0.01
    assert frame.depth.shape == (8, 8) and bool((frame.depth[~frame.sky] > 0).all())
    poses = loop_poses(frame, 10)
    assert poses.shape == (10, 4, 4)
    rot = poses[:, :3, :3]
    assert np.allclose(rot @ rot.transpose(0, 2, 1), np.eye(3), atol=1e-6)  # rigid poses
    assert not np.allclose(poses[0], poses[len(poses) // 4])  # the camera moves


def test_bundled_checkpoint_exports(tmp_path):
    try:
        ckpt = bundled_checkpoint_dir()
    except NotFound as exc:
        pytest.skip(f"no bundled checkpoint: {exc}")
    manifest = export_bundle(ExportOptions(out=tmp_path / "bundled", checkpoint=str(ckpt),
                                           exporter="legacy"))
    assert manifest.model_id == WorldModel.from_pretrained(ckpt).model_id
    assert manifest.verification["onnxruntime"]["max_error"] <= 1e-4
