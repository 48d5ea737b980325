"""The Exec project: settings, URLs, the task cluster and shared helpers."""
