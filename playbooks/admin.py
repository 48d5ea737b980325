"""Admin of playbooks, steps, runs and detections, and "Run playbook…"."""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from guardian.shortcuts import get_objects_for_user

from endpoints.models import Endpoint, EndpointUser
from playbooks.choices import RunTrigger
from playbooks.engine import RunNotStarted, cancel_run, start_run
from playbooks.forms import PlaybookForm, RunPlaybookForm, StepForm
from playbooks.models import Detection, Playbook, PlaybookRun, Step, StepRun


class StepInline(admin.StackedInline):
    model = Step
    form = StepForm
    extra = 0
    ordering = ["order"]
    fields = [
        ("order", "name", "action"),
        "parameters",
        ("requires_approval", "approval_timeout_minutes"),
        ("timeout_seconds", "max_attempts", "backoff_seconds", "on_failure"),
    ]


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    form = PlaybookForm
    inlines = [StepInline]
    list_display = ["name", "enabled", "trigger_type", "target_kind", "version"]
    list_filter = ["enabled", "trigger_type"]
    search_fields = ["name", "description"]
    readonly_fields = ["version", "next_run"]
    fieldsets = [
        (None, {"fields": ["name", "description", "enabled", "version"]}),
        ("Trigger", {"fields": ["trigger_type", "trigger_config", "next_run"]}),
        ("Conditions", {"fields": ["conditions", "condition_mode"]}),
        (
            "Limits",
            {"fields": ["target_kind", "cooldown_minutes", "max_concurrent_runs"]},
        ),
    ]


STEP_RUN_FIELDS = (
    "order",
    "action",
    "status",
    "waiting_for",
    "attempts",
    "started",
    "finished",
    "result",
    "error",
    "step_log",
)


class StepRunInline(admin.TabularInline):
    model = StepRun
    extra = 0
    can_delete = False
    fields = STEP_RUN_FIELDS
    readonly_fields = STEP_RUN_FIELDS

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="log")
    def step_log(self, obj: StepRun) -> str:
        return format_html("<pre>{}</pre>", obj.log) if obj.log else "-"


@admin.register(PlaybookRun)
class PlaybookRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "playbook",
        "playbook_version",
        "status",
        "trigger",
        "endpoint",
        "endpoint_user",
        "started_by",
        "created",
        "finished",
    ]
    list_filter = ["status", "trigger"]
    list_select_related = ["playbook", "endpoint", "endpoint_user", "started_by"]
    search_fields = ["playbook__name", "endpoint__hostname"]
    inlines = [StepRunInline]
    actions = ["cancel_selected"]
    exclude = ["log", "dedup_key", "target_key"]
    readonly_fields = [
        "playbook",
        "playbook_version",
        "status",
        "trigger",
        "detection",
        "status_change",
        "endpoint",
        "endpoint_user",
        "started_by",
        "created",
        "started",
        "finished",
        "error",
        "run_log",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("playbooks.cancel_playbookrun")

    @admin.display(description="log")
    def run_log(self, obj: PlaybookRun) -> str:
        return format_html("<pre>{}</pre>", obj.log) if obj.log else "-"

    @admin.action(description="Cancel selected runs", permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        cancelled = sum(cancel_run(run, actor=request.user) for run in queryset)
        self.message_user(request, f"Cancelled {cancelled} runs.")

    def get_urls(self) -> list[URLPattern]:
        start = path(
            "start/",
            self.admin_site.admin_view(self.start_view),
            name="playbooks_playbookrun_start",
        )
        return [start, *super().get_urls()]

    def start_view(self, request: HttpRequest) -> HttpResponse:
        """Ask for a playbook and start it on the endpoints or users given."""
        endpoints = _ids(request, "endpoint")
        users = _ids(request, "user")
        runnable = runnable_playbooks(request.user)
        if not runnable.exists():
            raise PermissionDenied("you may not run any playbook")
        targets = [
            *Endpoint.objects.filter(pk__in=endpoints),
            *EndpointUser.objects.filter(pk__in=users).select_related("endpoint"),
        ]
        form = RunPlaybookForm(
            request.POST or None, playbooks=runnable.order_by("name")
        )
        if request.method == "POST" and form.is_valid():
            playbook = form.cleaned_data["playbook"]
            started = self._start_all(request, playbook, targets)
            if len(started) == 1:
                url = reverse("admin:playbooks_playbookrun_change", args=[started[0]])
                return HttpResponseRedirect(url)
            return HttpResponseRedirect(
                reverse("admin:playbooks_playbookrun_changelist")
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Run playbook",
            "form": form,
            "targets": targets,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "playbooks/run_playbook.html", context)

    def _start_all(
        self, request: HttpRequest, playbook: Playbook, targets: list[Any]
    ) -> list[int]:
        started = []
        for target in targets or [None]:
            is_user = isinstance(target, EndpointUser)
            try:
                run = start_run(
                    playbook,
                    trigger=RunTrigger.MANUAL,
                    now=timezone.now(),
                    endpoint=None if is_user else target,
                    endpoint_user=target if is_user else None,
                    started_by=request.user,
                )
            except RunNotStarted as reason:
                self.message_user(request, str(reason), messages.WARNING)
                continue
            started.append(run.pk)
        if started:
            self.message_user(request, f"Started {len(started)} runs of {playbook}.")
        return started


def _ids(request: HttpRequest, name: str) -> list[int]:
    raw = request.GET.get(name, "")
    return [int(part) for part in raw.split(",") if part.strip().isdigit()]


def runnable_playbooks(user: Any) -> QuerySet:
    """Return the playbooks the user may run: all with the global permission."""
    return get_objects_for_user(
        user, "playbooks.run_playbook", Playbook.objects.all(), accept_global_perms=True
    )


DETECTION_RUN_FIELDS = ("run_link", "playbook", "playbook_version", "status", "created")


class DetectionRunInline(admin.TabularInline):
    model = PlaybookRun
    fk_name = "detection"
    extra = 0
    can_delete = False
    fields = DETECTION_RUN_FIELDS
    readonly_fields = DETECTION_RUN_FIELDS

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="run")
    def run_link(self, obj: PlaybookRun) -> str:
        url = reverse("admin:playbooks_playbookrun_change", args=[obj.pk])
        return format_html('<a href="{}">Run {}</a>', url, obj.pk)


@admin.register(Detection)
class DetectionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "title",
        "source",
        "severity",
        "hostname",
        "endpoint",
        "endpoint_match",
        "received",
    ]
    list_filter = ["source", "severity", "endpoint_match"]
    list_select_related = ["endpoint"]
    search_fields = ["title", "external_id", "hostname", "username"]
    inlines = [DetectionRunInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Detection._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _run_playbook_action(kind: str) -> Any:
    @admin.action(description="Run playbook…")
    def run_playbook(
        modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse:
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        url = reverse("admin:playbooks_playbookrun_start")
        return HttpResponseRedirect(f"{url}?{kind}={ids}")

    return run_playbook


def add_run_playbook_action(model: type, kind: str) -> None:
    """Offer "Run playbook…" on the admin list of endpoints or endpoint users.

    The endpoints app owns those admins; this adds one action to whichever
    is registered, and registers a plain read-only list when none is.
    """
    if model not in admin.site._registry:
        # NOTE: a stand-in for an app that has no admin of its own yet.
        admin.site.register(model, _fallback_admin(model))
    model_admin = admin.site._registry[model]
    model_admin.actions = [*(model_admin.actions or []), _run_playbook_action(kind)]


def _fallback_admin(model: type) -> type[admin.ModelAdmin]:
    return type(
        f"{model.__name__}Admin", (admin.ModelAdmin,), {"list_display": ["__str__"]}
    )


add_run_playbook_action(Endpoint, "endpoint")
add_run_playbook_action(EndpointUser, "user")
