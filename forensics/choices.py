"""Statuses and kinds of forensics packages, their artifacts and uploads."""

from django.db import models


class ArtifactStatus(models.TextChoices):
    """The outcome of collecting one artifact, as reported in the manifest."""

    OK = "ok", "OK"
    PARTIAL = "partial", "Partial"
    ERROR = "error", "Error"
    PERMISSION_DENIED = "permission_denied", "Permission denied"
    TIMEOUT = "timeout", "Timed out"
    SKIPPED = "skipped", "Skipped"
    UNSUPPORTED = "unsupported", "Unsupported"


# Statuses whose manifest entry must carry an error.
ARTIFACT_FAILED = frozenset(
    {ArtifactStatus.ERROR, ArtifactStatus.PERMISSION_DENIED, ArtifactStatus.TIMEOUT}
)
# Statuses whose artifact comes with its rows: one JSON and one CSV member.
ARTIFACT_WITH_ROWS = frozenset({ArtifactStatus.OK, ArtifactStatus.PARTIAL})


class PackageStatus(models.TextChoices):
    """The outcome of a whole collection, derived from its artifacts on receipt."""

    COMPLETE = "complete", "Complete"
    PARTIAL = "partial", "Partial"
    FAILED = "failed", "Failed"


class UploadKind(models.TextChoices):
    """The kind of an agent's upload, sent in the `X-Upload-Kind` header."""

    PACKAGE = "package", "Forensics package"
    FILE = "file", "Suspicious file"
