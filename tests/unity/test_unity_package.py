"""The Unity package's files as Unity reads them: the manifest, the assembly definitions, the
.meta files, and the rule that Runtime/Native never touches UnityEngine (it is what the mono
tests compile)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "unity_meta", Path(__file__).resolve().parent / "unity_meta.py")
unity_meta = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(unity_meta)

PACKAGE = unity_meta.PACKAGE
UNITY_ASSEMBLIES = {"UnityEngine.TestRunner", "UnityEditor.TestRunner"}


def test_manifest_names_the_package_and_its_samples():
    manifest = json.loads((PACKAGE / "package.json").read_text())
    assert manifest["name"] == "com.latentstage.client" == PACKAGE.name
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert re.fullmatch(r"\d{4}\.\d", manifest["unity"])  # Span<T> needs 2021.2 or later
    assert manifest["unity"] >= "2021.3"
    for sample in manifest["samples"]:
        assert sample["path"].startswith("Samples~/") and (PACKAGE / sample["path"]).is_dir()
        assert list((PACKAGE / sample["path"]).glob("*.cs"))
    assert (PACKAGE / "Documentation~" / "index.md").is_file()


def test_assembly_definitions_reference_what_exists():
    asmdefs = {p: json.loads(p.read_text()) for p in PACKAGE.rglob("*.asmdef")}
    names = {d["name"] for d in asmdefs.values()}
    assert names == {"LatentStage.Native", "LatentStage.Runtime", "LatentStage.Editor",
                     "LatentStage.Editor.Tests", "LatentStage.Runtime.Tests"}
    for path, d in asmdefs.items():
        assert path.stem == d["name"]
        assert set(d["references"]) <= names | UNITY_ASSEMBLIES, path
        if d["name"].endswith(".Tests"):
            assert d["precompiledReferences"] == ["nunit.framework.dll"] and d["overrideReferences"]
            assert d["defineConstraints"] == ["UNITY_INCLUDE_TESTS"] and not d["autoReferenced"]
    native = json.loads((PACKAGE / "Runtime/Native/LatentStage.Native.asmdef").read_text())
    assert native["noEngineReferences"] and native["allowUnsafeCode"]
    editor = json.loads((PACKAGE / "Editor/LatentStage.Editor.asmdef").read_text())
    assert editor["includePlatforms"] == ["Editor"]


def test_the_binding_layer_never_touches_unityengine():
    for source in (PACKAGE / "Runtime" / "Native").glob("*.cs"):
        code = re.sub(r"//[^\n]*", "", source.read_text())  # comments may name Unity types
        assert not re.search(r"\bUnity(Engine|Editor)\b", code), source.name
    for source in (PACKAGE / "Runtime" / "Unity").glob("*.cs"):  # and the wrapper holds no P/Invoke
        assert "DllImport" not in source.read_text(), source.name


def test_every_asset_has_a_meta_file_with_a_unique_guid():
    assert unity_meta.problems() == [], "run: python tests/unity/unity_meta.py --write"
    meta = (PACKAGE / "Runtime" / "Native" / "NativeMethods.cs.meta").read_text()
    assert "MonoImporter" in meta
    assert f"guid: {unity_meta.guid('Runtime/Native/NativeMethods.cs')}" in meta
    assert not list((PACKAGE / "Samples~").rglob("*.meta"))  # Unity ignores ~ folders
