"""Anchors of the audit chain: recording them and verifying against them."""

import json
import logging
import os
import re
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_q.tasks import async_task

from audit.anchors import (
    Anchor,
    AnchorError,
    check_anchors,
    read_anchor_file,
    record_anchor,
)
from audit.chain import EventData, append_many, verify_chain
from audit.models import AuditEvent, canonical_time
from exec_site.schedules import SCHEDULES
from exec_site.testing import wait_until

pytestmark = pytest.mark.django_db

LOG_LINE = re.compile(
    r"audit anchor sequence=(\d+) hash=([0-9a-f]{64}) anchored_at=(\S+)$"
)
VALID_HASH = "a" * 64


def _append(count: int) -> None:
    append_many([EventData("test.bulk", f"event {n}") for n in range(count)])


def _hash_at(sequence: int) -> str:
    return AuditEvent.objects.get(sequence=sequence).hash


@pytest.fixture
def anchor_file(tmp_path) -> Path:
    folder = tmp_path / "anchors"
    folder.mkdir()
    return folder / "audit-anchors.jsonl"


def test_record_anchor_appends_then_skips_unchanged_head(anchor_file):
    _append(3)
    now = timezone.now()

    first = record_anchor(now=now, path=anchor_file)
    second = record_anchor(now=now + timedelta(hours=1), path=anchor_file)
    _append(2)
    third = record_anchor(now=now + timedelta(hours=2), path=anchor_file)

    assert first.written
    assert not second.written
    assert third.written
    lines = anchor_file.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"sequence": 3, "hash": _hash_at(3), "anchored_at": canonical_time(now)},
        {
            "sequence": 5,
            "hash": _hash_at(5),
            "anchored_at": canonical_time(now + timedelta(hours=2)),
        },
    ]


def test_record_anchor_logs_every_run(caplog):
    _append(2)
    caplog.set_level(logging.INFO, logger="audit.anchors")

    record_anchor(now=timezone.now(), path=None)
    record_anchor(now=timezone.now(), path=None)

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    for message in messages:
        match = LOG_LINE.match(message)
        assert match, message
        assert match.group(1) == "2"
        assert match.group(2) == _hash_at(2)
    assert all(record.levelno == logging.INFO for record in caplog.records)


def test_record_anchor_creates_owner_only_file(anchor_file):
    _append(1)
    # With no umask the mode comes from Exec alone.
    previous_umask = os.umask(0)
    try:
        record_anchor(now=timezone.now(), path=anchor_file)
    finally:
        os.umask(previous_umask)

    assert stat.S_IMODE(anchor_file.stat().st_mode) == 0o600


def test_record_anchor_names_unwritable_path(tmp_path):
    path = tmp_path / "missing" / "anchors.jsonl"

    with pytest.raises(AnchorError) as raised:
        record_anchor(now=timezone.now(), path=path)

    assert str(path) in str(raised.value)
    assert "No such file or directory" in str(raised.value)


def test_record_anchor_after_torn_last_line(anchor_file, caplog):
    _append(2)
    anchor_file.write_text('{"sequence": 1, "ha')

    outcome = record_anchor(now=timezone.now(), path=anchor_file)

    assert outcome.written
    lines = anchor_file.read_text().splitlines()
    assert lines[0] == '{"sequence": 1, "ha'
    assert json.loads(lines[1])["sequence"] == 2
    assert "ends with an invalid line" in caplog.text


def test_record_anchor_logs_error_when_rows_removed(anchor_file, raw_sql, caplog):
    _append(5)
    record_anchor(now=timezone.now(), path=anchor_file)
    removed_hash = _hash_at(5)
    raw_sql("DELETE FROM {table} WHERE sequence > %s", [3])

    outcome = record_anchor(now=timezone.now(), path=anchor_file)

    assert outcome.written
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith(
        f"audit anchor mismatch sequence=5 expected_hash={removed_hash} "
        "found_hash=- head_sequence=3:"
    )
    assert "removed from its end" in errors[0]


def test_verify_passes_with_matching_anchors(anchor_file, capsys):
    _append(4)
    record_anchor(now=timezone.now(), path=anchor_file)
    _append(3)
    record_anchor(now=timezone.now(), path=anchor_file)
    _append(2)

    call_command(
        "verify_audit", anchors=[str(anchor_file)], expect=[f"2:{_hash_at(2)}"]
    )

    output = capsys.readouterr().out
    assert "audit chain OK: all 9 event(s) verify" in output
    assert "audit anchors OK: 3 anchor(s) match" in output
    assert "the newest is at sequence 7, the head at 9" in output
    assert "events 8 to 9 are covered by no anchor yet" in output


def test_verify_fails_after_newest_rows_deleted(anchor_file, raw_sql):
    _append(6)
    record_anchor(now=timezone.now(), path=anchor_file)
    _append(4)
    record_anchor(now=timezone.now(), path=anchor_file)
    removed_hash = _hash_at(10)
    raw_sql("DELETE FROM {table} WHERE sequence > %s", [7])

    # The shortened chain still verifies on its own.
    assert verify_chain().fault is None
    with pytest.raises(CommandError) as raised:
        call_command("verify_audit", anchors=[str(anchor_file)])

    message = str(raised.value)
    assert "audit chain FAILED" not in message
    assert "audit anchors FAILED: 1 of 2 anchor(s) do not match" in message
    assert f"sequence 10 (anchor from {anchor_file} line 2)" in message
    assert f"expected hash {removed_hash}, found no event" in message
    assert "the chain now ends at sequence 7" in message
    assert "removed from its end after the anchor was written" in message


def test_verify_misses_deletion_after_newest_anchor(anchor_file, raw_sql, capsys):
    # The known gap: no anchor names events 6 to 8.
    _append(5)
    record_anchor(now=timezone.now(), path=anchor_file)
    _append(3)
    raw_sql("DELETE FROM {table} WHERE sequence > %s", [5])

    call_command("verify_audit", anchors=[str(anchor_file)])

    assert "audit anchors OK" in capsys.readouterr().out


def test_verify_fails_on_rewritten_anchored_row(anchor_file, raw_sql):
    _append(8)
    record_anchor(now=timezone.now(), path=anchor_file)
    anchored_hash = _hash_at(8)

    # Rewrite event 3 and recompute every later hash and link, so that the
    # chain alone verifies.
    previous_hash = _hash_at(2)
    for event in list(AuditEvent.objects.filter(sequence__gte=3).order_by("sequence")):
        if event.sequence == 3:
            event.summary = "forged"
        event.previous_hash = previous_hash
        event.hash = event.compute_hash()
        raw_sql(
            "UPDATE {table} SET summary = %s, previous_hash = %s, hash = %s "
            "WHERE id = %s",
            [event.summary, event.previous_hash, event.hash, event.pk],
        )
        previous_hash = event.hash

    assert verify_chain().fault is None
    with pytest.raises(CommandError) as raised:
        call_command("verify_audit", anchors=[str(anchor_file)])

    message = str(raised.value)
    assert "audit anchors FAILED: 1 of 1 anchor(s) do not match" in message
    assert f"sequence 8 (anchor from {anchor_file} line 1)" in message
    assert f"expected hash {anchored_hash}, found {_hash_at(8)}" in message
    assert "rewritten or replaced after the anchor was written" in message


def test_verify_reports_chain_and_anchor_faults_together(raw_sql):
    _append(5)
    head_hash = _hash_at(5)
    raw_sql("UPDATE {table} SET summary = %s WHERE sequence = %s", ["forged", 2])
    raw_sql("DELETE FROM {table} WHERE sequence = %s", [5])

    with pytest.raises(CommandError) as raised:
        call_command("verify_audit", expect=[f"5:{head_hash}"])

    message = str(raised.value)
    assert "audit chain FAILED at sequence 2" in message
    assert "sequence 5 (anchor from --expect 5)" in message


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "not JSON"),
        ("[3, 4]", "not a JSON object"),
        ('{"sequence": 3}', "hash None is invalid"),
        (
            f'{{"sequence": true, "hash": "{VALID_HASH}", "anchored_at": null}}',
            "sequence True is invalid",
        ),
        (
            f'{{"sequence": -1, "hash": "{VALID_HASH}", "anchored_at": null}}',
            "sequence -1 is invalid",
        ),
        ('{"sequence": 3, "hash": "ABC"}', "hash 'ABC' is invalid"),
        (
            f'{{"sequence": 3, "hash": "{VALID_HASH}", "anchored_at": "yesterday"}}',
            "anchored_at 'yesterday' is invalid",
        ),
        (
            f'{{"sequence": 3, "hash": "{VALID_HASH}", '
            '"anchored_at": "2026-01-02T03:04:05"}',
            "expected an ISO 8601 time with offset",
        ),
    ],
)
def test_verify_stops_at_malformed_anchor_line(
    anchor_file, line, problem, django_assert_num_queries
):
    _append(2)
    record_anchor(now=timezone.now(), path=anchor_file)
    with anchor_file.open("a") as file:
        file.write("\n" + line + "\n")

    with django_assert_num_queries(0), pytest.raises(CommandError) as raised:
        call_command("verify_audit", anchors=[str(anchor_file)])

    message = str(raised.value)
    assert f"anchor file {anchor_file} line 3: " in message
    assert problem in message
    assert "Nothing was verified" in message


@pytest.mark.parametrize("value", ["12", f"x:{VALID_HASH}", "12:" + "A" * 64, "12:"])
def test_verify_rejects_invalid_expect(value):
    with pytest.raises(CommandError) as raised:
        call_command("verify_audit", expect=[value])

    assert f"--expect: {value!r} is invalid; use SEQUENCE:HASH" in str(raised.value)


def test_verify_names_missing_anchor_file(tmp_path):
    path = tmp_path / "nowhere.jsonl"

    with pytest.raises(CommandError) as raised:
        call_command("verify_audit", anchors=[str(path)])

    assert f"cannot read anchor file {path}" in str(raised.value)


def test_read_anchor_file_skips_blank_lines(anchor_file):
    _append(1)
    record_anchor(now=timezone.now(), path=anchor_file)
    with anchor_file.open("a") as file:
        file.write("\n  \n")

    anchors = read_anchor_file(anchor_file)

    assert [anchor.head for anchor in anchors] == [(1, _hash_at(1))]
    assert anchors[0].origin == f"{anchor_file} line 1"


def test_check_anchors_looks_up_in_batches(django_assert_num_queries):
    _append(1200)
    anchors = [
        Anchor(sequence, hash_)
        for sequence, hash_ in AuditEvent.objects.values_list("sequence", "hash")
    ]

    # 500 sequences a query: 1200 anchors need three.
    with django_assert_num_queries(3):
        faults = check_anchors(anchors, head_sequence=1200)

    assert faults == []


def test_check_anchors_matches_empty_chain_at_sequence_zero():
    outcome = record_anchor(now=timezone.now(), path=None)

    assert outcome.anchor.sequence == 0
    assert check_anchors([outcome.anchor], head_sequence=0) == []


def test_anchor_audit_prints_and_appends(anchor_file, capsys):
    _append(2)

    call_command("anchor_audit", file=str(anchor_file))
    call_command("anchor_audit", file=str(anchor_file))

    output = capsys.readouterr().out
    assert f"audit anchor sequence=2 hash={_hash_at(2)} anchored_at=" in output
    assert f"Appended to {anchor_file}." in output
    assert f"Not appended: the last anchor in {anchor_file} is the same." in output
    assert f"verify_audit --expect 2:{_hash_at(2)}" in output
    assert len(anchor_file.read_text().splitlines()) == 1


def test_anchor_audit_uses_setting(settings, anchor_file):
    _append(1)
    settings.EXEC_AUDIT_ANCHOR_FILE = anchor_file

    call_command("anchor_audit")

    assert json.loads(anchor_file.read_text())["hash"] == _hash_at(1)


def test_anchor_audit_without_file_only_prints(settings, capsys):
    settings.EXEC_AUDIT_ANCHOR_FILE = None

    call_command("anchor_audit")

    assert "No anchor file is set" in capsys.readouterr().out


def test_anchor_audit_names_unwritable_file(tmp_path):
    path = tmp_path / "missing" / "anchors.jsonl"

    with pytest.raises(CommandError, match="cannot append the audit anchor"):
        call_command("anchor_audit", file=str(path))


@pytest.fixture
def anchoring_cluster(monkeypatch, tmp_path, request) -> tuple[Path, Path]:
    """A task cluster whose EXEC_AUDIT_ANCHOR_FILE is a fresh file; returns
    the anchor file and the cluster's log."""
    path = tmp_path / "cluster-anchors.jsonl"
    # The cluster reads its settings from the environment when it starts.
    monkeypatch.setenv("EXEC_AUDIT_ANCHOR_FILE", str(path))
    return path, request.getfixturevalue("task_cluster")


@pytest.mark.django_db(transaction=True)
def test_anchor_task_runs_in_cluster(anchoring_cluster):
    anchor_path, log_path = anchoring_cluster
    _append(3)
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash")[0]
    declared = next(task for task in SCHEDULES if task.name == "audit-anchor")

    async_task(declared.func)

    wait_until(
        lambda: anchor_path.exists() and anchor_path.read_text().endswith("\n"),
        timeout=60,
    )
    written = json.loads(anchor_path.read_text())
    assert (written["sequence"], written["hash"]) == head
    assert stat.S_IMODE(anchor_path.stat().st_mode) == 0o600
    log_text = wait_until(
        lambda: (
            "audit anchor sequence=" in log_path.read_text() and log_path.read_text()
        )
    )
    assert f"INFO audit.anchors audit anchor sequence={head[0]} hash={head[1]}" in (
        log_text
    )
