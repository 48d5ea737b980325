"""Forensics packages and collected files."""
