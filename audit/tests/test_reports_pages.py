from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from audit import actions
from audit.chain import EventData, append_many
from audit.choices import ReportStatus
from audit.models import AuditEvent, ReportJob, ReportShare
from exec_site.testing import wait_until

pytestmark = pytest.mark.django_db

TODAY = datetime.now(UTC).date().isoformat()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def ready_report(media, auditor) -> ReportJob:
    append_many([EventData("step.finished", "Isolated laptop-7")])
    job = actions.request_report(
        since=timezone.now().date(), until=timezone.now().date(), user=auditor
    )
    assert actions.build_report(job.pk, now=timezone.now())
    job.refresh_from_db()
    return job


def _share(job: ReportJob, user, days: int = 7) -> ReportShare:
    return actions.share_report(report=job, user=user, now=timezone.now(), days=days)


def test_reports_request_builds_small_period_inline(client, auditor, media):
    client.force_login(auditor)

    response = client.post(reverse("audit:reports"), {"since": TODAY, "until": TODAY})

    job = ReportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("audit:report", args=[job.pk])
    assert job.status == ReportStatus.READY
    assert job.progress == 100
    assert job.pages == 6
    assert job.created_by == auditor
    event = AuditEvent.objects.get(kind="audit.report_requested")
    assert event.actor_id == auditor.pk
    assert event.object_id == str(job.pk)


def test_reports_request_rejects_reversed_period(client, auditor):
    client.force_login(auditor)

    response = client.post(
        reverse("audit:reports"), {"since": "2026-02-02", "until": "2026-02-01"}
    )

    assert response.status_code == 400
    assert b"on or after the first day" in response.content
    assert not ReportJob.objects.exists()


def test_report_download_and_print(client, auditor, ready_report):
    client.force_login(auditor)

    download = client.get(reverse("audit:report-download", args=[ready_report.pk]))
    printed = client.get(reverse("audit:report-print", args=[ready_report.pk]))

    assert download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    assert printed.status_code == 200
    assert "Isolated laptop-7" in printed.content.decode()
    assert "Automated actions" in printed.content.decode()


def test_report_page_refreshes_until_finished(client, auditor, media):
    job = actions.request_report(
        since=timezone.now().date(), until=timezone.now().date(), user=auditor
    )
    client.force_login(auditor)

    pending = client.get(reverse("audit:report", args=[job.pk]))
    actions.build_report(job.pk, now=timezone.now())
    ready = client.get(reverse("audit:report", args=[job.pk]))

    assert b'http-equiv="refresh"' in pending.content
    assert b'role="status"' in pending.content
    assert b'http-equiv="refresh"' not in ready.content
    assert b"Download the PDF" in ready.content


def test_build_report_runs_once(auditor, media):
    job = actions.request_report(
        since=timezone.now().date(), until=timezone.now().date(), user=auditor
    )

    first = actions.build_report(job.pk, now=timezone.now())
    second = actions.build_report(job.pk, now=timezone.now())

    assert first is True
    assert second is False


def test_build_report_takes_over_a_stale_job(auditor, media, settings):
    job = actions.request_report(
        since=timezone.now().date(), until=timezone.now().date(), user=auditor
    )
    long_ago = timezone.now() - timedelta(seconds=settings.Q_TIMEOUT + 5)
    ReportJob.objects.filter(pk=job.pk).update(
        status=ReportStatus.RUNNING, started=long_ago
    )

    assert actions.build_report(job.pk, now=timezone.now())
    job.refresh_from_db()
    assert job.status == ReportStatus.READY


def test_share_link_opens_report_without_login(client, administrator, ready_report):
    share = _share(ready_report, administrator)

    response = client.get(actions.share_path(share), REMOTE_ADDR="127.0.0.5")

    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert response["Cache-Control"] == "no-store"
    share.refresh_from_db()
    assert share.uses == 1
    used = AuditEvent.objects.get(kind="audit.share_used")
    assert used.actor_label == f"share:{share.pk}"
    assert used.details == {"report_id": ready_report.pk, "ip": "127.0.0.5"}
    created = AuditEvent.objects.get(kind="audit.report_shared")
    assert created.actor_id == administrator.pk


def test_share_link_expires(client, administrator, ready_report):
    share = _share(ready_report, administrator, days=1)
    ReportShare.objects.filter(pk=share.pk).update(
        expires=timezone.now() - timedelta(seconds=1)
    )

    response = client.get(actions.share_path(share))

    assert response.status_code == 410
    assert b"expired" in response.content
    rejected = AuditEvent.objects.get(kind="audit.share_rejected")
    assert rejected.details["reason"] == "expired"


def test_share_link_default_lifetime_is_seven_days(administrator, ready_report):
    share = _share(ready_report, administrator)

    assert share.expires - share.created == timedelta(days=7)


def test_share_link_revoked(client, administrator, ready_report):
    share = _share(ready_report, administrator)
    client.force_login(administrator)

    revoke = client.post(
        reverse("audit:share-revoke", args=[ready_report.pk, share.pk])
    )
    client.logout()
    response = client.get(actions.share_path(share))

    assert revoke.status_code == 302
    assert response.status_code == 410
    assert b"revoked" in response.content
    revoked = AuditEvent.objects.get(kind="audit.share_revoked")
    assert revoked.actor_id == administrator.pk
    assert AuditEvent.objects.filter(kind="audit.share_rejected").count() == 1


def test_share_link_with_bad_signature(client, administrator, ready_report):
    share = _share(ready_report, administrator)
    token = actions.share_token(share)

    response = client.get(reverse("audit:shared-report", args=[token[:-2] + "xx"]))

    assert response.status_code == 410
    assert not AuditEvent.objects.filter(kind__startswith="audit.share_").exists()


def test_share_create_form(client, administrator, ready_report):
    client.force_login(administrator)

    created = client.post(
        reverse("audit:share-create", args=[ready_report.pk]), {"days": "3"}
    )
    too_long = client.post(
        reverse("audit:share-create", args=[ready_report.pk]), {"days": "400"}
    )

    share = ReportShare.objects.get()
    assert created.status_code == 302
    assert share.expires - share.created == timedelta(days=3)
    assert too_long.status_code == 400
    assert b"days" in too_long.content


@pytest.mark.django_db(transaction=True)
def test_report_built_by_the_task_cluster(task_cluster, client, auditor, monkeypatch):
    # The view decides in this process to hand the build to the cluster; the
    # cluster, a separate process, writes the file under EXEC_VAR_DIR.
    monkeypatch.setattr(actions, "INLINE_EVENT_LIMIT", 0)
    append_many([EventData("step.finished", f"Isolated laptop-{n}") for n in range(5)])
    client.force_login(auditor)

    response = client.post(reverse("audit:reports"), {"since": TODAY, "until": TODAY})

    job = ReportJob.objects.get()
    assert response.status_code == 302
    finished = wait_until(
        lambda: ReportJob.objects.filter(
            pk=job.pk, status__in=[ReportStatus.READY, ReportStatus.FAILED]
        ).first(),
        timeout=90,
    )
    assert finished.status == ReportStatus.READY, task_cluster.read_text()[-2000:]
    assert finished.progress == 100
    assert finished.file.name.endswith(".pdf")
    with finished.file.open("rb") as file:
        reader = PdfReader(file)
        text = "".join(page.extract_text() for page in reader.pages)
    # The roles that a flushed database gets back are configuration changes
    # of this period too, so the page count depends on the suite's order.
    assert len(reader.pages) == finished.pages
    assert "Isolated laptop-4" in text
    finished.file.delete(save=False)
