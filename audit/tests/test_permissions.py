import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from audit import actions
from audit.models import AuditEvent, ReportShare
from exec_site.roles import ROLES

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(auditor, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    job = actions.request_report(
        since=timezone.now().date(), until=timezone.now().date(), user=auditor
    )
    actions.build_report(job.pk, now=timezone.now())
    job.refresh_from_db()
    return job


READ_PAGES = [
    ("audit:timeline", False),
    ("audit:export-csv", False),
    ("audit:export-json", False),
    ("audit:reports", False),
    ("audit:report", True),
    ("audit:report-download", True),
    ("audit:report-print", True),
]


@pytest.mark.parametrize(("name", "needs_job"), READ_PAGES)
def test_permissions_read_pages(client, request, job, name, needs_job):
    url = reverse(name, args=[job.pk] if needs_job else [])
    expected = {"auditor": 200, "administrator": 200, "responder": 403}

    for fixture, status in expected.items():
        client.force_login(request.getfixturevalue(fixture))
        assert client.get(url).status_code == status, fixture
    client.logout()
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("admin:login"))


def test_permissions_auditor_cannot_share_or_revoke(
    client, auditor, administrator, job
):
    share = actions.share_report(report=job, user=administrator, now=timezone.now())
    client.force_login(auditor)

    create = client.post(reverse("audit:share-create", args=[job.pk]))
    revoke = client.post(reverse("audit:share-revoke", args=[job.pk, share.pk]))

    assert create.status_code == 403
    assert revoke.status_code == 403
    assert ReportShare.objects.get().revoked is None


def test_permissions_responder_cannot_request_reports(client, responder):
    client.force_login(responder)

    response = client.post(
        reverse("audit:reports"), {"since": "2026-01-01", "until": "2026-01-02"}
    )

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(kind="audit.report_requested").exists()


def test_permissions_admin_offers_no_add_edit_or_delete(client, administrator):
    from exec_site.events import record_event

    record_event("test.ping", "one")
    event = AuditEvent.objects.get(kind="test.ping")
    client.force_login(administrator)

    changelist = client.get(reverse("admin:audit_auditevent_changelist"))
    detail = client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    add = client.get(reverse("admin:audit_auditevent_add"))
    delete = client.get(reverse("admin:audit_auditevent_delete", args=[event.pk]))
    post = client.post(
        reverse("admin:audit_auditevent_change", args=[event.pk]), {"summary": "x"}
    )

    assert changelist.status_code == 200
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert add.status_code == 403
    assert delete.status_code == 403
    assert post.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).summary == "one"


def test_permissions_auditors_hold_only_view_of_audit_models():
    auditors = Group.objects.get(name="Auditors")
    granted = set(
        auditors.permissions.filter(content_type__app_label="audit").values_list(
            "codename", flat=True
        )
    )

    assert granted == {"view_auditevent", "view_reportjob", "view_reportshare"}
    assert "audit.view_*" in ROLES["Auditors"]
