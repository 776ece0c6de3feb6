"""The wire contract passes ``buf lint`` with the whole STANDARD set (proto/buf.yaml).

buf comes from the npm registry (`make tools`, tools/package.json). Without it this test fails
with the command to run: a missing linter is an error, never a silent skip.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "tools" / "node_modules" / ".bin" / "buf"


def test_buf_lint_standard_passes():
    if not BUF.exists():
        pytest.fail(f"buf is not installed at {BUF}; run: make tools")
    out = subprocess.run([str(BUF), "lint"], cwd=ROOT / "proto", capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"buf lint found problems:\n{out.stdout}{out.stderr}"


def test_buf_config_uses_standard_without_exceptions():
    config = (ROOT / "proto" / "buf.yaml").read_text()
    keys = [line.split(":")[0].strip() for line in config.splitlines() if ":" in line]
    assert "- STANDARD" in config and "except" not in keys and "ignore" not in keys
