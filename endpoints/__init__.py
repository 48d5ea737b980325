"""Endpoints, their users, status history and agent tasks."""
