"""The Unity package's .meta files: one per file and folder, as Unity needs them in a package
it cannot write to (added by git URL), with stable GUIDs derived from the path.

    python tests/unity/unity_meta.py          # check (exit 1 listing what is missing or stale)
    python tests/unity/unity_meta.py --write  # write the missing ones

Folders ending in ``~`` (Samples~, Documentation~) and their contents are ignored by Unity and
get none.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

PACKAGE = (Path(__file__).resolve().parents[2] / "engine_bridge" / "unity"
           / "com.latentstage.client")

_TAIL = "  userData: \n  assetBundleName: \n  assetBundleVariant: \n"
_IMPORTERS = {
    ".cs": ("MonoImporter:\n  externalObjects: {}\n  serializedVersion: 2\n"
            "  defaultReferences: []\n  executionOrder: 0\n  icon: {instanceID: 0}\n" + _TAIL),
    ".asmdef": "AssemblyDefinitionImporter:\n  externalObjects: {}\n" + _TAIL,
    ".json": "PackageManifestImporter:\n  externalObjects: {}\n" + _TAIL,
    ".md": "TextScriptImporter:\n  externalObjects: {}\n" + _TAIL,
}
_DEFAULT = "DefaultImporter:\n  externalObjects: {}\n" + _TAIL


def guid(relative: str) -> str:
    """A stable 32-hex-digit GUID for a path inside the package."""
    return hashlib.md5(f"com.latentstage.client/{relative}".encode()).hexdigest()


def expected_meta(path: Path) -> str:
    relative = path.relative_to(PACKAGE).as_posix()
    head = f"fileFormatVersion: 2\nguid: {guid(relative)}\n"
    if path.is_dir():
        return head + "folderAsset: yes\n" + _DEFAULT
    return head + _IMPORTERS.get(path.suffix, _DEFAULT)


def assets() -> list[Path]:
    """Every file and folder Unity imports (not .meta files, not under a ``~`` folder)."""
    return sorted(p for p in PACKAGE.rglob("*")
                  if p.suffix != ".meta"
                  and not any(part.endswith("~") for part in p.relative_to(PACKAGE).parts))


def problems() -> list[str]:
    """Missing or orphaned .meta files, and duplicate GUIDs."""
    found, seen = [], {}
    for asset in assets():
        meta = asset.with_name(asset.name + ".meta")
        if not meta.exists():
            found.append(f"{meta.relative_to(PACKAGE)}: missing")
            continue
        lines = [line for line in meta.read_text().splitlines() if line.startswith("guid: ")]
        if len(lines) != 1:
            found.append(f"{meta.relative_to(PACKAGE)}: no guid line")
            continue
        other = seen.setdefault(lines[0], meta)
        if other != meta:
            found.append(f"{meta.relative_to(PACKAGE)}: same {lines[0]} as {other.name}")
    for meta in PACKAGE.rglob("*.meta"):
        if not meta.with_name(meta.name[:-5]).exists():
            found.append(f"{meta.relative_to(PACKAGE)}: its asset is gone")
    return found


def write_missing() -> list[Path]:
    written = []
    for asset in assets():
        meta = asset.with_name(asset.name + ".meta")
        if not meta.exists():
            meta.write_text(expected_meta(asset))
            written.append(meta)
    return written


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        for path in write_missing():
            print(f"wrote {path.relative_to(PACKAGE)}")
    issues = problems()
    print("\n".join(issues) if issues else "every asset has its .meta")
    sys.exit(1 if issues else 0)
