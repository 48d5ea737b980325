"""The starter playbooks pass the admin's checks and load once."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from playbooks.models import Playbook, PlaybookRun, Step
from playbooks.starter import (
    COMPROMISED_ENDPOINT,
    STARTER_PLAYBOOKS,
    load_starter_playbooks,
    playbook_form,
    step_form,
)

pytestmark = pytest.mark.django_db


def snapshot() -> list[tuple]:
    return [
        (p.pk, p.name, p.version, p.enabled, p.conditions, p.trigger_config)
        for p in Playbook.objects.order_by("pk")
    ] + [(s.pk, s.playbook_id, s.action, s.parameters) for s in Step.objects.all()]


@pytest.mark.parametrize("definition", STARTER_PLAYBOOKS, ids=lambda d: d["name"])
def test_starter_passes_admin_forms(definition):
    form = playbook_form(definition)

    assert form.is_valid(), form.errors
    playbook = form.save()
    for order, step in enumerate(definition["steps"], start=1):
        form = step_form(playbook, order, step)
        assert form.is_valid(), form.errors


def test_starter_loads_every_playbook():
    result = load_starter_playbooks()

    assert result.created == [d["name"] for d in STARTER_PLAYBOOKS]
    assert result.kept == []
    compromised = Playbook.objects.get(name=COMPROMISED_ENDPOINT)
    actions = list(compromised.steps.values_list("action", "requires_approval"))
    assert actions == [
        ("endpoint.collect_forensics", False),
        ("endpoint.collect_file", False),
        ("okta.suspend", True),
        ("notify.email", False),
    ]
    suspend = compromised.steps.get(action="okta.suspend")
    assert suspend.parameters == {"clear_sessions": True}


def test_starter_second_load_changes_nothing():
    call_command("load_starter_playbooks", stdout=StringIO())
    before = snapshot()
    output = StringIO()

    call_command("load_starter_playbooks", stdout=output)

    assert snapshot() == before
    assert "created" not in output.getvalue()
    assert "left unchanged" in output.getvalue()


def test_starter_keeps_operator_edits():
    load_starter_playbooks()
    playbook = Playbook.objects.get(name=COMPROMISED_ENDPOINT)
    playbook.conditions = [
        {"field": "detection.severity", "operator": "eq", "value": "critical"}
    ]
    playbook.enabled = False
    playbook.save()
    step = playbook.steps.get(action="okta.suspend")
    step.parameters = {}
    step.save()

    result = load_starter_playbooks()

    playbook.refresh_from_db()
    step.refresh_from_db()
    assert COMPROMISED_ENDPOINT in result.kept
    assert playbook.enabled is False
    assert playbook.conditions[0]["value"] == "critical"
    assert step.parameters == {}
    assert playbook.steps.count() == 4


def test_starter_recreates_only_missing():
    load_starter_playbooks()
    Playbook.objects.get(name=COMPROMISED_ENDPOINT).delete()

    result = load_starter_playbooks()

    assert result.created == [COMPROMISED_ENDPOINT]
    assert len(result.kept) == len(STARTER_PLAYBOOKS) - 1


def test_starter_watched_endpoint_needs_tag(queue, make_endpoint, now):
    from endpoints.models import Tag
    from playbooks.starter import WATCHED_ENDPOINT_ONLINE
    from playbooks.tests.test_triggers import change_status

    load_starter_playbooks()
    watched = make_endpoint(status="offline")
    watched.tags.add(Tag.objects.create(name="investigate"))
    other = make_endpoint(status="offline")

    queue.call(change_status, watched, "online", now)
    queue.call(change_status, other, "online", now)

    runs = list(PlaybookRun.objects.all())
    assert [run.playbook.name for run in runs] == [WATCHED_ENDPOINT_ONLINE]
    assert runs[0].endpoint == watched


def test_starter_uninstall_notifies(queue, make_endpoint, now):
    from playbooks.starter import SENSOR_UNINSTALLED
    from playbooks.tests.test_triggers import change_status

    load_starter_playbooks()
    endpoint = make_endpoint(status="online")

    queue.call(change_status, endpoint, "uninstalled", now)

    run = PlaybookRun.objects.get()
    assert run.playbook.name == SENSOR_UNINSTALLED


def test_starter_decommission_selects_stale(queue, make_endpoint, now):
    from playbooks import triggers
    from playbooks.starter import DECOMMISSION_STALE

    load_starter_playbooks()
    long_ago = now - dt.timedelta(days=31)
    stale = make_endpoint(status="missing", last_seen=long_ago)
    make_endpoint(status="missing", last_seen=now - dt.timedelta(days=29))
    make_endpoint(status="missing", last_seen=long_ago, legal_hold=True)
    make_endpoint(status="missing", last_seen=long_ago, contained=True)
    make_endpoint(status="offline", last_seen=long_ago)
    playbook = Playbook.objects.get(name=DECOMMISSION_STALE)
    due = playbook.next_run

    runs = queue.call(triggers.run_due_schedules, due)

    assert [run.endpoint for run in runs] == [stale]
    assert runs[0].playbook == playbook
    assert due - now <= dt.timedelta(days=1)
