"""macOS collectors."""
