"""Static checks of the Unreal plug-in (engine_bridge/unreal/LatentStage).

No Unreal Engine can be installed here, so the plug-in is never compiled by these tests. What can
be checked without the engine is checked: the .uplugin against the Build.cs files and the folder
layout, every ls_* function, constant, type and struct field the C++ uses against latentstage.h,
the Unreal reflection rules that most often break a build (generated.h last, GENERATED_BODY,
categories), that poses never go through an FMatrix, that the per-frame path does not allocate,
and the engine-free glue (LatentStageGlue.h), which g++ compiles and runs against the header.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "engine_bridge" / "unreal" / "LatentStage"
HEADER = ROOT / "engine_bridge" / "native" / "include" / "latentstage" / "latentstage.h"
GLUE_CHECK = ROOT / "engine_bridge" / "unreal" / "tests" / "glue_check.cpp"
RUNTIME_MODULE = PLUGIN / "Source" / "LatentStage"
THIRD_PARTY = PLUGIN / "Source" / "ThirdParty" / "LatentStageLibrary"

# Comments, string literals and character literals, earliest first (so "//" inside a string stays).
_NON_CODE = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)


def code_only(text: str) -> str:
    """C/C++ text with comments blanked and string/char literals emptied."""
    return _NON_CODE.sub(lambda m: " " if m.group(0)[0] == "/" else '""', text)


def cpp_sources() -> dict[str, str]:
    """The plug-in's C++ files (headers and sources), by path relative to the plug-in."""
    files = sorted(PLUGIN.rglob("*.h")) + sorted(PLUGIN.rglob("*.cpp"))
    return {str(p.relative_to(PLUGIN)): p.read_text() for p in files}


def header_api() -> dict[str, set[str]]:
    """Functions, constants (enum values, macros), type names and struct fields of the header."""
    text = code_only(HEADER.read_text())
    functions = set(re.findall(r"LS_API\s+[\w\s*]+?\b(ls_\w+)\s*\(", text))
    constants = set(re.findall(r"\b(LS_[A-Z0-9_]+)\s*(?:=|,|\n\s*\})", text))
    constants |= set(re.findall(r"#\s*define\s+(LS_\w+)", text))
    types = set(re.findall(r"\}\s*(ls_\w+)\s*;", text)) | set(
        re.findall(r"typedef\s+struct\s+\w+\s+(ls_\w+)\s*;", text)
    )
    fields: set[str] = set()
    for body in re.findall(r"typedef\s+struct\s+\w+\s*\{(.*?)\}\s*ls_\w+\s*;", text, re.S):
        fields |= declared_names(body)
    return {"functions": functions, "constants": constants, "types": types, "fields": fields}


def declared_names(body: str) -> set[str]:
    """Member names declared in a struct body: `double fx, fy;` `char id[64];` `const char* t;`."""
    names: set[str] = set()
    for decl in body.split(";"):
        decl = re.sub(r"\[[^\]]*\]", "", decl).strip()
        if not decl or "(" in decl:
            continue
        decl = re.sub(r"\s*=[^,]*", "", decl)  # default member initialisers
        first, *rest = decl.split(",")
        names.add(re.findall(r"\w+", first)[-1])
        names |= {re.findall(r"\w+", part)[-1] for part in rest if re.findall(r"\w+", part)}
    return names


def function_body(text: str, qualified_name: str) -> str:
    """The brace-matched body of `qualified_name(...) {...}` in a .cpp file."""
    match = re.search(re.escape(qualified_name) + r"\s*\([^;{]*\)\s*(?:const\s*)?\{", text)
    assert match, f"{qualified_name}: definition not found"
    depth, start = 1, match.end()
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    raise AssertionError(f"{qualified_name}: unbalanced braces")


def build_cs_modules(build_cs: str) -> set[str]:
    """Module names listed in a Build.cs's dependency lists."""
    code = re.sub(r"//[^\n]*", "", build_cs)
    names: set[str] = set()
    add_range = r"DependencyModuleNames\.AddRange\(\s*new\s+string\[\]\s*\{(.*?)\}"
    for block in re.findall(add_range, code, re.S):
        names |= set(re.findall(r'"(\w+)"', block))
    names |= set(re.findall(r'DependencyModuleNames\.Add\(\s*"(\w+)"\s*\)', code))
    return names


# ----- layout -----------------------------------------------------------------------------------
def test_uplugin_module_matches_build_cs_and_folders() -> None:
    plugin = json.loads((PLUGIN / "LatentStage.uplugin").read_text())
    assert plugin["FileVersion"] == 3
    assert plugin["CanContainContent"] is False
    modules = plugin["Modules"]
    assert [m["Name"] for m in modules] == ["LatentStage"]
    for module in modules:
        name = module["Name"]
        assert module["Type"] == "Runtime"
        assert module["LoadingPhase"] in {"Default", "PreDefault", "PostDefault", "PostEngineInit"}
        assert set(module["PlatformAllowList"]) <= {"Win64", "Linux", "Mac"}
        folder = PLUGIN / "Source" / name
        build_cs = (folder / f"{name}.Build.cs").read_text()
        assert re.search(rf"public\s+class\s+{name}\s*:\s*ModuleRules", build_cs)
        constructor = rf"public\s+{name}\s*\(\s*ReadOnlyTargetRules\s+Target\s*\)\s*:\s*base"
        assert re.search(constructor, build_cs)
        assert (folder / "Public").is_dir() and (folder / "Private").is_dir()
        implemented = re.findall(
            r"IMPLEMENT_MODULE\(\s*(\w+)\s*,\s*(\w+)\s*\)",
            "\n".join(p.read_text() for p in folder.rglob("*.cpp")),
        )
        assert [module_name for _, module_name in implemented] == [name]


def test_third_party_module_is_external_and_depended_on() -> None:
    build_cs = (THIRD_PARTY / "LatentStageLibrary.Build.cs").read_text()
    assert re.search(r"public\s+class\s+LatentStageLibrary\s*:\s*ModuleRules", build_cs)
    assert "Type = ModuleType.External;" in build_cs
    plugin = json.loads((PLUGIN / "LatentStage.uplugin").read_text())
    assert "LatentStageLibrary" not in {m["Name"] for m in plugin["Modules"]}  # external
    runtime_build_cs = (RUNTIME_MODULE / "LatentStage.Build.cs").read_text()
    assert "LatentStageLibrary" in build_cs_modules(runtime_build_cs)
    # The in-repository fallback for the header resolves from the plug-in folder.
    repo_header = PLUGIN / ".." / ".." / "native" / "include" / "latentstage" / "latentstage.h"
    assert repo_header.resolve() == HEADER
    assert (THIRD_PARTY / "README.md").is_file()


def test_engine_headers_have_their_module_dependencies() -> None:
    """An include from an engine module the Build.cs does not depend on fails to compile."""
    needs = {
        "CineCameraComponent.h": "CinematicCamera",
        "Interfaces/IPluginManager.h": "Projects",
        "RHITypes.h": "RHI",
        "Engine/Texture2D.h": "Engine",
        "UObject/Package.h": "CoreUObject",
    }
    deps = build_cs_modules((RUNTIME_MODULE / "LatentStage.Build.cs").read_text())
    included = set(re.findall(r'#include\s+"([^"]+)"', "\n".join(cpp_sources().values())))
    for header, module in needs.items():
        if header in included:
            assert module in deps, f"{header} is included but {module} is not a dependency"
    assert {"Core", "CoreUObject", "Engine", "CinematicCamera", "Projects", "RHI"} <= deps


def test_native_library_names_agree_between_build_cs_and_loader() -> None:
    build_cs = (THIRD_PARTY / "LatentStageLibrary.Build.cs").read_text()
    loader = (RUNTIME_MODULE / "Private" / "LatentStageModule.cpp").read_text()
    for platform, file_name in [("Win64", "latentstage_client.dll"), ("Mac", "liblatentstage_client.dylib")]:
        assert f'"{file_name}"' in build_cs  # delay-loaded and staged ...
        assert f'TEXT("{file_name}")' in loader  # ... and loaded by that name
        assert f'TEXT("{platform}")' in loader
    assert '"liblatentstage_client.so"' in build_cs
    assert '"Binaries", "ThirdParty", "LatentStageLibrary"' in build_cs
    assert 'TEXT("Binaries"), TEXT("ThirdParty"), TEXT("LatentStageLibrary")' in loader
    # The ABI check compares the loaded library's version with the compiled header's.
    assert re.search(r"ls_abi_version\(\)\s*;[\s\S]*!=\s*LS_ABI_VERSION", code_only(loader))


# ----- the C ABI as the plug-in uses it ----------------------------------------------------------
def test_every_ls_function_called_exists_in_the_header() -> None:
    api = header_api()
    code = "\n".join(code_only(text) for text in cpp_sources().values())
    called = set(re.findall(r"\b(ls_[a-z0-9_]+)\s*\(", code)) - api["types"]
    assert called <= api["functions"], f"not in latentstage.h: {sorted(called - api['functions'])}"
    # The per-frame contract of the brief: submit, acquire, release; the ABI check; a clean close.
    assert {
        "ls_abi_version",
        "ls_session_submit_pose",
        "ls_session_acquire_frame",
        "ls_session_release_frame",
        "ls_session_get_state",
        "ls_session_reopen",
        "ls_session_close",
        "ls_client_destroy",
        "ls_world_save",
        "ls_world_load",
    } <= called


def test_every_ls_constant_type_and_field_used_exists_in_the_header() -> None:
    api = header_api()
    sources = cpp_sources()
    code = "\n".join(code_only(text) for text in sources.values())
    constants = set(re.findall(r"\b(LS_[A-Z0-9_]+)\b", code))
    assert constants <= api["constants"], f"unknown: {sorted(constants - api['constants'])}"
    types = set(re.findall(r"\b(ls_[a-z0-9_]+)\b(?!\s*\()", code))
    assert types <= api["types"] | api["functions"], f"unknown: {sorted(types - api['types'])}"
    # Lower-case member accesses are C struct fields (Unreal members are PascalCase); the glue's own
    # structs are the only other source of them.
    glue = code_only((RUNTIME_MODULE / "Private" / "LatentStageGlue.h").read_text())
    glue_fields: set[str] = set()
    for body in re.findall(r"struct\s+\w+\s*\{(.*?)\};", glue, re.S):
        glue_fields |= declared_names(body)
    accessed = set(re.findall(r"(?<![0-9])(?:\.|->)([a-z][a-z0-9_]*)\b(?!\s*\()", code))  # not 0.f
    unknown = accessed - api["fields"] - glue_fields
    assert not unknown, f"fields not in latentstage.h or the glue: {sorted(unknown)}"
    assert {"pixels", "stride", "frame_id", "rung", "rotator", "lens", "latency_p50_ms"} <= accessed


def test_poses_never_use_an_fmatrix() -> None:
    """An FMatrix copied in memory order is the transpose: poses go as location + FRotator."""
    for path, text in cpp_sources().items():
        code = code_only(text)
        assert not re.search(r"\bFMatrix\w*\b", code), f"{path} uses an FMatrix"
        assert "LS_ROTATION_MATRIX" not in code, f"{path} sends a matrix"
        assert not re.search(r"(?:\.|->)matrix\b", code), f"{path} writes ls_pose.matrix"
    component = code_only((RUNTIME_MODULE / "Private" / "LatentStageComponent.cpp").read_text())
    submit = function_body(component, "ULatentStageComponent::SubmitPose")
    assert "GetComponentRotation()" in submit and "FillUnrealRotatorPose" in submit
    assert "ls_session_submit_pose" in submit
    glue = code_only((RUNTIME_MODULE / "Private" / "LatentStageGlue.h").read_text())
    assert "LS_ROTATION_ROTATOR" in glue and "LS_CONVENTION_UNREAL" in glue
    assert re.search(r"options->bottom_up\s*=\s*0\s*;", glue)  # Unreal textures are top-down


def test_frame_path_polls_and_never_allocates() -> None:
    private = RUNTIME_MODULE / "Private"
    component = code_only((private / "LatentStageComponent.cpp").read_text())
    runtime = code_only((private / "LatentStageRuntime.h").read_text())
    pump = function_body(component, "ULatentStageComponent::PumpFrame")
    # Timeout 0: the game thread never waits for a frame.
    assert re.search(r"ls_session_acquire_frame\(\s*\w+\s*,\s*0\s*,", pump)
    assert pump.index("ls_session_release_frame") < pump.index("UploadStagingSlot")
    allocations = ["SetNum", "Reserve(", "Add(", "Emplace(", "Empty(", "CreateTransient", "new ",
                   "MakeShared"]
    for allocation in allocations:
        assert allocation not in pump, f"PumpFrame allocates: {allocation}"
    # One texture, created in EnsureTexture only; staging buffers sized in their constructor only.
    code = "\n".join(code_only(text) for text in cpp_sources().values())
    assert code.count("UTexture2D::CreateTransient") == 1
    ensure_texture = function_body(component, "ULatentStageComponent::EnsureTexture")
    assert "UTexture2D::CreateTransient" in ensure_texture
    assert code.count("SetNumZeroed") == 1
    staging = function_body(runtime, "FLatentStageStaging")  # the constructor
    assert "SetNumZeroed" in staging
    # The upload's cleanup callback keeps the staging ring alive and frees its slot.
    upload = function_body(runtime, "UploadStagingSlot")
    assert "UpdateTextureRegions" in upload
    assert re.search(r"\[Keep, Slot\]\([^)]*\)\s*\{\s*Keep->Slots\.Release\(Slot\);\s*\}", upload)
    assert code.count("UpdateTextureRegions") == 1  # every upload goes through it


def test_reflection_rules_that_break_unreal_builds() -> None:
    for path in sorted(PLUGIN.rglob("*.h")):
        text = path.read_text()
        code = code_only(text)
        if not re.search(r"\b(UCLASS|USTRUCT|UENUM)\s*\(", code):
            continue
        includes = re.findall(r'#include\s+"([^"]+)"', text)
        assert includes[-1] == f"{path.stem}.generated.h", f"{path.name}: generated.h not last"
        reflected = len(re.findall(r"\b(?:UCLASS|USTRUCT)\s*\(", code))
        assert len(re.findall(r"\bGENERATED_BODY\(\)", code)) == reflected, path.name
        for specifiers in re.findall(r"\b(?:UPROPERTY|UFUNCTION)\s*\(([^;]*?)\)\s*\n", text):
            if re.search(r"Blueprint|EditAnywhere|VisibleAnywhere", specifiers):
                assert "Category" in specifiers, f"{path.name}: no Category in ({specifiers})"
    component = (RUNTIME_MODULE / "Public" / "LatentStageComponent.h").read_text()
    spawnable = r"UCLASS\([^\n]*meta\s*=\s*\([^)]*BlueprintSpawnableComponent[^\n]*\n\s*class"
    assert re.search(spawnable, component)
    texture = r"UPROPERTY\([^)]*BlueprintReadOnly[^)]*\)\s*TObjectPtr<UTexture2D>\s+Texture;"
    assert re.search(texture, component)
    on_frame = r"UPROPERTY\(BlueprintAssignable[^)]*\)\s*FLatentStageFrameEvent\s+OnFrame;"
    assert re.search(on_frame, component)


def test_world_kind_enum_values_equal_the_header() -> None:
    """LatentStageComponent.cpp casts ELatentStageWorldKind straight to ls_world_kind."""
    types = (RUNTIME_MODULE / "Public" / "LatentStageTypes.h").read_text()
    header = HEADER.read_text()
    pairs = [("Empty", "LS_WORLD_EMPTY"), ("Indoor", "LS_WORLD_INDOOR"),
             ("Outdoor", "LS_WORLD_OUTDOOR")]
    for ue_name, ls_name in pairs:
        ue_value = re.search(rf"\b{ue_name}\s*=\s*(\d+)\s+UMETA", types)
        ls_value = re.search(rf"\b{ls_name}\s*=\s*(\d+)", header)
        assert ue_value and ls_value and ue_value.group(1) == ls_value.group(1), ue_name


# ----- the engine-free glue, compiled and run ----------------------------------------------------
# UE 5.4 compiles C++20; the glue also stays valid C++17.
@pytest.mark.parametrize("standard", ["c++17", "c++20"])
def test_glue_compiles_warning_free_and_its_checks_pass(tmp_path: Path, standard: str) -> None:
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.fail("g++ not found: run `make deps` (or apt-get install -y g++)")
    binary = tmp_path / "glue_check"
    flags = ["-Wall", "-Wextra", "-Wshadow", "-Wundef", "-Wconversion", "-Werror"]
    build = subprocess.run(
        [compiler, f"-std={standard}", *flags, f"-I{HEADER.parents[1]}",
         f"-I{RUNTIME_MODULE / 'Private'}", str(GLUE_CHECK), "-o", str(binary)],
        capture_output=True, text=True, timeout=120,
    )
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(binary)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout
    passed = re.fullmatch(r"glue_check: (\d+) checks passed\n", run.stdout)
    assert passed and int(passed.group(1)) >= 80, run.stdout
