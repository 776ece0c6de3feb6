"""Fixed sets of values shared by the command lines, as Enums so ``--help`` lists them.

Each is a ``StrEnum``: a member compares equal to its value and formats as it, so code
downstream of the option keeps working with plain strings. ``--device`` also takes
``cuda:N``, which no fixed set holds; its choices are shown with :data:`DEVICE_METAVAR`.
"""

from __future__ import annotations

from enum import StrEnum

#: --device: shown in --help; the value is checked by runtime.core.resolve_device.
DEVICE_METAVAR = "[auto|cpu|cuda|cuda:N]"


class Convention(StrEnum):
    """Pose conventions (the values of runtime.conventions.Convention, which this module does
    not import so that ``--help`` stays fast)."""

    opencv = "opencv"  # canonical: right-handed Z-up metres, OpenCV camera axes
    opengl = "opengl"  # OpenGL camera axes; world Y up (or Z up), scene units
    blender = "blender"  # OpenGL camera axes in a right-handed Z-up world
    unreal = "unreal"  # left-handed, Z up, centimetres, FRotator or FQuat
    unity = "unity"  # left-handed, Y up, metres, Quaternion or Euler angles
    usd = "usd"  # OpenGL camera axes; stage upAxis and metersPerUnit


class PathFormat(StrEnum):
    """Camera-path file formats (engine_bridge/paths)."""

    json = "json"  # cameras.json of `latentstage worlds render`, or any JSON of c2w matrices
    csv = "csv"  # one header row, one row per pose
    nerfstudio = "nerfstudio"  # nerfstudio / instant-ngp transforms.json
    usd = "usd"  # one UsdGeom.Camera of a USD stage


class BackendName(StrEnum):
    """Inference backends (runtime/backends/)."""

    torch = "torch"  # PyTorch eager (or compiled): always available
    onnxruntime = "onnxruntime"  # an ONNX engine bundle (latentstage export --format onnx)
    tensorrt = "tensorrt"  # a TensorRT engine bundle (NVIDIA GPU)


class EncodingName(StrEnum):
    """Frame encodings a client may ask for (service.proto Encoding)."""

    jpeg = "jpeg"  # JPEG at --quality
    raw = "raw"  # raw RGB8 rows
    raw_rgba8 = "raw_rgba8"  # raw RGBA8 rows
    raw_bgra8 = "raw_bgra8"  # raw BGRA8 rows (Unreal and Unity textures)


def hide_flag_metavar() -> None:
    """Show no ``<bool>`` type column for flags (``--force``, ``--tls/--no-tls``, ``--help``)
    in typer's rich help: a flag takes no value, so a type there reads as if it took one.

    typer 0.29 prints the parameter type for every option; this wraps its
    ``TyperOption.display_type_rich`` once so that it returns nothing for flags.
    """
    from typer.core import TyperOption

    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_latentstage_flags_hidden", False):
        return

    def display_type_rich(self, ctx):
        if self.is_flag and self.metavar is None:
            return None
        return original(self, ctx)

    display_type_rich._latentstage_flags_hidden = True
    TyperOption.display_type_rich = display_type_rich


class UpAxis(StrEnum):
    """The up axis of a right-handed world (camera paths, Open.stage.up_axis)."""

    y = "y"  # Y up (OpenGL, USD's default, Maya)
    z = "z"  # Z up (canonical, Blender, Unreal)
