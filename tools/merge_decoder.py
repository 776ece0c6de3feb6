"""Give checkpoint TARGET the decoder of checkpoint SOURCE, when both share one latent space.

A decoder refined with ``latentstage train autoencoder --decoder-only`` and a generator
continued with ``latentstage train generator`` can train at the same time, in two copies of
one checkpoint, because neither changes the latent space (the encoder and the latent scale
stay). This joins them: TARGET keeps its generator and takes SOURCE's decoder and
autoencoder training record. It refuses checkpoints whose encoders or latent scale differ
(their latents would mean different things).

    python tools/merge_decoder.py TARGET SOURCE
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from latentstage.model.world_model import WorldModel


def merge_decoder(target: Path, source: Path) -> WorldModel:
    """TARGET with SOURCE's decoder, saved into TARGET."""
    into, donor = WorldModel.from_pretrained(target), WorldModel.from_pretrained(source)
    if into.latent_spec() != donor.latent_spec():
        raise SystemExit(f"latent spec differs: {into.latent_spec()} against "
                         f"{donor.latent_spec()}: not one latent space")
    mine, theirs = into.autoencoder.encoder.state_dict(), donor.autoencoder.encoder.state_dict()
    if any(not torch.equal(mine[k], theirs[k]) for k in mine):
        raise SystemExit("the encoders differ: not one latent space")
    into.autoencoder.decoder.load_state_dict(donor.autoencoder.decoder.state_dict())
    training = dict(into.config.training or {})
    training["autoencoder"] = (donor.config.training or {}).get("autoencoder")
    into.set_training_record(training)
    into.save_pretrained(target)
    return into


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    model = merge_decoder(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{sys.argv[1]}: generator kept, decoder from {sys.argv[2]} ({model.model_id})")
