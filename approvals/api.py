"""The operator API of approval requests: list, read, approve and reject.

The API and the pages call the same `decide_approval`, so they apply the
same rules and return 403, 400 or 409 for the same reasons.
"""

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from approvals.actions import decide_approval
from approvals.choices import ApprovalStatus
from approvals.errors import ApprovalError, InvalidDecision
from approvals.models import ApprovalDecision, ApprovalNotification, ApprovalRequest
from approvals.permissions import may_see_inbox, visible_requests
from approvals.views import inbox_order


class DecisionSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ApprovalDecision
        fields = ["actor", "approved", "option_id", "comment", "decided"]


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApprovalNotification
        fields = ["kind", "channel", "status", "detail", "created", "finished"]


class ApprovalRequestSerializer(serializers.ModelSerializer):
    playbook_name = serializers.CharField(source="playbook.name", read_only=True)
    decisions = DecisionSerializer(many=True, read_only=True)
    notifications = NotificationSerializer(many=True, read_only=True)

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "status",
            "summary",
            "action",
            "action_label",
            "parameters",
            "target",
            "target_label",
            "binding_hash",
            "playbook",
            "playbook_name",
            "playbook_version",
            "run",
            "step_run",
            "endpoint",
            "endpoint_user",
            "detection",
            "context",
            "options",
            "options_error",
            "required_approvals",
            "requested",
            "expires",
            "closed",
            "closed_reason",
            "chosen_option",
            "executed",
            "decisions",
            "notifications",
        ]
        read_only_fields = fields


class ApproveSerializer(serializers.Serializer):
    option = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="The id of the chosen option; required when the request has options.",
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class RejectSerializer(serializers.Serializer):
    comment = serializers.CharField(
        max_length=2000, help_text="Why the step must not run; required."
    )


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    field = serializers.CharField(required=False)


def _visible(request: Request) -> QuerySet[ApprovalRequest]:
    if not may_see_inbox(request.user):
        raise PermissionDenied("you may not see approval requests")
    return visible_requests(request.user)


class ApprovalListView(generics.ListAPIView):
    """List the approval requests you may see, pending ones first."""

    serializer_class = ApprovalRequestSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self) -> QuerySet[ApprovalRequest]:
        requests = _visible(self.request)
        params = self.request.query_params
        wanted = params.get("status", "")
        if wanted:
            if wanted not in ApprovalStatus.values:
                raise ValidationError(
                    {
                        "status": f"unknown status {wanted!r}; use one of "
                        f"{', '.join(ApprovalStatus.values)}"
                    }
                )
            requests = requests.filter(status=wanted)
        playbook = params.get("playbook", "")
        if playbook:
            if not playbook.isdigit():
                raise ValidationError({"playbook": "give a playbook id"})
            requests = requests.filter(playbook_id=int(playbook))
        endpoint = params.get("endpoint", "")
        if endpoint:
            if not endpoint.isdigit():
                raise ValidationError({"endpoint": "give an endpoint id"})
            requests = requests.filter(endpoint_id=int(endpoint))
        return (
            inbox_order(requests)
            .select_related("playbook")
            .prefetch_related("decisions__actor", "notifications")
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=ApprovalStatus.values),
            OpenApiParameter("playbook", OpenApiTypes.INT),
            OpenApiParameter("endpoint", OpenApiTypes.INT),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ApprovalDetailView(generics.RetrieveAPIView):
    """Read one approval request with its decisions and notices."""

    serializer_class = ApprovalRequestSerializer
    permission_classes = [IsAuthenticated]
    lookup_url_kwarg = "approval_id"

    def get_queryset(self) -> QuerySet[ApprovalRequest]:
        return _visible(self.request).select_related("playbook")


class _DecideView(generics.GenericAPIView):
    permission_classes = [IsAuthenticated]
    approved: bool

    def get_queryset(self) -> QuerySet[ApprovalRequest]:
        return visible_requests(self.request.user)

    def _decide(self, request: Request, approval_id: int) -> Response:
        approval = get_object_or_404(self.get_queryset(), pk=approval_id)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            decided = decide_approval(
                approval,
                actor=request.user,
                approved=self.approved,
                option_id=data.get("option") or None,
                comment=data.get("comment", ""),
            )
        except InvalidDecision as error:
            return Response(
                {"detail": str(error), "field": error.field}, status=error.status_code
            )
        except ApprovalError as error:
            return Response({"detail": str(error)}, status=error.status_code)
        decided = ApprovalRequest.objects.prefetch_related(
            "decisions__actor", "notifications"
        ).get(pk=decided.pk)
        return Response(ApprovalRequestSerializer(decided).data)


_DECIDE_RESPONSES = {
    200: ApprovalRequestSerializer,
    400: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
    409: ErrorSerializer,
}


class ApproveView(_DecideView):
    """Approve a request, choosing an option when it has some."""

    serializer_class = ApproveSerializer
    approved = True

    @extend_schema(request=ApproveSerializer, responses=_DECIDE_RESPONSES)
    def post(self, request: Request, approval_id: int) -> Response:
        return self._decide(request, approval_id)


class RejectView(_DecideView):
    """Reject a request; the comment is required and the request ends."""

    serializer_class = RejectSerializer
    approved = False

    @extend_schema(request=RejectSerializer, responses=_DECIDE_RESPONSES)
    def post(self, request: Request, approval_id: int) -> Response:
        return self._decide(request, approval_id)
