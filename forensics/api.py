"""The agent's upload endpoint: `POST /api/v1/agent/tasks/<id>/upload`.

The body is the raw zip (`Content-Type: application/zip`). It is read from
the request stream in chunks into a temporary file, never through
`request.body` or DRF's parsers, so a large package is not held in memory.
"""

import logging
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from endpoints.authentication import AgentPrincipal, AgentTokenAuthentication
from endpoints.choices import TASK_TERMINAL
from endpoints.models import AgentTask, Endpoint
from forensics import actions, storage
from forensics.choices import UploadKind
from forensics.verify import Rejected

logger = logging.getLogger(__name__)

SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
TOO_LARGE_HINT = (
    "collect fewer artifacts, or raise EXEC_FORENSICS_MAX_UPLOAD_BYTES on the server"
)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class LengthRequired(exceptions.APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_detail = "Content-Length: missing; send the zip with its length."
    default_code = "length_required"


class TaskFinished(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "task_finished"


class IsAgent(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, AgentPrincipal)


class UploadResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The package or collected file id.")
    sha256 = serializers.CharField()
    size = serializers.IntegerField()


def expected_length(request: Request, limit: int) -> int:
    """Return the body's Content-Length, rejecting a missing or oversized one early."""
    raw = request.META.get("CONTENT_LENGTH") or ""
    if not raw:
        raise LengthRequired()
    try:
        length = int(raw)
    except ValueError:
        raise exceptions.ParseError(
            f"Content-Length: invalid value {raw!r}; send the zip's size in bytes."
        ) from None
    if length > limit:
        raise PayloadTooLarge(
            f"Upload of {length} bytes exceeds the limit of {limit} bytes "
            f"({TOO_LARGE_HINT})."
        )
    return length


def upload_headers(request: Request) -> tuple[str, str]:
    """Return the upload kind and the SHA-256 the agent sent, both checked."""
    kind = request.headers.get("X-Upload-Kind", UploadKind.PACKAGE)
    if kind not in UploadKind.values:
        raise exceptions.ParseError(
            f"X-Upload-Kind: invalid value {kind!r}; use package or file."
        )
    claimed = request.headers.get("X-Content-SHA256", "")
    if not SHA256_HEX.match(claimed):
        raise exceptions.ParseError(
            "X-Content-SHA256: missing or not 64 hex digits; send the SHA-256 "
            "of the zip."
        )
    return kind, claimed.lower()


class TaskUploadView(APIView):
    """Receive a forensics package or a suspicious-file zip for an agent task."""

    authentication_classes = [AgentTokenAuthentication]
    permission_classes = [IsAgent]

    @extend_schema(
        operation_id="agent_task_upload",
        request={"application/zip": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter(
                "X-Content-SHA256",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="SHA-256 of the zip, in hex.",
            ),
            OpenApiParameter(
                "X-Upload-Kind",
                str,
                OpenApiParameter.HEADER,
                enum=UploadKind.values,
                description="`package` (default) or `file`.",
            ),
        ],
        responses={
            201: UploadResponseSerializer,
            200: OpenApiResponse(
                UploadResponseSerializer, description="These bytes were stored before."
            ),
            400: OpenApiResponse(description="Hash mismatch or invalid zip."),
            404: OpenApiResponse(description="No such task for this endpoint."),
            409: OpenApiResponse(description="The task is finished."),
            411: OpenApiResponse(description="Content-Length missing."),
            413: OpenApiResponse(description="Over the upload size limit."),
        },
    )
    def post(self, request: Request, task_id: int) -> Response:
        task = open_task(request.user.endpoint, task_id)
        kind, claimed = upload_headers(request)
        limit = settings.FORENSICS_MAX_UPLOAD_BYTES
        length = expected_length(request, limit)

        path, sha256, size = read_body(request, limit)
        try:
            if size != length:
                raise Rejected(
                    f"body ended after {size} of {length} bytes; upload it again"
                )
            if sha256 != claimed:
                raise Rejected(
                    f"X-Content-SHA256: {claimed} does not match the received "
                    f"zip's SHA-256 {sha256}; upload it again"
                )
            stored, created = receive(kind, path, sha256, size, task, str(request.user))
        except Rejected as error:
            logger.warning(
                "upload rejected task_id=%s endpoint_id=%s kind=%s: %s",
                task.pk,
                task.endpoint_id,
                kind,
                error,
            )
            raise exceptions.ParseError(f"Upload rejected: {error}.") from None
        finally:
            path.unlink(missing_ok=True)

        body = {"id": stored.pk, "sha256": sha256, "size": size}
        return Response(body, status=201 if created else 200)


def open_task(endpoint: Endpoint, task_id: int) -> AgentTask:
    """Return the endpoint's task `task_id` if it still accepts uploads."""
    task = (
        AgentTask.objects.filter(pk=task_id, endpoint=endpoint)
        .select_related("endpoint")
        .first()
    )
    if task is None:
        raise exceptions.NotFound(f"Task {task_id} not found for this endpoint.")
    if task.status in TASK_TERMINAL:
        raise TaskFinished(
            f"Task {task_id} has status {task.status}; uploads are accepted only "
            "for tasks that are still open."
        )
    return task


def read_body(request: Request, limit: int) -> tuple[Path, str, int]:
    """Stream the body into an incoming file; return its path, SHA-256 and size."""
    try:
        # Django's request, not DRF's `request.stream`, which can fall back to
        # `request.body` and so load the whole zip into memory.
        return storage.save_stream(request._request, limit)
    except storage.TooLarge:
        raise PayloadTooLarge(
            f"Upload exceeds the limit of {limit} bytes ({TOO_LARGE_HINT})."
        ) from None


def receive(
    kind: str, path: Path, sha256: str, size: int, task: AgentTask, actor: str
) -> tuple[Model, bool]:
    """Hand a received zip to the workflow for its kind."""
    if kind == UploadKind.FILE:
        return actions.receive_collected_file(
            path, sha256, size, endpoint=task.endpoint, task=task, actor=actor
        )
    return actions.receive_package(
        path, sha256, size, endpoint=task.endpoint, task=task, actor=actor
    )
