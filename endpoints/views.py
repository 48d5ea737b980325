"""The agent API: enroll, check in, report task results."""

import json
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from endpoints.actions import (
    EnrollmentRejected,
    TaskResultRejected,
    enroll,
    report_task_result,
)
from endpoints.authentication import AgentTokenAuthentication
from endpoints.checkin import CheckinRejected, record_checkin
from endpoints.serializers import (
    AgentTaskSerializer,
    CheckinResponseSerializer,
    CheckinSerializer,
    EnrollResponseSerializer,
    EnrollSerializer,
    TaskResultResponseSerializer,
    TaskResultSerializer,
    fast_checkin_report,
)
from endpoints.status import checkin_interval


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"


class LengthRequired(exceptions.APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_code = "length_required"


class AgentJSONParser(JSONParser):
    """JSON parser that reads at most EXEC_AGENT_MAX_BODY bytes.

    A body announced or found to be larger gets 413 before anything is parsed
    or stored.
    """

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        limit = settings.EXEC_AGENT_MAX_BODY
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(self._too_large(int(declared), limit))

        body = stream.read(limit + 1)
        if len(body) > limit:
            raise BodyTooLarge(self._too_large(None, limit))
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise exceptions.ParseError(
                f"Malformed JSON body ({error}); send a UTF-8 JSON object."
            ) from None
        except RecursionError:
            raise exceptions.ParseError(
                "Malformed JSON body (nested too deeply to parse); send a JSON "
                "object nested at most a few levels deep."
            ) from None

    @staticmethod
    def _too_large(size: int | None, limit: int) -> str:
        actual = f"{size} bytes" if size is not None else "larger than that"
        return f"Request body is {actual}; the limit is {limit} bytes."


# Responses that any agent API request can get for its body.
BODY_ERRORS = {
    411: OpenApiResponse(description="The body came without a Content-Length."),
    413: OpenApiResponse(description="The body is over EXEC_AGENT_MAX_BODY."),
}


class AgentAPIView(APIView):
    # Agents read JSON only, so content negotiation has a single choice.
    renderer_classes = [JSONRenderer]
    authentication_classes = [AgentTokenAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [AgentJSONParser]
    throttle_classes: list[type] = []

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Django reads a body only up to CONTENT_LENGTH, so a chunked body
        # without one would arrive empty and count as an empty check-in.
        # Checked before authentication, so a bad request costs no query.
        if request.method == "POST":
            length = request.META.get("CONTENT_LENGTH") or ""
            if not length.isdigit():
                raise LengthRequired(
                    "The request has no Content-Length; send the JSON body with "
                    "one, not chunked."
                )
            if int(length) == 0:
                raise exceptions.ParseError("The body is empty; send a JSON object.")
        super().initial(request, *args, **kwargs)


class EnrollView(AgentAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=EnrollSerializer,
        responses={
            201: EnrollResponseSerializer,
            400: OpenApiResponse(description="A field is missing or invalid."),
            403: OpenApiResponse(description="The enrollment token is not usable."),
            **BODY_ERRORS,
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = EnrollSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        facts = dict(serializer.validated_data)
        token = facts.pop("enrollment_token")

        try:
            enrollment = enroll(token, facts, now=timezone.now())
        except EnrollmentRejected as error:
            return Response({"detail": str(error)}, status=status.HTTP_403_FORBIDDEN)
        return Response(
            {
                "endpoint_id": enrollment.endpoint.pk,
                "agent_token": enrollment.agent_token,
                "checkin_interval": checkin_interval(),
            },
            status=status.HTTP_201_CREATED,
        )


class CheckinView(AgentAPIView):
    @extend_schema(
        request=CheckinSerializer,
        responses={
            200: CheckinResponseSerializer,
            400: OpenApiResponse(description="Malformed JSON or a bad field type."),
            401: OpenApiResponse(description="Authentication failed."),
            **BODY_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        report = fast_checkin_report(request.data)
        if report is None:
            serializer = CheckinSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            report = serializer.to_report()

        try:
            tasks = record_checkin(request.user.endpoint, report, now=timezone.now())
        except CheckinRejected:
            raise exceptions.AuthenticationFailed(
                AgentTokenAuthentication.failure
            ) from None
        return Response(
            {
                "checkin_interval": checkin_interval(),
                "tasks": AgentTaskSerializer(tasks, many=True).data if tasks else [],
            }
        )


class TaskResultView(AgentAPIView):
    @extend_schema(
        request=TaskResultSerializer,
        responses={
            200: TaskResultResponseSerializer,
            400: OpenApiResponse(description="Unknown status or a bad field type."),
            404: OpenApiResponse(description="No such task for this endpoint."),
            409: OpenApiResponse(description="The task is final already."),
            **BODY_ERRORS,
        },
    )
    def post(self, request: Request, task_id: int) -> Response:
        serializer = TaskResultSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        try:
            task = report_task_result(
                request.user.endpoint,
                task_id,
                now=timezone.now(),
                **serializer.validated_data,
            )
        except TaskResultRejected as error:
            return Response({"detail": str(error)}, status=error.status_code)
        return Response({"id": task.pk, "status": task.status})
