"""Offline shots: bit-identical reruns, resumed renders, seeks, the folder's files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from previs_support import seed_png, write_path

from latentstage.previs.engine import InProcessEngine, open_world
from latentstage.previs.render import (
    RenderConflict,
    RenderSettings,
    frame_path,
    load_png,
    render_shot,
)
from latentstage.previs.scrub import Scrubber
from latentstage.previs.shot import load_shot
from latentstage.runtime.backends import load_backend

FRAMES = 10


@pytest.fixture(scope="module")
def setup(ckpt, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shot")
    model = load_backend("torch", ckpt, "cpu")
    shot = load_shot(write_path(tmp / "cameras.json", FRAMES), stride=model.latent_spec().stride)
    return model, shot, seed_png(tmp / "seed.png")


def engine(setup, tmp_path):
    model, _, seed = setup
    world = open_world(model, seed_image=seed, depth="4.0", capacity=8192,
                       snapshot_dir=tmp_path / "snaps")
    return InProcessEngine(model, world, seed=3, steps=1)


def render(setup, tmp_path, out, frames=range(FRAMES), **kw):
    world = {"seed_image": "seed.png", "depth": "4.0"}
    settings = RenderSettings(out, frames, snapshot_every=4, world=world, **kw)
    return render_shot(engine(setup, tmp_path), setup[1], settings)


def pixels(out, frames=range(FRAMES)):
    return [load_png(frame_path(out, i)) for i in frames]


@pytest.fixture(scope="module")
def reference(setup, tmp_path_factory):
    """One uninterrupted render of the whole shot."""
    tmp = tmp_path_factory.mktemp("ref")
    report = render(setup, tmp, tmp / "out")
    return tmp / "out", report


def test_render_writes_frames_table_manifest_and_plot(reference, setup):
    out, report = reference
    assert report.rendered == list(range(FRAMES)) and report.skipped == 0
    frames = pixels(out)
    assert all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
    # the camera moves: consecutive frames differ (the way back revisits the way out)
    assert all(a.tobytes() != b.tobytes() for a, b in zip(frames, frames[1:], strict=False))
    with open(out / "frames.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["index"]) for r in rows] == list(range(FRAMES))
    assert [int(r["frame_id"]) for r in rows] == [100 + i for i in range(FRAMES)]
    assert {r["rung"] for r in rows} == {"FULL"} and all(float(r["generate_ms"]) > 0
                                                          for r in rows)
    c2w = np.array([float(v) for v in rows[3]["c2w"].split()]).reshape(4, 4)
    np.testing.assert_allclose(c2w, setup[1].frames[3].c2w, atol=1e-6)
    m = json.loads((out / "manifest.json").read_text())
    assert m["path_sha256"] == setup[1].sha256 and len(m["world_snapshot_sha256"]) == 64
    assert (m["seed"], m["steps"], m["device"], m["backend"]) == (3, 1, "cpu", "torch")
    assert m["frames"]["done"] == FRAMES and len(m["time_codes"]) == FRAMES
    assert m["time_codes"][2]["time_s"] == pytest.approx(2 / 24)
    assert m["software"]["torch"] and m["model_id"]
    assert (out / "path_topdown.png").stat().st_size > 1000
    snaps = sorted(p.name for p in (out / "snapshots").iterdir())
    assert snaps == ["before_000000.safetensors", "before_000004.safetensors",
                     "before_000008.safetensors"]


def test_rerender_is_bit_identical(reference, setup, tmp_path):
    out, first = reference
    again = render(setup, tmp_path, tmp_path / "again")
    for a, b in zip(pixels(out), pixels(tmp_path / "again"), strict=True):
        np.testing.assert_array_equal(a, b)
    assert again.manifest["world_snapshot_sha256"] == first.manifest["world_snapshot_sha256"]


def test_interrupted_render_resumes_bit_identical(reference, setup, tmp_path):
    out, _ = reference
    stop = tmp_path / "stopped"
    k = 6

    def interrupt(i, frame):
        if i == k - 1:
            raise KeyboardInterrupt

    model = setup[0]
    eng = engine(setup, tmp_path)
    settings = RenderSettings(stop, range(FRAMES), snapshot_every=4,
                              world={"seed_image": "seed.png", "depth": "4.0"})
    with pytest.raises(KeyboardInterrupt):
        render_shot(eng, setup[1], settings, on_frame=interrupt)
    assert sorted(p.name for p in (stop / "frames").iterdir()) == [f"{i:06d}.png"
                                                                   for i in range(k)]
    del model
    resumed = render(setup, tmp_path, stop)  # a fresh process would build a fresh engine
    assert resumed.skipped == k and resumed.rendered == list(range(k, FRAMES))
    assert resumed.replayed == k - 4  # restored the snapshot before frame 4, replayed 4, 5
    for a, b in zip(pixels(out), pixels(stop), strict=True):
        np.testing.assert_array_equal(a, b)


def test_frames_range_and_seeks_match_the_sequential_render(reference, setup, tmp_path):
    out, _ = reference
    part = render(setup, tmp_path, tmp_path / "part", frames=range(5, 8))
    assert part.rendered == [5, 6, 7] and part.replayed == 5  # a new folder: from frame 0
    for i, img in zip(range(5, 8), pixels(tmp_path / "part", range(5, 8)), strict=True):
        np.testing.assert_array_equal(img, load_png(frame_path(out, i)))
    scrub = Scrubber(engine(setup, tmp_path), setup[1], out / "snapshots", every=4)
    for k in (9, 2, 7, 0, 5):  # forwards and backwards
        frame = scrub.seek(k)
        np.testing.assert_array_equal(frame.pixels, load_png(frame_path(out, k)))
        assert scrub.last.replayed == k % 4 or scrub.last.restored_from == -1


def test_a_folder_of_another_shot_is_refused(reference, setup, tmp_path):
    out, _ = reference
    eng = engine(setup, tmp_path)
    eng.seed = 4
    with pytest.raises(RenderConflict, match="seed"):
        render_shot(eng, setup[1], RenderSettings(out, range(FRAMES), snapshot_every=4,
                                                  world={"seed_image": "seed.png",
                                                         "depth": "4.0"}))


def test_a_usd_shot_keeps_its_stage_units_and_time_codes():
    """The sample USD stage is Z-up in centimetres (metersPerUnit 0.01): the shot's cameras are
    the paths loader's canonical cameras (stage applied, metres), with their USD time codes."""
    from latentstage.engine_bridge.paths import load_path
    from latentstage.previs.shot import load_shot

    sample = Path(__file__).resolve().parents[2] / "docs" / "examples" / "shot.usda"
    shot = load_shot(sample, (128, 72))
    expected = load_path(sample).canonical_c2w()
    assert shot.stage is not None and abs(shot.stage.meters_per_unit - 0.01) < 1e-12
    np.testing.assert_allclose(np.stack([f.c2w for f in shot.frames]), expected, atol=1e-9)
    radius = np.linalg.norm(expected[:, :2, 3], axis=1)
    assert 1.0 < radius.min() and radius.max() < 100.0  # metres, not centimetres
    assert [f.time_code for f in shot.frames] == [float(i) for i in range(len(shot))]
