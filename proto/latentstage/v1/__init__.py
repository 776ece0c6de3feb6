"""Generated gRPC/protobuf contract ``latentstage.v1`` (camera.proto, service.proto).

The ``*_pb2.py``, ``*_pb2_grpc.py`` and ``*_pb2.pyi`` files are generated and committed, so the
runtime needs no code generator. Regenerate after editing a ``.proto`` (from the repository
root)::

    python -m grpc_tools.protoc -Iproto --python_out=proto --pyi_out=proto \
        --grpc_python_out=proto proto/latentstage/v1/camera.proto proto/latentstage/v1/service.proto

``tests/proto/test_generated_fresh.py`` fails when the committed files are stale.
"""
