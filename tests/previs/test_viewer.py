"""The viewer in a real browser (Debian's chromium, headless, through selenium): frames arrive
for key presses, the camera moves, a seek shows the offline render's frame exactly, and the
key-to-screen round trip is measured.

Without chromium the test is skipped, except under CI=true, where a missing browser is an
error. ``LATENTSTAGE_SCREENSHOT=docs/images/viewer.png`` also saves the screenshot there.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from previs_support import seed_png, write_path

from latentstage.previs.engine import InProcessEngine, open_world
from latentstage.previs.render import RenderSettings, frame_path, load_png, render_shot
from latentstage.previs.shot import load_shot
from latentstage.previs.view import build_viewer, start_viewer
from latentstage.runtime.backends import load_backend

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FRAMES, SEEK = 6, 4
KEYS = 12  # key presses timed


def _driver():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are required under CI=true "
                        "(make deps installs chromium chromium-driver)")
        pytest.skip("chromium/chromedriver not installed (make deps)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,800",
                "--disable-dev-shm-usage", "--no-proxy-server"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


@pytest.fixture(scope="module")
def page(ckpt, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("view")
    model = load_backend("torch", ckpt, "cpu")
    stride = model.latent_spec().stride
    shot = load_shot(write_path(tmp / "cameras.json", FRAMES), stride=stride)
    seed = seed_png(tmp / "seed.png")
    world = open_world(model, seed_image=seed, depth="4.0", capacity=8192,
                       snapshot_dir=tmp / "w")
    render_shot(InProcessEngine(model, world, seed=3, steps=1), shot,
                RenderSettings(tmp / "offline", range(FRAMES), snapshot_every=2))
    viewer = build_viewer(model, None, seed, "4.0", shot, (64, 64), seed=3, steps=1,
                          snapshot_every=2, snapshot_dir=tmp / "w", capacity=8192,
                          scrub_dir=tmp / "scrub")
    server, _ = start_viewer(viewer, "127.0.0.1", 0)
    driver = _driver()
    driver.set_script_timeout(60)
    driver.get(f"http://127.0.0.1:{server.server_address[1]}/")
    yield driver, tmp
    driver.quit()
    server.shutdown()
    server.server_close()


def _wait(driver, script: str, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {script}")


_READBACK = """
const img = document.getElementById('frame');
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
const g = c.getContext('2d'); g.drawImage(img, 0, 0);
return Array.from(g.getImageData(0, 0, c.width, c.height).data);
"""


def _pixels(driver) -> np.ndarray:
    rgba = np.array(driver.execute_script(_READBACK), np.uint8)
    return rgba.reshape(64, 64, 4)[..., :3]


def test_fly_keys_move_the_camera_and_frames_arrive(page):
    from selenium.webdriver.common.action_chains import ActionChains

    driver, tmp = page
    _wait(driver, "return window.ls.ready === true")
    before = driver.execute_script("return [ls.frames, ls.cam.x, ls.cam.y]")
    first = _pixels(driver)
    driver.find_element("id", "frame").click()
    for _ in range(KEYS):
        n = driver.execute_script("return ls.frames")
        ActionChains(driver).send_keys("w").perform()
        _wait(driver, f"return ls.frames > {n} && !ls.busy")
    after = driver.execute_script("return [ls.frames, ls.cam.x, ls.cam.y, ls.latencies]")
    assert after[0] >= before[0] + KEYS  # a frame for every key press
    moved = np.hypot(after[1] - before[1], after[2] - before[2])
    assert moved == pytest.approx(KEYS * 0.2, rel=1e-6)  # W: speed 0.2 m forward per press
    assert not np.array_equal(_pixels(driver), first)  # and the picture changed
    lat = np.array(after[3])
    assert len(lat) == KEYS and (lat > 0).all()
    print(f"\nviewer round trip, key press to new frame on screen (64x64, tiny model, CPU): "
          f"median {np.median(lat):.1f} ms, p95 {np.percentile(lat, 95):.1f} ms over {KEYS}")
    last = driver.execute_script("return ls.last")
    assert last["x-rung"] == "FULL" and int(last["x-points"]) > 0


def test_seek_shows_the_offline_frame_and_screenshot(page):
    driver, tmp = page
    _wait(driver, "return window.ls.ready === true")
    driver.find_element("id", "mode-scrub").click()
    for k in (SEEK, 1, FRAMES - 1, SEEK):  # forwards and backwards
        driver.execute_async_script("window.lsSeek(arguments[0]).then(arguments[1])", k)
        np.testing.assert_array_equal(_pixels(driver), load_png(frame_path(tmp / "offline", k)))
        assert driver.execute_script("return ls.last['x-frame']") == str(k)
    shot = tmp / "viewer.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 5000
    if os.environ.get("LATENTSTAGE_SCREENSHOT"):
        target = Path(os.environ["LATENTSTAGE_SCREENSHOT"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


def _http(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_worlds_save_load_seed_and_bad_requests(ckpt, tmp_path):
    """The page's backend without a browser: save and load restore the fly world exactly, a
    dropped image seeds a world, and bad requests get 400 naming the field."""
    import json

    model = load_backend("torch", ckpt, "cpu")
    seed = seed_png(tmp_path / "seed.png")
    viewer = build_viewer(model, None, seed, "4.0", None, (64, 64), steps=1,
                          snapshot_dir=tmp_path / "w", capacity=8192)
    server, _ = start_viewer(viewer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        status, body = _http(url + "/api/save", json.dumps({"name": "a"}).encode())
        assert status == 200
        saved = json.loads(body)["sha256"]
        cam = {"x": 0.5, "y": 0, "z": 1.6, "yaw": 20, "pitch": 0, "fov": 60}
        for _ in range(2):
            status, png = _http(url + "/api/fly", json.dumps(cam).encode())
            assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
        status, body = _http(url + "/api/points")  # the memory as a point cloud, metres
        points = json.loads(body)
        assert status == 200 and points["total"] > 0 and len(points["points"][0]) == 3
        assert _http(url + "/api/load", json.dumps({"name": "a"}).encode())[0] == 200
        status, body = _http(url + "/api/save", json.dumps({"name": "b"}).encode())
        assert json.loads(body)["sha256"] == saved  # the flown frames are gone again
        status, body = _http(url + "/api/seed", seed.read_bytes())
        assert status == 200 and json.loads(body)["world"].startswith("seed_image")
        status, body = _http(url + "/api/fly", json.dumps({**cam, "fov": 500}).encode())
        assert status == 400 and "fov" in json.loads(body)["error"]
        status, body = _http(url + "/api/seek?k=3")
        assert status == 400 and "--path" in json.loads(body)["error"]
        status, body = _http(url + "/api/load", json.dumps({"name": "nope"}).encode())
        assert status == 404 and "nope" in json.loads(body)["error"]
    finally:
        server.shutdown()
        server.server_close()


def test_an_image_dropped_on_the_page_seeds_a_new_world(page):
    driver, tmp = page
    _wait(driver, "return window.ls.ready === true")
    driver.find_element("id", "mode-fly").click()
    n = driver.execute_script("return ls.frames")
    driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const img = document.getElementById('frame');
        const c = document.createElement('canvas'); c.width = 64; c.height = 64;
        c.getContext('2d').drawImage(img, 0, 0);
        c.toBlob((blob) => {
          const dt = new DataTransfer();
          dt.items.add(new File([blob], 'dropped.png', { type: 'image/png' }));
          document.getElementById('view').dispatchEvent(
            new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
          done();
        }, 'image/png');
    """)
    _wait(driver, f"return ls.frames > {n} && !ls.busy && ls.info.world.startsWith('seed_image')")
    assert driver.execute_script("return document.getElementById('world').textContent"
                                 ).startswith("seed_image")
