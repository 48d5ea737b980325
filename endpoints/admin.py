"""Admin pages for endpoints, their history, agent tokens and enrollment tokens."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from endpoints.actions import (
    DecommissionRefused,
    TokenRotationRefused,
    cancel_agent_task,
    create_enrollment_token,
    decommission_endpoint,
    revoke_agent_token,
    rotate_agent_token,
    set_legal_hold,
)
from endpoints.choices import EndpointStatus
from endpoints.models import (
    AgentTask,
    Endpoint,
    EndpointUser,
    EnrollmentToken,
    StatusChange,
    Tag,
)

SHOWN_ONCE_TEMPLATE = "admin/endpoints/token_once.html"


def show_tokens_once(
    request: HttpRequest, title: str, tokens: list[tuple[str, str]]
) -> HttpResponse:
    """Render new secrets on a page of their own.

    Django keeps a message in a cookie or the session until it is shown, so
    the tokens go into this response alone. Nothing stores them in clear, and
    reloading the page cannot show them again.
    """
    response = TemplateResponse(
        request,
        SHOWN_ONCE_TEMPLATE,
        {**admin.site.each_context(request), "title": title, "tokens": tokens},
    )
    response["Cache-Control"] = "no-store"
    return response


ENDPOINT_FIELDS: tuple[str, ...] = (
    "hostname",
    "fqdn",
    "platform",
    "os_name",
    "os_version",
    "agent_version",
    "machine_id",
    "ip_addresses",
    "mac_addresses",
    "source",
    "source_id",
    "status",
    "status_changed",
    "last_seen",
    "enrolled",
    "decommissioned",
    "agent_token_rotated",
    "tags",
    "contained",
    "legal_hold",
)


class StatusFilter(admin.SimpleListFilter):
    """Status, with decommissioned endpoints hidden unless asked for."""

    title = "status"
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*EndpointStatus.choices, (self.ALL, "All, with decommissioned")]

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "In service",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string(
                    {self.parameter_name: lookup}
                ),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset.exclude(status=EndpointStatus.DECOMMISSIONED)
        if value == self.ALL:
            return queryset
        return queryset.filter(status=value)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EndpointUserInline(ReadOnlyInline):
    model = EndpointUser
    fields = ["username", "domain", "name", "logged_in", "first_seen", "last_seen"]
    ordering = ["-logged_in", "-last_seen"]


class StatusChangeInline(ReadOnlyInline):
    # NOTE: the inline lists every row; an endpoint with years of flapping
    # status has a long page.
    model = StatusChange
    verbose_name_plural = "status history"
    fields = ["at", "old_status", "new_status", "reason", "recorded", "details"]


class AgentTaskInline(ReadOnlyInline):
    model = AgentTask
    fields = ["type", "status", "created", "sent", "completed", "expires", "error"]
    ordering = ["-created"]


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = [
        "hostname",
        "status",
        "platform",
        "last_seen",
        "tag_list",
        "source",
        "legal_hold",
        "contained",
    ]
    list_filter = [
        StatusFilter,
        "platform",
        ("last_seen", admin.DateFieldListFilter),
        "tags",
        "source",
        "legal_hold",
        "contained",
    ]
    search_fields = ["hostname", "fqdn", "machine_id", "source_id"]
    ordering = ["hostname"]
    fields = ENDPOINT_FIELDS
    readonly_fields = [
        name for name in ENDPOINT_FIELDS if name not in ("tags", "contained")
    ]
    filter_horizontal = ["tags"]
    inlines = [EndpointUserInline, StatusChangeInline, AgentTaskInline]
    actions = [
        "decommission",
        "revoke_token",
        "rotate_token",
        "set_hold",
        "clear_hold",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("tags")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Endpoints come from enrollment and connectors, never from a form.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Decommission instead: the history of an endpoint is kept.
        return False

    def has_decommission_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("endpoints.decommission_endpoint")

    def has_manage_agent_token_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("endpoints.manage_agent_token")

    @admin.display(description="tags")
    def tag_list(self, endpoint: Endpoint) -> str:
        return ", ".join(tag.name for tag in endpoint.tags.all())

    @admin.action(description="Decommission", permissions=["decommission"])
    def decommission(self, request: HttpRequest, queryset: QuerySet) -> None:
        now = timezone.now()
        done = 0
        for endpoint in queryset:
            try:
                decommission_endpoint(endpoint, actor=request.user, now=now)
            except DecommissionRefused as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} endpoints decommissioned.")

    @admin.action(description="Revoke agent token", permissions=["manage_agent_token"])
    def revoke_token(self, request: HttpRequest, queryset: QuerySet) -> None:
        now = timezone.now()
        for endpoint in queryset:
            revoke_agent_token(endpoint, actor=request.user, now=now)
        self.message_user(
            request,
            f"Agent tokens of {queryset.count()} endpoints revoked; those agents "
            "must enroll again.",
        )

    @admin.action(description="Rotate agent token", permissions=["manage_agent_token"])
    def rotate_token(
        self, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        now = timezone.now()
        tokens = []
        for endpoint in queryset:
            try:
                token = rotate_agent_token(endpoint, actor=request.user, now=now)
            except TokenRotationRefused as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
            else:
                tokens.append((endpoint.hostname, token))
        if not tokens:
            return None
        return show_tokens_once(request, "New agent tokens", tokens)

    @admin.action(description="Set legal hold", permissions=["change"])
    def set_hold(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            set_legal_hold(endpoint, True, actor=request.user)
        self.message_user(request, f"Legal hold set on {queryset.count()} endpoints.")

    @admin.action(description="Clear legal hold", permissions=["change"])
    def clear_hold(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            set_legal_hold(endpoint, False, actor=request.user)
        self.message_user(
            request, f"Legal hold cleared on {queryset.count()} endpoints."
        )


class EnrollmentTokenForm(forms.ModelForm):
    """Rejects a new token that could never be used."""

    class Meta:
        model = EnrollmentToken
        fields = ["label", "expires", "max_uses", "tags", "revoked"]

    def clean_expires(self) -> Any:
        expires = self.cleaned_data["expires"]
        if self.instance._state.adding and expires <= timezone.now():
            raise forms.ValidationError(
                "This time has passed; choose a time in the future."
            )
        return expires

    def clean_max_uses(self) -> Any:
        max_uses = self.cleaned_data["max_uses"]
        if max_uses == 0:
            raise forms.ValidationError(
                "A token with 0 uses can never enroll; leave it empty for no "
                "limit or enter 1 or more."
            )
        return max_uses


@admin.register(EnrollmentToken)
class EnrollmentTokenAdmin(admin.ModelAdmin):
    form = EnrollmentTokenForm
    list_display = [
        "__str__",
        "expires",
        "uses",
        "max_uses",
        "revoked",
        "created",
        "created_by",
    ]
    list_filter = ["revoked", "tags"]
    readonly_fields = ["uses", "created", "created_by"]
    filter_horizontal = ["tags"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("label", "expires", "max_uses", "tags")
        return (
            "label",
            "expires",
            "max_uses",
            "tags",
            "revoked",
            *self.readonly_fields,
        )

    def save_model(
        self, request: HttpRequest, obj: Any, form: ModelForm, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return

        created, token = create_enrollment_token(
            expires=obj.expires,
            max_uses=obj.max_uses,
            tags=[tag.name for tag in form.cleaned_data["tags"]],
            label=obj.label,
            actor=request.user,
        )
        # The form's instance becomes the saved row, so that the admin's
        # save_related and change log use it.
        for name in ("pk", "token_hash", "created", "created_by_id"):
            setattr(obj, name, getattr(created, name))
        obj._state.adding = False
        request.exec_enrollment_token = token  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: Any, post_url_continue: str | None = None
    ) -> HttpResponse:
        token = getattr(request, "exec_enrollment_token", None)
        if token is None:
            return super().response_add(request, obj, post_url_continue)
        return show_tokens_once(request, "New enrollment token", [(str(obj), token)])


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(AgentTask)
class AgentTaskAdmin(admin.ModelAdmin):
    list_display = ["type", "endpoint", "status", "created", "sent", "expires"]
    list_filter = ["status", "type"]
    list_select_related = ["endpoint"]
    readonly_fields = [
        "endpoint",
        "type",
        "parameters",
        "status",
        "created",
        "sent",
        "completed",
        "expires",
        "result",
        "error",
    ]

    actions = ["cancel_tasks"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Cancel queued tasks", permissions=["change"])
    def cancel_tasks(self, request: HttpRequest, queryset: QuerySet) -> None:
        now = timezone.now()
        cancelled = 0
        for task in queryset:
            if cancel_agent_task(task, actor=request.user, now=now):
                cancelled += 1
            else:
                self.message_user(
                    request,
                    f"Task {task.pk} is {task.status}, not queued, so it was left "
                    "as it is; only tasks no agent has received can be cancelled.",
                    messages.WARNING,
                )
        if cancelled:
            self.message_user(request, f"Agent tasks cancelled: {cancelled}.")
