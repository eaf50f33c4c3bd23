"""Generated protobuf and gRPC code of the ``babelrag.v1`` API (see schemas/)."""
