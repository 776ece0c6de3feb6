"""Generate the sample USD shot in docs/examples/ (no sample is copied from anywhere).

    .venv/bin/python tools/make_sample_usd.py [--out docs/examples/shot.usda]

The shot is an orbit around a landmark of procedural world 7 (outdoor), 48 frames at 24 fps,
through a 35 mm lens on a 36 x 20.25 mm filmback, written the way a DCC would hand it over:
Z up, centimetres (metersPerUnit 0.01), a time-sampled ``xformOp:transform`` on
``/World/Camera``. The layer names its world, so ``latentstage client play --path
docs/examples/shot.usda`` opens world 7 by itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from latentstage.engine_bridge import client as C
from latentstage.engine_bridge.paths import CameraPath, PathSample, save_usd
from latentstage.model.worlds.scene import make_scene
from latentstage.model.worlds.trajectories import make_trajectory
from latentstage.runtime.camera import Intrinsics

SEED, KIND, FRAMES, FPS = 7, "outdoor", 48, 24
SIZE = (320, 180)  # image the lens is measured on, pixels (16:9, the filmback's aspect)
FOCAL_MM, FILMBACK_MM = 35.0, (36.0, 20.25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/examples/shot.usda"))
    args = parser.parse_args()
    scene = make_scene(SEED, KIND)
    shot = make_trajectory("orbit", scene, FRAMES, SEED, fps=FPS)
    k = Intrinsics.from_lens(FOCAL_MM, *FILMBACK_MM, *SIZE)
    lens = C.lens_pixels(k)
    samples = [PathSample(i, i / FPS, c2w[:3, 3], C.rotation(matrix=c2w[:3, :3]), lens)
               for i, c2w in enumerate(shot.c2w)]
    path = CameraPath("opencv", samples, SIZE, float(FPS), {"seed": SEED, "kind": KIND},
                      clipping_range=(0.05, 2000.0), source_format="generated")
    # apertures in tenths of a centimetre = millimetres: 360 tenths is the 36 mm filmback
    out = save_usd(path, args.out, up_axis="z", meters_per_unit=0.01, fps=FPS,
                   horizontal_aperture=FILMBACK_MM[0])
    print(f"wrote {out}: {FRAMES} frames, world {SEED} ({KIND})")


if __name__ == "__main__":
    main()
