"""Benchmark the audit report PDF and the timeline's first page.

Fills a scratch database with events, then measures:

- the PDF report of a period with 10,000 automated actions (time and peak
  memory of building the data object and rendering it);
- the first page of the timeline, unfiltered and with each filter, at
  1,000,000 events (time and query count per request).

Usage, from the repository root:

    .venv/bin/python bench/audit.py [--events 1000000] [--runs 5]

It uses DATABASE_URL when set, so point that at a scratch PostgreSQL
database; otherwise it makes a temporary SQLite file. Its tables are
emptied first.
"""

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup_django(scratch: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exec_site.settings")
    os.environ.setdefault("EXEC_VAR_DIR", str(scratch))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{scratch / 'bench.sqlite3'}")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _empty_tables() -> None:
    from django.db import connection

    from audit.models import AuditEvent

    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table}")
        else:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - a model's table name


def _fill(count: int, start: datetime, span: timedelta, batches: int = 1000) -> None:
    """Append `count` events spread over `span` from `start`.

    Each batch is one transaction whose events share one time, so the
    events take `batches` distinct times, evenly apart.
    """
    batch = max(count // batches, 1)
    from audit.chain import EventData, append_many

    kinds = ["step.finished", "step.failed", "endpoint.status_changed", "auth.login"]
    step = span / max(count, 1)
    for offset in range(0, count, batch):
        size = min(batch, count - offset)
        items = [
            EventData(
                kind=kinds[(offset + n) % len(kinds)],
                summary=f"Isolated laptop-{(offset + n) % 5000} on run {offset + n}",
                endpoint_id=(offset + n) % 5000 + 1,
                playbook_id=(offset + n) % 40 + 1,
                run_id=offset + n + 1,
                details={"outcome": "succeeded" if n % 7 else "failed: timed out"},
            )
            for n in range(size)
        ]
        append_many(items, now=start + step * offset)


def _median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.0f} ms"


def bench_pdf(runs: int) -> None:
    from audit.pdf import render_pdf
    from audit.report import build_report_data

    _empty_tables()
    day = datetime(2026, 1, 15, tzinfo=UTC)
    _fill(10_000, day, timedelta(hours=20))

    def build() -> int:
        data = build_report_data(
            since=day.date(), until=day.date(), generated_by="bench", now=day
        )
        return render_pdf(data, BytesIO())

    baseline_mb = psutil.Process().memory_info().rss / 2**20
    seconds, pages = [], 0
    for _ in range(runs):
        began = time.perf_counter()
        pages = build()
        seconds.append(time.perf_counter() - began)
    # The process's peak resident memory includes Django and the database
    # driver; this runs before the timeline part fills the database.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"PDF, 10,000 automated actions, {pages} pages: median "
        f"{statistics.median(seconds):.2f} s over {runs} runs "
        f"(min {min(seconds):.2f}, max {max(seconds):.2f}); process peak RSS "
        f"{peak_mb:.0f} MB, {peak_mb - baseline_mb:.0f} MB above the idle "
        f"process"
    )


def bench_timeline(events: int, runs: int) -> None:
    from django.contrib.auth.models import User
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    _empty_tables()
    began = time.perf_counter()
    _fill(events, datetime(2025, 1, 1, tzinfo=UTC), timedelta(days=365))
    print(f"Inserted {events:,} events in {time.perf_counter() - began:.0f} s")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE audit_auditevent")

    user, _ = User.objects.get_or_create(username="bench-auditor")
    user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    cases = {
        "no filter": {},
        "kind": {"kind": "step.failed"},
        "endpoint": {"endpoint": "4321"},
        "playbook": {"playbook": "17"},
        "actor": {"actor": "automation"},
        "period (one day in June)": {"since": "2025-06-10", "until": "2025-06-10"},
        "period + kind + older page": {
            "since": "2025-03-01",
            "until": "2025-09-30",
            "kind": "auth.login",
            "before": str(events // 2),
        },
    }
    for name, params in cases.items():
        samples = []
        for _ in range(runs):
            # The insert filled DEBUG's query log, whose cap would hide these.
            reset_queries()
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get("/audit/", params)
                samples.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
        rows = response.content.count(b'data-label="#"')
        print(
            f"Timeline first page at {events:,} events, {name}: median "
            f"{_median_ms(samples)} over {runs} runs, {len(queries)} queries, "
            f"{rows} rows"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-pdf", action="store_true")
    parser.add_argument("--skip-timeline", action="store_true")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="exec-bench-") as scratch:
        _setup_django(Path(scratch))
        from django.db import connection

        print(f"Database: {connection.vendor}; Python {sys.version.split()[0]}")
        if not options.skip_pdf:
            bench_pdf(options.runs)
        if not options.skip_timeline:
            bench_timeline(options.events, options.runs)


if __name__ == "__main__":
    main()
