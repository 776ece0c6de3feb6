"""LatentStage: camera poses in, generated frames out, with a persistent latent spatial memory.

Subpackages (each a design-card folder, mapped in ``pyproject.toml``):

- ``latentstage.runtime``: camera conventions, latent memory, serving and the CLI.
- ``latentstage.model``: reference world model and procedural worlds with ground truth.
- ``latentstage.export``: checkpoint to ONNX / TensorRT bundles.
- ``latentstage.engine_bridge``: clients (Python, FreeD, C++, Unreal, Unity).
- ``latentstage.v1``: the generated gRPC/protobuf contract.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("latentstage")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
