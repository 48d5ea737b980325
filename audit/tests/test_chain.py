import threading
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction

from audit.chain import EventData, append_event, append_many, verify_chain
from audit.models import GENESIS_HASH, AuditEvent, ImmutableEventError
from exec_site.events import record_event

pytestmark = pytest.mark.django_db


def test_chain_links_each_event_to_the_previous():
    for number in range(3):
        record_event("test.ping", f"ping {number}", details={"n": number})

    events = list(AuditEvent.objects.order_by("sequence"))

    assert [event.sequence for event in events] == [1, 2, 3]
    assert events[0].previous_hash == GENESIS_HASH
    assert events[1].previous_hash == events[0].hash
    assert events[2].previous_hash == events[1].hash
    assert all(event.hash == event.compute_hash() for event in events)


def test_chain_times_never_go_backwards():
    record_event("test.ping", "one")
    record_event("test.ping", "two")

    first, second = AuditEvent.objects.order_by("sequence")

    assert second.created >= first.created


def test_chain_details_read_back_with_the_same_hash():
    details = {
        "big": 1e20,
        "small": 1e-7,
        "plain": 0.1 + 0.2,
        "nan": float("nan"),
        "nested": [{"when": datetime(2026, 1, 2, tzinfo=UTC)}, 3, "x"],
        "text": "Изоляция \u2028 <b>",
    }

    record_event("test.numbers", "numbers", details=details)

    event = AuditEvent.objects.get(kind="test.numbers")
    assert event.hash == event.compute_hash()
    assert event.details["big"] == "1e+20"
    assert event.details["plain"] == 0.1 + 0.2
    assert event.details["nested"][0]["when"] == "2026-01-02T00:00:00Z"


def test_chain_refuses_updates_and_deletes():
    record_event("test.ping", "one")
    event = AuditEvent.objects.get()

    event.summary = "changed"
    with pytest.raises(ImmutableEventError):
        event.save()
    with pytest.raises(ImmutableEventError):
        event.delete()
    with pytest.raises(ImmutableEventError):
        AuditEvent.objects.filter(pk=event.pk).update(summary="changed")
    with pytest.raises(ImmutableEventError):
        AuditEvent.objects.all().delete()
    with pytest.raises(ImmutableEventError):
        AuditEvent.objects.bulk_create([AuditEvent(kind="x", summary="y")])
    with pytest.raises(ImmutableEventError):
        AuditEvent(kind="x", summary="y").save()

    assert AuditEvent.objects.get().summary == "one"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE {table} SET summary = 'forged'",
        "UPDATE {table} SET actor_label = 'someone else', actor_id = NULL",
        "DELETE FROM {table}",
    ],
)
def test_chain_trigger_rejects_raw_sql(postgres_only, sql):
    record_event("test.ping", "one")
    table = AuditEvent._meta.db_table

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql.format(table=table))

    assert AuditEvent.objects.get(kind="test.ping").summary == "one"


def test_chain_rejects_bad_input_naming_the_field():
    with pytest.raises(ValueError, match="kind"):
        record_event("", "no kind")
    with pytest.raises(ValueError, match="summary"):
        record_event("test.ping", "  ")
    with pytest.raises(ValueError, match="details"):
        record_event("test.ping", "bad", details={"x": object()})
    with pytest.raises(ValueError, match="actor"):
        record_event("test.ping", "bad", actor=42)

    assert not AuditEvent.objects.exists()


def test_chain_event_rolls_back_with_the_caller():
    def change_that_fails() -> None:
        with transaction.atomic():
            record_event("test.ping", "rolled back")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()

    assert not AuditEvent.objects.exists()


def test_chain_deleting_a_user_keeps_the_actor_snapshot(administrator):
    record_event("test.ping", "by ada", actor=administrator)

    administrator.delete()

    event = AuditEvent.objects.get(kind="test.ping")
    assert event.actor_id is None
    assert event.actor_label == "ada"
    assert event.actor_email == "ada@example.com"
    assert verify_chain().fault is None


def test_verify_reports_all_rows(capsys):
    append_many([EventData("test.bulk", f"event {n}") for n in range(25)])

    call_command("verify_audit", batch_size=7)

    output = capsys.readouterr().out
    assert "all 25 event(s) verify" in output


def test_verify_finds_a_modified_row(raw_sql):
    append_many([EventData("test.bulk", f"event {n}") for n in range(10)])
    target = AuditEvent.objects.get(sequence=6)
    raw_sql("UPDATE {table} SET summary = %s WHERE id = %s", ["forged", target.pk])

    with pytest.raises(CommandError) as raised:
        call_command("verify_audit", batch_size=4)

    message = str(raised.value)
    assert f"sequence 6 (id {target.pk})" in message
    assert "after 5 verified" in message
    assert "content hash differs" in message


def test_verify_finds_a_deleted_row(raw_sql):
    append_many([EventData("test.bulk", f"event {n}") for n in range(10)])
    raw_sql("DELETE FROM {table} WHERE sequence = %s", [4])
    following = AuditEvent.objects.get(sequence=5)

    with pytest.raises(CommandError) as raised:
        call_command("verify_audit", batch_size=3)

    message = str(raised.value)
    assert f"sequence 5 (id {following.pk})" in message
    assert "1 event(s) missing" in message


def test_verify_finds_a_rewritten_link(raw_sql):
    append_many([EventData("test.bulk", f"event {n}") for n in range(5)])
    target = AuditEvent.objects.get(sequence=3)
    raw_sql(
        "UPDATE {table} SET previous_hash = %s WHERE id = %s", ["f" * 64, target.pk]
    )

    report = verify_chain()

    assert report.fault is not None
    assert report.fault.sequence == 3
    assert "link broken" in report.fault.problem


def test_verify_finds_a_row_rehashed_after_change(raw_sql):
    # Someone who recomputes the hash of a changed row still breaks the
    # link of the row after it.
    append_many([EventData("test.bulk", f"event {n}") for n in range(5)])
    target = AuditEvent.objects.get(sequence=2)
    target.summary = "forged"
    new_hash = target.compute_hash()
    raw_sql(
        "UPDATE {table} SET summary = %s, hash = %s WHERE id = %s",
        ["forged", new_hash, target.pk],
    )

    report = verify_chain()

    assert report.fault.sequence == 3
    assert "link broken" in report.fault.problem


@pytest.mark.django_db(transaction=True)
def test_chain_concurrent_appends_do_not_fork(postgres_only):
    threads_count, per_thread = 4, 15
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def append_some(number: int) -> None:
        try:
            barrier.wait()
            for index in range(per_thread):
                with transaction.atomic():
                    append_event(EventData("test.race", f"thread {number} #{index}"))
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=append_some, args=(n,)) for n in range(threads_count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    # A flushed database gets its roles back, as configuration events, before
    # the threads start; every row, theirs included, must be one chain.
    sequences = list(
        AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)
    )
    assert sequences == list(range(1, len(sequences) + 1))
    assert AuditEvent.objects.filter(kind="test.race").count() == 60
    assert verify_chain().fault is None
