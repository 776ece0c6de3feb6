"""`make setup` chooses the torch build explicitly (issue 12, finding 13). Dry runs only."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dry_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-n", "-B", "--no-print-directory", *args, "VENV=/nonexistent"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_default_is_the_cpu_build_from_a_local_wheel_or_the_cpu_index():
    out = dry_run("torch-cpu")
    assert out.returncode == 0, out.stderr
    assert '--no-index --no-deps "torch==' in out.stdout  # a local wheel folder first
    assert "--index-url https://download.pytorch.org/whl/cpu" in out.stdout
    assert '("cpu" == "cpu")' in out.stdout  # and the result is checked to be a CPU build


def test_cuda_is_asked_for_and_checked():
    out = dry_run("torch-cuda", "TORCH=cuda")
    assert out.returncode == 0, out.stderr
    assert "--index-url https://download.pytorch.org/whl/cu" in out.stdout
    assert '("cuda" == "cpu")' in out.stdout


def test_an_unknown_torch_build_is_refused():
    out = dry_run("setup", "TORCH=rocm")
    assert out.returncode != 0 and "TORCH=rocm: expected cpu (default) or cuda" in out.stderr
