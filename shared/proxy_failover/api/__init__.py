"""HTTP side of the layer: router, authentication, error mapping, request/response models."""
