import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from audit.chain import verify_chain
from audit.models import AuditEvent
from exec_site.events import record_event

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _latest(kind: str) -> AuditEvent:
    return AuditEvent.objects.filter(kind=kind).order_by("-sequence").first()


def test_record_event_stores_every_field(administrator):
    record_event(
        "run.step_finished",
        "Isolated laptop-7",
        actor=None,
        subject=administrator,
        endpoint_id=7,
        playbook_id=3,
        playbook_version=2,
        run_id=41,
        details={"outcome": "succeeded"},
    )

    event = _latest("run.step_finished")
    assert event.actor_label == "automation"
    assert event.actor_id is None
    assert event.subject_type() == "auth.user"
    assert event.object_id == str(administrator.pk)
    assert event.object_repr == "ada"
    assert (event.endpoint_id, event.playbook_id, event.playbook_version) == (7, 3, 2)
    assert event.run_id == 41
    assert event.details == {"outcome": "succeeded"}


@pytest.mark.parametrize(
    ("actor", "label"),
    [("agent:42", "agent:42"), (None, "automation")],
)
def test_record_event_actor_labels(actor, label):
    record_event("endpoint.checked_in", "check-in", actor=actor)

    assert _latest("endpoint.checked_in").actor_label == label


def test_record_event_user_actor_keeps_email(administrator):
    record_event("playbook.run_started", "ad hoc run", actor=administrator)

    event = _latest("playbook.run_started")
    assert event.actor_id == administrator.pk
    assert event.actor_label == "ada"
    assert event.actor_email == "ada@example.com"


def test_login_is_recorded_with_ip(client, administrator):
    client.post(
        reverse("admin:login"),
        {"username": "ada", "password": PASSWORD},
        REMOTE_ADDR="127.0.0.9",
    )

    event = _latest("auth.login")
    assert event.actor_id == administrator.pk
    assert event.details == {"ip": "127.0.0.9"}


def test_failed_login_records_username_not_password(client, administrator):
    client.post(
        reverse("admin:login"),
        {"username": "ada", "password": "wrong-guess-123"},
        REMOTE_ADDR="127.0.0.8",
    )

    event = _latest("auth.login_failed")
    assert event.actor_label == "anonymous"
    assert event.details == {"username": "ada", "ip": "127.0.0.8"}
    assert "wrong-guess" not in event.canonical_content()
    assert "*****" not in event.canonical_content()


def test_logout_is_recorded(client, administrator):
    client.force_login(administrator)

    client.post(reverse("admin:logout"))

    assert _latest("auth.logout").actor_id == administrator.pk


def test_user_change_becomes_config_event_without_password(administrator, client):
    client.force_login(administrator)
    before = AuditEvent.objects.count()

    user = User.objects.create_user("newbie", "n@example.com", "s3cret-Pass-word")
    user.first_name = "Nina"
    user.save()

    events = list(AuditEvent.objects.filter(kind="config.changed").order_by("sequence"))
    created, updated = events[-2:]
    assert AuditEvent.objects.count() == before + 2
    assert created.details["action"] == "create"
    assert created.details["model"] == "auth.user"
    assert "password" not in created.details["changes"]
    assert "s3cret" not in created.canonical_content()
    assert updated.details["changes"]["first_name"] == ["", "Nina"]
    assert updated.object_repr == "newbie"
    assert LogEntry.objects.filter(object_pk=str(user.pk)).count() == 2


def test_group_permission_change_is_recorded():
    group = Group.objects.create(name="Night shift")
    permission = Permission.objects.get(codename="view_auditevent")

    group.permissions.add(permission)

    event = _latest("config.changed")
    change = event.details["changes"]["permissions"]
    assert event.details["model"] == "auth.group"
    assert change["operation"] == "add"
    assert change["objects"] == [str(permission)]


def test_user_group_membership_is_recorded(responder):
    group = Group.objects.get(name="Auditors")

    responder.groups.add(group)

    event = _latest("config.changed")
    assert event.details["changes"]["groups"]["objects"] == ["Auditors"]
    assert event.object_repr == "rick"


def test_config_change_actor_comes_from_auditlog(client, administrator, responder):
    client.force_login(administrator)

    response = client.post(
        reverse("admin:auth_user_change", args=[responder.pk]),
        {
            "username": "rick",
            "first_name": "Rick",
            "last_name": "",
            "email": "rick@example.com",
            "is_active": "on",
            "groups": [g.pk for g in responder.groups.all()],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )

    assert response.status_code == 302
    event = _latest("config.changed")
    assert event.actor_id == administrator.pk
    assert event.actor_label == "ada"
    assert event.details["changes"]["first_name"] == ["", "Rick"]
    assert verify_chain().fault is None


def test_config_change_without_actor_is_system():
    Group.objects.create(name="Made by a script")

    assert _latest("config.changed").actor_label == "system"
