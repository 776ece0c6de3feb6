"""Flow-matching Euler sampler: schedule, determinism, validation, and an oracle denoiser."""

from __future__ import annotations

import pytest
import torch

from latentstage.runtime.errors import InvalidInput
from latentstage.runtime.sampler import sample, schedule

SHAPE = (2, 4, 6, 10)


def _cond() -> torch.Tensor:
    return torch.zeros(2, 13, 6, 10)


def _oracle(x0: torch.Tensor, calls: list | None = None):
    """The exact velocity toward a known x0 on the straight path: v = (x_t - x0) / t."""

    def denoise(x_t, t, cond):
        if calls is not None:
            calls.append(t.clone())
        v = (x_t - x0) / t[:, None, None, None]
        return v, t[:, None, None, None].expand(-1, 1, *x_t.shape[2:]).clone()

    return denoise


def _noise_denoise(x_t, t, cond):
    return torch.zeros_like(x_t), torch.ones(x_t.shape[0], 1, *x_t.shape[2:])


def test_schedule_uniform_and_shifted():
    assert schedule(1) == [1.0, 0.0]
    assert schedule(2) == [1.0, 0.5, 0.0]
    assert schedule(4) == [1.0, 0.75, 0.5, 0.25, 0.0]
    shifted = schedule(2, shift=3.0)
    assert shifted[0] == 1.0 and shifted[-1] == 0.0
    assert shifted[1] == pytest.approx(0.75)  # 3 * 0.5 / (1 + 2 * 0.5)


@pytest.mark.parametrize("steps", [0, 5, 1.5, True, "2"])
def test_rejects_bad_steps(steps):
    with pytest.raises(InvalidInput, match="steps"):
        sample(_noise_denoise, _cond(), steps, 0, SHAPE)


@pytest.mark.parametrize("seed", [-1, 1.0, None])
def test_rejects_bad_seed(seed):
    with pytest.raises(InvalidInput, match="generator_seed"):
        sample(_noise_denoise, _cond(), 1, seed, SHAPE)


@pytest.mark.parametrize("shape", [(1, 4, 6, 10), (2, 4, 6, 11), (2, 0, 6, 10), (2, 4, 6)])
def test_rejects_shape_not_matching_cond(shape):
    with pytest.raises(InvalidInput, match="shape"):
        sample(_noise_denoise, _cond(), 1, 0, shape)


def test_rejects_bad_shift_and_out_buffer():
    with pytest.raises(InvalidInput, match="shift"):
        sample(_noise_denoise, _cond(), 1, 0, SHAPE, shift=0.0)
    with pytest.raises(InvalidInput, match="out"):
        sample(_noise_denoise, _cond(), 1, 0, SHAPE, out=torch.zeros(2, 4, 6, 9))


def test_same_seed_same_result_different_seed_different():
    a, _ = sample(_noise_denoise, _cond(), 2, 123, SHAPE)
    b, _ = sample(_noise_denoise, _cond(), 2, 123, SHAPE)
    c, _ = sample(_noise_denoise, _cond(), 2, 124, SHAPE)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # a zero velocity leaves the noise untouched: it is standard normal
    assert abs(float(a.mean())) < 0.3 and abs(float(a.std()) - 1.0) < 0.3


def test_torch_generator_is_used_and_advanced():
    gen = torch.Generator().manual_seed(7)
    a, _ = sample(_noise_denoise, _cond(), 1, gen, SHAPE)
    b, _ = sample(_noise_denoise, _cond(), 1, gen, SHAPE)
    c, _ = sample(_noise_denoise, _cond(), 1, 7, SHAPE)
    assert torch.equal(a, c) and not torch.equal(a, b)


def test_oracle_recovers_x0_in_one_step():
    x0 = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    out, depth = sample(_oracle(x0), _cond(), 1, 0, SHAPE)
    # noise + (-1) * (noise - x0): exact up to one float32 rounding of the difference
    torch.testing.assert_close(out, x0, atol=1e-6, rtol=0)
    assert torch.equal(depth, torch.ones(2, 1, 6, 10))


@pytest.mark.parametrize("steps", [2, 3, 4])
@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_oracle_recovers_x0_in_more_steps(steps: int, shift: float):
    """The straight path makes every Euler step exact, whatever the schedule."""
    x0 = torch.randn(SHAPE, generator=torch.Generator().manual_seed(2))
    calls: list[torch.Tensor] = []
    out, depth = sample(_oracle(x0, calls), _cond(), steps, 5, SHAPE, shift=shift)
    torch.testing.assert_close(out, x0, atol=1e-5, rtol=0)  # a few roundings per step
    times = schedule(steps, shift)
    assert [float(t[0]) for t in calls] == pytest.approx(times[:-1])
    assert all(t.shape == (2,) for t in calls)
    torch.testing.assert_close(depth, torch.full((2, 1, 6, 10), times[-2]))  # last call's depth


def test_out_buffer_is_filled_in_place():
    x0 = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    buffer = torch.empty(SHAPE)
    out, _ = sample(_oracle(x0), _cond(), 2, 9, SHAPE, out=buffer)
    reference, _ = sample(_oracle(x0), _cond(), 2, 9, SHAPE)
    assert out.data_ptr() == buffer.data_ptr()
    assert torch.equal(out, reference)
