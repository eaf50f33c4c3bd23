"""Running Triton locally and calling its models."""
