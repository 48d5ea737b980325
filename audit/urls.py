from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("", views.timeline, name="timeline"),
    path("export.csv", views.export, {"fmt": "csv"}, name="export-csv"),
    path("export.json", views.export, {"fmt": "json"}, name="export-json"),
    path("reports/", views.reports, name="reports"),
    path("reports/<int:pk>/", views.report, name="report"),
    path("reports/<int:pk>/download", views.report_download, name="report-download"),
    path("reports/<int:pk>/print", views.report_print, name="report-print"),
    path("reports/<int:pk>/shares", views.share_create, name="share-create"),
    path(
        "reports/<int:pk>/shares/<int:share_pk>/revoke",
        views.share_revoke,
        name="share-revoke",
    ),
    path("shared/<str:token>/", views.shared_report, name="shared-report"),
]
