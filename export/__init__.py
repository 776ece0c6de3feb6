"""Export: checkpoints to ONNX and TensorRT engine bundles (see DESIGN.md)."""
