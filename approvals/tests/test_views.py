"""The inbox and request pages: who may view and decide what, and what they show."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from guardian.shortcuts import assign_perm

from approvals.choices import ApprovalStatus
from approvals.context_processors import pending_count
from approvals.models import ApprovalRequest
from approvals.tests.conftest import EXECUTED, make_playbook
from approvals.tests.factories import bulk_pending
from exec_site.timezones import TIMEZONE_COOKIE
from playbooks.models import StepRun

pytestmark = pytest.mark.django_db


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("who", "status", "listed"),
    [
        ("approver", 200, True),
        ("other_approver", 200, False),
        ("initiator", 200, True),
        ("auditor", 200, True),
        ("anonymous", 302, False),
    ],
)
def test_inbox_permissions(waiting, users, who, status, listed):
    _, request = waiting

    response = client_for(users[who]).get("/approvals/")

    assert response.status_code == status
    link = reverse("approvals:detail", args=[request.pk]).encode()
    assert (link in response.content) is listed


def test_inbox_outsider_forbidden(waiting):
    outsider = User.objects.create_user("outsider")

    assert client_for(outsider).get("/approvals/").status_code == 403


@pytest.mark.parametrize(
    ("who", "status", "forms"),
    [
        ("approver", 200, True),
        ("other_approver", 404, False),
        ("initiator", 200, False),
        ("auditor", 200, False),
        ("anonymous", 302, False),
    ],
)
def test_detail_permissions(waiting, users, who, status, forms):
    _, request = waiting

    response = client_for(users[who]).get(f"/approvals/{request.pk}/")

    assert response.status_code == status
    assert (b'action="/approvals/%d/approve"' % request.pk in response.content) is forms


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("approver", 302),
        ("other_approver", 404),
        ("initiator", 403),
        ("auditor", 403),
        ("anonymous", 302),
    ],
)
def test_approve_page_permissions(queue, waiting, users, who, status):
    _, request = waiting

    response = queue.call(
        client_for(users[who]).post,
        f"/approvals/{request.pk}/approve",
        {"option": "acct-2"},
    )
    queue.drain()

    assert response.status_code == status
    request.refresh_from_db()
    approved = who == "approver"
    assert (request.status == ApprovalStatus.APPROVED) is approved
    assert len(EXECUTED) == (1 if approved else 0)
    if who == "anonymous":
        assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("approver", 302),
        ("other_approver", 404),
        ("initiator", 403),
        ("auditor", 403),
        ("anonymous", 302),
    ],
)
def test_reject_page_permissions(queue, waiting, users, who, status):
    _, request = waiting

    response = queue.call(
        client_for(users[who]).post,
        f"/approvals/{request.pk}/reject",
        {"comment": "wrong account"},
    )

    assert response.status_code == status
    request.refresh_from_db()
    rejected = who == "approver"
    assert (request.status == ApprovalStatus.REJECTED) is rejected


def test_detail_shows_everything_to_decide(waiting, approver):
    _, request = waiting

    response = client_for(approver).get(f"/approvals/{request.pk}/")

    page = response.content.decode()
    assert "Suspend account jdoe" in page
    assert "ws-042" in page
    assert "test.suspend_account" in page
    assert "&quot;login&quot;: &quot;jdoe&quot;" in page
    assert request.binding_hash in page
    assert "<legend>Choose what to act on</legend>" in page
    assert page.count('type="radio"') == 2
    assert "score 0.61" in page
    assert "Reasons: same login prefix" in page
    assert 'for="reject-comment"' in page
    assert 'id="reject-comment"' in page
    assert "csrfmiddlewaretoken" in page
    assert "<main" in page
    assert 'name="viewport"' in page


def test_approval_page_in_viewer_zone(waiting, approver: User):
    _, request = waiting
    request.requested = datetime(2026, 12, 4, 23, 30, tzinfo=UTC)
    request.save(update_fields=["requested"])
    client = client_for(approver)

    in_utc = client.get(f"/approvals/{request.pk}/").content.decode()
    client.cookies[TIMEZONE_COOKIE] = "Asia/Tokyo"
    in_tokyo = client.get(f"/approvals/{request.pk}/").content.decode()

    assert "2026-12-04 23:30:00 UTC" in in_utc
    assert "Times are shown in UTC." in in_utc
    assert "2026-12-05 08:30:00 JST" in in_tokyo
    assert "Times are shown in Asia/Tokyo." in in_tokyo
    assert 'href="/timezone/?next=' in in_tokyo


def test_reject_page_needs_comment(waiting, approver):
    _, request = waiting

    response = client_for(approver).post(
        f"/approvals/{request.pk}/reject", {"comment": ""}
    )

    assert response.status_code == 400
    assert b"A rejection needs a comment" in response.content
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING


def test_approve_page_needs_option(waiting, approver):
    _, request = waiting

    response = client_for(approver).post(f"/approvals/{request.pk}/approve", {})

    assert response.status_code == 400
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING


def test_decided_request_is_read_only(queue, waiting, approver, second_approver):
    _, request = waiting
    queue.call(
        client_for(approver).post,
        f"/approvals/{request.pk}/approve",
        {"option": "acct-2", "comment": "confirmed with HR"},
    )

    page = client_for(second_approver).get(f"/approvals/{request.pk}/")
    late = client_for(second_approver).post(
        f"/approvals/{request.pk}/approve", {"option": "acct-2"}
    )

    content = page.content.decode()
    assert "/approve" not in content
    assert "alice approved option acct-2" in content
    assert "confirmed with HR" in content
    assert "jdoe.admin@corp.example.com (score 0.61) <strong>chosen</strong>" in content
    assert late.status_code == 409
    assert b"already approved by alice at " in late.content


def test_approve_page_enforces_csrf(waiting, approver):
    _, request = waiting
    client = Client(enforce_csrf_checks=True)
    client.force_login(approver)

    response = client.post(f"/approvals/{request.pk}/approve", {"option": "acct-1"})

    assert response.status_code == 403
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING


def test_inbox_orders_pending_oldest_first(queue, approver, initiator, endpoint_user):
    playbook = make_playbook("Ordering")
    requests = bulk_pending(playbook, endpoint_user, 3, started_by=initiator)
    ApprovalRequest.objects.filter(pk=requests[0].pk).update(
        status=ApprovalStatus.REJECTED
    )

    response = client_for(approver).get("/approvals/")

    shown = [r.pk for r in response.context["page"].object_list]
    assert shown == [requests[1].pk, requests[2].pk, requests[0].pk]


def test_inbox_filters(approver, initiator, endpoint_user, make_endpoint_user):
    first = make_playbook("First")
    second = make_playbook("Second")
    other_user = make_endpoint_user("db-01")
    bulk_pending(first, endpoint_user, 2, started_by=initiator)
    bulk_pending(second, other_user, 3, started_by=initiator)
    client = client_for(approver)

    def count(query: str) -> int:
        return client.get(f"/approvals/?{query}").context["page"].paginator.count

    assert count("") == 5
    assert count(f"playbook={second.pk}") == 3
    assert count("endpoint=db-0") == 3
    assert count("status=pending") == 5
    assert count("status=expired") == 0


def test_inbox_queries_do_not_grow(approver, initiator, endpoint_user):
    playbook = make_playbook("Many")
    client = client_for(approver)

    def queries_for(total: int) -> int:
        ApprovalRequest.objects.all().delete()
        StepRun.objects.all().delete()
        bulk_pending(playbook, endpoint_user, total, started_by=initiator)
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/approvals/")
        assert response.status_code == 200
        assert response.context["page"].paginator.count == total
        return len(captured)

    few = queries_for(5)
    many = queries_for(500)

    assert few == many
    assert many <= 12


def test_header_shows_pending_count(waiting, approver):
    response = client_for(approver).get("/approvals/")

    assert b'aria-label="1 pending"' in response.content


def test_admin_header_shows_pending_count(waiting, approver):
    approver.is_staff = True
    approver.save()

    response = client_for(approver).get("/admin/")

    assert b"Approvals (1 pending)" in response.content


def test_pending_count_one_query(rf, waiting, approver, django_assert_num_queries):
    request = rf.get("/")
    request.user = approver
    approver.get_all_permissions()

    with django_assert_num_queries(1):
        count = pending_count(request)["approvals_pending_count"]()

    assert count == 1


def test_pending_count_group_object_approver(
    rf, queue, endpoint_user, initiator, other_playbook, waiting
):
    from approvals.tests.conftest import start_waiting_run

    team = Group.objects.create(name="Server team")
    assign_perm("playbooks.approve_playbook", team, other_playbook)
    member = User.objects.create_user("sam")
    member.groups.add(team)
    other_playbook.max_concurrent_runs = 0
    other_playbook.save()
    start_waiting_run(queue, other_playbook, endpoint_user, initiator)
    start_waiting_run(queue, other_playbook, endpoint_user, initiator)
    request = rf.get("/")
    request.user = member

    assert pending_count(request)["approvals_pending_count"]() == 2
    assert client_for(member).get("/approvals/").context["page"].paginator.count == 2


def test_pending_count_excludes_own_runs(rf, waiting, initiator):
    request = rf.get("/")
    request.user = initiator

    assert pending_count(request)["approvals_pending_count"]() == 0


def test_pending_count_anonymous_no_query(rf, django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/")
    request.user = AnonymousUser()

    with django_assert_num_queries(0):
        assert pending_count(request)["approvals_pending_count"] == 0


def test_pending_count_object_approver(
    rf,
    queue,
    endpoint_user,
    initiator,
    other_playbook,
    other_approver,
    waiting,
    django_assert_num_queries,
):
    from approvals.tests.conftest import start_waiting_run

    start_waiting_run(queue, other_playbook, endpoint_user, initiator)
    request = rf.get("/")
    request.user = other_approver
    other_approver.get_all_permissions()

    with django_assert_num_queries(1):
        count = pending_count(request)["approvals_pending_count"]()

    assert count == 1
