"""Forensics collection in the agent: artifacts, packages and suspicious files.

Importing this package registers the `collect_forensics` and `collect_file`
task handlers with `agent.tasks`.
"""

from agent.forensics import handlers  # noqa: F401 - registers the task handlers.
