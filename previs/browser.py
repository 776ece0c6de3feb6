"""``latentstage bench viewer``: the viewer in headless chromium, driven by key presses.

Measures the round trip from a key press to the new frame on screen (the page records
``performance.now()`` at the key press and after the frame is decoded and two animation
frames have passed), and saves a screenshot. Needs Debian's chromium and chromedriver
(``make deps``) and selenium (the dev extra).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def chrome(width: int = 1100, height: int = 800):
    """A headless chromium driven through chromedriver (no network beyond loopback)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--no-proxy-server"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def wait_for(driver, script: str, timeout: float = 60.0):
    """Poll ``script`` until it returns something true."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.01)
    raise TimeoutError(f"the page did not satisfy {script!r} within {timeout:.0f} s")


def drive(url: str, keys: int, screenshot: Path | None = None, scrub_to: int | None = None
          ) -> dict:
    """Open ``url``, press W ``keys`` times (each after the previous frame is on screen), turn
    a little, show the memory's points, optionally seek the shot to ``scrub_to`` (left in fly
    mode otherwise), and save ``screenshot``. Returns latencies in ms."""
    from selenium.webdriver.common.action_chains import ActionChains

    driver = chrome()
    try:
        driver.get(url)
        wait_for(driver, "return window.ls && window.ls.ready === true")
        frame = driver.find_element("id", "frame")
        frame.click()
        for i in range(keys):
            n = driver.execute_script("return ls.frames")
            ActionChains(driver).send_keys("w" if i % 4 else "a").perform()
            wait_for(driver, f"return ls.frames > {n} && !ls.busy")
        lat = driver.execute_script("return ls.latencies")
        driver.find_element("id", "points").click()
        wait_for(driver, "return document.getElementById('points-n').textContent !== ''")
        if scrub_to is not None:
            driver.find_element("id", "mode-scrub").click()
            driver.execute_async_script("window.lsSeek(arguments[0]).then(arguments[1])",
                                        scrub_to)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(screenshot))
        return {"latencies_ms": lat, "median_ms": float(np.median(lat)),
                "p95_ms": float(np.percentile(lat, 95)), "frames": len(lat)}
    finally:
        driver.quit()
