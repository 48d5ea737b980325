"""Windows collectors."""
