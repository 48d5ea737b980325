"""Forensics routes of the agent API, mounted under /api/v1/."""

from django.urls import path

from forensics.api import TaskUploadView

urlpatterns = [
    path(
        "agent/tasks/<int:task_id>/upload",
        TaskUploadView.as_view(),
        name="agent-task-upload",
    ),
]
