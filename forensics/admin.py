"""Read-only admin lists of forensics packages and suspicious files.

Rows come only from verified uploads and imports, so the admin neither adds
nor changes nor deletes them; retention deletes them with their stored zips.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from forensics.models import CollectedFile, ForensicsPackage, PackageArtifact


class ReadOnlyAdmin(admin.ModelAdmin):
    # The admin would link the stored zip under MEDIA_URL, which is not how
    # zips are served: downloads go through the forensics pages and are audited.
    exclude = ("file",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PackageArtifactInline(admin.TabularInline):
    model = PackageArtifact
    fields = ("name", "status", "row_count", "error", "json_member", "csv_member")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ForensicsPackage)
class ForensicsPackageAdmin(ReadOnlyAdmin):
    list_display = ["id", "endpoint", "status", "size", "collector_version", "received"]
    list_filter = ["status", "received"]
    list_select_related = ["endpoint"]
    search_fields = ["endpoint__hostname", "sha256"]
    date_hierarchy = "received"
    inlines = [PackageArtifactInline]


@admin.register(CollectedFile)
class CollectedFileAdmin(ReadOnlyAdmin):
    list_display = ["id", "endpoint", "sha256", "size", "original_path", "received"]
    list_filter = ["changed_during_read", "received"]
    list_select_related = ["endpoint"]
    search_fields = ["endpoint__hostname", "sha256", "sha1", "md5", "original_path"]
    date_hierarchy = "received"
