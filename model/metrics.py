"""Image metrics that see detail, the natural-photo check of the autoencoder, and the rule that
chooses sampler steps and checkpoints from evaluation reports.

PSNR against ground truth rewards the mean: a blur of the right colours scores better than a
sharp guess of the wrong texture, so a generator chosen on PSNR alone is a blurry one. The
detail ratio says how much of the real world's fine structure a frame has:

    detail = E(frame) / E(ground truth),   E = sum over pixels of |grad|^2

with ``grad`` the horizontal and vertical finite differences of each RGB channel, summed over
the same pixels of both images (those of a mask, e.g. the pixels the model generated). 1.0 is
as detailed as the real world; a blur scores below 1, noise above. Frames are pooled by
summing the energies before dividing (:class:`DetailSum`), so flat regions (a wall, the sky)
whose own ratio is ill-defined weigh by the detail they hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: Natural photos that ship inside scikit-image's wheel (``skimage.data``): the autoencoder's
#: check of generality. Measured only; never trained on.
NATURAL_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
                  "immunohistochemistry")


def gradient_energy(rgb: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of squared finite differences of ``rgb`` [3, H, W] (or [B, 3, H, W]) over the pixel
    pairs that both lie in ``mask`` ([H, W] bool; None: all). Returns a scalar tensor."""
    dx = rgb[..., :, 1:] - rgb[..., :, :-1]  # [..., 3, H, W-1]
    dy = rgb[..., 1:, :] - rgb[..., :-1, :]  # [..., 3, H-1, W]
    if mask is None:
        return (dx * dx).sum() + (dy * dy).sum()
    m = mask.to(rgb.dtype)
    mx = m[:, 1:] * m[:, :-1]  # [H, W-1] both pixels of the pair in the mask
    my = m[1:, :] * m[:-1, :]  # [H-1, W]
    return (dx * dx * mx).sum() + (dy * dy * my).sum()


def detail_ratio(frame: torch.Tensor, target: torch.Tensor,
                 mask: torch.Tensor | None = None) -> float | None:
    """High-frequency energy of ``frame`` over that of ``target`` ([3, H, W] in [0, 1]) on the
    pixels of ``mask`` ([H, W] bool). None when the target has no energy there."""
    if frame.shape != target.shape:
        raise ValueError(f"frame.shape: got {tuple(frame.shape)}, expected the target's "
                         f"{tuple(target.shape)}")
    ref = float(gradient_energy(target, mask))
    if ref <= 0:
        return None
    return float(gradient_energy(frame, mask)) / ref


@dataclass
class DetailSum:
    """Energies summed over frames, for a pooled detail ratio (see the module docstring)."""

    frame: float = 0.0  # summed gradient energy of the generated frames
    target: float = 0.0  # summed gradient energy of ground truth over the same pixels

    def add(self, frame: torch.Tensor, target: torch.Tensor,
            mask: torch.Tensor | None = None) -> None:
        """Add one frame's energies ([3, H, W] each; ``mask`` [H, W] bool or None)."""
        if mask is not None and not bool(mask.any()):
            return
        self.frame += float(gradient_energy(frame, mask))
        self.target += float(gradient_energy(target, mask))

    def ratio(self) -> float | None:
        """The pooled detail ratio, None when ground truth had no energy on these pixels."""
        return self.frame / self.target if self.target > 0 else None


def load_natural_photos(size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """The :data:`NATURAL_PHOTOS` as [3, H, W] float in [0, 1]: each centre-cropped to the
    aspect ratio of ``size`` (width, height) and area-resized to it. Needs scikit-image."""
    try:
        from skimage import data
    except ImportError as exc:  # a dev dependency, not a runtime one
        raise RuntimeError("natural photos: scikit-image is not installed (pip install "
                           "scikit-image, or the project's dev extra)") from exc
    width, height = size
    photos = {}
    for name in NATURAL_PHOTOS:
        img = torch.from_numpy(getattr(data, name)()[..., :3].copy()).permute(2, 0, 1)
        _, h, w = img.shape
        crop_w = min(w, round(h * width / height))
        crop_h = min(h, round(crop_w * height / width))
        top, left = (h - crop_h) // 2, (w - crop_w) // 2
        img = img[:, top : top + crop_h, left : left + crop_w].float()[None] / 255
        photos[name] = F.interpolate(img, size=(height, width), mode="area")[0].clamp(0, 1)
    return photos


@torch.inference_mode()
def natural_photo_psnr(model, size: tuple[int, int]) -> dict[str, float]:
    """Autoencoder PSNR (dB) of each natural photo at ``size``, and their ``mean``."""
    out = {}
    for name, img in load_natural_photos(size).items():
        recon = model.decode(model.encode(img[None]))[0].clamp(0, 1)
        out[name] = 10 * math.log10(1 / max(F.mse_loss(recon, img).item(), 1e-10))
    out["mean"] = sum(out.values()) / len(out)
    return out


@dataclass(frozen=True)
class Candidate:
    """One evaluated choice (a sampler step count, a checkpoint), by its aggregate metrics."""

    name: str  # what was evaluated, e.g. "steps 2" or a checkpoint path
    psnr: float  # dB against ground truth, mean over cases
    ssim: float  # mean over cases
    detail: float | None  # detail ratio on generated pixels (1.0 = as detailed as the world)
    revisit_loops: float | None = None  # latent memory's revisit PSNR on held-out loops, dB


#: The selection rule: among candidates within PSNR_SLACK_DB of the best PSNR and SSIM_SLACK of
#: the best SSIM that keep the memory's strength (revisit PSNR on held-out loops >=
#: REVISIT_FLOOR_DB, where measured), the one whose detail is closest to 1 (in log ratio: half
#: as detailed is as far as twice). Too blurry and too noisy both lose.
PSNR_SLACK_DB = 1.0
SSIM_SLACK = 0.03
REVISIT_FLOOR_DB = 35.0


def choose(candidates: list[Candidate]) -> Candidate:
    """The candidate the selection rule picks (see :data:`PSNR_SLACK_DB`)."""
    if not candidates:
        raise ValueError("candidates: got none, expected at least one evaluated choice")
    best_psnr = max(c.psnr for c in candidates)
    best_ssim = max(c.ssim for c in candidates)
    eligible = [c for c in candidates
                if c.psnr >= best_psnr - PSNR_SLACK_DB and c.ssim >= best_ssim - SSIM_SLACK
                and (c.revisit_loops is None or c.revisit_loops >= REVISIT_FLOOR_DB)]
    if not eligible:
        raise ValueError("candidates: none keeps revisit PSNR on held-out loops >= "
                         f"{REVISIT_FLOOR_DB:g} dB within the PSNR and SSIM slack")

    def distance(c: Candidate) -> float:
        return abs(math.log(c.detail)) if c.detail and c.detail > 0 else math.inf

    return min(eligible, key=lambda c: (distance(c), -c.psnr))
