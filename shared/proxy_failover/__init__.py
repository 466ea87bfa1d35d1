"""Proxy failover control plane: the Lambda layer shared by every handler and the sweep."""

__version__ = "0.1.0"
