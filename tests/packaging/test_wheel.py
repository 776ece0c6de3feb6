"""The built wheel carries the bundled model and an SPDX license (issue 12, finding 13)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "proto", "runtime", "model", "export", "engine_bridge",
           "previs")


def test_pyproject_uses_an_spdx_license_and_lists_the_checkpoint_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert "latentstage.model.checkpoints" in project["tool"]["setuptools"]["packages"]


def test_a_built_wheel_contains_the_bundled_checkpoint_and_lens_files(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:  # a clean copy: the build leaves build/ and *.egg-info behind
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.egg-info", "node_modules"))
        else:
            shutil.copy2(path, src / name)
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", "-v", "-w", str(tmp_path / "dist"), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert "is absent from the `packages` configuration" not in log
    assert "as a TOML table is deprecated" not in log
    (wheel,) = (tmp_path / "dist").glob("latentstage-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    bundled = {"latentstage/model/checkpoints/ref-v1/model.safetensors",
               "latentstage/model/checkpoints/ref-v1/config.json"}
    assert bundled <= names, sorted(n for n in names if "checkpoints" in n)
    lenses = {"latentstage/runtime/data/lens/default.json",
              "latentstage/runtime/data/lens/broadcast-22x.json"}
    assert lenses <= names, sorted(n for n in names if "/data/" in n)
    assert "latentstage/previs/static/index.html" in names  # the viewer's page
    assert "License-Expression: Apache-2.0" in meta
