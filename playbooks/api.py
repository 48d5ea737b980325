"""The operator API of detections, playbook runs and their cancellation."""

from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from endpoints.models import Endpoint, EndpointUser
from playbooks.choices import DetectionSource, RunTrigger
from playbooks.detections import Ingested, IngestError, ingest
from playbooks.engine import RunNotStarted, cancel_run, start_run
from playbooks.models import Playbook, PlaybookRun, StepRun


class RawBodyParser(BaseParser):
    """Hand the body over as bytes: detections may be NDJSON, not one JSON value."""

    media_type = "*/*"

    def parse(
        self, stream: Any, media_type: Any = None, parser_context: Any = None
    ) -> bytes:
        return stream.read()


class CanAddDetection(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return request.user.has_perm("playbooks.add_detection")


def may_run(user: Any, playbook: Playbook) -> bool:
    """Return whether the user may start the playbook: globally or on this one."""
    return user.has_perm("playbooks.run_playbook") or user.has_perm(
        "playbooks.run_playbook", playbook
    )


def _ingested_json(item: Ingested) -> dict[str, Any]:
    detection = item.detection
    return {
        "id": detection.pk,
        "new": item.new,
        "external_id": detection.external_id,
        "endpoint": detection.endpoint_id,
        "endpoint_match": detection.endpoint_match,
        "endpoint_match_reason": detection.endpoint_match_reason,
        "endpoint_user": detection.endpoint_user_id,
        "user_match": detection.user_match,
        "user_match_reason": detection.user_match_reason,
        "runs": [run.pk for run in item.runs],
    }


INGESTED_SCHEMA = inline_serializer(
    "IngestedDetection",
    {
        "id": serializers.IntegerField(),
        "new": serializers.BooleanField(),
        "external_id": serializers.CharField(),
        "endpoint": serializers.IntegerField(allow_null=True),
        "endpoint_match": serializers.CharField(),
        "endpoint_match_reason": serializers.CharField(),
        "endpoint_user": serializers.IntegerField(allow_null=True),
        "user_match": serializers.CharField(),
        "user_match_reason": serializers.CharField(),
        "runs": serializers.ListField(child=serializers.IntegerField()),
    },
)


class DetectionIngestView(APIView):
    """Receive one detection, an array of them or NDJSON from a source.

    Returns 201 when at least one detection is new, 200 when all were known,
    and 400 naming the field when a document cannot be mapped.
    """

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [CanAddDetection]
    parser_classes = [RawBodyParser]

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={
            201: INGESTED_SCHEMA,
            200: INGESTED_SCHEMA,
            400: OpenApiTypes.OBJECT,
            404: OpenApiTypes.OBJECT,
        },
    )
    def post(self, request: Request, source: str) -> Response:
        if source not in DetectionSource.values:
            return Response(
                {
                    "detail": f"unknown source {source!r}; use one of "
                    f"{', '.join(DetectionSource.values)}",
                },
                status=status.HTTP_404_NOT_FOUND,
            )
        try:
            results = ingest(source, request.data)
        except IngestError as error:
            body: dict[str, Any] = {"detail": str(error), "field": error.field}
            if error.index is not None:
                body["document"] = error.index
            return Response(body, status=status.HTTP_400_BAD_REQUEST)

        items = [_ingested_json(item) for item in results]
        created = any(item.new for item in results)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        payload = items[0] if len(items) == 1 else {"detections": items}
        return Response(payload, status=code)


class StepRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = StepRun
        fields = [
            "order",
            "name",
            "action",
            "status",
            "waiting_for",
            "attempts",
            "started",
            "finished",
            "result",
            "error",
            "agent_task",
            "log",
        ]


class RunSerializer(serializers.ModelSerializer):
    step_runs = StepRunSerializer(many=True, read_only=True)
    started_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PlaybookRun
        fields = [
            "id",
            "playbook",
            "playbook_version",
            "status",
            "trigger",
            "detection",
            "endpoint",
            "endpoint_user",
            "started_by",
            "created",
            "started",
            "finished",
            "error",
            "log",
            "step_runs",
        ]


class StartRunSerializer(serializers.Serializer):
    endpoint = serializers.IntegerField(required=False)
    username = serializers.CharField(required=False, max_length=255)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if "endpoint" not in data and "username" not in data:
            raise ValidationError(
                {"endpoint": "give an endpoint id, a username, or both"}
            )
        return data


def resolve_target(data: dict[str, Any]) -> tuple[Endpoint | None, EndpointUser | None]:
    """Find the endpoint and user a run request names; raise ValidationError."""
    endpoint = None
    if "endpoint" in data:
        endpoint = Endpoint.objects.filter(pk=data["endpoint"]).first()
        if endpoint is None:
            raise ValidationError(
                {"endpoint": [f"no endpoint with id {data['endpoint']}"]}
            )
    if "username" not in data:
        return endpoint, None

    users = EndpointUser.objects.filter(username=data["username"]).select_related(
        "endpoint"
    )
    if endpoint is not None:
        users = users.filter(endpoint=endpoint)
    found = list(users[:2])
    if not found:
        raise ValidationError({"username": [f"no endpoint user {data['username']!r}"]})
    if len(found) > 1:
        raise ValidationError(
            {
                "username": [
                    f"{data['username']!r} is a user on several endpoints; "
                    "give the endpoint id too"
                ]
            }
        )
    return found[0].endpoint, found[0]


class PlaybookRunCreateView(APIView):
    """Start a playbook against an endpoint or an endpoint user."""

    def get_permissions(self) -> list[BasePermission]:
        return []

    @extend_schema(
        request=StartRunSerializer,
        responses={201: RunSerializer, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, playbook_id: int) -> Response:
        if not request.user.is_authenticated:
            raise PermissionDenied("log in or send a token")
        playbook = get_object_or_404(Playbook, pk=playbook_id)
        if not may_run(request.user, playbook):
            raise PermissionDenied(f"you may not run playbook {playbook.pk}")
        serializer = StartRunSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, user = resolve_target(serializer.validated_data)
        try:
            run = start_run(
                playbook,
                trigger=RunTrigger.MANUAL,
                now=timezone.now(),
                endpoint=endpoint,
                endpoint_user=user,
                started_by=request.user,
            )
        except RunNotStarted as reason:
            return Response({"detail": str(reason)}, status=status.HTTP_409_CONFLICT)
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailView(APIView):
    queryset = PlaybookRun.objects.all()

    @extend_schema(responses=RunSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(
            PlaybookRun.objects.prefetch_related("step_runs").select_related(
                "started_by"
            ),
            pk=run_id,
        )
        return Response(RunSerializer(run).data)


class CanCancelRun(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return request.user.has_perm("playbooks.cancel_playbookrun")


class RunCancelView(APIView):
    permission_classes = [CanCancelRun]

    @extend_schema(
        request=None, responses={200: RunSerializer, 409: OpenApiTypes.OBJECT}
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(PlaybookRun, pk=run_id)
        if not cancel_run(run, actor=request.user):
            return Response(
                {"detail": f"run {run.pk} has already finished ({run.status})"},
                status=status.HTTP_409_CONFLICT,
            )
        run.refresh_from_db()
        return Response(RunSerializer(run).data)
