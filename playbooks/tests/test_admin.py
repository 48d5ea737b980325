import json

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from playbooks.models import Detection, Playbook, PlaybookRun
from playbooks.tests.conftest import detection_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("boss", "boss@example.com", "pw-long-enough-1")
    client.force_login(user)
    return client


def playbook_form(**overrides):
    data = {
        "name": "Contain",
        "description": "",
        "enabled": "on",
        "trigger_type": "detection",
        "trigger_config": "{}",
        "conditions": "[]",
        "condition_mode": "all",
        "target_kind": "endpoint",
        "cooldown_minutes": "0",
        "max_concurrent_runs": "1",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-order": "1",
        "steps-0-name": "Tag it",
        "steps-0-action": "endpoint.add_tag",
        "steps-0-parameters": '{"tag": "investigate"}',
        "steps-0-approval_timeout_minutes": "240",
        "steps-0-timeout_seconds": "300",
        "steps-0-max_attempts": "3",
        "steps-0-backoff_seconds": "30",
        "steps-0-on_failure": "stop",
    }
    return data | overrides


def test_playbook_admin_saves_with_steps(admin_client):
    response = admin_client.post(
        reverse("admin:playbooks_playbook_add"), playbook_form()
    )

    assert response.status_code == 302
    playbook = Playbook.objects.get()
    assert playbook.steps.get().parameters == {"tag": "investigate"}


def test_playbook_admin_reports_bad_condition(admin_client):
    conditions = '[{"field": "detection.severity", "operator": "eq", "value": "high"},'
    conditions += ' {"field": "detection.title", "operator": "regex", "value": "(x"}]'

    response = admin_client.post(
        reverse("admin:playbooks_playbook_add"), playbook_form(conditions=conditions)
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["conditions"]
    assert errors["conditions"][0].startswith("condition 2: invalid regex")
    assert Playbook.objects.count() == 0


def test_playbook_admin_reports_bad_trigger_config(admin_client):
    response = admin_client.post(
        reverse("admin:playbooks_playbook_add"),
        playbook_form(trigger_type="schedule", trigger_config='{"cron": "61 * * * *"}'),
    )

    errors = response.context["adminform"].form.errors
    assert "invalid cron expression" in errors["trigger_config"][0]


def test_step_admin_reports_unknown_variable(admin_client):
    response = admin_client.post(
        reverse("admin:playbooks_playbook_add"),
        playbook_form(**{"steps-0-parameters": '{"tag": "{{ endpoint.colour }}"}'}),
    )

    assert response.status_code == 200
    step_errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert list(step_errors) == ["parameters"]
    assert "invalid template" in step_errors["parameters"][0]
    assert "colour" in step_errors["parameters"][0]
    assert Playbook.objects.count() == 0


def test_step_admin_reports_schema_error(admin_client):
    response = admin_client.post(
        reverse("admin:playbooks_playbook_add"),
        playbook_form(**{"steps-0-parameters": '{"label": "x"}'}),
    )

    step_errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert "'tag' is a required property" in step_errors["parameters"][0]


def test_run_playbook_view_starts_run(queue, admin_client, make_playbook, endpoint):
    playbook = make_playbook()
    url = reverse("admin:playbooks_playbookrun_start") + f"?endpoint={endpoint.pk}"

    page = admin_client.get(url)
    response = queue.call(admin_client.post, url, {"playbook": playbook.pk})

    assert page.status_code == 200
    assert "ws-042" in page.content.decode()
    run = PlaybookRun.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:playbooks_playbookrun_change", args=[run.pk])
    assert run.endpoint == endpoint
    assert run.started_by.username == "boss"


def test_run_playbook_action_on_endpoint_list(admin_client, endpoint, endpoint_user):
    for model, kind, pk in (
        ("endpoint", "endpoint", endpoint.pk),
        ("endpointuser", "user", endpoint_user.pk),
    ):
        response = admin_client.post(
            reverse(f"admin:endpoints_{model}_changelist"),
            {"action": "run_playbook", "_selected_action": [pk]},
        )
        expected = reverse("admin:playbooks_playbookrun_start") + f"?{kind}={pk}"
        assert response.status_code == 302
        assert response.url == expected


def test_endpoint_page_links_run_playbook(admin_client, endpoint):
    page = admin_client.get(
        reverse("admin:endpoints_endpoint_change", args=[endpoint.pk])
    )

    assert "Run playbook…" in page.content.decode()


def test_run_page_shows_steps_and_log(queue, admin_client, make_playbook, endpoint):
    from playbooks import engine

    run = queue.call(
        engine.start_run,
        make_playbook(steps=[{"action": "test.fail"}]),
        trigger="manual",
        now=engine.timezone.now(),
        endpoint=endpoint,
    )
    queue.drain()

    page = admin_client.get(
        reverse("admin:playbooks_playbookrun_change", args=[run.pk])
    )

    content = page.content.decode()
    assert page.status_code == 200
    assert "the account does not exist" in content
    assert "[step 1]" in content


def test_run_list_queries_do_not_grow(
    queue, admin_client, make_playbook, make_endpoint, django_assert_max_num_queries
):
    from playbooks import engine

    playbook = make_playbook(max_concurrent_runs=0)
    for _ in range(30):
        engine.start_run(
            playbook,
            trigger="manual",
            now=engine.timezone.now(),
            endpoint=make_endpoint(),
        )

    with django_assert_max_num_queries(12):
        page = admin_client.get(reverse("admin:playbooks_playbookrun_changelist"))

    assert page.status_code == 200
    assert page.content.decode().count("/change/") >= 30


def test_detection_page_lists_runs(queue, admin_client, make_playbook):
    from playbooks.detections import ingest

    make_playbook(trigger_type="detection")
    body = json.dumps(detection_document("d1", title="Beacon")).encode()
    (item,) = queue.call(ingest, "generic", body)

    page = admin_client.get(
        reverse("admin:playbooks_detection_change", args=[item.detection.pk])
    )

    assert page.status_code == 200
    assert f"Run {item.runs[0].pk}" in page.content.decode()
    assert Detection.objects.count() == 1


def test_run_playbook_view_needs_permission(client, make_playbook, endpoint):
    outsider = User.objects.create_user("outsider", password="pw-long-enough-1")
    outsider.is_staff = True
    outsider.save()
    client.force_login(outsider)
    make_playbook()

    response = client.get(
        reverse("admin:playbooks_playbookrun_start") + f"?endpoint={endpoint.pk}"
    )

    assert response.status_code == 403
    assert PlaybookRun.objects.count() == 0
