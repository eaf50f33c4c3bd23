"""The gRPC gateway: the product's front door."""
