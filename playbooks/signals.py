"""Signals the run engine sends to the apps above it."""

from django.dispatch import Signal

# Sent after the transaction that cancelled a run commits, with `run` (the
# PlaybookRun) and `actor` (the user who cancelled it, or None).
run_cancelled = Signal()
