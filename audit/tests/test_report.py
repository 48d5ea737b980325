import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.management import call_command
from pypdf import PdfReader

from audit.chain import EventData, append_many
from audit.models import AuditEvent
from audit.pdf import render_pdf
from audit.report import (
    EventRow,
    FieldChange,
    PlaybookConfig,
    ReportData,
    StepConfig,
    build_report_data,
)

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
DAY = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


def _pdf_text(content: bytes) -> tuple[str, int]:
    # Words are joined by single spaces, so text wrapped in a cell still
    # reads as one phrase.
    reader = PdfReader(io.BytesIO(content))
    pages = [" ".join(page.extract_text().split()) for page in reader.pages]
    return "\n".join(pages), len(reader.pages)


def _render(data: ReportData) -> tuple[str, int, int]:
    output = io.BytesIO()
    pages = render_pdf(data, output)
    text, read_pages = _pdf_text(output.getvalue())
    return text, pages, read_pages


def _playbook(name: str = "Изоляция ноутбука") -> PlaybookConfig:
    return PlaybookConfig(
        id=5,
        name=name,
        description="Contain a stolen laptop when it comes online.",
        enabled=True,
        version=3,
        trigger_type="status_change",
        trigger_config={"to": "online"},
        conditions=[{"field": "endpoint.tags", "op": "contains", "value": "stolen"}],
        condition_mode="all",
        target_kind="endpoint",
        cooldown_minutes=30,
        max_concurrent_runs=1,
        steps=[
            StepConfig(
                order=1,
                name="Сдерживание",
                action="defender.isolate",
                parameters={"comment": "stolen laptop " + "x" * 300},
                requires_approval=True,
                approval_timeout_minutes=60,
                timeout_seconds=120,
                max_attempts=3,
                backoff_seconds=30,
                on_failure="stop",
            )
        ],
        changes=[
            FieldChange(
                7, DAY, "ada", "Изоляция ноутбука", "update", "enabled", "False", "True"
            )
        ],
    )


def _data(actions: int = 3, approvals: int = 2, **overrides) -> ReportData:
    rows = [
        EventRow(
            100 + n,
            DAY,
            "automation",
            "step.finished",
            f"Isolated laptop-{n}",
            "succeeded",
            40 + n,
            7,
            5,
        )
        for n in range(actions)
    ]
    decisions = [
        EventRow(
            900 + n,
            DAY,
            "bob",
            "approval.decided",
            f"Approve isolation of laptop-{n}",
            "approved; looks right",
            40 + n,
            7,
            5,
        )
        for n in range(approvals)
    ]
    values = {
        "organization": "Фирма Ромашка",
        "since": date(2026, 11, 1),
        "until": date(2026, 11, 30),
        "generated_by": "audrey",
        "generated_at": NOW,
        "head_sequence": 1200,
        "head_hash": "ab" * 32,
        "total_events": actions + approvals,
        "counts": [("step.finished", actions), ("approval.decided", approvals)],
        "playbooks_available": True,
        "playbooks": [_playbook()],
        "other_changes": [
            FieldChange(
                8,
                DAY,
                "ada",
                "Auditors",
                "update",
                "permissions",
                "",
                "Can view audit event",
            )
        ],
        "actions": rows,
        "approvals": decisions,
    }
    values.update(overrides)
    return ReportData(**values)


def test_pdf_shows_every_section_in_cyrillic():
    text, pages, read_pages = _render(_data())

    assert pages == read_pages
    assert "Фирма Ромашка" in text
    assert "Изоляция ноутбука" in text
    assert "Сдерживание" in text
    assert "2026-11-01 to 2026-11-30" in text
    assert "audrey" in text
    assert "2026-11-30 18:00:00 UTC" in text
    assert "ab" * 32 in text
    assert "defender.isolate" in text
    assert "status_change" in text
    assert "required, times out after 60 min" in text
    assert "Isolated laptop-2" in text
    assert "Approve isolation of laptop-1" in text
    assert "approved; looks right" in text
    assert "Can view audit event" in text
    assert f"Page 1 of {pages}" in text
    assert f"Page {pages} of {pages}" in text


def test_pdf_wraps_long_values():
    output = io.BytesIO()
    render_pdf(_data(), output)
    reader = PdfReader(output)
    raw = "".join(page.extract_text() for page in reader.pages)

    # The 300-character parameter is wrapped over several lines of its
    # cell, and none of it is cut off.
    lines_with_x = [line for line in raw.splitlines() if "xxxxxxxxxx" in line]
    assert len(lines_with_x) >= 3
    assert "".join(raw.split()).count("x" * 300) == 1


def test_pdf_cuts_values_taller_than_a_page():
    permissions = ", ".join(f"Can view model number {n}" for n in range(800))
    change = FieldChange(
        9, DAY, "system", "Administrators", "update", "permissions", "", permissions
    )
    steps = _playbook()
    steps.steps[0].parameters = {"script": "y" * 20_000}

    text, pages, _ = _render(_data(other_changes=[change], playbooks=[steps]))

    assert "Can view model number 0" in text
    assert "Can view model number 799" not in text
    assert "more characters; the full value is in the timeline's exports" in text
    assert pages < 12


def test_pdf_repeats_table_headers_across_pages():
    text, pages, _ = _render(_data(actions=400, approvals=0))

    action_pages = [page for page in text.split("Page ") if "Isolated laptop-" in page]
    assert pages > 6
    assert len(action_pages) > 4
    assert all("What happened" in page for page in action_pages)


def test_pdf_page_count_grows_with_rows():
    _, small, _ = _render(_data(actions=10))
    _, large, _ = _render(_data(actions=600))

    assert small == 6
    assert large > small + 10


def test_pdf_without_playbooks_app_or_events():
    data = _data(
        actions=0,
        approvals=0,
        playbooks_available=False,
        playbooks=[],
        other_changes=[],
        counts=[],
        total_events=0,
    )

    text, pages, _ = _render(data)

    assert "This installation has no playbooks." in text
    assert "No events in the period." in text
    assert "No automated actions in the period." in text
    assert "No approval decisions in the period." in text
    assert pages == 6


@pytest.mark.django_db
def test_report_data_reads_the_period(request):
    # Times along the chain never go backwards, so the event before the
    # period is appended first and the administrator is made after it.
    append_many([EventData("test.before", "before")], now=DAY)
    administrator = request.getfixturevalue("administrator")
    start = datetime.now(UTC)
    append_many(
        [
            EventData(
                "step.finished",
                "Isolated laptop-7",
                endpoint_id=7,
                run_id=41,
                playbook_id=5,
                details={"outcome": "succeeded"},
            ),
            EventData(
                "step.failed",
                "Could not isolate laptop-8",
                run_id=42,
                details={"status": "failed", "error": "timed out"},
            ),
            EventData(
                "approval.decided",
                "Isolation of laptop-9 approved",
                actor=administrator,
                run_id=43,
                details={"decision": "approved", "comment": "confirmed"},
            ),
            EventData(
                "config.changed",
                "Update playbook Изоляция",
                actor=administrator,
                playbook_id=5,
                object_repr="Изоляция",
                details={
                    "model": "playbooks.playbook",
                    "action": "update",
                    "changes": {"name": ["Isolation", "Изоляция"]},
                },
            ),
        ]
    )
    Group.objects.create(name="Night shift")
    today = start.date()

    data = build_report_data(
        since=today,
        until=today,
        generated_by="audrey",
        now=start + timedelta(seconds=5),
    )

    counts = dict(data.counts)
    assert "test.before" not in counts
    assert counts["step.finished"] == 1
    assert counts["config.changed"] >= 2
    assert data.total_events == sum(counts.values())
    assert [row.summary for row in data.actions] == [
        "Isolated laptop-7",
        "Could not isolate laptop-8",
    ]
    assert data.actions[0].outcome == "succeeded"
    assert data.actions[1].outcome == "failed; timed out"
    assert data.actions[0].endpoint_id == 7
    [approval] = data.approvals
    assert approval.actor == "ada"
    assert approval.outcome == "approved; confirmed"
    changed = {config.id: config for config in data.playbooks}[5]
    assert changed.name == "Изоляция"
    assert not changed.exists
    [change] = changed.changes
    assert (change.field, change.old, change.new) == ("name", "Isolation", "Изоляция")
    assert change.actor == "ada"
    assert any(c.object == "Night shift" for c in data.other_changes)
    assert data.head_sequence == AuditEvent.objects.latest("sequence").sequence


@pytest.mark.django_db
def test_report_data_lists_playbook_configuration():
    try:
        playbook_model = apps.get_model("playbooks", "Playbook")
        step_model = apps.get_model("playbooks", "Step")
    except LookupError:
        pytest.skip("no playbooks app yet")
    playbook = playbook_model.objects.create(
        name="Изоляция ноутбука",
        description="d",
        enabled=True,
        trigger_type="manual",
        trigger_config={},
        conditions=[],
    )
    step_model.objects.create(
        playbook=playbook,
        order=1,
        name="Isolate",
        action="defender.isolate",
        parameters={"comment": "x"},
    )
    now = datetime.now(UTC)

    data = build_report_data(
        since=now.date(), until=now.date(), generated_by="a", now=now
    )

    [config] = [c for c in data.playbooks if c.id == playbook.pk]
    assert config.exists
    assert config.name == "Изоляция ноутбука"
    assert [step.action for step in config.steps] == ["defender.isolate"]


@pytest.mark.django_db
def test_audit_report_command_writes_pdf(tmp_path):
    append_many(
        [EventData("step.finished", "Isolated laptop-7", details={"outcome": "ok"})]
    )
    output = tmp_path / "report.pdf"
    today = datetime.now(UTC).date().isoformat()

    call_command("audit_report", "--since", today, "--output", str(output))

    text, pages = _pdf_text(output.read_bytes())
    assert "Isolated laptop-7" in text
    assert pages == 6


@pytest.mark.django_db
def test_audit_report_command_rejects_bad_dates(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--since"):
        call_command(
            "audit_report", "--since", "last week", "--output", str(tmp_path / "r.pdf")
        )
    with pytest.raises(CommandError, match="--until"):
        call_command(
            "audit_report",
            "--since",
            "2026-02-02",
            "--until",
            "2026-02-01",
            "--output",
            str(tmp_path / "r.pdf"),
        )
