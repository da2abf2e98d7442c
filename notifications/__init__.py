"""Notifications: one outbox and delivery core, and a small adapter per channel."""
