"""Serving runtime: camera conventions, the frame step, the latent spatial memory, backends,
sessions, the gRPC service and the ``latentstage`` CLI root.

Subpackages of the ``latentstage`` namespace package (one folder each, ``pyproject.toml``
package-dir; docs/architecture.md):

- ``latentstage.runtime``: this package, the serving floor;
- ``latentstage.model``: the reference world model, procedural worlds, training, evaluation;
- ``latentstage.export``: checkpoints to ONNX / TensorRT engine bundles;
- ``latentstage.engine_bridge``: the clients (Python, FreeD watcher, ctypes binding of the native
  library; the C++ library and the Unreal and Unity packages live beside it);
- ``latentstage.bench``: the benchmarks;
- ``latentstage.v1``: the generated gRPC/protobuf contract.

The runtime imports none of the others except in its CLI root (``runtime/cli.py``); the
contracts are in ``pyproject.toml`` ([tool.importlinter]), checked by ``make lint``.
"""
