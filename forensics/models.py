"""Forensics packages, their artifacts, and suspicious files collected from endpoints.

Stored files are content-addressed: the storage name comes from the SHA-256 of
the uploaded zip, so identical uploads share one stored file and a row never
owns its file alone. Deleting a row leaves the file; `forensics.actions`
deletes a stored file once no row refers to it.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from endpoints.models import AgentTask, Endpoint
from forensics.choices import ArtifactStatus, PackageStatus


class ForensicsPackage(models.Model):
    """A verified zip of artifacts collected from one endpoint.

    `manifest` is the package's manifest.json as received; the columns next to
    it copy what lists and filters need, so that no page parses the manifest.
    """

    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.PROTECT, related_name="forensics_packages"
    )
    task = models.ForeignKey(
        AgentTask,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="forensics_packages",
        help_text="The agent task that uploaded it; empty for imported packages.",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(max_length=16, choices=PackageStatus.choices)
    size = models.BigIntegerField(help_text="Size of the zip in bytes.")
    sha256 = models.CharField("SHA-256", max_length=64, db_index=True)
    manifest = models.JSONField()
    collector_version = models.CharField(max_length=64, blank=True)
    started = models.DateTimeField(help_text="When collection started (manifest).")
    ended = models.DateTimeField(help_text="When collection finished (manifest).")
    received = models.DateTimeField(default=timezone.now)
    file = models.FileField(max_length=255)

    class Meta:
        constraints = [
            # The same bytes from the same endpoint are the same package, so an
            # agent that retries an upload gets the first row back.
            models.UniqueConstraint(
                fields=["endpoint", "sha256"], name="forensics_package_unique_sha256"
            ),
        ]
        indexes = [models.Index(fields=["received"], name="forensics_package_recv_idx")]
        ordering = ["-received", "-id"]

    def __str__(self) -> str:
        return f"Package {self.pk} from {self.endpoint_id}"


class PackageArtifact(models.Model):
    """One artifact of a package, such as `network.arp_cache`, with its members."""

    package = models.ForeignKey(
        ForensicsPackage, on_delete=models.CASCADE, related_name="artifacts"
    )
    position = models.PositiveIntegerField(help_text="Order in the manifest.")
    name = models.CharField(max_length=128)
    status = models.CharField(max_length=24, choices=ArtifactStatus.choices)
    row_count = models.BigIntegerField(default=0)
    error = models.TextField(
        blank=True, help_text="The error, or why the artifact was skipped."
    )
    warnings = models.JSONField(default=list, blank=True)
    json_member = models.CharField("JSON member", max_length=512, blank=True)
    csv_member = models.CharField("CSV member", max_length=512, blank=True)
    sha256 = models.CharField(
        "SHA-256", max_length=64, blank=True, help_text="Of the JSON member."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["package", "name"], name="forensics_artifact_unique_name"
            ),
        ]
        ordering = ["package", "position"]

    def __str__(self) -> str:
        return self.name


class CollectedFile(models.Model):
    """A suspicious file from an endpoint, kept in an AES zip (password `infected`).

    The hashes, size and original path come from the zip's metadata.json; the
    server never decrypts the file's own member, so they are the agent's
    statement. `zip_sha256` and `zip_size` are the server's own measurement of
    the stored zip.
    """

    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.PROTECT, related_name="collected_files"
    )
    task = models.ForeignKey(
        AgentTask,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="collected_files",
    )
    original_path = models.TextField()
    sha256 = models.CharField("SHA-256", max_length=64, db_index=True)
    sha1 = models.CharField("SHA-1", max_length=40)
    md5 = models.CharField("MD5", max_length=32)
    size = models.BigIntegerField(help_text="Size of the file itself in bytes.")
    changed_during_read = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict)
    zip_sha256 = models.CharField("zip SHA-256", max_length=64)
    zip_size = models.BigIntegerField()
    received = models.DateTimeField(default=timezone.now)
    file = models.FileField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "zip_sha256"], name="collected_file_unique_zip"
            ),
        ]
        indexes = [models.Index(fields=["received"], name="collected_file_recv_idx")]
        ordering = ["-received", "-id"]

    def __str__(self) -> str:
        return f"{self.sha256} from {self.endpoint_id}"

    @property
    def download_name(self) -> str:
        """The name a download is saved under: never the original file name."""
        return f"{self.sha256}.zip"
