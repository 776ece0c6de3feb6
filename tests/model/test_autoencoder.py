"""Autoencoder: shapes at several resolutions, output range, latent scaling, locality, tracing."""

from __future__ import annotations

import pytest
import torch

from latentstage.model.autoencoder import STRIDE, Autoencoder
from latentstage.runtime.errors import InvalidInput

TINY = {"latent_channels": 4, "channels": (4, 8, 8, 16), "latent_blocks": 1}


@pytest.fixture(scope="module")
def default_ae() -> Autoencoder:
    torch.manual_seed(0)
    return Autoencoder().eval()


@pytest.mark.parametrize("height,width", [(128, 128), (64, 112), (144, 256)])
def test_shapes_and_range(default_ae: Autoencoder, height: int, width: int):
    rgb = torch.rand(2, 3, height, width)
    with torch.no_grad():
        latent = default_ae.encode(rgb)
        out = default_ae.decode(latent)
    assert latent.shape == (2, 12, height // STRIDE, width // STRIDE)
    assert out.shape == (2, 3, height, width)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_config_is_the_constructor_arguments():
    ae = Autoencoder(**TINY)
    assert ae.config == {"latent_channels": 4, "channels": [4, 8, 8, 16], "latent_blocks": 1}
    assert Autoencoder(**ae.config).config == ae.config


@pytest.mark.parametrize("shape", [(1, 3, 60, 64), (1, 3, 64, 36), (1, 4, 64, 64), (3, 64, 64)])
def test_encode_rejects_bad_shapes(shape):
    with pytest.raises(InvalidInput, match="rgb"):
        Autoencoder(**TINY).encode(torch.rand(shape))


def test_decode_rejects_wrong_channels():
    with pytest.raises(InvalidInput, match=r"latent.shape.*\[B, 4, h, w\]"):
        Autoencoder(**TINY).decode(torch.zeros(1, 5, 8, 8))


@pytest.mark.parametrize("args", [{"channels": (4, 8, 8)}, {"latent_channels": 0},
                                  {"latent_blocks": 0}])
def test_constructor_rejects_bad_arguments(args):
    with pytest.raises(InvalidInput, match="autoencoder"):
        Autoencoder(**{**TINY, **args})


def test_calibrate_gives_unit_variance_and_keeps_reconstruction():
    torch.manual_seed(1)
    ae = Autoencoder(**TINY).eval()
    rgb = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        before = ae(rgb)
        raw = ae.encoder(rgb * 2 - 1)
        scaling, shift = ae.calibrate(raw)
        latent = ae.encode(rgb)
        after = ae(rgb)
    assert scaling == pytest.approx(1.0 / float(raw.double().std()), rel=1e-6)
    assert shift == pytest.approx(float(raw.double().mean()), rel=1e-6)
    assert float(latent.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(latent.std()) == pytest.approx(1.0, abs=1e-5)
    # scaling then unscaling in float32 changes the decoder input by a few ulps only
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)


def test_calibrate_rejects_constant_latents():
    ae = Autoencoder(**TINY)
    with pytest.raises(InvalidInput, match="raw_latents"):
        ae.calibrate(torch.ones(2, 4, 4, 4))
    assert float(ae.scaling) == 1.0 and float(ae.shift) == 0.0


def test_decoder_is_local():
    """No global statistics: a latent pixel changes only its own neighbourhood of the image."""
    torch.manual_seed(2)
    ae = Autoencoder(**TINY).eval()
    for p in ae.parameters():  # the zero-initialised residual branches would hide the reach
        p.data.normal_(0, 0.3)
    latent = torch.randn(1, 4, 16, 16)
    changed = latent.clone()
    changed[:, :, 0, 0] += 5.0
    with torch.no_grad():
        a, b = ae.decode(latent), ae.decode(changed)
    assert not torch.equal(a[:, :, :8, :8], b[:, :, :8, :8])
    assert torch.equal(a[:, :, 64:, 64:], b[:, :, 64:, 64:])


def test_thirty_steps_reduce_the_loss():
    torch.manual_seed(3)
    ae = Autoencoder(**TINY)
    rgb = torch.rand(2, 3, 32, 32)
    rgb[:, :, :16] *= 0.3  # some structure to learn
    opt = torch.optim.Adam(ae.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = (ae(rgb) - rgb).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace, still a good proxy
def test_encoder_and_decoder_trace_at_a_fixed_shape():
    torch.manual_seed(4)
    ae = Autoencoder(**TINY).eval()
    rgb = torch.rand(1, 3, 48, 80)
    with torch.no_grad():
        enc = torch.jit.trace(ae.encoder, rgb * 2 - 1)
        raw = ae.encoder(rgb * 2 - 1)
        dec = torch.jit.trace(ae.decoder, raw)
        traced = torch.jit.trace_module(ae, {"encode": rgb})
        torch.testing.assert_close(enc(rgb * 2 - 1), raw, atol=0, rtol=0)
        torch.testing.assert_close(dec(raw), ae.decoder(raw), atol=0, rtol=0)
        torch.testing.assert_close(traced.encode(rgb), ae.encode(rgb), atol=0, rtol=0)
