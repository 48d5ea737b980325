from django.urls import path

from playbooks import api

urlpatterns = [
    path(
        "detections/<str:source>/",
        api.DetectionIngestView.as_view(),
        name="detection-ingest",
    ),
    path(
        "playbooks/<int:playbook_id>/runs",
        api.PlaybookRunCreateView.as_view(),
        name="playbook-runs",
    ),
    path("runs/<int:run_id>", api.RunDetailView.as_view(), name="run-detail"),
    path("runs/<int:run_id>/cancel", api.RunCancelView.as_view(), name="run-cancel"),
]
