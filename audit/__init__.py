"""The audit timeline and its reports."""
