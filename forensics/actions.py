"""Workflows of the forensics app: receiving zips, downloads and retention.

Uploads, `import_package`, the pages and the purge task call these functions;
none of them repeats the steps.
"""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Model

from endpoints.models import AgentTask, Endpoint
from exec_site.events import record_event
from forensics import storage
from forensics.models import CollectedFile, ForensicsPackage, PackageArtifact
from forensics.verify import verify_collected_file, verify_package

logger = logging.getLogger(__name__)


def receive_package(
    path: Path,
    sha256: str,
    size: int,
    *,
    endpoint: Endpoint,
    task: AgentTask | None = None,
    actor: Any = None,
    requested_by: Any = None,
) -> tuple[ForensicsPackage, bool]:
    """Verify the package zip at `path` and store it; return it and whether it is new.

    `sha256` and `size` must be the server's own measurement of the file. The
    same bytes from the same endpoint return the stored package, so an agent
    may retry an upload. Raises `forensics.verify.Rejected` and stores nothing
    when verification fails. The caller deletes `path` afterwards.
    """
    verified = verify_package(path)
    existing = ForensicsPackage.objects.filter(endpoint=endpoint, sha256=sha256).first()
    if existing is not None:
        return existing, False

    name, created_file = storage.store(path, storage.package_name(sha256))
    try:
        with transaction.atomic():
            package = ForensicsPackage.objects.create(
                endpoint=endpoint,
                task=task,
                requested_by=requested_by,
                status=verified.status,
                size=size,
                sha256=sha256,
                manifest=verified.manifest,
                collector_version=verified.collector_version,
                started=verified.started,
                ended=verified.ended,
                file=name,
            )
            PackageArtifact.objects.bulk_create(
                PackageArtifact(package=package, position=position, **vars(artifact))
                for position, artifact in enumerate(verified.artifacts)
            )
            record_event(
                "forensics.package_received",
                f"Received forensics package {package.pk} ({size} bytes, "
                f"{package.status}) from {endpoint.hostname}",
                actor=actor,
                subject=package,
                endpoint_id=endpoint.pk,
                details={
                    "package_id": package.pk,
                    "sha256": sha256,
                    "size": size,
                    "task_id": task.pk if task else None,
                    "artifacts": len(verified.artifacts),
                },
            )
    except IntegrityError:
        # A concurrent upload of the same bytes from this endpoint won.
        discard_if_unused(name, created_file)
        return ForensicsPackage.objects.get(endpoint=endpoint, sha256=sha256), False
    except BaseException:
        discard_if_unused(name, created_file)
        raise

    logger.info(
        "forensics package received package_id=%s endpoint_id=%s sha256=%s size=%s",
        package.pk,
        endpoint.pk,
        sha256,
        size,
    )
    return package, True


def receive_collected_file(
    path: Path,
    sha256: str,
    size: int,
    *,
    endpoint: Endpoint,
    task: AgentTask | None = None,
    actor: Any = None,
) -> tuple[CollectedFile, bool]:
    """Verify a suspicious-file zip at `path` and store it unopened.

    `sha256` and `size` are the server's own measurement of the zip. Returns
    the row and whether it is new, like `receive_package`.
    """
    verified = verify_collected_file(path)
    existing = CollectedFile.objects.filter(
        endpoint=endpoint, zip_sha256=sha256
    ).first()
    if existing is not None:
        return existing, False

    name, created_file = storage.store(path, storage.collected_file_name(sha256))
    try:
        with transaction.atomic():
            collected = CollectedFile.objects.create(
                endpoint=endpoint,
                task=task,
                original_path=verified.original_path,
                sha256=verified.sha256,
                sha1=verified.sha1,
                md5=verified.md5,
                size=verified.size,
                changed_during_read=verified.changed_during_read,
                metadata=verified.metadata,
                zip_sha256=sha256,
                zip_size=size,
                file=name,
            )
            record_event(
                "forensics.file_received",
                f"Received suspicious file {verified.sha256} "
                f"({verified.size} bytes) from {endpoint.hostname}",
                actor=actor,
                subject=collected,
                endpoint_id=endpoint.pk,
                details={
                    "collected_file_id": collected.pk,
                    "sha256": verified.sha256,
                    "original_path": verified.original_path,
                    "zip_sha256": sha256,
                    "task_id": task.pk if task else None,
                },
            )
    except IntegrityError:
        discard_if_unused(name, created_file)
        return CollectedFile.objects.get(endpoint=endpoint, zip_sha256=sha256), False
    except BaseException:
        discard_if_unused(name, created_file)
        raise

    logger.info(
        "suspicious file received collected_file_id=%s endpoint_id=%s sha256=%s",
        collected.pk,
        endpoint.pk,
        verified.sha256,
    )
    return collected, True


def is_referenced(name: str) -> bool:
    return (
        ForensicsPackage.objects.filter(file=name).exists()
        or CollectedFile.objects.filter(file=name).exists()
    )


def discard_if_unused(name: str, created_file: bool) -> None:
    """Delete a zip this request stored when no row refers to it."""
    if created_file and not is_referenced(name):
        storage.delete_stored(name)


def delete_unreferenced(names: Iterable[str]) -> int:
    """Delete the stored zips among `names` that no row refers to any more."""
    deleted = 0
    for name in sorted(set(names)):
        if not is_referenced(name):
            storage.delete_stored(name)
            deleted += 1
    return deleted


def record_download(user: Any, subject: Model, kind: str, summary: str) -> None:
    """Record that a user downloaded a package, an artifact or a file."""
    endpoint_id = getattr(subject, "endpoint_id", None)
    if isinstance(subject, PackageArtifact):
        endpoint_id = subject.package.endpoint_id
    record_event(
        kind,
        summary,
        actor=user,
        subject=subject,
        endpoint_id=endpoint_id,
        details={"model": subject._meta.label_lower, "id": subject.pk},
    )


def purge_expired(now: datetime) -> dict[str, int]:
    """Delete packages and files older than the retention period, with their zips.

    Endpoints under legal hold keep everything. The stored zips are deleted
    after the rows commit, and only when no remaining row shares them.
    """
    days = settings.FORENSICS_RETENTION_DAYS
    cutoff = now - timedelta(days=days)
    expired = {"received__lt": cutoff, "endpoint__legal_hold": False}
    with transaction.atomic():
        package_rows = list(
            ForensicsPackage.objects.filter(**expired).values_list("pk", "file")
        )
        file_rows = list(
            CollectedFile.objects.filter(**expired).values_list("pk", "file")
        )
        counts = {
            "packages": delete_in_batches(
                ForensicsPackage, [pk for pk, _ in package_rows], expired
            ),
            "files": delete_in_batches(
                CollectedFile, [pk for pk, _ in file_rows], expired
            ),
        }
        record_event(
            "forensics.purged",
            f"Purged {counts['packages']} forensics packages and {counts['files']} "
            f"suspicious files received before {cutoff:%Y-%m-%d %H:%M} UTC "
            f"({days}-day retention)",
            details={**counts, "cutoff": cutoff.isoformat(), "retention_days": days},
        )
        names = [name for _, name in package_rows + file_rows]
        transaction.on_commit(lambda: delete_unreferenced(names))

    logger.info(
        "forensics purge packages=%s files=%s cutoff=%s",
        counts["packages"],
        counts["files"],
        cutoff.isoformat(),
    )
    return counts


def delete_in_batches(
    model: type[Model], pks: list[int], expired: dict[str, Any], batch: int = 500
) -> int:
    """Delete the rows among `pks` that still match `expired`; return how many.

    Matching again at delete time spares an endpoint put on legal hold after
    the rows were selected. Batches keep each IN list below SQLite's limit on
    query parameters.
    """
    deleted = 0
    for start in range(0, len(pks), batch):
        rows = model._default_manager.filter(pk__in=pks[start : start + batch])
        _, per_model = rows.filter(**expired).delete()
        deleted += per_model.get(model._meta.label, 0)
    return deleted
