"""Time the silence sweep over many endpoints, with a share of them gone silent.

    python bench/sweep.py --database postgres --endpoints 100000 --runs 5

Uses its own database (exec_bench on the local PostgreSQL, or
var/bench.sqlite3), fills it once, and before each run puts the same share
of endpoints past the offline threshold. Prints each run's time and query
count, then the medians. No receiver of the audit or status signals is
connected, so the times cover the endpoints app alone.
"""

import argparse
import time
from datetime import timedelta

from common import median, setup_django

BATCH = 5000


def fill(count: int) -> None:
    """Create `count` agent endpoints unless the table contains exactly that many."""
    from django.db import connection

    from endpoints.models import Endpoint, StatusChange

    if Endpoint.objects.count() == count:
        return
    StatusChange.objects.all().delete()
    Endpoint.objects.all().delete()
    for start in range(0, count, BATCH):
        Endpoint.objects.bulk_create(
            Endpoint(
                hostname=f"bench-{number}",
                platform="linux",
                machine_id=f"bench-{number}",
                source_id=f"bench-{number}",
            )
            for number in range(start, min(start + BATCH, count))
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE endpoints_endpoint")


def reset(share: float, now) -> int:
    """Make every endpoint online and fresh, then a `share` of them silent."""
    from django.db.models import F

    from endpoints.models import Endpoint, StatusChange

    StatusChange.objects.all().delete()
    Endpoint.objects.update(status="online", last_seen=now - timedelta(seconds=30))
    step = round(1 / share)
    silent = Endpoint.objects.annotate(step=F("id") % step).filter(step=0)
    return Endpoint.objects.filter(pk__in=silent.values("pk")).update(
        last_seen=now - timedelta(minutes=10)
    )


def run_once(share: float) -> tuple[float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from endpoints.sweep import sweep_statuses

    now = timezone.now()
    expected = reset(share, now)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        changes = sweep_statuses(now)
        elapsed = time.perf_counter() - started
    moved = len(changes["offline"])
    if moved != expected:
        raise SystemExit(f"sweep moved {moved} endpoints, expected {expected}")
    return elapsed, len(queries), moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["postgres", "sqlite"], required=True)
    parser.add_argument("--endpoints", type=int, default=100_000)
    parser.add_argument("--share", type=float, default=0.01, help="Silent share.")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    setup_django(args.database)
    fill(args.endpoints)
    times = []
    for run in range(1, args.runs + 1):
        elapsed, queries, moved = run_once(args.share)
        times.append(elapsed)
        print(
            f"run {run}: {elapsed:.3f} s, {queries} queries, "
            f"{moved} endpoints moved offline"
        )
    print(
        f"{args.database}: {args.endpoints} endpoints, median {median(times):.3f} s "
        f"over {args.runs} runs"
    )


if __name__ == "__main__":
    main()
