"""Print the autoencoder's figures of one or more checkpoints, as docs/model.md quotes them.

For each checkpoint: PSNR on the held-out procedural frames the card records
(``model.data.heldout_frames``, 8 frames at the native size), the mean PSNR on scikit-image's
natural photos (``model.metrics.natural_photo_psnr``, measured only, never trained on) and the
reconstruction's detail (``model.metrics.detail_ratio`` of decode(encode(frame)) against the
held-out frames; 1 = as detailed as the frames).

    python tools/autoencoder_figures.py bundled DIR [DIR ...]
"""

from __future__ import annotations

import sys

import torch

from latentstage.model.data import heldout_frames
from latentstage.model.eval import autoencoder_psnr
from latentstage.model.metrics import detail_ratio, natural_photo_psnr
from latentstage.model.world_model import WorldModel, bundled_checkpoint_dir


def figures(directory: str) -> dict[str, float]:
    """Held-out PSNR, natural-photo mean PSNR and reconstruction detail of one checkpoint."""
    model = WorldModel.from_pretrained(
        bundled_checkpoint_dir() if directory == "bundled" else directory)
    size = tuple(model.config.native_size)
    frames = heldout_frames(size)
    with torch.no_grad():
        recon = model.decode(model.encode(frames)).clamp(0, 1)
    return {"heldout_psnr_db": autoencoder_psnr(model, frames),
            "natural_psnr_db": natural_photo_psnr(model, size)["mean"],
            "detail": float(detail_ratio(recon, frames))}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    print("checkpoint | held-out PSNR | natural photos, mean | reconstruction detail")
    for arg in sys.argv[1:]:
        f = figures(arg)
        print(f"{arg} | {f['heldout_psnr_db']:.2f} | {f['natural_psnr_db']:.2f} | "
              f"{f['detail']:.3f}")
