"""The built wheel carries the bundled model and an SPDX license (issue 12, finding 13), and
both installs (editable and wheel) give one namespace package whose import paths match the
folders: ``latentstage.runtime`` is runtime/, ``latentstage.v1`` is proto/latentstage/v1
(issue 11)."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "proto", "runtime", "model", "export", "engine_bridge",
           "bench", "previs")
# Where each subpackage lives in the source tree (pyproject.toml package-dir).
FOLDERS = {"latentstage.runtime": "runtime", "latentstage.model": "model",
           "latentstage.export": "export", "latentstage.engine_bridge": "engine_bridge",
           "latentstage.bench": "bench", "latentstage.previs": "previs",
           "latentstage.v1": "proto/latentstage/v1"}


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
    # A namespace package: no latentstage/__init__.py; each subpackage and the contract are in.
    assert "latentstage/__init__.py" not in names
    for package in FOLDERS:
        assert f"{package.replace('.', '/')}/__init__.py" in names, package
    assert {"latentstage/v1/service_pb2.py", "latentstage/bench/cli.py"} <= names
    _imports_from(wheel, tmp_path / "unpacked")


def _imports_from(wheel: Path, where: Path) -> None:
    """The unpacked wheel, first on the path, provides every subpackage and the version."""
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(where)
    probe = (
        "import importlib, importlib.metadata as m, json, latentstage\n"
        f"mods = {sorted(FOLDERS)!r}\n"
        "print(json.dumps({'file': getattr(latentstage, '__file__', None), "
        "'version': m.version('latentstage'), "
        "'paths': {n: importlib.import_module(n).__file__ for n in mods}}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(where)})
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.splitlines()[-1])
    assert found["file"] is None  # a namespace package has no __init__ file
    assert found["version"] == tomllib.loads(
        (ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, path in found["paths"].items():
        assert Path(path).is_relative_to(where), (name, path)


def test_the_editable_install_maps_each_import_name_to_its_folder():
    import latentstage
    import latentstage.runtime

    if not Path(latentstage.runtime.__file__).is_relative_to(ROOT):
        pytest.skip("latentstage is installed from elsewhere, not editable from this tree")
    assert getattr(latentstage, "__file__", None) is None  # namespace package
    for name, folder in FOLDERS.items():
        module = importlib.import_module(name)
        assert Path(module.__file__).parent == ROOT / folder, name
    from typer.testing import CliRunner

    from latentstage.runtime.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"latentstage {importlib.metadata.version('latentstage')}"
