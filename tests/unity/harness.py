"""Build helpers shared by tests/engine_bridge/test_unity_bindings.py and bench_unity.py.

They find Mono (mcs, mono), a C compiler and the native client library, compile the Unity
package's binding layer (Runtime/Native, no UnityEngine) with the test program in this folder,
and say what to run when something is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "engine_bridge" / "unity" / "com.latentstage.client"
NATIVE_SOURCES = PACKAGE / "Runtime" / "Native"
TEST_SOURCES = Path(__file__).resolve().parent
HEADER_DIR = ROOT / "engine_bridge" / "native" / "include"
HEADER = HEADER_DIR / "latentstage" / "latentstage.h"
#: The file the bindings' [DllImport("latentstage_client")] resolves to on Linux and macOS.
LIBRARY_NAMES = ("liblatentstage_client.so", "liblatentstage_client.dylib")
#: Where `make native-build` (the root CMakeLists.txt) puts the library. Other trees under build/
#: (native-asan, native-tsan) hold sanitizer builds that mono cannot load.
LIBRARY_DIR = "build/native"

BUILD_HELP = ("make deps   # mono-mcs, mono-runtime, cmake, g++, gRPC C++ (Debian packages)\n"
              "make native-build   # or: cmake -S . -B build/native -DCMAKE_BUILD_TYPE=Release "
              "&& cmake --build build/native -j2")


def tools() -> dict[str, str | None]:
    """Paths of mcs, mono and a C compiler (None when absent)."""
    return {"mcs": shutil.which("mcs"), "mono": shutil.which("mono"),
            "cc": shutil.which("cc") or shutil.which("gcc")}


def native_library() -> Path | None:
    """The built client library: $LATENTSTAGE_NATIVE_LIB (a file or its folder, as `make test`
    sets it), else build/native/liblatentstage_client.{so,dylib}."""
    env = os.environ.get("LATENTSTAGE_NATIVE_LIB")
    if env:
        path = Path(env)
        if path.is_dir():
            found = [path / n for n in LIBRARY_NAMES if (path / n).exists()]
            return found[0] if found else None
        return path if path.exists() else None
    found = [ROOT / LIBRARY_DIR / n for n in LIBRARY_NAMES if (ROOT / LIBRARY_DIR / n).exists()]
    return found[0] if found else None


def run_env(library: Path) -> dict[str, str]:
    """The environment in which mono's dlopen finds ``library`` (and C programs linked to it)."""
    env = dict(os.environ)
    for var in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
        env[var] = os.pathsep.join(filter(None, [str(library.parent), env.get(var)]))
    return env


def compile_tests(out_dir: Path, mcs: str = "mcs") -> Path:
    """Compiles Runtime/Native/*.cs with tests/unity/*.cs into LatentStageTests.exe.

    C# 7.2 (what Debian's mcs accepts; Unity 2021.3 and later compile C# 9), unsafe code,
    warnings as errors. Raises CalledProcessError with mcs's output on failure.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / "LatentStageTests.exe"
    sources = sorted(NATIVE_SOURCES.glob("*.cs")) + sorted(TEST_SOURCES.glob("*.cs"))
    cmd = [mcs, "-langversion:7.2", "-unsafe", "-optimize+", "-warn:4", "-warnaserror+",
           "-target:exe", f"-out:{exe}", *map(str, sources)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return exe


def compile_c_bench(out_dir: Path, library: Path, cc: str = "cc") -> Path:
    """Compiles bench_c.c against the header and ``library`` (the C-only baseline)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / "bench_c"
    cmd = [cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{HEADER_DIR}",
           str(TEST_SOURCES / "bench_c.c"), f"-L{library.parent}", "-llatentstage_client",
           f"-Wl,-rpath,{library.parent}", "-lm", "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return exe


# ----- the header, read for the layout comparison ---------------------------------------------
def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", text, flags=re.S))


def header_structs() -> dict[str, list[str]]:
    """Field names, in order, of every ``typedef struct ls_x { ... } ls_x;`` in the header."""
    text = _strip_comments(HEADER.read_text())
    out = {}
    for name, body in re.findall(r"typedef struct (ls_\w+) \{(.*?)\} \1;", text, flags=re.S):
        fields = []
        for decl in filter(None, (d.strip() for d in body.split(";"))):
            declarators = re.sub(r"^(const\s+)?\w+\s*\*?\s*", "", decl, count=1)
            fields += [re.sub(r"[\s*]|\[.*\]", "", d) for d in declarators.split(",")]
        out[name] = fields
    return out


def header_enums() -> dict[str, dict[str, int]]:
    """Members and values of every ``typedef enum ls_x { ... } ls_x;`` in the header."""
    text = _strip_comments(HEADER.read_text())
    return {name: {m: int(v) for m, v in re.findall(r"(LS_\w+)\s*=\s*(\d+)", body)}
            for name, body in re.findall(r"typedef enum (ls_\w+) \{(.*?)\} \1;", text, flags=re.S)}


def c_name(managed: str) -> str:
    """ls_session_options for LsSessionOptions."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", managed).lower()


def c_layout_program(structs: dict[str, list[str]]) -> str:
    """C source printing sizeof/offsetof in the format of the C# ``layout`` mode."""
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "latentstage/latentstage.h"',
             "int main(void) {"]
    for managed, fields in structs.items():
        c = c_name(managed)
        lines.append(f'  printf("struct {managed} %zu\\n", sizeof({c}));')
        lines += [f'  printf("field {managed} {f} %zu\\n", offsetof({c}, {f}));' for f in fields]
    return "\n".join([*lines, "  return 0;", "}", ""])


if __name__ == "__main__":
    # `python tests/unity/harness.py`: compile the binding layer and the test program into
    # build/unity (what `make unity` runs), failing with mcs's errors or the command to run.
    import sys

    if not tools()["mcs"]:
        sys.exit(f"mcs (Debian mono-mcs) is missing; run:\n{BUILD_HELP}")
    try:
        print(compile_tests(ROOT / "build" / "unity"))
    except subprocess.CalledProcessError as e:
        sys.exit(f"mcs failed:\n{e.stdout}{e.stderr}")
