from django.urls import path

from approvals import views

app_name = "approvals"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("<int:approval_id>/", views.detail, name="detail"),
    path("<int:approval_id>/approve", views.approve, name="approve"),
    path("<int:approval_id>/reject", views.reject, name="reject"),
]
