"""Many pending approval requests at once, for list pages and counts."""

from django.contrib.auth.models import User
from django.utils import timezone

from approvals.models import ApprovalRequest
from endpoints.models import EndpointUser
from playbooks.models import Playbook, PlaybookRun, StepRun


def bulk_pending(
    playbook: Playbook,
    endpoint_user: EndpointUser,
    total: int,
    *,
    started_by: User | None = None,
) -> list[ApprovalRequest]:
    """Create `total` waiting runs with one pending request each, oldest first."""
    now = timezone.now()
    runs = PlaybookRun.objects.bulk_create(
        PlaybookRun(
            playbook=playbook,
            playbook_version=playbook.version,
            trigger="manual",
            status="waiting",
            endpoint=endpoint_user.endpoint,
            endpoint_user=endpoint_user,
            started_by=started_by,
            created=now,
        )
        for _ in range(total)
    )
    step_runs = StepRun.objects.bulk_create(
        StepRun(
            run=run,
            order=1,
            action="test.suspend_account",
            status="waiting",
            waiting_for="approval",
        )
        for run in runs
    )
    return ApprovalRequest.objects.bulk_create(
        ApprovalRequest(
            step_run=step_run,
            run=step_run.run,
            playbook=playbook,
            playbook_version=playbook.version,
            endpoint=endpoint_user.endpoint,
            endpoint_user=endpoint_user,
            action="test.suspend_account",
            action_label="Suspend an account",
            parameters={"login": "jdoe"},
            target={"endpoint_user": endpoint_user.pk},
            target_label=f"{endpoint_user.username} on {endpoint_user.endpoint}",
            summary=f"Suspend account jdoe ({number})",
            binding_hash="0" * 64,
            requested=now - timezone.timedelta(minutes=total - number),
            expires=now + timezone.timedelta(hours=4),
        )
        for number, step_run in enumerate(step_runs)
    )
