"""Export: checkpoints to ONNX and TensorRT engine bundles (docs/export.md, docs/architecture.md).

- :mod:`.exporter`: ``export_bundle(ExportOptions(...))``, export -> check -> verify -> write;
- :mod:`.networks`: the contract's three networks as exportable modules, and the shape plan;
- :mod:`.onnx_export`: one network to ONNX (dynamo exporter, legacy fallback, onnx.checker);
- :mod:`.verify`: parity with PyTorch, tolerances and why;
- :mod:`.tensorrt_build`: TensorRT engines from the ONNX files (tensorrt imported lazily);
- :mod:`.samples`: real inputs (procedural frames and camera paths);
- :mod:`.bench` and :mod:`.cli`: ``latentstage export`` and ``latentstage bench backends``.

The manifest schema and bundle loading live in ``latentstage.runtime.backends.bundle``, which
this package writes through; the runtime never imports this package.
"""
