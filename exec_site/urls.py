from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from exec_site.health import healthz
from exec_site.timezones import choose_timezone

api_v1 = [
    path("agent/", include("endpoints.urls")),
    path("", include("forensics.api_urls")),
    path("", include("playbooks.urls")),
    path("", include("approvals.api_urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("timezone/", choose_timezone, name="timezone"),
    path("forensics/", include("forensics.urls")),
    path("approvals/", include("approvals.urls")),
    path("audit/", include("audit.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
]
