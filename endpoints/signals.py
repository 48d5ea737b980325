"""Signals that higher apps subscribe to; endpoints never imports them.

`status_changed` is sent, after the transaction commits, for every row written
to StatusChange, with `status_change` as the argument. `agent_task_finished`
is sent after commit when a task reaches a final status, with `task`.
"""

from django.dispatch import Signal

status_changed = Signal()
agent_task_finished = Signal()
