"""Latent generator and build_cond: layout, shapes at odd sizes, the copy-the-memory bias."""

from __future__ import annotations

import math

import pytest
import torch

from latentstage.model.generator import (
    COND_EXTRA_CHANNELS,
    DEPTH_MAX,
    DEPTH_MIN,
    LatentGenerator,
    build_cond,
)
from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.sampler import sample

TINY = {"latent_channels": 4, "cond_channels": 13, "base_channels": 8, "time_dim": 16}


def _readout(b: int, c: int, h: int, w: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(b, c, h, w, generator=g)
    depth = torch.rand(b, h, w, generator=g) * 10 + 0.5
    coverage = (torch.rand(b, h, w, generator=g) > 0.4).float()
    depth = depth * coverage
    sky = torch.zeros(b, h, w)
    plucker = torch.randn(b, 6, h, w, generator=g)
    return features, depth, coverage, sky, plucker


def test_build_cond_layout():
    features, depth, coverage, sky, plucker = _readout(2, 4, 5, 7)
    sky[:, 0] = 1.0
    cond = build_cond(features, depth, coverage, sky, plucker)
    assert cond.shape == (2, 4 + COND_EXTRA_CHANNELS, 5, 7)
    covered = coverage[:, None] > 0
    torch.testing.assert_close(cond[:, :4], torch.where(covered, features, 0.0), atol=0, rtol=0)
    assert float(cond[:, :4].abs().amax(dim=1)[coverage == 0].max()) == 0.0  # uncovered: zero
    inv = cond[:, 4]
    assert torch.equal(inv[depth == 0], torch.zeros(int((depth == 0).sum())))
    torch.testing.assert_close(inv[depth > 0], 1.0 / depth[depth > 0])
    assert torch.equal(cond[:, 5], coverage) and torch.equal(cond[:, 6], sky)
    assert torch.equal(cond[:, 7:], plucker)
    assert torch.isfinite(cond).all()


def test_build_cond_rejects_mismatched_shapes():
    features, depth, coverage, sky, plucker = _readout(1, 4, 5, 7)
    with pytest.raises(InvalidInput, match="plucker.shape"):
        build_cond(features, depth, coverage, sky, plucker[:, :3])
    with pytest.raises(InvalidInput, match="coverage.shape"):
        build_cond(features, depth, coverage[:, :4], sky, plucker)


@pytest.mark.parametrize("h,w", [(16, 16), (8, 14), (18, 32), (9, 15)])
def test_shapes_and_depth_range(h: int, w: int):
    torch.manual_seed(0)
    gen = LatentGenerator(**TINY).eval()
    for p in gen.parameters():  # leave the zero-initialised heads behind
        p.data.normal_(0, 0.5)
    cond = build_cond(*_readout(2, 4, h, w))
    with torch.no_grad():
        v, depth = gen.denoise(torch.randn(2, 4, h, w), torch.tensor([1.0, 0.3]), cond)
    assert v.shape == (2, 4, h, w) and depth.shape == (2, 1, h, w)
    assert torch.isfinite(v).all()
    assert float(depth.min()) >= DEPTH_MIN * (1 - 1e-6)
    assert float(depth.max()) <= DEPTH_MAX * (1 + 1e-6)


def test_default_config_runs_at_a_16_9_latent():
    gen = LatentGenerator().eval()  # 12 latent channels, cond 21
    cond = build_cond(*_readout(1, 12, 18, 32))
    with torch.no_grad():
        v, depth = gen(torch.randn(1, 12, 18, 32), torch.ones(1), cond)
    assert v.shape == (1, 12, 18, 32) and depth.shape == (1, 1, 18, 32)


def test_fresh_generator_copies_the_memory():
    """Zero-initialised heads: x0 = x_t - t v is the readout, depth is the readout's depth."""
    gen = LatentGenerator(**TINY).eval()
    features, depth, coverage, sky, plucker = _readout(1, 4, 6, 10)
    cond = build_cond(features, depth, coverage, sky, plucker)
    x_t, t = torch.randn(1, 4, 6, 10), torch.tensor([0.5])
    with torch.no_grad():
        v, out_depth = gen(x_t, t, cond)
    torch.testing.assert_close(x_t - 0.5 * v, cond[:, :4], atol=1e-6, rtol=0)
    covered = depth[:, None] > 0
    torch.testing.assert_close(out_depth[covered], depth[:, None][covered], rtol=1e-5, atol=0)
    assert torch.equal(out_depth[~covered], torch.ones(int((~covered).sum())))  # exp(0) metres


def test_one_step_sampling_with_a_fresh_generator_returns_the_memory():
    gen = LatentGenerator(**TINY).eval()
    cond = build_cond(*_readout(1, 4, 8, 8, seed=5))
    x0, _ = sample(gen.denoise, cond, steps=1, generator_seed=0, shape=(1, 4, 8, 8))
    torch.testing.assert_close(x0, cond[:, :4], atol=1e-6, rtol=0)


@pytest.mark.parametrize("args,field", [
    ({"cond_channels": 12}, "cond_channels"),
    ({"base_channels": 0}, "base_channels"),
    ({"blocks": 1.5}, "blocks"),
])
def test_constructor_rejects_bad_arguments(args, field):
    with pytest.raises(InvalidInput, match=field):
        LatentGenerator(**{**TINY, **args})


def test_denoise_rejects_bad_shapes():
    gen = LatentGenerator(**TINY)
    x, t, cond = torch.zeros(1, 4, 6, 6), torch.ones(1), torch.zeros(1, 13, 6, 6)
    with pytest.raises(InvalidInput, match="x_t.shape"):
        gen(torch.zeros(1, 5, 6, 6), t, cond)
    with pytest.raises(InvalidInput, match="t.shape"):
        gen(x, torch.ones(2), cond)
    with pytest.raises(InvalidInput, match="cond.shape"):
        gen(x, t, torch.zeros(1, 13, 6, 7))


def test_time_changes_the_output():
    torch.manual_seed(1)
    gen = LatentGenerator(**TINY).eval()
    for p in gen.parameters():
        p.data.normal_(0, 0.5)
    cond, x = build_cond(*_readout(1, 4, 6, 6)), torch.randn(1, 4, 6, 6)
    with torch.no_grad():
        a, _ = gen(x, torch.tensor([0.9]), cond)
        b, _ = gen(x, torch.tensor([0.8]), cond)
    assert not torch.allclose(a * 0.9, b * 0.8)  # differs beyond the 1/t factor


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace, still a good proxy
def test_trace_at_a_fixed_shape_matches_eager():
    torch.manual_seed(2)
    gen = LatentGenerator(**TINY).eval()
    for p in gen.parameters():
        p.data.normal_(0, 0.2)
    inputs = (torch.randn(1, 4, 9, 15), torch.tensor([0.7]), build_cond(*_readout(1, 4, 9, 15)))
    with torch.no_grad():
        traced = torch.jit.trace(gen, inputs)
        for got, want in zip(traced(*inputs), gen(*inputs), strict=True):
            torch.testing.assert_close(got, want, atol=0, rtol=0)
        assert math.isfinite(float(traced(*inputs)[1].sum()))


def test_torch_export_at_a_fixed_shape_matches_eager():
    """torch.export (what the ONNX exporter builds on) finds no data-dependent control flow."""
    torch.manual_seed(3)
    gen = LatentGenerator(**TINY).eval()
    for p in gen.parameters():
        p.data.normal_(0, 0.2)
    inputs = (torch.randn(1, 4, 9, 15), torch.tensor([0.7]), build_cond(*_readout(1, 4, 9, 15)))
    program = torch.export.export(gen, inputs)
    with torch.no_grad():
        for got, want in zip(program.module()(*inputs), gen(*inputs), strict=True):
            torch.testing.assert_close(got, want, atol=1e-6, rtol=0)  # same ops, possibly fused
