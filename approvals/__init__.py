"""Approval requests for risky steps."""
