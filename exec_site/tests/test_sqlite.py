"""SQLite's settings let the web server, the workers and agents write at once."""

import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connection, connections, transaction

pytestmark = pytest.mark.django_db(transaction=True)


def test_sqlite_runs_in_wal_mode(sqlite_only):
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        (mode,) = cursor.fetchone()

    assert mode == "wal"


def test_sqlite_concurrent_writers_succeed(sqlite_only):
    writers = 8
    writes_each = 15
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(number: int) -> None:
        try:
            start.wait()
            for round_number in range(writes_each):
                # Read, then write in one transaction: with deferred
                # transactions this pattern fails with "database is locked".
                with transaction.atomic():
                    Group.objects.count()
                    Group.objects.create(name=f"writer-{number}-{round_number}")
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert Group.objects.filter(name__startswith="writer-").count() == (
        writers * writes_each
    )
