"""Connections to vendor APIs and notification services."""
