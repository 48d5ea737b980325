"""Detections, playbooks and the run engine."""
