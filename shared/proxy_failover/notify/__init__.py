"""Notifications: the SNS publisher and the outbox relay."""
