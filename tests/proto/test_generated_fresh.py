"""The committed generated code in proto/latentstage/v1 matches its .proto files.

CI regenerates with the pinned grpcio-tools (pyproject ``dev`` extra) into a temporary folder
and compares byte for byte; a stale ``*_pb2*.py(i)`` fails here with the command to fix it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "proto"
PACKAGE = PROTO_ROOT / "latentstage" / "v1"
REGENERATE = ("python -m grpc_tools.protoc -Iproto --python_out=proto --pyi_out=proto "
              "--grpc_python_out=proto proto/latentstage/v1/*.proto")


def _protos() -> list[Path]:
    return sorted(PACKAGE.glob("*.proto"))


def test_generated_code_is_fresh(tmp_path):
    protoc = pytest.importorskip("grpc_tools.protoc", reason="grpcio-tools (dev extra) needed")
    for proto in _protos():
        target = tmp_path / "latentstage" / "v1"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(proto, target / proto.name)
    args = ["protoc", f"-I{tmp_path}", f"--python_out={tmp_path}", f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}"]
    args += [str(tmp_path / "latentstage" / "v1" / p.name) for p in _protos()]
    assert protoc.main(args) == 0, "protoc failed on the .proto files"
    generated = sorted(p.name for p in (tmp_path / "latentstage" / "v1").glob("*_pb2*"))
    committed = sorted(p.name for p in PACKAGE.glob("*_pb2*"))
    assert generated == committed, f"generated files differ in name; run: {REGENERATE}"
    for name in generated:
        fresh = (tmp_path / "latentstage" / "v1" / name).read_bytes()
        assert (PACKAGE / name).read_bytes() == fresh, f"{name} is stale; run: {REGENERATE}"


def test_generated_code_imports_as_latentstage_v1():
    from latentstage.v1 import camera_pb2, service_pb2, service_pb2_grpc

    assert service_pb2.DESCRIPTOR.package == "latentstage.v1"
    assert service_pb2.DESCRIPTOR.dependencies[0] is camera_pb2.DESCRIPTOR
    assert hasattr(service_pb2_grpc, "LatentStageServiceStub")
    assert service_pb2.DESCRIPTOR.services_by_name["LatentStageService"].methods_by_name[
        "Session"].client_streaming


def test_every_field_is_documented():
    """Each message field and enum value carries a comment (the .proto is the contract)."""
    undocumented = []
    for proto in _protos():
        lines = proto.read_text().splitlines()
        for i, line in enumerate(lines):
            text = line.strip()
            is_field = text.endswith(";") and "=" in text and not text.startswith(
                ("option", "syntax", "package", "import", "rpc", "//"))
            if is_field and "//" not in text and not lines[i - 1].strip().startswith("//"):
                undocumented.append(f"{proto.name}:{i + 1}: {text}")
    assert not undocumented, "\n".join(undocumented)
