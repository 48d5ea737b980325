from django.urls import path

from approvals import api

urlpatterns = [
    path("approvals/", api.ApprovalListView.as_view(), name="approval-list"),
    path(
        "approvals/<int:approval_id>/",
        api.ApprovalDetailView.as_view(),
        name="approval-detail",
    ),
    path(
        "approvals/<int:approval_id>/approve",
        api.ApproveView.as_view(),
        name="approval-approve",
    ),
    path(
        "approvals/<int:approval_id>/reject",
        api.RejectView.as_view(),
        name="approval-reject",
    ),
]
