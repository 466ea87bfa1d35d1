"""The local stack: API Gateway emulation, scheduler, embedded PostgreSQL, local SNS (no Docker)."""
