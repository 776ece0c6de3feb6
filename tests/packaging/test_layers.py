"""The layer contracts (pyproject.toml, [tool.importlinter]) hold, and the linter really checks
them: a contract the code breaks is reported broken."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_every_layer_contract_is_kept():
    out = _lint()
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout and "BROKEN" not in out.stdout
    for name in ("the runtime imports no model", "the servicer and translate never import torch"):
        assert name in out.stdout and "KEPT" in out.stdout.split(name, 1)[1].split("\n", 2)[1] + \
            out.stdout.split(name, 1)[1].split("\n", 1)[0]


def test_a_contract_the_code_breaks_is_reported(tmp_path):
    """The core imports torch: a contract forbidding it to the servicer's neighbour fails."""
    config = tmp_path / "contracts.toml"
    config.write_text('''
[tool.importlinter]
root_packages = ["latentstage.runtime"]
include_external_packages = true

[[tool.importlinter.contracts]]
name = "core without torch"
type = "forbidden"
source_modules = ["latentstage.runtime.core"]
forbidden_modules = ["torch"]
''')
    out = _lint("--config", str(config))
    assert out.returncode == 1, out.stdout[-2000:]
    assert "core without torch BROKEN" in " ".join(out.stdout.split())
    assert "latentstage.runtime.core -> torch" in out.stdout
