"""Rendering through a running service (LOCKSTEP) gives the in-process render's frames, and
seeks through the server's snapshots give the sequential frames."""

from __future__ import annotations

import numpy as np
import pytest
from previs_support import seed_png, write_path
from support import start_server

from latentstage.previs.engine import InProcessEngine, open_world
from latentstage.previs.remote import ServerEngine
from latentstage.previs.render import RenderSettings, frame_path, load_png, render_shot
from latentstage.previs.scrub import Scrubber
from latentstage.previs.shot import load_shot
from latentstage.runtime.backends import load_backend

FRAMES = 6


@pytest.fixture(scope="module")
def server(ckpt, tmp_path_factory):
    srv = start_server(ckpt, tmp_path_factory.mktemp("server-snaps"))
    yield f"127.0.0.1:{srv.port}"
    srv.stop()


def test_server_render_equals_in_process_and_seeks(ckpt, server, tmp_path):
    model = load_backend("torch", ckpt, "cpu")
    shot = load_shot(write_path(tmp_path / "cameras.json", FRAMES))
    seed = seed_png(tmp_path / "seed.png")
    world = open_world(model, seed_image=seed, depth="4.0", capacity=8192,
                       snapshot_dir=tmp_path / "w")  # the test server's capacity
    local = render_shot(InProcessEngine(model, world, seed=5, steps=1), shot,
                        RenderSettings(tmp_path / "local", range(FRAMES), snapshot_every=2))
    engine = ServerEngine(server, seed_image=seed, depth="4.0", seed=5, steps=1, tag="t")
    try:
        remote = render_shot(engine, shot, RenderSettings(tmp_path / "remote", range(FRAMES),
                                                          snapshot_every=2))
        assert remote.manifest["runs"] == "server (LOCKSTEP)"
        assert remote.manifest["model_id"] == local.manifest["model_id"]
        assert remote.manifest["world_snapshot_sha256"] == local.manifest["world_snapshot_sha256"]
        for i in range(FRAMES):
            np.testing.assert_array_equal(load_png(frame_path(tmp_path / "remote", i)),
                                          load_png(frame_path(tmp_path / "local", i)))
        scrub = Scrubber(engine, shot, tmp_path / "remote" / "snapshots", every=2)
        for k in (3, 1):  # backwards: restores the server's world from a snapshot file
            np.testing.assert_array_equal(scrub.seek(k).pixels,
                                          load_png(frame_path(tmp_path / "local", k)))
    finally:
        engine.close()
