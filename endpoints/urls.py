"""Routes of the agent API, mounted under /api/v1/agent/."""

from django.urls import path

from endpoints import views

urlpatterns = [
    path("enroll", views.EnrollView.as_view(), name="agent-enroll"),
    path("checkin", views.CheckinView.as_view(), name="agent-checkin"),
    path(
        "tasks/<int:task_id>/result",
        views.TaskResultView.as_view(),
        name="agent-task-result",
    ),
]
