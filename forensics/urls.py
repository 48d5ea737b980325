"""Pages of the forensics app, mounted under /forensics/."""

from django.urls import path

from forensics import views

app_name = "forensics"

urlpatterns = [
    path("packages/", views.package_list, name="package-list"),
    path("packages/<int:package_id>/", views.package_detail, name="package-detail"),
    path(
        "packages/<int:package_id>/download",
        views.package_download,
        name="package-download",
    ),
    path(
        "packages/<int:package_id>/artifacts/<int:artifact_id>/",
        views.artifact_detail,
        name="artifact-detail",
    ),
    path(
        "packages/<int:package_id>/artifacts/<int:artifact_id>/download.<str:file_format>",
        views.artifact_download,
        name="artifact-download",
    ),
    path("files/", views.file_list, name="file-list"),
    path("files/<int:file_id>/download", views.file_download, name="file-download"),
]
