import pytest
from auditlog.models import LogEntry

from playbooks import engine

pytestmark = pytest.mark.django_db


def test_playbook_and_step_changes_logged(make_playbook):
    playbook = make_playbook(steps=[{"action": "test.record"}])
    step = playbook.steps.get()

    step.parameters = {"note": "changed"}
    step.save()

    assert LogEntry.objects.get_for_object(playbook).exists()
    step_entries = LogEntry.objects.get_for_object(step).order_by("pk")
    assert [entry.action for entry in step_entries] == [
        LogEntry.Action.CREATE,
        LogEntry.Action.UPDATE,
    ]
    assert "parameters" in step_entries.last().changes_dict


def test_automation_changes_name_system_user_and_run(make_playbook):
    playbook = make_playbook()

    with engine.as_automation(run_id=42):
        playbook.description = "changed by a run"
        playbook.save()

    entry = LogEntry.objects.get_for_object(playbook).order_by("pk").last()
    assert entry.actor.username == "exec-automation"
    assert entry.additional_data == {"playbook_run_id": 42}
