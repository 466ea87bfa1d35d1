"""Active health checks: the target policy and the HTTP/TCP probes."""
